import Foundation

/// What a caller on a Twilio number hears and does next, from the call's state: dialled to its agent, held in the
/// queue with their place and wait, or told nobody can answer. Pure: the bridge reads the state and the tenant's
/// `twilio.voice.*` settings, and sends this back as TwiML.
struct VoiceScript: Sendable {
    /// The tenant's texts and voice for callers.
    struct Texts: Sendable, Equatable {
        var greeting = "Thank you for calling. Please hold while we find someone to help you."
        var queueMessage = "You are number {position} in the queue. The expected wait is about {wait_minutes} minutes."
        var busyMessage = "Sorry, nobody can take your call right now. Please call again later."
        var language = "en-US"
        var voice = "Polly.Joanna"

        static let defaults = Texts()
        static let placeholders = ["{position}", "{wait_minutes}"]

        init() {}

        init(settings: [String: JSONValue]) {
            if let text = settings["twilio.voice.greeting"]?.stringValue { greeting = text }
            if let text = settings["twilio.voice.queue_message"]?.stringValue { queueMessage = text }
            if let text = settings["twilio.voice.language"]?.stringValue { language = text }
            if let text = settings["twilio.voice.voice"]?.stringValue { voice = text }
        }
    }

    /// Seconds a waiting caller holds between two looks at the queue.
    static let holdSeconds = 5
    /// How long the agent's phone rings when the tenant has no offers (`routing.offer_timeout_seconds` 0).
    static let defaultRingSeconds = 30

    let texts: Texts
    let hooks: TwilioHooks

    /// `greet`: the caller has just arrived (the greeting is said once, first).
    func answer(for call: CallDTO, contact: AgentContact.Target?, ringSeconds: Int, greet: Bool) -> TwiML {
        var verbs: [TwiML.Verb] = []
        if greet, !texts.greeting.isEmpty { verbs.append(say(texts.greeting)) }
        switch call.status {
        case .offered, .active:
            guard call.talkEndedAt == nil, let agentId = call.agentId, let contact else { return TwiML([.hangup]) }
            let status = hooks.status(of: call.id, agent: agentId)
            verbs.append(.dial(.init(contact: contact, action: status, timeoutSeconds: ringSeconds, answeredCallback: status)))
        case .queued:
            if let place = call.queuePosition, !texts.queueMessage.isEmpty {
                verbs.append(say(queueMessage(position: place, waitSeconds: call.estimatedWaitSeconds)))
            }
            verbs.append(.pause(seconds: Self.holdSeconds))
            verbs.append(.redirect(url: hooks.wait(of: call.id)))
        case .completed, .cancelled:
            verbs.append(.hangup)
        }
        return TwiML(verbs)
    }

    /// The tenant's overflow refused the call: said, then hung up.
    func refused() -> TwiML {
        TwiML([say(texts.busyMessage), .hangup])
    }

    /// `{position}` and `{wait_minutes}` filled in; a sentence naming an unknown wait is left out.
    func queueMessage(position: Int, waitSeconds: Int?) -> String {
        var text = texts.queueMessage.replacingOccurrences(of: "{position}", with: String(position))
        if text.contains("{wait_minutes}") {
            guard let waitSeconds else {
                // Only the sentences without the unknown figure.
                return text.split(separator: ".", omittingEmptySubsequences: true)
                    .filter { !$0.contains("{wait_minutes}") }
                    .map { $0.trimmingCharacters(in: .whitespaces) + "." }
                    .joined(separator: " ")
            }
            let minutes = max(1, (waitSeconds + 59) / 60)
            if minutes == 1 { text = text.replacingOccurrences(of: "{wait_minutes} minutes", with: "1 minute") }
            text = text.replacingOccurrences(of: "{wait_minutes}", with: String(minutes))
        }
        return text
    }

    private func say(_ text: String) -> TwiML.Verb {
        .say(text, voice: texts.voice, language: texts.language)
    }
}
