import Foundation

/// Whether a person is there to take calls. Only `available` (and `active`) agents are offered calls; the others
/// finish what they have.
enum AgentPresence: String, Codable, Sendable, CaseIterable {
    case available, away, offline
}

/// What an agent is doing now, derived from its presence and its calls.
/// Presence comes first (an agent away finishing a call is `away`), then after-call work (any slot wrapping up),
/// then calls.
enum AgentState: String, Codable, Sendable {
    case available, onCall = "on_call", wrapUp = "wrap_up", away, offline

    init(presence: AgentPresence, load: Int, wrappingUp: Bool = false) {
        switch presence {
        case .away: self = .away
        case .offline: self = .offline
        case .available: self = wrappingUp ? .wrapUp : load > 0 ? .onCall : .available
        }
    }
}

/// `PUT /api/agents/:id/presence`: `{"presence": "away", "reason": "lunch"}`.
struct PresenceInput: Codable, Sendable {
    var presence: String?
    var reason: String?

    /// The presence and its reason, checked against the tenant's `agents.away_reasons`: a reason only with
    /// `away`, and one is required there.
    func validated(awayReasons: [String]) throws -> (AgentPresence, String?) {
        let allowed = AgentPresence.allCases.map(\.rawValue)
        guard let name = presence else {
            throw AppError.badRequest("presence is required; one of: \(allowed.joined(separator: ", "))")
        }
        guard let presence = AgentPresence(rawValue: name) else {
            throw AppError.badRequest("presence must be one of: \(allowed.joined(separator: ", "))")
        }
        guard presence == .away else {
            if reason != nil { throw AppError.badRequest("reason is only for presence 'away'") }
            return (presence, nil)
        }
        guard let reason, awayReasons.contains(reason) else {
            throw AppError.badRequest("reason must be one of this tenant's away reasons (setting agents.away_reasons): "
                + awayReasons.joined(separator: ", "))
        }
        return (presence, reason)
    }
}
