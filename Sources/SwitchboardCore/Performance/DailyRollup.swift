import FluentKit
import Foundation
import SQLKit

/// The SQL half of the aggregator: count (tenant, subject, day) groups from calls, either all of them with one
/// GROUP BY (the first run) or by adding the calls no run has counted yet to the stored rows (every later run),
/// and upsert them. A row holds the completed calls' figures and, for the service level, how long the group's
/// ended calls waited. The same statements run on SQLite and PostgreSQL.
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

    /// What a daily row holds: the completed calls' counts, and the waits of the calls that ended.
    struct Figures: Sendable, Equatable {
        var counts: DailyCounts
        var waits: WaitCounts

        static let zero = Figures(counts: .zero, waits: .zero)

        static func combine(_ parts: some Sequence<Figures>) -> Figures {
            let parts = Array(parts)
            return Figures(counts: .combine(parts.map(\.counts)), waits: .combine(parts.map(\.waits)))
        }
    }

    struct Row: Sendable {
        let group: Group
        let figures: Figures

        var counts: DailyCounts { figures.counts }
        var waits: WaitCounts { figures.waits }
    }

    /// A call that has ended (completed or cancelled) as the daily rows count it.
    struct CountedCall: Sendable {
        let clientId: String
        let agentId: UUID?
        let teamId: UUID?
        let day: String
        /// Nil for a cancelled call: it is never counted as handled.
        let counts: DailyCounts?
        /// How long it waited, for the service level.
        var wait = WaitCounts.zero
        /// The capabilities it asked for (`CapabilityLearning.asked`), for `CapabilityRollup`; empty when cancelled.
        var asked: [String] = []

        func subjectId(_ subject: Subject) -> UUID? { subject == .agent ? agentId : teamId }
    }

    /// A completed call is counted once its work is over: at completion when it had no after-call work, else when
    /// its wrap-up ended (`wrap_up_ended_at`, set however it ended). Each condition names one index: the completions
    /// without wrap-up by `completed_at`, the ended wrap-ups by `idx_calls_wrap_up_ended`. Each is completed with the
    /// comparison with the cutoff.
    static let finishedAfterCutoff = [
        "status = \(CallStatus.completed.sqlLiteral) AND wrap_up_until IS NULL AND completed_at",
        "status = \(CallStatus.completed.sqlLiteral) AND wrap_up_ended_at IS NOT NULL AND wrap_up_ended_at",
    ]

    /// The after-call work of a completed call in seconds (0 without), up to its planned end: a wrap-up the timer
    /// ended a moment late counts as planned, one ended early as it ended.
    static func wrapUpExpression(postgres: Bool) -> String {
        postgres
            ? "COALESCE(EXTRACT(EPOCH FROM (LEAST(wrap_up_ended_at, wrap_up_until) - completed_at)), 0)"
            : "COALESCE(MIN(wrap_up_ended_at, wrap_up_until) - completed_at, 0)"
    }

    /// The full run's first step: marks the recent completions it is about to count, in the same transaction, so
    /// the next incremental run neither misses nor repeats them. Marking before counting keeps the two consistent
    /// on PostgreSQL too, where a completion may commit between two statements of this transaction.
    static func markRecent(after cutoff: Date, on sql: any SQLDatabase) async throws {
        for finished in finishedAfterCutoff {
            try await sql.raw("UPDATE calls SET rolled_up = \(bind: true) WHERE \(unsafeRaw: finished) > \(bind: cutoff) AND NOT rolled_up").run()
        }
        try await sql.raw("""
            UPDATE calls SET rolled_up = \(bind: true)
            WHERE cancelled_at > \(bind: cutoff) AND NOT rolled_up
            """).run()
    }

    /// Recounts every group from the calls counted as of `cutoff`: those whose work was over by then, and those after
    /// it that `markRecent` marked. A completion committed after the mark is left for the next run. The GROUP BY follows
    /// the columns of `idx_calls_day_<subject>`, so SQLite groups while walking that index instead of sorting every
    /// call (3.1 s instead of 5 s for 1M calls); PostgreSQL hashes either way.
    static func recountAll(_ subject: Subject, cutoff: Date, postgres: Bool, on sql: any SQLDatabase) async throws -> [Row] {
        try await sql.raw("""
            SELECT client_id, \(ident: subject.rawValue) AS subject_id, call_day,
                   COUNT(*) AS handled,
                   SUM(CASE WHEN outcome = 'successful' THEN 1 ELSE 0 END) AS successful,
                   SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
                   SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS resolved,
                   CAST(AVG(satisfaction) AS DOUBLE PRECISION) AS avg_satisfaction,
                   COUNT(satisfaction) AS rated,
                   CAST(AVG(COALESCE(handling_time_seconds, 0) + \(unsafeRaw: wrapUpExpression(postgres: postgres))) AS DOUBLE PRECISION)
                       AS avg_handling_time,
                   CAST(AVG(\(unsafeRaw: wrapUpExpression(postgres: postgres))) AS DOUBLE PRECISION) AS avg_wrap_up_time,
                   \(unsafeRaw: ServiceLevelRollup.waitedColumns(postgres: postgres))
            FROM calls
            WHERE status = \(unsafeRaw: CallStatus.completed.sqlLiteral) AND \(ident: subject.rawValue) IS NOT NULL
              AND (wrap_up_until IS NULL OR wrap_up_ended_at IS NOT NULL)
              AND (rolled_up OR COALESCE(wrap_up_ended_at, completed_at) <= \(bind: cutoff))
            GROUP BY call_day, \(ident: subject.rawValue), client_id
            """).all().map { row in
            Row(
                group: Group(clientId: try row.decode("client_id"), subjectId: try row.decode("subject_id"),
                             day: try row.decode("call_day")),
                figures: Figures(counts: DailyCounts(
                    callsHandled: try row.decode("handled"),
                    callsSuccessful: try row.decode("successful"),
                    callsFailed: try row.decode("failed"),
                    callsResolved: try row.decode("resolved"),
                    avgSatisfaction: try row.decode(column: "avg_satisfaction", as: Double?.self),
                    satisfactionCount: try row.decode("rated"),
                    avgHandlingTime: try row.decode(column: "avg_handling_time", as: Double?.self) ?? 0,
                    avgWrapUpTime: try row.decode(column: "avg_wrap_up_time", as: Double?.self) ?? 0
                ), waits: try ServiceLevelRollup.answeredWaits(row, answered: try row.decode("handled")))
            )
        }
    }

    /// The full recount's rows with the cancelled calls' waits added: a cancelled call counts for its team, and
    /// for its agent once answered. Pure.
    static func adding(_ cancelled: [ServiceLevelRollup.CancelledGroup], to rows: [Row], for subject: Subject) -> [Row] {
        var byGroup: [Group: Figures] = Dictionary(uniqueKeysWithValues: rows.map { ($0.group, $0.figures) })
        for cancelledGroup in cancelled {
            let subjectId = subject == .agent ? cancelledGroup.agentId : cancelledGroup.teamId
            guard let subjectId else { continue }
            let group = Group(clientId: cancelledGroup.clientId, subjectId: subjectId, day: cancelledGroup.day)
            byGroup[group, default: .zero].waits.add(cancelledGroup.waits)
        }
        return byGroup.map { Row(group: $0.key, figures: $0.value) }
    }

    /// The incremental run's first step: marks the completions after `cutoff` that no run has counted and returns
    /// them, in one statement, so what is marked is exactly what is counted whatever commits meanwhile.
    static func claimUncounted(after cutoff: Date, on sql: any SQLDatabase) async throws -> [CountedCall] {
        var finished: [any SQLRow] = []
        for condition in finishedAfterCutoff {
            finished += try await sql.raw("""
                UPDATE calls SET rolled_up = \(bind: true)
                WHERE \(unsafeRaw: condition) > \(bind: cutoff) AND NOT rolled_up
                RETURNING client_id, agent_id, team_id, call_day, created_at, assigned_at, completed_at, wrap_up_until,
                          wrap_up_ended_at, outcome, resolved, satisfaction, handling_time_seconds, capabilities,
                          required_capabilities
                """).all()
        }
        let completed = try finished.map { row in
            let outcome: String? = try row.decode(column: "outcome", as: String?.self)
            let satisfaction: Int? = try row.decode(column: "satisfaction", as: Int?.self)
            let wrapUp = try wrapUpSeconds(row)
            var call = try countedCall(row, counts: DailyCounts(
                callsHandled: 1,
                callsSuccessful: outcome == CallOutcome.successful.rawValue ? 1 : 0,
                callsFailed: outcome == CallOutcome.failed.rawValue ? 1 : 0,
                callsResolved: try row.decode(column: "resolved", as: Bool?.self) == true ? 1 : 0,
                avgSatisfaction: satisfaction.map(Double.init),
                satisfactionCount: satisfaction == nil ? 0 : 1,
                avgHandlingTime: (try row.decode(column: "handling_time_seconds", as: Double?.self) ?? 0) + wrapUp,
                avgWrapUpTime: wrapUp
            ))
            call.asked = CapabilityLearning.asked(capabilities: try row.decode("capabilities"),
                                                  required: try row.decode(column: "required_capabilities", as: [String]?.self) ?? [])
            return call
        }
        // Cancellations are rare; their own statement walks the index that holds only them. `cancelled_at` is set
        // exactly when a call is cancelled, so it alone names them: a condition on `status` could lead a planner
        // to the status index and half the table.
        let cancelled = try await sql.raw("""
            UPDATE calls SET rolled_up = \(bind: true)
            WHERE cancelled_at > \(bind: cutoff) AND NOT rolled_up
            RETURNING client_id, agent_id, team_id, call_day, created_at, assigned_at
            """).all().map { try countedCall($0, counts: nil) }
        return completed + cancelled
    }

    /// `wrapUpExpression` for one returned row.
    private static func wrapUpSeconds(_ row: any SQLRow) throws -> Double {
        guard let completed = try row.decode(column: "completed_at", as: Date?.self),
              let until = try row.decode(column: "wrap_up_until", as: Date?.self),
              let ended = try row.decode(column: "wrap_up_ended_at", as: Date?.self) else { return 0 }
        return max(0, min(ended, until).timeIntervalSince(completed))
    }

    private static func countedCall(_ row: any SQLRow, counts: DailyCounts?) throws -> CountedCall {
        let assignedAt = try row.decode(column: "assigned_at", as: Date?.self)
        let createdAt: Date = try row.decode("created_at")
        return CountedCall(
            clientId: try row.decode("client_id"),
            agentId: try row.decode(column: "agent_id", as: UUID?.self),
            teamId: try row.decode(column: "team_id", as: UUID?.self),
            day: try row.decode("call_day"),
            counts: counts,
            // A completed call was answered even if no assignment time was stored (rows written by hand).
            wait: assignedAt.map { .answered(afterWaiting: $0.timeIntervalSince(createdAt)) }
                ?? (counts == nil ? .oneAbandoned : .answered(afterWaiting: 0))
        )
    }

    /// The new calls' figures per group of `subject`. Pure.
    static func additions(_ calls: [CountedCall], for subject: Subject) -> [Group: Figures] {
        var byGroup: [Group: [Figures]] = [:]
        for call in calls {
            guard let subjectId = call.subjectId(subject) else { continue }
            byGroup[Group(clientId: call.clientId, subjectId: subjectId, day: call.day), default: []]
                .append(Figures(counts: call.counts ?? .zero, waits: call.wait))
        }
        return byGroup.mapValues { Figures.combine($0) }
    }

    /// The stored rows of these groups.
    static func stored(of groups: some Collection<Group>, in subject: Subject,
                       on sql: any SQLDatabase) async throws -> [Group: Figures] {
        let wanted = Set(groups)
        let days = Array(Set(groups.map(\.day)))
        let ids = Array(Set(groups.map(\.subjectId)))
        // All three key columns constrained, so both databases look the rows up in the unique index.
        let tenants = Array(Set(groups.map(\.clientId)))
        var stored: [Group: Figures] = [:]
        for start in stride(from: 0, to: ids.count, by: batchSize) {
            let rows = try await sql.select()
                .columns(["client_id", subject.rawValue, "date"] + figureColumns)
                .from(subject.table)
                .where("client_id", .in, tenants)
                .where("date", .in, days)
                .where(SQLIdentifier(subject.rawValue), .in, Array(ids[start..<min(start + batchSize, ids.count)]))
                .all()
            for row in rows {
                let group = Group(clientId: try row.decode("client_id"), subjectId: try row.decode(subject.rawValue),
                                  day: try row.decode("date"))
                guard wanted.contains(group) else { continue }
                stored[group] = Figures(counts: try decodeCounts(row), waits: try ServiceLevelRollup.decodeWaits(row))
            }
        }
        return stored
    }

    /// The columns of a stored daily row that `decodeCounts` and `ServiceLevelRollup.decodeWaits` read.
    static let figureColumns = ["calls_handled", "calls_successful", "calls_failed", "calls_resolved", "avg_satisfaction",
                                "satisfaction_count", "avg_handling_time", "avg_wrap_up_time", "answered", "abandoned",
                                "total_wait_seconds", "wait_histogram"]

    /// The counts of a stored daily row.
    static func decodeCounts(_ row: any SQLRow) throws -> DailyCounts {
        DailyCounts(
            callsHandled: try row.decode("calls_handled"),
            callsSuccessful: try row.decode("calls_successful"),
            callsFailed: try row.decode("calls_failed"),
            callsResolved: try row.decode("calls_resolved"),
            avgSatisfaction: try row.decode(column: "avg_satisfaction", as: Double?.self),
            satisfactionCount: try row.decode("satisfaction_count"),
            avgHandlingTime: try row.decode("avg_handling_time"),
            avgWrapUpTime: try row.decode("avg_wrap_up_time")
        )
    }

    /// Stored rows plus the new calls' figures: the rows the incremental run writes. Pure.
    static func merged(_ additions: [Group: Figures], into stored: [Group: Figures]) -> [Row] {
        additions.map { group, added in
            Row(group: group, figures: stored[group].map { Figures.combine([$0, added]) } ?? added)
        }
    }

    static let batchSize = 500

    /// Upserts keyed by (tenant, subject, day), in batches.
    static func upsert(_ rows: [Row], into subject: Subject, at now: Date, on sql: any SQLDatabase) async throws {
        let columns = ["id", "client_id", subject.rawValue, "date", "calls_handled", "calls_successful", "calls_failed",
                       "calls_resolved", "avg_satisfaction", "satisfaction_count", "avg_handling_time", "avg_wrap_up_time",
                       "success_rate", "resolution_rate", "answered", "abandoned", "total_wait_seconds", "wait_histogram", "updated_at"]
        for start in stride(from: 0, to: rows.count, by: batchSize) {
            var insert = sql.insert(into: subject.table).columns(columns)
            for row in rows[start..<min(start + batchSize, rows.count)] {
                let counts = row.counts
                insert = insert.values([
                    SQLBind(UUID()), SQLBind(row.group.clientId), SQLBind(row.group.subjectId), SQLBind(row.group.day),
                    SQLBind(counts.callsHandled), SQLBind(counts.callsSuccessful), SQLBind(counts.callsFailed),
                    SQLBind(counts.callsResolved), SQLBind(counts.avgSatisfaction), SQLBind(counts.satisfactionCount),
                    SQLBind(counts.avgHandlingTime), SQLBind(counts.avgWrapUpTime), SQLBind(counts.successRate),
                    SQLBind(counts.resolutionRate),
                    SQLBind(row.waits.answered), SQLBind(row.waits.abandoned), SQLBind(row.waits.totalWaitSeconds),
                    SQLBind(row.waits.encodedHistogram), SQLBind(now),
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

    /// Agents' 7-day values from their daily rows (weighted by calls), for agents with calls in the window;
    /// with `agents` (by tenant), only for those.
    static func rollingValues(from firstDay: Day, agents: [String: Set<UUID>]? = nil,
                              on sql: any SQLDatabase) async throws -> [String: [Rolling]] {
        guard let agents else { return try await rollingValues(from: firstDay, where: nil, on: sql) }
        var byTenant: [String: [Rolling]] = [:]
        for (clientId, tenantAgents) in agents {
            let ids = Array(tenantAgents)
            for start in stride(from: 0, to: ids.count, by: batchSize) {
                let batch = Array(ids[start..<min(start + batchSize, ids.count)])
                let values = try await rollingValues(
                    from: firstDay, where: "client_id = \(bind: clientId) AND agent_id IN (\(binds: batch))", on: sql)
                for (clientId, rows) in values { byTenant[clientId, default: []].append(contentsOf: rows) }
            }
        }
        return byTenant
    }

    private static func rollingValues(from firstDay: Day, where condition: SQLQueryString?,
                                      on sql: any SQLDatabase) async throws -> [String: [Rolling]] {
        let filter: SQLQueryString = condition.map { " AND " + $0 } ?? ""
        let rows = try await sql.raw("""
            SELECT client_id, agent_id,
                   CAST(SUM(calls_handled) AS BIGINT) AS handled,
                   CAST(SUM(calls_successful) AS BIGINT) AS successful,
                   CAST(SUM(avg_handling_time * calls_handled) AS DOUBLE PRECISION) AS handling_total
            FROM agent_metrics_v2
            WHERE date >= \(bind: firstDay.description)\(filter)
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

    /// Writes the values that differ from the agents' current ones, and returns those: one UPDATE … FROM (VALUES …)
    /// per tenant batch, a join both databases run as a lookup per row. VALUES columns are `column1…` on both.
    static func applyRolling(_ values: [Rolling], clientId: String, on sql: any SQLDatabase) async throws -> [Rolling] {
        let current = try await sql.select().columns("id", "success_rate", "avg_handling_time").from(SectorAgent.schema)
            .where("client_id", .equal, clientId).where("id", .in, values.map(\.agentId)).all()
        var currentById: [UUID: (Double, Double)] = [:]
        for row in current {
            currentById[try row.decode("id")] = (try row.decode("success_rate"), try row.decode("avg_handling_time"))
        }
        // In id order, so concurrent writers that lock several agents lock them in the same order.
        let changed = values.sorted { $0.agentId < $1.agentId }.filter { value in
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
        return changed
    }
}
