import Foundation
import SQLKit

/// The service-level half of the aggregator. The waits of a team's or an agent's ended calls are columns of its
/// daily row (`DailyRollup`); the tenant's own day, which also holds calls without a team, is a row of
/// `service_level_daily`. This holds the SQL both use and the tenant rows.
enum ServiceLevelRollup {
    static let table = "service_level_daily"

    struct TenantDay: Hashable, Sendable {
        let clientId: String
        let day: String
    }

    /// Cancelled calls of one (tenant, day, team, agent) with their waits, from the full recount.
    struct CancelledGroup: Sendable {
        let clientId: String
        let day: String
        let teamId: UUID?
        let agentId: UUID?
        let waits: WaitCounts
    }

    /// The wait in seconds between arrival and assignment. SQLite stores times as seconds since 1970, PostgreSQL
    /// as timestamps; this is the one expression the two dialects spell differently.
    static func waitExpression(postgres: Bool) -> String {
        postgres ? "EXTRACT(EPOCH FROM (assigned_at - created_at))" : "(assigned_at - created_at)"
    }

    /// `WaitCounts.bucket(forWait:)` in SQL, for a wait above the tolerance: ⌊wait + 1 − tolerance⌋.
    static func bucketExpression(postgres: Bool) -> String {
        let shift = 1 - WaitCounts.roundingTolerance
        let wait = waitExpression(postgres: postgres)
        return postgres ? "CAST(FLOOR(\(wait) + \(shift)) AS BIGINT)" : "CAST(\(wait) + \(shift) AS INTEGER)"
    }

    /// A condition true for the calls that waited longer than the tolerance.
    static func waitedCondition(postgres: Bool) -> String {
        let tolerance = WaitCounts.roundingTolerance
        return postgres ? "assigned_at > created_at + INTERVAL '\(tolerance) second'" : "assigned_at > created_at + \(tolerance)"
    }

    /// The answered calls' part of a full recount's group (see `DailyRollup.recountAll`): the total wait, and the
    /// buckets of the calls that waited at all, listed as text (most calls wait for nothing, and the others get a
    /// bucket). This arithmetic on every call costs the first run's passes about a third more time; see
    /// docs/PERFORMANCE.md.
    static func waitedColumns(postgres: Bool) -> String {
        let bucket = bucketExpression(postgres: postgres), waited = waitedCondition(postgres: postgres)
        let list = postgres
            ? "STRING_AGG(CASE WHEN \(waited) THEN CAST(\(bucket) AS TEXT) END, ',')"
            : "GROUP_CONCAT(CASE WHEN \(waited) THEN \(bucket) END)"
        return "CAST(SUM(\(waitExpression(postgres: postgres))) AS DOUBLE PRECISION) AS total_wait, \(list) AS waited"
    }

    static func answeredWaits(_ row: any SQLRow, answered: Int) throws -> WaitCounts {
        WaitCounts(answered: answered, abandoned: 0,
                   totalWaitSeconds: max(0, try row.decode(column: "total_wait", as: Double?.self) ?? 0),
                   histogram: WaitCounts.histogram(answered: answered, waitedBuckets: try row.decode(column: "waited", as: String?.self)))
    }

    /// The wait columns of a stored daily row (agent, team or tenant).
    static func decodeWaits(_ row: any SQLRow) throws -> WaitCounts {
        WaitCounts(
            answered: try row.decode("answered"),
            abandoned: try row.decode("abandoned"),
            totalWaitSeconds: try row.decode("total_wait_seconds"),
            histogram: try WaitCounts.decodeHistogram(try row.decode("wait_histogram"))
        )
    }

    /// The cancelled calls counted as of `cutoff` (see `DailyRollup.recountAll`), grouped by wait. Few calls are
    /// cancelled; `cancelled_at IS NOT NULL` lets both databases read them from the index that holds only them.
    static func recountCancelled(cutoff: Date, postgres: Bool, on sql: any SQLDatabase) async throws -> [CancelledGroup] {
        try await sql.raw("""
            SELECT client_id, call_day, team_id, agent_id,
                   CASE WHEN assigned_at IS NULL THEN 1 ELSE 0 END AS abandoned,
                   CASE WHEN \(unsafeRaw: waitedCondition(postgres: postgres))
                        THEN \(unsafeRaw: bucketExpression(postgres: postgres)) ELSE 0 END AS wait_bucket,
                   COUNT(*) AS calls,
                   CAST(SUM(\(unsafeRaw: waitExpression(postgres: postgres))) AS DOUBLE PRECISION) AS total_wait
            FROM calls
            WHERE cancelled_at IS NOT NULL AND (rolled_up OR cancelled_at <= \(bind: cutoff))
            GROUP BY client_id, call_day, team_id, agent_id, abandoned, wait_bucket
            """).all().map { row in
            let calls: Int = try row.decode("calls")
            let abandoned = try row.decode(column: "abandoned", as: Int.self) == 1
            let waits: WaitCounts
            if abandoned {
                waits = WaitCounts(answered: 0, abandoned: calls, totalWaitSeconds: 0, histogram: [:])
            } else {
                let bucket = min(WaitCounts.longestBucket, max(0, try row.decode(column: "wait_bucket", as: Int.self)))
                waits = WaitCounts(answered: calls, abandoned: 0,
                                   totalWaitSeconds: max(0, try row.decode(column: "total_wait", as: Double?.self) ?? 0),
                                   histogram: [bucket: calls])
            }
            return CancelledGroup(
                clientId: try row.decode("client_id"), day: try row.decode("call_day"),
                teamId: try row.decode(column: "team_id", as: UUID?.self),
                agentId: abandoned ? nil : try row.decode(column: "agent_id", as: UUID?.self), waits: waits)
        }
    }

    // MARK: The tenant's days

    /// The claimed calls' waits per tenant and day. Pure.
    static func tenantAdditions(_ calls: [DailyRollup.CountedCall]) -> [TenantDay: WaitCounts] {
        calls.reduce(into: [:]) { days, call in
            days[TenantDay(clientId: call.clientId, day: call.day), default: .zero].add(call.wait)
        }
    }

    /// The full recount's tenant days: every completed call was answered by an agent, so the agents' rows add up
    /// to the tenant's answered calls; cancelled calls are added whatever their team. Pure.
    static func tenantDays(agentRows: [DailyRollup.Row], cancelled: [CancelledGroup]) -> [TenantDay: WaitCounts] {
        var days: [TenantDay: WaitCounts] = [:]
        for row in agentRows { days[TenantDay(clientId: row.group.clientId, day: row.group.day), default: .zero].add(row.waits) }
        for group in cancelled { days[TenantDay(clientId: group.clientId, day: group.day), default: .zero].add(group.waits) }
        return days
    }

    static func stored(of days: some Collection<TenantDay>, on sql: any SQLDatabase) async throws -> [TenantDay: WaitCounts] {
        guard !days.isEmpty else { return [:] }
        let wanted = Set(days)
        let rows = try await sql.select()
            .columns("client_id", "date", "answered", "abandoned", "total_wait_seconds", "wait_histogram")
            .from(table)
            .where("client_id", .in, Array(Set(days.map(\.clientId))))
            .where("date", .in, Array(Set(days.map(\.day))))
            .all()
        var stored: [TenantDay: WaitCounts] = [:]
        for row in rows {
            let day = TenantDay(clientId: try row.decode("client_id"), day: try row.decode("date"))
            if wanted.contains(day) { stored[day] = try decodeWaits(row) }
        }
        return stored
    }

    static func merged(_ additions: [TenantDay: WaitCounts], into stored: [TenantDay: WaitCounts]) -> [TenantDay: WaitCounts] {
        additions.reduce(into: [:]) { rows, addition in
            rows[addition.key] = (stored[addition.key] ?? .zero).adding(addition.value)
        }
    }

    static func upsert(_ rows: [TenantDay: WaitCounts], at now: Date, on sql: any SQLDatabase) async throws {
        let columns = ["id", "client_id", "date", "answered", "abandoned", "total_wait_seconds", "wait_histogram", "updated_at"]
        let all = Array(rows)
        for start in stride(from: 0, to: all.count, by: DailyRollup.batchSize) {
            var insert = sql.insert(into: table).columns(columns)
            for (day, waits) in all[start..<min(start + DailyRollup.batchSize, all.count)] {
                insert = insert.values([
                    SQLBind(UUID()), SQLBind(day.clientId), SQLBind(day.day), SQLBind(waits.answered),
                    SQLBind(waits.abandoned), SQLBind(waits.totalWaitSeconds), SQLBind(waits.encodedHistogram), SQLBind(now),
                ])
            }
            try await insert.onConflict(with: ["client_id", "date"]) { update in
                var update = update
                for column in columns.dropFirst(3) { update = update.set(excludedValueOf: column) }
                return update
            }.run()
        }
    }
}
