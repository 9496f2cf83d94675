import Foundation
import SQLKit

/// Whether a person is there to take calls. Only `available` (and `active`) agents are offered calls; the others
/// finish what they have.
enum AgentPresence: String, Codable, Sendable, CaseIterable {
    case available, away, offline
}

/// What an agent is doing now, derived from its presence and its calls.
/// Presence comes first (an agent away finishing a call is `away`), then after-call work (any slot wrapping up),
/// then calls in progress, then calls offered to it and waiting for its answer.
enum AgentState: String, Codable, Sendable {
    case available, offered, onCall = "on_call", wrapUp = "wrap_up", away, offline

    /// `load` counts offered calls too (they hold a slot); `offers` is how many of them there are.
    init(presence: AgentPresence, load: Int, wrappingUp: Bool = false, offers: Int = 0) {
        switch presence {
        case .away: self = .away
        case .offline: self = .offline
        case .available: self = wrappingUp ? .wrapUp : load > offers ? .onCall : offers > 0 ? .offered : .available
        }
    }
}

/// How many calls wait for each agent's answer (offers), read beside the agents an answer shows.
enum PendingOffers {
    static func count(of clientId: String, agents agentIds: [UUID]? = nil, on db: any SQLDatabase) async throws -> [UUID: Int] {
        if agentIds?.isEmpty == true { return [:] }
        var query = TenantScope(clientId: clientId).select(from: Call.schema, on: db)
            .column("agent_id").column(SQLFunction("COUNT", args: SQLLiteral.all), as: "offers")
            .where(status: .offered)
        if let agentIds { query = query.where("agent_id", .in, agentIds) }
        var counts: [UUID: Int] = [:]
        for row in try await query.groupBy("agent_id").all() {
            counts[try row.decode(column: "agent_id", as: UUID.self)] = try row.decode(column: "offers", as: Int.self)
        }
        return counts
    }

    /// Each agent's count, as a column of a read of `sector_agents`.
    static func counted(of clientId: String) -> some SQLExpression {
        SQLSubquery.select { $0.column(SQLFunction("COUNT", args: SQLLiteral.all)).from(Call.schema)
            .where("client_id", .equal, clientId)
            .where(SQLColumn("agent_id", table: Call.schema), .equal, SQLColumn("id", table: SectorAgent.schema))
            .where(status: .offered)
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
