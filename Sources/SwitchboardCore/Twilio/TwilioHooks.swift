import Foundation

/// The public addresses of one Twilio channel's webhooks, as Twilio requests (and signs) them: built from
/// `SWITCHBOARD_PUBLIC_URL`, so that a proxy in front changes nothing. Pure.
struct TwilioHooks: Sendable {
    let publicURL: String
    let channelId: UUID

    static let pathPrefix = "hooks/twilio"

    private var base: String { "\(publicURL)/\(Self.pathPrefix)/\(channelId.text)" }

    /// Twilio console: "A call comes in".
    var voice: String { "\(base)/voice" }
    /// Twilio console: "Call status changes"; also the `<Dial>`'s action.
    var status: String { "\(base)/status" }
    /// Where a waiting caller's `<Redirect>` goes.
    var wait: String { "\(base)/wait" }
    /// Twilio console (SMS or WhatsApp sender): "A message comes in".
    var messaging: String { "\(base)/messaging" }

    /// The status address for one call dialled to one agent (the `<Dial>` action and the agent's answer report
    /// name both, so that a late report about an earlier agent changes nothing).
    func status(of callId: UUID, agent agentId: UUID) -> String {
        "\(status)?call=\(callId.text)&agent=\(agentId.text)"
    }
    func wait(of callId: UUID) -> String { "\(wait)?call=\(callId.text)" }

    /// What a channel shows as `webhook_urls`: the addresses to paste into Twilio's console.
    func published(for type: CallChannel) -> [String: String] {
        switch type {
        case .voice: ["voice": voice, "status": status, "wait": wait]
        case .sms, .whatsapp: ["messaging": messaging]
        case .email, .webchat: [:]
        }
    }

    /// The address Twilio signed a request to: the public URL, this request's path below the channel, its query.
    static func signedURL(publicURL: String, path: String, query: String?) -> String {
        var url = publicURL + path
        if let query, !query.isEmpty { url += "?" + query }
        return url
    }
}
