import Foundation
import SQLKit

/// Every presence an agent had, from when until when (the open row, `ended_at` null, is the current one): what
/// the people-side metrics are computed from. Written by the call writer with each presence change, and at an
/// agent's creation (available from then).
enum AgentStateLog {
    static let schema = "agent_state_log"
    static let columns = ["id", "agent_id", "state", "reason", "started_at", "ended_at"]

    struct Row: Sendable {
        let agentId: UUID
        let state: AgentPresence
        let reason: String?
        let startedAt: Date
        var endedAt: Date?

        var values: [any Encodable & Sendable] { [UUID.timeOrdered(), agentId, state.rawValue, reason, startedAt, endedAt] }
    }

    /// Closes the agent's open row at `at`.
    static func close(_ agentId: UUID, of clientId: String, at: Date) -> any SQLExpression {
        var update = BoundStatement("UPDATE \(BoundStatement.quoted(schema)) SET \"ended_at\" = ")
        update.bind(at)
        update.append(" WHERE \"client_id\" = ")
        update.bind(clientId)
        update.append(" AND \"agent_id\" = ")
        update.bind(agentId)
        update.append(" AND \"ended_at\" IS NULL")
        return update
    }

    /// The agents' rows that overlap `[from, until)`: begun before it ended, and ended after it began or still open.
    /// Two selects, so that each reads its own part of `idx_agent_state_log_agent_end` (one `ended_at` condition with
    /// an `OR` reads every row the agents ever had).
    static func overlapping(_ agentIds: [UUID], of clientId: String, from: Date, until: Date, on sql: any SQLDatabase)
        -> SQLUnionBuilder {
        func rows(_ ended: (SQLSelectBuilder) -> SQLSelectBuilder) -> SQLSelect {
            ended(TenantScope(clientId: clientId).select(from: schema, on: sql)
                .columns("agent_id", "state", "reason", "started_at", "ended_at")
                .where("agent_id", .in, agentIds).where("started_at", .lessThan, until)).select
        }
        return SQLUnionBuilder(on: sql, initialQuery: rows { $0.where("ended_at", .greaterThan, from) })
            .union(all: rows { $0.where("ended_at", .is, SQLLiteral.null) })
    }

    /// New agents' first rows, from their creation.
    static func opening(_ agents: [(UUID, AgentPresence, String?)], of clientId: String, at: Date)
        -> (any SQLExpression)? {
        TenantScope.insertQuery(into: schema, columns: columns, rows: agents.map { agentId, presence, reason in
            (clientId, Row(agentId: agentId, state: presence, reason: reason, startedAt: at).values)
        })
    }
}
