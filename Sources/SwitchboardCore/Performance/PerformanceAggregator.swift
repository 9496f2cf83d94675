import FluentKit
import Foundation
import Logging
import SQLKit
import Vapor

/// Turns ended calls into daily agent and team rows and service-level rows, then feeds agents' 7-day values back
/// into routing.
///
/// The first run recounts every group from calls; each later run adds to the stored rows only the calls completed
/// since the last watermark (minus an overlap, because a transaction may commit a completion stamped a little
/// before the previous run began) that no run has counted, marking them in the same transaction, so the work grows
/// with new calls, not with history or with the size of a day, and a call is never counted twice. On PostgreSQL a
/// transaction-scoped advisory lock lets one process aggregate at a time; the others skip the run.
actor PerformanceAggregator {
    struct Status: Content, Sendable {
        var intervalSeconds: Int
        var running = false
        var runs = 0
        var skippedRuns = 0
        var lastRunStartedAt: Date?
        var lastRunFinishedAt: Date?
        var lastDurationMs: Double?
        var lastRunMode: String?
        var groupsRecomputed = 0
        var rowsWritten = 0
        var agentsRefreshed = 0
        var watermark: Date?
        var nextRunAt: Date?
        var lastError: String?
        /// Whether this process held the lease in its last attempt (false when another process was aggregating).
        var holdsLease = false
    }

    /// What the last run did for one tenant.
    /// `aggregation.completed`'s data: the daily rows the run recomputed for the tenant and the agents whose 7-day
    /// values changed.
    struct AggregationEvent: Encodable {
        let mode: String
        let groups: Int
        let agentsRefreshed: Int
    }

    struct TenantFigures: Sendable {
        var groups = 0
        var agentsRefreshed = 0
    }

    /// The row of `aggregator_state` holding this aggregator's watermark.
    static let stateName = "performance"
    static let watermarkOverlap: TimeInterval = 120
    static let rollingWindowDays = 7

    private let store: Store
    private let book: LoadBook
    private let metrics: SwitchboardMetrics
    private let logger: Logger
    /// Server-wide: the schedule and the totals of the last run, which tenants never see (their figures
    /// would tell one tenant how much another works); the totals are on `/metrics`.
    private var status: Status
    private var lastRunByTenant: [String: TenantFigures] = [:]
    private var currentRun: Task<Status, Never>?
    nonisolated let intervalSeconds: Int

    init(store: Store, book: LoadBook, metrics: SwitchboardMetrics, intervalSeconds: Int, logger: Logger) {
        self.store = store
        self.book = book
        self.metrics = metrics
        self.logger = logger
        self.status = Status(intervalSeconds: intervalSeconds)
        self.intervalSeconds = intervalSeconds
    }

    /// The server-wide status: for this process's own use (tests, the demo), never answered to a tenant.
    func currentStatus() -> Status { status }

    /// The status as one tenant sees it: the shared schedule, and that tenant's own figures of the last run.
    func currentStatus(for clientId: String) -> Status {
        var view = status
        let figures = lastRunByTenant[clientId] ?? TenantFigures()
        view.groupsRecomputed = figures.groups
        view.rowsWritten = figures.groups  // one upserted row per recomputed group
        view.agentsRefreshed = figures.agentsRefreshed
        return view
    }

    /// Runs now, or joins the run already in progress in this process.
    @discardableResult
    func runNow() async -> Status {
        if let currentRun { return await currentRun.value }
        let run = Task { await self.performRun() }
        currentRun = run
        let result = await run.value
        currentRun = nil
        return result
    }

    func runNow(for clientId: String) async -> Status {
        await runNow()
        return currentStatus(for: clientId)
    }

    /// A run every `intervalSeconds` while the process serves; at shutdown a run in progress finishes first.
    nonisolated var service: PeriodicService {
        PeriodicService(interval: .seconds(intervalSeconds)) { [self] in
            _ = await runNow()
            await scheduleNext(in: intervalSeconds)
        }
    }

    /// The first run is one interval after the process starts serving.
    func willStart() {
        status.nextRunAt = Date().addingTimeInterval(TimeInterval(status.intervalSeconds))
    }

    private func scheduleNext(in interval: Int) {
        status.nextRunAt = Date().addingTimeInterval(TimeInterval(interval))
    }

    private func performRun() async -> Status {
        let started = Date()
        let clock = ContinuousClock.now
        status.running = true
        status.lastRunStartedAt = started
        defer { status.running = false }
        do {
            guard let outcome = try await Self.aggregate(store: store, startedAt: started) else {
                status.skippedRuns += 1
                status.holdsLease = false
                metrics.counter("switchboard_aggregator_runs_total", [("result", "skipped")]).increment()
                logger.info("aggregation skipped: another process holds the lease")
                return status
            }
            for clientId in outcome.refreshedTenants {
                let changed = (outcome.history[clientId] ?? []).map { ($0.agentId, $0.successRate, $0.avgHandlingTime) }
                await book.applyAggregation(clientId, history: changed)
            }
            let elapsed = ContinuousClock.now - clock
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            status.runs += 1
            status.holdsLease = true
            status.lastRunFinishedAt = Date()
            status.lastDurationMs = seconds * 1000
            status.lastRunMode = outcome.mode
            status.groupsRecomputed = outcome.groups
            status.rowsWritten = outcome.groups  // one upserted row per recomputed group
            status.agentsRefreshed = outcome.agentsRefreshed
            lastRunByTenant = outcome.perTenant
            for (phase, milliseconds) in outcome.phasesMs {
                metrics.gauge("switchboard_aggregator_last_phase_seconds", [("phase", phase)]).record(milliseconds / 1000)
            }
            status.watermark = started
            status.lastError = nil
            metrics.counter("switchboard_aggregator_runs_total", [("result", "ok")]).increment()
            metrics.histogram("switchboard_aggregator_run_seconds", buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30]).record(seconds)
            metrics.counter("switchboard_aggregator_rows_written_total").increment(by: Int64(outcome.groups))
            logger.info("aggregation finished", metadata: [
                "mode": "\(outcome.mode)", "groups": "\(outcome.groups)",
                "agents_refreshed": "\(outcome.agentsRefreshed)", "ms": "\(Int(seconds * 1000))",
            ])
        } catch {
            status.lastError = "aggregation failed; see the server log"
            metrics.counter("switchboard_aggregator_runs_total", [("result", "error")]).increment()
            logger.error("aggregation failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        return status
    }

    struct Outcome: Sendable {
        let mode: String
        let groups: Int
        let agentsRefreshed: Int
        let refreshedTenants: Set<String>
        /// The agents whose 7-day values changed, with the new values, by tenant.
        let history: [String: [DailyRollup.Rolling]]
        let perTenant: [String: TenantFigures]
        let phasesMs: [String: Double]
    }

    /// One run in one transaction. Nil when another process holds the lease.
    static func aggregate(store: Store, startedAt: Date) async throws -> Outcome? {
        try await store.write { db in
            let sql = db as! any SQLDatabase
            var phases: [String: Double] = [:]
            var clock = ContinuousClock.now
            func lap(_ phase: String) {
                let now = ContinuousClock.now
                let elapsed = now - clock
                phases[phase, default: 0] += Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                clock = now
            }
            if store.isPostgres {
                guard try await AdvisoryLock.tryTransactionLock(.performanceAggregation, on: sql) else { return nil }
            }
            let watermark = try await sql.raw("SELECT watermark FROM aggregator_state WHERE name = \(bind: stateName)")
                .first()?.decode(column: "watermark", as: Date?.self)
            var groups = 0
            var perTenant: [String: TenantFigures] = [:]
            // Agents whose 7-day values may have moved; nil for all of them.
            var rollingAgents: [String: Set<UUID>]? = nil
            if let watermark {
                let newCalls = try await DailyRollup.claimUncounted(after: watermark.addingTimeInterval(-watermarkOverlap), on: sql)
                lap("claim")
                for subject in DailyRollup.Subject.allCases {
                    let additions = DailyRollup.additions(newCalls, for: subject)
                    let stored = try await DailyRollup.stored(of: additions.keys, in: subject, on: sql)
                    let rows = DailyRollup.merged(additions, into: stored)
                    lap("count")
                    try await DailyRollup.upsert(rows, into: subject, at: startedAt, on: sql)
                    lap("upsert")
                    for row in rows { perTenant[row.group.clientId, default: TenantFigures()].groups += 1 }
                    groups += rows.count
                }
                try await CapabilityRollup.upsert(try await CapabilityRollup.merged(CapabilityRollup.additions(newCalls), on: sql),
                                                  at: startedAt, on: sql)
                lap("capabilities")
                let tenantDays = ServiceLevelRollup.tenantAdditions(newCalls)
                let storedDays = try await ServiceLevelRollup.stored(of: tenantDays.keys, on: sql)
                let waitRows = ServiceLevelRollup.merged(tenantDays, into: storedDays)
                try await ServiceLevelRollup.upsert(waitRows, at: startedAt, on: sql)
                for key in waitRows.keys { perTenant[key.clientId, default: TenantFigures()].groups += 1 }
                groups += waitRows.count
                lap("service_level")
                // The 7-day window moves at midnight; within a day only agents with new calls change.
                if Day(containing: watermark) == Day(containing: startedAt) {
                    var agents: [String: Set<UUID>] = [:]
                    for call in newCalls { if let agentId = call.agentId { agents[call.clientId, default: []].insert(agentId) } }
                    rollingAgents = agents
                }
            } else {
                let cutoff = startedAt.addingTimeInterval(-watermarkOverlap)
                try await DailyRollup.markRecent(after: cutoff, on: sql)
                lap("claim")
                let cancelled = try await ServiceLevelRollup.recountCancelled(cutoff: cutoff, postgres: store.isPostgres, on: sql)
                lap("count_cancelled")
                var waitRows: [ServiceLevelRollup.TenantDay: WaitCounts] = [:]
                for subject in DailyRollup.Subject.allCases {
                    let completed = try await DailyRollup.recountAll(subject, cutoff: cutoff, postgres: store.isPostgres, on: sql)
                    let rows = DailyRollup.adding(cancelled, to: completed, for: subject)
                    lap("count")
                    try await DailyRollup.upsert(rows, into: subject, at: startedAt, on: sql)
                    lap("upsert")
                    for row in rows { perTenant[row.group.clientId, default: TenantFigures()].groups += 1 }
                    groups += rows.count
                    if subject == .agent { waitRows = ServiceLevelRollup.tenantDays(agentRows: completed, cancelled: cancelled) }
                }
                try await ServiceLevelRollup.upsert(waitRows, at: startedAt, on: sql)
                for key in waitRows.keys { perTenant[key.clientId, default: TenantFigures()].groups += 1 }
                groups += waitRows.count
                lap("service_level")
                try await CapabilityRollup.upsert(try await CapabilityRollup.recountAll(cutoff: cutoff, on: sql), at: startedAt, on: sql)
                lap("capabilities")
            }

            var rolling: [String: [DailyRollup.Rolling]] = [:]
            if rollingAgents?.isEmpty != true {
                let firstDay = Day(containing: startedAt).adding(days: -(rollingWindowDays - 1))
                rolling = try await DailyRollup.rollingValues(from: firstDay, agents: rollingAgents, on: sql)
            }
            var refreshed = 0
            var history: [String: [DailyRollup.Rolling]] = [:]
            for (clientId, values) in rolling {
                let changed = try await DailyRollup.applyRolling(values, clientId: clientId, on: sql)
                if !changed.isEmpty {
                    perTenant[clientId, default: TenantFigures()].agentsRefreshed += changed.count
                    history[clientId] = changed
                }
                refreshed += changed.count
            }
            lap("rolling")
            for (clientId, figures) in perTenant.sorted(by: { $0.key < $1.key }) {
                try await EventOutbox.append([PendingEvent(.aggregationCompleted, encoding: AggregationEvent(
                    mode: watermark == nil ? "full" : "incremental", groups: figures.groups,
                    agentsRefreshed: figures.agentsRefreshed))], clientId: clientId, at: startedAt, on: sql)
            }

            try await sql.insert(into: "aggregator_state")
                .columns("name", "watermark", "updated_at")
                .values(SQLBind(stateName), SQLBind(startedAt), SQLBind(Date()))
                .onConflict(with: ["name"]) { $0.set(excludedValueOf: "watermark").set(excludedValueOf: "updated_at") }
                .run()

            return Outcome(
                mode: watermark == nil ? "full" : "incremental",
                groups: groups,
                agentsRefreshed: refreshed,
                // Another process may have written these values first; this process's books and cached reads
                // are stale all the same.
                refreshedTenants: Set(rolling.keys).union(perTenant.keys),
                history: history,
                perTenant: perTenant,
                phasesMs: phases
            )
        }
    }
}

extension Application {
    private struct AggregatorKey: StorageKey { typealias Value = PerformanceAggregator }

    var aggregator: PerformanceAggregator {
        get { storage[AggregatorKey.self]! }
        set { storage[AggregatorKey.self] = newValue }
    }
}
