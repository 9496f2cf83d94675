import Foundation
import SQLKit

/// The aggregator's rows per agent, capability and day (issue 25, §3): of the completed calls that asked for the
/// capability (requested or required), how many the agent handled and how many succeeded. Counted by the same runs,
/// from the same calls, as the daily agent rows: a full recount groups calls by what they asked for (few distinct
/// lists) and splits each list in Swift; an incremental run adds the calls it claimed.
enum CapabilityRollup {
    static let schema = "agent_capability_metrics"

    struct Group: Hashable, Sendable {
        let clientId: String
        let agentId: UUID
        let capability: String
        let day: String
    }

    /// Every group recounted from the calls the full run counts (the conditions of `DailyRollup.recountAll`).
    static func recountAll(cutoff: Date, on sql: any SQLDatabase) async throws -> [Group: SuccessHistory] {
        try await recount(counting: "(rolled_up OR COALESCE(wrap_up_ended_at, completed_at) <= \(bind: cutoff))", on: sql)
    }

    /// Every group from the calls earlier runs counted: the rows a database from before this table starts with.
    static func recountCounted(on sql: any SQLDatabase) async throws -> [Group: SuccessHistory] {
        try await recount(counting: "rolled_up", on: sql)
    }

    private static func recount(counting condition: SQLQueryString, on sql: any SQLDatabase) async throws -> [Group: SuccessHistory] {
        let rows = try await sql.raw("""
            SELECT client_id, agent_id, call_day, capabilities, required_capabilities,
                   COUNT(*) AS handled,
                   SUM(CASE WHEN outcome = 'successful' THEN 1 ELSE 0 END) AS successful
            FROM calls
            WHERE status = \(unsafeRaw: CallStatus.completed.sqlLiteral) AND agent_id IS NOT NULL
              AND (wrap_up_until IS NULL OR wrap_up_ended_at IS NOT NULL)
              AND \(condition)
            GROUP BY client_id, agent_id, call_day, capabilities, required_capabilities
            """).all()
        var groups: [Group: SuccessHistory] = [:]
        for row in rows {
            let asked = CapabilityLearning.asked(capabilities: try row.decode("capabilities"),
                                                 required: try row.decode(column: "required_capabilities", as: [String]?.self) ?? [])
            let figures = SuccessHistory(successes: try row.decode(column: "successful", as: Int?.self) ?? 0,
                                         calls: try row.decode("handled"))
            for capability in asked {
                let group = Group(clientId: try row.decode("client_id"), agentId: try row.decode("agent_id"),
                                  capability: capability, day: try row.decode("call_day"))
                groups[group] = (groups[group] ?? .none) + figures
            }
        }
        return groups
    }

    /// The claimed calls' figures per group. Pure.
    static func additions(_ calls: [DailyRollup.CountedCall]) -> [Group: SuccessHistory] {
        var groups: [Group: SuccessHistory] = [:]
        for call in calls {
            guard let agentId = call.agentId, let counts = call.counts else { continue }
            let figures = SuccessHistory(successes: counts.callsSuccessful, calls: counts.callsHandled)
            for capability in call.asked {
                let group = Group(clientId: call.clientId, agentId: agentId, capability: capability, day: call.day)
                groups[group] = (groups[group] ?? .none) + figures
            }
        }
        return groups
    }

    /// The stored rows of these groups plus their additions: the rows an incremental run writes.
    static func merged(_ additions: [Group: SuccessHistory], on sql: any SQLDatabase) async throws -> [Group: SuccessHistory] {
        var merged = additions
        let keys = Array(additions.keys)
        for start in stride(from: 0, to: keys.count, by: DailyRollup.batchSize) {
            let batch = keys[start..<min(start + DailyRollup.batchSize, keys.count)]
            let tenants: [String] = Array(Set(batch.map(\.clientId)))
            let agents: [UUID] = Array(Set(batch.map(\.agentId)))
            let capabilities: [String] = Array(Set(batch.map(\.capability)))
            let days: [String] = Array(Set(batch.map(\.day)))
            let rows = try await sql.select()
                .columns("client_id", "agent_id", "capability", "date", "calls_handled", "calls_successful")
                .from(schema)
                .where("client_id", .in, tenants)
                .where("agent_id", .in, agents)
                .where("capability", .in, capabilities)
                .where("date", .in, days)
                .all()
            for row in rows {
                let group = Group(clientId: try row.decode("client_id"), agentId: try row.decode("agent_id"),
                                  capability: try row.decode("capability"), day: try row.decode("date"))
                guard let added = additions[group] else { continue }
                merged[group] = added + SuccessHistory(successes: try row.decode("calls_successful"),
                                                       calls: try row.decode("calls_handled"))
            }
        }
        return merged
    }

    /// Upserts keyed by (tenant, agent, capability, day), in batches.
    static func upsert(_ groups: [Group: SuccessHistory], at now: Date, on sql: any SQLDatabase) async throws {
        let rows = Array(groups)
        let columns = ["id", "client_id", "agent_id", "capability", "date", "calls_handled", "calls_successful", "updated_at"]
        for start in stride(from: 0, to: rows.count, by: DailyRollup.batchSize) {
            var insert = sql.insert(into: schema).columns(columns)
            for (group, figures) in rows[start..<min(start + DailyRollup.batchSize, rows.count)] {
                insert = insert.values([
                    SQLBind(UUID()), SQLBind(group.clientId), SQLBind(group.agentId), SQLBind(group.capability),
                    SQLBind(group.day), SQLBind(figures.calls), SQLBind(figures.successes), SQLBind(now),
                ])
            }
            try await insert.onConflict(with: ["client_id", "agent_id", "capability", "date"]) {
                $0.set(excludedValueOf: "calls_handled").set(excludedValueOf: "calls_successful").set(excludedValueOf: "updated_at")
            }.run()
        }
    }
}
