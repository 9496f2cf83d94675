import Foundation
import SQLKit

/// The service-level half of the aggregator: the waits of ended calls per (tenant, subject, day) in
/// `service_level_daily`, counted from the same claimed calls as the daily metrics (an incremental run), or on the
/// first run from the same GROUP BY passes as the daily rows (completed calls) plus one over cancelled calls.
enum ServiceLevelRollup {
    static let table = "service_level_daily"

    enum SubjectKind: String, Sendable, CaseIterable {
        /// Every call of the tenant, with a team or without; its subject id is `tenantSubjectId`.
        case tenant
        case team
        case agent
    }

    static let tenantSubjectId = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    struct Key: Hashable, Sendable {
        let clientId: String
        let kind: SubjectKind
        let subjectId: UUID
        let day: String
    }

    /// The rows a call adds to: its tenant's, its team's, and, once answered, its agent's. Pure.
    static func keys(clientId: String, day: String, teamId: UUID?, agentId: UUID?, answered: Bool) -> [Key] {
        var keys = [Key(clientId: clientId, kind: .tenant, subjectId: tenantSubjectId, day: day)]
        if let teamId { keys.append(Key(clientId: clientId, kind: .team, subjectId: teamId, day: day)) }
        if answered, let agentId { keys.append(Key(clientId: clientId, kind: .agent, subjectId: agentId, day: day)) }
        return keys
    }

    /// The claimed calls' waits per row. Pure.
    static func additions(_ calls: [DailyRollup.CountedCall]) -> [Key: WaitCounts] {
        var byKey: [Key: WaitCounts] = [:]
        for call in calls {
            for key in keys(clientId: call.clientId, day: call.day, teamId: call.teamId, agentId: call.agentId,
                            answered: call.wait.answered > 0) {
                byKey[key, default: .zero].add(call.wait)
            }
        }
        return byKey
    }

    static func merged(_ additions: [Key: WaitCounts], into stored: [Key: WaitCounts]) -> [Key: WaitCounts] {
        additions.reduce(into: [:]) { rows, addition in
            rows[addition.key] = WaitCounts.combine([stored[addition.key] ?? .zero, addition.value])
        }
    }

    /// The wait in seconds between arrival and assignment. SQLite stores times as seconds since 1970, PostgreSQL
    /// as timestamps; this is the one expression the two dialects spell differently.
    static func waitExpression(postgres: Bool) -> String {
        postgres ? "EXTRACT(EPOCH FROM (assigned_at - created_at))" : "(assigned_at - created_at)"
    }

    /// `WaitCounts.bucket(forWait:)` in SQL: the wait less the rounding tolerance, rounded up, never below 0.
    static func bucketExpression(postgres: Bool) -> String {
        let tolerance = WaitCounts.roundingTolerance
        let wait = waitExpression(postgres: postgres)
        if postgres { return "CAST(CEIL(GREATEST(\(wait) - \(tolerance), 0)) AS BIGINT)" }
        let shifted = "MAX(\(wait) - \(tolerance), 0)"
        return "(CAST(\(shifted) AS INTEGER) + (\(shifted) > CAST(\(shifted) AS INTEGER)))"
    }

    /// The answered calls' part of a full recount's group (see `DailyRollup.recountAll`): the buckets of the calls
    /// that waited at all, listed as text, since most calls wait for nothing and listing only the others keeps
    /// the one pass over a million calls cheap.
    static func waitedColumns(postgres: Bool) -> String {
        // Only calls that waited longer than the tolerance get a bucket, so the arithmetic runs for them alone: on
        // SQLite this keeps the pass as fast as without these columns.
        let tolerance = WaitCounts.roundingTolerance
        let waited: String
        if postgres {
            waited = """
                STRING_AGG(CASE WHEN assigned_at > created_at + INTERVAL '\(tolerance) second'
                    THEN CAST(CAST(CEIL(EXTRACT(EPOCH FROM (assigned_at - created_at)) - \(tolerance)) AS BIGINT) AS TEXT) END, ',')
                """
        } else {
            let shifted = "(assigned_at - created_at - \(tolerance))"
            waited = """
                GROUP_CONCAT(CASE WHEN assigned_at > created_at + \(tolerance)
                    THEN CAST(\(shifted) AS INTEGER) + (\(shifted) > CAST(\(shifted) AS INTEGER)) END)
                """
        }
        return "CAST(SUM(\(waitExpression(postgres: postgres))) AS DOUBLE PRECISION) AS total_wait, \(waited) AS waited"
    }

    static func answeredWaits(_ row: any SQLRow, answered: Int) throws -> WaitCounts {
        WaitCounts(answered: answered, abandoned: 0,
                   totalWaitSeconds: max(0, try row.decode(column: "total_wait", as: Double?.self) ?? 0),
                   histogram: WaitCounts.histogram(answered: answered, waitedBuckets: try row.decode(column: "waited", as: String?.self)))
    }

    /// The full recount's rows from the daily groups of completed calls: an agent's group is also its tenant's
    /// (every completed call was answered by an agent). Pure.
    static func rows(fromCompleted groups: [DailyRollup.Row], subject: DailyRollup.Subject) -> [Key: WaitCounts] {
        var byKey: [Key: WaitCounts] = [:]
        for group in groups {
            let key = group.group
            switch subject {
            case .team:
                byKey[Key(clientId: key.clientId, kind: .team, subjectId: key.subjectId, day: key.day), default: .zero].add(group.waits)
            case .agent:
                byKey[Key(clientId: key.clientId, kind: .agent, subjectId: key.subjectId, day: key.day), default: .zero].add(group.waits)
                byKey[Key(clientId: key.clientId, kind: .tenant, subjectId: tenantSubjectId, day: key.day), default: .zero].add(group.waits)
            }
        }
        return byKey
    }

    /// The cancelled calls counted as of `cutoff` (see `DailyRollup.recountAll`), grouped by wait. Few calls are
    /// cancelled; `cancelled_at IS NOT NULL` lets both databases read them from the index that holds only them.
    static func recountCancelled(cutoff: Date, postgres: Bool, on sql: any SQLDatabase) async throws -> [Key: WaitCounts] {
        let rows = try await sql.raw("""
            SELECT client_id, call_day, team_id, agent_id,
                   CASE WHEN assigned_at IS NULL THEN 1 ELSE 0 END AS abandoned,
                   \(unsafeRaw: bucketExpression(postgres: postgres)) AS wait_bucket,
                   COUNT(*) AS calls,
                   CAST(SUM(\(unsafeRaw: waitExpression(postgres: postgres))) AS DOUBLE PRECISION) AS total_wait
            FROM calls
            WHERE cancelled_at IS NOT NULL AND status = 'cancelled'
              AND (rolled_up OR cancelled_at <= \(bind: cutoff))
            GROUP BY client_id, call_day, team_id, agent_id, abandoned, wait_bucket
            """).all()
        var byKey: [Key: WaitCounts] = [:]
        for row in rows {
            let calls: Int = try row.decode("calls")
            let abandoned = try row.decode(column: "abandoned", as: Int.self) == 1
            let counts: WaitCounts
            if abandoned {
                counts = WaitCounts(answered: 0, abandoned: calls, totalWaitSeconds: 0, histogram: [:])
            } else {
                let bucket = min(WaitCounts.longestBucket, max(0, try row.decode(column: "wait_bucket", as: Int.self)))
                counts = WaitCounts(answered: calls, abandoned: 0,
                                    totalWaitSeconds: max(0, try row.decode(column: "total_wait", as: Double?.self) ?? 0),
                                    histogram: [bucket: calls])
            }
            for key in keys(clientId: try row.decode("client_id"), day: try row.decode("call_day"),
                            teamId: try row.decode(column: "team_id", as: UUID?.self),
                            agentId: try row.decode(column: "agent_id", as: UUID?.self), answered: !abandoned) {
                byKey[key, default: .zero].add(counts)
            }
        }
        return byKey
    }

    static func decode(_ row: any SQLRow) throws -> WaitCounts {
        WaitCounts(
            answered: try row.decode("answered"),
            abandoned: try row.decode("abandoned"),
            totalWaitSeconds: try row.decode("total_wait_seconds"),
            histogram: try WaitCounts.decodeHistogram(try row.decode("wait_histogram"))
        )
    }

    static func storedCounts(of keys: some Collection<Key>, on sql: any SQLDatabase) async throws -> [Key: WaitCounts] {
        let wanted = Set(keys)
        let tenants = Array(Set(keys.map(\.clientId)))
        let days = Array(Set(keys.map(\.day)))
        let ids = Array(Set(keys.map(\.subjectId)))
        var stored: [Key: WaitCounts] = [:]
        for start in stride(from: 0, to: ids.count, by: DailyRollup.batchSize) {
            // Every column of the unique index constrained, so both databases look each row up in it.
            let rows = try await sql.select()
                .columns("client_id", "subject_kind", "subject_id", "date", "answered", "abandoned",
                         "total_wait_seconds", "wait_histogram")
                .from(table)
                .where("client_id", .in, tenants)
                .where("subject_kind", .in, Array(Set(keys.map(\.kind.rawValue))))
                .where("date", .in, days)
                .where("subject_id", .in, Array(ids[start..<min(start + DailyRollup.batchSize, ids.count)]))
                .all()
            for row in rows {
                guard let kind = SubjectKind(rawValue: try row.decode("subject_kind")) else { continue }
                let key = Key(clientId: try row.decode("client_id"), kind: kind, subjectId: try row.decode("subject_id"),
                              day: try row.decode("date"))
                if wanted.contains(key) { stored[key] = try decode(row) }
            }
        }
        return stored
    }

    static func upsert(_ rows: [Key: WaitCounts], at now: Date, on sql: any SQLDatabase) async throws {
        let columns = ["id", "client_id", "subject_kind", "subject_id", "date", "answered", "abandoned",
                       "total_wait_seconds", "wait_histogram", "updated_at"]
        let all = Array(rows)
        for start in stride(from: 0, to: all.count, by: DailyRollup.batchSize) {
            var insert = sql.insert(into: table).columns(columns)
            for (key, counts) in all[start..<min(start + DailyRollup.batchSize, all.count)] {
                insert = insert.values([
                    SQLBind(UUID()), SQLBind(key.clientId), SQLBind(key.kind.rawValue), SQLBind(key.subjectId),
                    SQLBind(key.day), SQLBind(counts.answered), SQLBind(counts.abandoned),
                    SQLBind(counts.totalWaitSeconds), SQLBind(counts.encodedHistogram), SQLBind(now),
                ])
            }
            try await insert.onConflict(with: ["client_id", "subject_kind", "date", "subject_id"]) { update in
                var update = update
                for column in columns.dropFirst(5) { update = update.set(excludedValueOf: column) }
                return update
            }.run()
        }
    }
}
