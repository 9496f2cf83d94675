import Foundation

/// A TwiML answer (Twilio's published XML for what a call or message does next), built from typed verbs so that
/// every text and URL is escaped once, here. Pure.
struct TwiML: Sendable, Equatable {
    enum Verb: Sendable, Equatable {
        case say(String, voice: String, language: String)
        case pause(seconds: Int)
        case play(url: String)
        case redirect(url: String)
        case dial(Dial)
        case message(String)
        case hangup
    }

    /// `<Dial>` to one agent: `action` hears how it ended (`DialCallStatus`, `DialCallDuration`); the agent's leg
    /// reports its answer to `answeredCallback`.
    struct Dial: Sendable, Equatable {
        let contact: AgentContact.Target
        let action: String
        let timeoutSeconds: Int
        let answeredCallback: String
    }

    var verbs: [Verb]

    init(_ verbs: [Verb] = []) { self.verbs = verbs }

    static let contentType = "text/xml; charset=utf-8"

    var xml: String {
        var out = #"<?xml version="1.0" encoding="UTF-8"?><Response>"#
        for verb in verbs { out += Self.render(verb) }
        return out + "</Response>"
    }

    /// What the answer does, in a few words (the channel's request log shows it).
    var summary: String {
        guard !verbs.isEmpty else { return "(nothing to do)" }
        return verbs.map { verb in
            switch verb {
            case .say: "say"
            case .pause(let seconds): "pause \(seconds) s"
            case .play: "play"
            case .redirect: "look again"
            case .message: "reply"
            case .hangup: "hang up"
            case .dial(let dial):
                switch dial.contact {
                case .sip(let uri): "dial \(uri)"
                case .client(let identity): "dial client \(identity)"
                case .phone(let number): "dial \(number)"
                }
            }
        }.joined(separator: ", ")
    }

    private static func render(_ verb: Verb) -> String {
        switch verb {
        case .say(let text, let voice, let language):
            return #"<Say voice="\#(escape(voice))" language="\#(escape(language))">\#(escape(text))</Say>"#
        case .pause(let seconds):
            return #"<Pause length="\#(seconds)"/>"#
        case .play(let url):
            return "<Play>\(escape(url))</Play>"
        case .redirect(let url):
            return #"<Redirect method="POST">\#(escape(url))</Redirect>"#
        case .message(let text):
            return "<Message>\(escape(text))</Message>"
        case .hangup:
            return "<Hangup/>"
        case .dial(let dial):
            let callback = #"statusCallbackEvent="answered" statusCallback="\#(escape(dial.answeredCallback))" statusCallbackMethod="POST""#
            let noun = switch dial.contact {
            case .sip(let uri): "<Sip \(callback)>\(escape(uri))</Sip>"
            case .client(let identity): "<Client \(callback)>\(escape(identity))</Client>"
            case .phone(let number): "<Number \(callback)>\(escape(number))</Number>"
            }
            return #"<Dial action="\#(escape(dial.action))" method="POST" timeout="\#(dial.timeoutSeconds)">\#(noun)</Dial>"#
        }
    }

    /// XML's five special characters, and no control characters (XML 1.0 cannot carry them at all).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
