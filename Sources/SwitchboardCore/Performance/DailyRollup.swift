import FluentKit
import Foundation
import SQLKit

/// The SQL half of the aggregator: recompute (tenant, subject, day) groups from calls with one GROUP BY,
/// and upsert them. The same statements run on SQLite and PostgreSQL.
enum DailyRollup {
    enum Subject: String, Sendable, CaseIterable {
        case agent = "agent_id"
        case team = "team_id"

        var table: String {
            switch self {
            case .agent: AgentDailyMetrics.schema
            case .team: TeamPerformance.schema
            }
        }
    }

    struct Group: Hashable, Sendable {
        let clientId: String
        let subjectId: UUID
        let day: String
    }

    struct Row: Sendable {
        let group: Group
        let counts: DailyCounts
    }

    /// What changed since `cutoff`: the days and subjects of calls completed after it.
    struct Touched: Sendable {
        var days: Set<String> = []
        var agents: Set<UUID> = []
        var teams: Set<UUID> = []
        var tenants: Set<String> = []

        func ids(for subject: Subject) -> Set<UUID> { subject == .agent ? agents : teams }
    }

    static func touched(since cutoff: Date, on sql: any SQLDatabase) async throws -> Touched {
        var touched = Touched()
        let rows = try await sql.raw("""
            SELECT DISTINCT client_id, agent_id, team_id, call_day FROM calls
            WHERE status = 'completed' AND completed_at > \(bind: cutoff)
            """).all()
        for row in rows {
            touched.tenants.insert(try row.decode("client_id"))
            touched.days.insert(try row.decode("call_day"))
            if let agent: UUID = try row.decode(column: "agent_id", as: UUID?.self) { touched.agents.insert(agent) }
            if let team: UUID = try row.decode(column: "team_id", as: UUID?.self) { touched.teams.insert(team) }
        }
        return touched
    }

    /// Recounts the groups; with `touched`, only days × subjects that saw new completions (a superset of the
    /// touched groups, which is harmless because recounting is idempotent); without it, everything.
    static func recount(_ subject: Subject, touched: Touched?, on sql: any SQLDatabase) async throws -> [Row] {
        var query: SQLQueryString = """
            SELECT client_id, \(ident: subject.rawValue) AS subject_id, call_day,
                   COUNT(*) AS handled,
                   SUM(CASE WHEN outcome = 'successful' THEN 1 ELSE 0 END) AS successful,
                   SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
                   SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS resolved,
                   CAST(AVG(satisfaction) AS DOUBLE PRECISION) AS avg_satisfaction,
                   COUNT(satisfaction) AS rated,
                   CAST(AVG(handling_time_seconds) AS DOUBLE PRECISION) AS avg_handling_time
            FROM calls
            WHERE status = 'completed' AND \(ident: subject.rawValue) IS NOT NULL
            """
        if let touched {
            let ids = touched.ids(for: subject)
            guard !ids.isEmpty, !touched.days.isEmpty else { return [] }
            query = query + " AND call_day IN (\(binds: Array(touched.days)))"
                + " AND \(ident: subject.rawValue) IN (\(binds: Array(ids)))"
        }
        query = query + " GROUP BY client_id, \(ident: subject.rawValue), call_day"
        return try await sql.raw(query).all().map { row in
            Row(
                group: Group(clientId: try row.decode("client_id"), subjectId: try row.decode("subject_id"),
                             day: try row.decode("call_day")),
                counts: DailyCounts(
                    callsHandled: try row.decode("handled"),
                    callsSuccessful: try row.decode("successful"),
                    callsFailed: try row.decode("failed"),
                    callsResolved: try row.decode("resolved"),
                    avgSatisfaction: try row.decode(column: "avg_satisfaction", as: Double?.self),
                    satisfactionCount: try row.decode("rated"),
                    avgHandlingTime: try row.decode(column: "avg_handling_time", as: Double?.self) ?? 0
                )
            )
        }
    }

    static let batchSize = 500

    /// Upserts keyed by (tenant, subject, day), in batches.
    static func upsert(_ rows: [Row], into subject: Subject, at now: Date, on sql: any SQLDatabase) async throws {
        let columns = ["id", "client_id", subject.rawValue, "date", "calls_handled", "calls_successful", "calls_failed",
                       "calls_resolved", "avg_satisfaction", "satisfaction_count", "avg_handling_time", "success_rate",
                       "resolution_rate", "updated_at"]
        for start in stride(from: 0, to: rows.count, by: batchSize) {
            var insert = sql.insert(into: subject.table).columns(columns)
            for row in rows[start..<min(start + batchSize, rows.count)] {
                let counts = row.counts
                insert = insert.values([
                    SQLBind(UUID()), SQLBind(row.group.clientId), SQLBind(row.group.subjectId), SQLBind(row.group.day),
                    SQLBind(counts.callsHandled), SQLBind(counts.callsSuccessful), SQLBind(counts.callsFailed),
                    SQLBind(counts.callsResolved), SQLBind(counts.avgSatisfaction), SQLBind(counts.satisfactionCount),
                    SQLBind(counts.avgHandlingTime), SQLBind(counts.successRate), SQLBind(counts.resolutionRate), SQLBind(now),
                ])
            }
            try await insert.onConflict(with: ["client_id", subject.rawValue, "date"]) { update in
                var update = update
                for column in columns.dropFirst(4) { update = update.set(excludedValueOf: column) }
                return update
            }.run()
        }
    }

    struct Rolling: Sendable {
        let agentId: UUID
        let successRate: Double
        let avgHandlingTime: Double
    }

    /// Agents' 7-day values from their daily rows (weighted by calls), for agents with calls in the window.
    static func rollingValues(from firstDay: Day, on sql: any SQLDatabase) async throws -> [String: [Rolling]] {
        let rows = try await sql.raw("""
            SELECT client_id, agent_id,
                   CAST(SUM(calls_handled) AS BIGINT) AS handled,
                   CAST(SUM(calls_successful) AS BIGINT) AS successful,
                   CAST(SUM(avg_handling_time * calls_handled) AS DOUBLE PRECISION) AS handling_total
            FROM agent_metrics_v2
            WHERE date >= \(bind: firstDay.description)
            GROUP BY client_id, agent_id
            HAVING SUM(calls_handled) > 0
            """).all()
        var byTenant: [String: [Rolling]] = [:]
        for row in rows {
            let handled: Int = try row.decode("handled")
            let successful: Int = try row.decode("successful")
            let handlingTotal: Double = try row.decode("handling_total")
            byTenant[try row.decode("client_id"), default: []].append(Rolling(
                agentId: try row.decode("agent_id"),
                successRate: Double(successful) / Double(handled),
                avgHandlingTime: handlingTotal / Double(handled)
            ))
        }
        return byTenant
    }

    /// Writes the values that differ from the agents' current ones: one UPDATE … FROM (VALUES …) per tenant batch,
    /// a join both databases run as a lookup per row. VALUES columns are `column1…` on both.
    static func applyRolling(_ values: [Rolling], clientId: String, on sql: any SQLDatabase) async throws -> Int {
        let current = try await sql.select().columns("id", "success_rate", "avg_handling_time").from(SectorAgent.schema)
            .where("client_id", .equal, clientId).where("id", .in, values.map(\.agentId)).all()
        var currentById: [UUID: (Double, Double)] = [:]
        for row in current {
            currentById[try row.decode("id")] = (try row.decode("success_rate"), try row.decode("avg_handling_time"))
        }
        // In id order, so concurrent writers that lock several agents lock them in the same order.
        let changed = values.sorted { $0.agentId.uuidString < $1.agentId.uuidString }.filter { value in
            guard let (successRate, handling) = currentById[value.agentId] else { return false }
            return abs(successRate - value.successRate) > 1e-12 || abs(handling - value.avgHandlingTime) > 1e-9
        }
        for start in stride(from: 0, to: changed.count, by: batchSize) {
            let batch = changed[start..<min(start + batchSize, changed.count)]
            var rows: [any SQLExpression] = []
            for value in batch {
                rows.append(SQLGroupExpression([SQLBind(value.agentId), SQLBind(value.successRate), SQLBind(value.avgHandlingTime)]))
            }
            try await sql.raw("""
                UPDATE sector_agents SET success_rate = v.column2, avg_handling_time = v.column3
                FROM (VALUES \(SQLList(rows))) AS v
                WHERE sector_agents.id = v.column1 AND sector_agents.client_id = \(bind: clientId)
                """).run()
        }
        return changed.count
    }
}
