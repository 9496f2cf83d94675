import FluentKit
import Foundation
import Logging
import SQLKit
import NIOConcurrencyHelpers
import Vapor

/// A change to calls, waiting for the next group commit.
enum CallChange: Sendable {
    case create(NewCall)
    case complete(UUID, CompleteCallInput.Validated)
    case cancel(UUID)
}

struct NewCall: Sendable {
    let route: RouteRequest
    /// Nil: the tenant's default channel.
    let channel: CallChannel?
    let externalRef: String?
    let idempotencyKey: String?
}

struct CallChangeResult: Sendable {
    let call: CallDTO
    /// True when an `Idempotency-Key` matched an earlier call, which is returned instead of a new one.
    let replayed: Bool
}

/// Group commit for the call lifecycle. Requests queue their change and wait; one writer takes everything
/// waiting, decides and books it in memory (the load book), writes it in one transaction with one statement per
/// table, and answers each request only after that transaction committed. While it commits, the next batch
/// gathers, so the cost of a transaction is shared by everyone who arrived meanwhile.
///
/// The database stays the judge of capacity: loads change by one conditional `UPDATE` per batch that refuses to
/// pass any agent's `max_concurrent`. If it refuses (another process claimed first, or the book was stale),
/// the transaction rolls back, the book takes the agents' committed values, and the batch is decided again.
/// A batch that fails otherwise is retried one change at a time, so each request gets its own answer.
final class CallWriter: Sendable {
    private struct Pending: Sendable {
        let tenant: Tenant
        let change: CallChange
        let continuation: CheckedContinuation<CallChangeResult, any Error>
    }

    private struct Queue {
        var pending: [Pending] = []
        var draining = false
    }

    let store: Store
    let book: LoadBook
    let metrics: SwitchboardMetrics
    let logger: Logger
    private let queue = NIOLockedValueBox(Queue())
    private let stamps = CallStamps()

    static let maxBatch = 256
    private static let lostClaimRetries = 5

    init(store: Store, book: LoadBook, metrics: SwitchboardMetrics, logger: Logger) {
        self.store = store
        self.book = book
        self.metrics = metrics
        self.logger = logger
    }

    func submit(_ change: CallChange, by tenant: Tenant) async throws -> CallChangeResult {
        try await withCheckedThrowingContinuation { continuation in
            let startDraining = queue.withLockedValue { queue in
                queue.pending.append(Pending(tenant: tenant, change: change, continuation: continuation))
                guard !queue.draining else { return false }
                queue.draining = true
                return true
            }
            if startDraining { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch: [Pending] = queue.withLockedValue { queue in
                guard !queue.pending.isEmpty else {
                    queue.draining = false
                    return []
                }
                let count = min(queue.pending.count, Self.maxBatch)
                defer { queue.pending.removeFirst(count) }
                return Array(queue.pending.prefix(count))
            }
            if batch.isEmpty { return }
            metrics.histogram("switchboard_call_batch_size", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256]).record(Double(batch.count))
            await commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) async {
        let plan = BatchPlan()
        for attempt in 1...Self.lostClaimRetries {
            do {
                let results = try await store.writeSQL { db in try await self.decideAndWrite(batch, plan, on: db) }
                plan.committed(in: book)
                count(batch, results)
                for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
                return
            } catch let lost as LostClaims where attempt < Self.lostClaimRetries {
                plan.rolledBack(in: book)
                metrics.counter("switchboard_routing_claims_lost_total").increment(by: Int64(lost.agents.count))
                await refresh(lost.agents)
            } catch let error as any DatabaseError where error.isConstraintFailure && batch.count == 1
                        && attempt < Self.lostClaimRetries {
                // Another process committed a call with the same Idempotency-Key first: read again, and replay it.
                plan.rolledBack(in: book)
            } catch {
                plan.rolledBack(in: book)
                for clientId in Set(batch.map(\.tenant.clientId)) { book.invalidateHere(clientId) }
                guard batch.count > 1 else {
                    batch[0].continuation.resume(throwing: error)
                    return
                }
                logger.warning("a group commit failed; retrying its changes one by one", metadata: ["error": "\(error)"])
                for pending in batch { await commit([pending]) }
                return
            }
        }
    }

    /// After a refused claim: the agents' values as committed, into the book.
    private func refresh(_ agents: [LostClaims.Agent]) async {
        do {
            for (clientId, agentIds) in Dictionary(grouping: agents, by: \.clientId) {
                let states = try await Self.liveStates(of: agentIds.map(\.agentId), clientId: clientId, on: store.sql)
                book.applyCommitted(clientId, states)
            }
        } catch {
            for clientId in Set(agents.map(\.clientId)) { book.invalidateHere(clientId) }
        }
    }

    static func liveStates(of agentIds: [UUID], clientId: String, on db: any SQLDatabase)
        async throws -> [(agentId: UUID, load: Int, maxConcurrent: Int, isActive: Bool)] {
        guard !agentIds.isEmpty else { return [] }
        return try await TenantScope(clientId: clientId).select(from: SectorAgent.schema, on: db)
            .columns("id", "current_load", "max_concurrent", "status")
            .where("id", .in, agentIds)
            .all()
            .map { row in
                (try row.decode("id"), try row.decode("current_load"), try row.decode("max_concurrent"),
                 try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue)
            }
    }

    private func count(_ batch: [Pending], _ results: [Result<CallChangeResult, any Error>]) {
        for (pending, result) in zip(batch, results) {
            guard case .success(let outcome) = result, !outcome.replayed else { continue }
            switch pending.change {
            case .create:
                metrics.counter("switchboard_calls_created_total", [("status", outcome.call.status.rawValue)]).increment()
            case .complete(_, let input):
                metrics.counter("switchboard_calls_completed_total", [("outcome", input.outcome.rawValue)]).increment()
            case .cancel:
                metrics.counter("switchboard_calls_cancelled_total").increment()
            }
        }
    }

    // MARK: One batch

    private func decideAndWrite(
        _ batch: [Pending], _ plan: BatchPlan, on db: any SQLDatabase
    ) async throws -> [Result<CallChangeResult, any Error>] {
        plan.rolledBack(in: book)  // a retried transaction starts from the book as committed
        var work = BatchWork(plan: plan, now: stamps.next())
        try await work.readExisting(batch.map { ($0.tenant, $0.change) }, on: db)
        var results: [Result<CallChangeResult, any Error>] = []
        results.reserveCapacity(batch.count)
        for pending in batch {
            // A client's mistake fails its own change; anything else fails the batch (and so the transaction).
            do {
                results.append(.success(try await apply(pending.change, by: pending.tenant, &work, on: db)))
            } catch let error as AppError {
                results.append(.failure(error))
            }
        }
        try await work.write(on: db, postgres: store.isPostgres)
        // Results of calls the queue handed to an agent later in the batch show their final state.
        return results.map { result in
            result.map { outcome in
                guard !outcome.replayed, let row = work.finalRow(outcome.call.id) else { return outcome }
                return CallChangeResult(call: CallDTO(row), replayed: false)
            }
        }
    }

    private func apply(_ change: CallChange, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase)
        async throws -> CallChangeResult {
        switch change {
        case .create(let new):
            if let key = new.idempotencyKey, let earlier = work.idempotent[IdempotencyKey(clientId: tenant.clientId, key: key)] {
                return CallChangeResult(call: CallDTO(earlier), replayed: true)
            }
            let (decision, policy) = try await decide(new.route, for: tenant, &work, on: db)
            if decision.chosen == nil && policy.overflow == .reject {
                throw AppError.conflict("no agent is available and this tenant's overflow policy is 'reject'")
            }
            if let chosen = decision.chosen { work.plan.booked(chosen.agentId, of: tenant.clientId, delta: 1) }
            let call = CallRow(
                id: .random(), clientId: tenant.clientId, teamId: decision.teamId, agentId: decision.chosen?.agentId,
                sector: decision.sector, capabilities: new.route.capabilities, channel: new.channel ?? policy.defaultChannel,
                externalRef: new.externalRef, idempotencyKey: new.idempotencyKey,
                status: decision.chosen == nil ? .queued : .active, createdAt: stamps.next())
            if call.status == .queued {
                try await book.withBook(tenant.clientId, store: store, on: db) { book in
                    book.queuedCalls = book.queuedCalls.map { $0 + 1 }
                }
            }
            work.insert(call)
            work.decisions.append(DecisionRow(decision, trigger: "call", callId: call.id, capabilities: call.capabilities,
                                              clientId: tenant.clientId, at: work.now))
            work.audit(tenant, "call.create", call.id)
            return CallChangeResult(call: CallDTO(call), replayed: false)

        case .complete(let callId, let input):
            var call = try await work.existing(callId, of: tenant, probingWith: store.db)
            switch call.status {
            case .active: break
            case .queued: throw AppError.conflict("call is queued and has no agent yet; it cannot be completed")
            case .completed, .cancelled: throw AppError.conflict("call is already \(call.status.rawValue)")
            }
            call.status = .completed
            call.outcome = input.outcome
            call.resolved = input.resolved
            call.satisfaction = input.satisfaction
            call.handlingTimeSeconds = input.handlingTimeSeconds
            call.completedAt = work.now
            call.updatedAt = work.now
            work.update(call, expecting: .active)
            try await release(call, by: tenant, &work, on: db)
            work.audit(tenant, "call.complete", callId)
            return CallChangeResult(call: CallDTO(call), replayed: false)

        case .cancel(let callId):
            var call = try await work.existing(callId, of: tenant, probingWith: store.db)
            let previous = call.status
            guard previous == .queued || previous == .active else {
                throw AppError.conflict("call is already \(previous.rawValue)")
            }
            call.status = .cancelled
            call.cancelledAt = work.now
            call.updatedAt = work.now
            work.update(call, expecting: previous)
            if previous == .active {
                try await release(call, by: tenant, &work, on: db)
            } else {
                try await book.withBook(tenant.clientId, store: store, on: db) { book in
                    book.queuedCalls = book.queuedCalls.map { max(0, $0 - 1) }
                }
            }
            work.audit(tenant, "call.cancel", callId)
            return CallChangeResult(call: CallDTO(call), replayed: false)
        }
    }

    /// Routes in the book. Over PostgreSQL the book may lag behind other processes, so before a call is queued
    /// the candidates' committed values are read and the decision made again.
    private func decide(_ route: RouteRequest, for tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase)
        async throws -> (RoutingDecision, RoutingPolicy) {
        let clock = ContinuousClock.now
        defer { metrics.recordRoutingDecision(since: clock) }
        var refreshed = false
        while true {
            let outcome: Result<(RoutingDecision, RoutingPolicy, [UUID]), any Error> = try await book.withBook(
                tenant.clientId, store: store, on: db
            ) { book in
                Result {
                    let decision = try book.decide(route, claiming: true)
                    return (decision, book.policy, decision.chosen == nil ? book.agentIds(for: route) : [])
                }
            }
            switch outcome {
            case .success(let (decision, policy, candidates)):
                guard decision.chosen == nil, store.isPostgres, !refreshed, !candidates.isEmpty else {
                    metrics.counter("switchboard_routing_decisions_total", [("strategy", decision.strategy.rawValue)]).increment()
                    return (decision, policy)
                }
                refreshed = true
                book.applyCommitted(tenant.clientId, try await Self.liveStates(of: candidates, clientId: tenant.clientId, on: db))
            case .failure(TenantBook.Miss.unknownTeam(let teamId)):
                // Not the tenant's team (the usual 404, with cross-tenant probes marked), or created after the book.
                _ = try await tenant.scope.find(Team.self, teamId, on: store.db)
                guard !refreshed else { throw AppError.notFound(Team.entityName) }
                refreshed = true
                book.invalidateHere(tenant.clientId)
            case .failure(let error):
                throw error
            }
        }
    }

    /// Gives the agent's unit back and offers it to the oldest queued calls it can take, in the same batch.
    private func release(_ call: CallRow, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase) async throws {
        guard let agentId = call.agentId else { return }
        let clientId = tenant.clientId
        let queued = try await book.withBook(clientId, store: store, on: db) { book in
            book.adjustLoad(of: agentId, by: -1)
            return book.queuedCalls
        }
        work.plan.booked(agentId, of: clientId, delta: -1)
        guard queued != 0 else { return }
        while true {
            let agent = try await book.withBook(clientId, store: store, on: db) { book in book.agent(agentId) }
            guard let agent, agent.hasRoom else { return }
            guard var waiting = try await work.oldestQueued(for: agentId, agent, clientId: clientId, on: db) else { return }
            let (candidate, capabilities) = try await book.withBook(clientId, store: store, on: db) { book in
                book.adjustLoad(of: agentId, by: 1)
                book.queuedCalls = book.queuedCalls.map { max(0, $0 - 1) }
                return (book.candidate(agentId), book.capabilities(of: agentId))
            }
            work.plan.booked(agentId, of: clientId, delta: 1)
            let expected = waiting.status
            waiting.status = .active
            waiting.agentId = agentId
            waiting.assignedAt = work.now
            waiting.updatedAt = work.now
            work.update(waiting, expecting: expected)
            if let candidate {
                let matches = Set(waiting.capabilities).intersection(capabilities).count
                let scored = AgentScorer.explain(candidate, matches: matches, weights: work.weights(clientId, book: book))
                let decision = RoutingDecision(
                    strategy: .queue, sector: waiting.sector, teamId: waiting.teamId,
                    ranking: Ranking(top: [scored], eligibleCount: 1), chosen: scored, poolSize: 1)
                work.decisions.append(DecisionRow(decision, trigger: "queue", callId: waiting.id,
                                                  capabilities: waiting.capabilities, clientId: clientId, at: work.now))
            }
        }
    }
}

/// Creation times that strictly increase, even for calls of one batch: the queue is served oldest first by
/// `created_at`, so arrival order must survive the batch. Stored with microsecond precision on both databases.
final class CallStamps: Sendable {
    private let last = NIOLockedValueBox(Date.distantPast)

    func next() -> Date {
        last.withLockedValue { last in
            let now = Date()
            last = now > last.addingTimeInterval(0.000_001) ? now : last.addingTimeInterval(0.000_001)
            return last
        }
    }
}

/// A claim the database refused: the agent was full (or inactive) when the batch's loads were written.
struct LostClaims: Error {
    struct Agent: Sendable, Hashable {
        let clientId: String
        let agentId: UUID
    }

    let agents: [Agent]
}

struct IdempotencyKey: Hashable {
    let clientId: String
    let key: String
}

/// What a batch booked in memory, so that a rollback can give it back and a commit can confirm it.
final class BatchPlan: @unchecked Sendable {
    // Used by one writer task at a time.
    private var deltas: [LostClaims.Agent: Int] = [:]
    /// Loads as the batch's conditional update returned them.
    fileprivate var committedLoads: [String: [(agentId: UUID, load: Int, maxConcurrent: Int, isActive: Bool)]] = [:]

    func booked(_ agentId: UUID, of clientId: String, delta: Int) {
        deltas[LostClaims.Agent(clientId: clientId, agentId: agentId), default: 0] += delta
    }

    var netDeltas: [(agent: LostClaims.Agent, delta: Int)] {
        deltas.filter { $0.value != 0 }.map { ($0.key, $0.value) }
            .sorted { ($0.agent.agentId.uuidString) < ($1.agent.agentId.uuidString) }
    }

    func rolledBack(in book: LoadBook) {
        for (agent, delta) in deltas where delta != 0 {
            book.adjust(agent.clientId, agent.agentId, by: -delta)
        }
        deltas = [:]
        committedLoads = [:]
    }

    var committedLoadsForNotify: [String: [(agentId: UUID, load: Int, maxConcurrent: Int, isActive: Bool)]] {
        committedLoads
    }

    func committed(in book: LoadBook) {
        for (clientId, states) in committedLoads { book.applyCommitted(clientId, states) }
        deltas = [:]
        committedLoads = [:]
    }
}

/// One routing decision, ready for the decision log.
struct DecisionRow: Sendable {
    let clientId: String
    let values: [any Encodable & Sendable]

    static let columns = ["id", "call_id", "trigger", "request", "strategy", "agent_id", "score", "candidate_count",
                          "candidates", "created_at"]

    init(_ decision: RoutingDecision, trigger: String, callId: UUID?, capabilities: [String], clientId: String, at: Date) {
        self.clientId = clientId
        values = [
            UUID.random(), callId, trigger,
            DecisionJSON.request(teamId: decision.teamId, sector: decision.sector, capabilities: capabilities),
            decision.strategy.rawValue, decision.chosen?.agentId, decision.chosen?.score, decision.ranking.eligibleCount,
            DecisionJSON.candidates(decision.ranking.top), at,
        ]
    }
}

/// The batch being assembled: the rows it read, the rows it will write.
private struct BatchWork {
    let plan: BatchPlan
    let now: Date
    private var existing: [UUID: CallRow] = [:]
    private var inserted: [UUID: Int] = [:]
    private var inserts: [CallRow] = []
    private var updates: [UUID: (row: CallRow, expected: CallStatus)] = [:]
    private var updateOrder: [UUID] = []
    var decisions: [DecisionRow] = []
    private var audits: [(clientId: String, values: [any Encodable & Sendable])] = []
    var idempotent: [IdempotencyKey: CallRow] = [:]
    /// Calls of this batch or read from the database that the queue already handed out here.
    private var takenFromQueue: Set<UUID> = []

    init(plan: BatchPlan, now: Date) {
        self.plan = plan
        self.now = now
    }

    /// One read for every call the batch completes or cancels, one per tenant for idempotency keys.
    mutating func readExisting(_ changes: [(Tenant, CallChange)], on db: any SQLDatabase) async throws {
        let sql = db
        var ids: [UUID] = []
        var keys: [String: [String]] = [:]
        for (tenant, change) in changes {
            switch change {
            case .complete(let id, _), .cancel(let id): ids.append(id)
            case .create(let new): if let key = new.idempotencyKey { keys[tenant.clientId, default: []].append(key) }
            }
        }
        if !ids.isEmpty {
            // Any tenant's rows: `existing(_:of:)` answers another tenant's id as not found.
            for row in try await sql.select().columns(CallRow.columns.map { SQLIdentifier($0) }).from(Call.schema)
                .where("id", .in, ids).all() {
                let call = try CallRow(row)
                existing[call.id] = call
            }
        }
        for (clientId, tenantKeys) in keys {
            for row in try await TenantScope(clientId: clientId).select(from: Call.schema, on: db)
                .columns(CallRow.columns.map { SQLIdentifier($0) }).where("idempotency_key", .in, tenantKeys).all() {
                let call = try CallRow(row)
                idempotent[IdempotencyKey(clientId: clientId, key: call.idempotencyKey!)] = call
            }
        }
    }

    func existing(_ id: UUID, of tenant: Tenant, probingWith fluent: any Database) async throws -> CallRow {
        if let index = inserted[id] { return inserts[index] }
        if let update = updates[id] { return update.row }
        guard let call = existing[id], call.clientId == tenant.clientId else {
            // Not found, with another tenant's id marked as a probe exactly as everywhere else.
            _ = try await tenant.scope.find(Call.self, id, on: fluent)
            throw AppError.notFound(Call.entityName)
        }
        return call
    }

    func finalRow(_ id: UUID) -> CallRow? {
        if let index = inserted[id] { return inserts[index] }
        return updates[id]?.row
    }

    mutating func insert(_ call: CallRow) {
        inserted[call.id] = inserts.count
        inserts.append(call)
        if let key = call.idempotencyKey { idempotent[IdempotencyKey(clientId: call.clientId, key: key)] = call }
    }

    /// A change to a call read from the database (expected still in `expected` when written), or to one this
    /// batch inserts (the insert carries it).
    mutating func update(_ call: CallRow, expecting expected: CallStatus) {
        if let index = inserted[call.id] {
            inserts[index] = call
            return
        }
        if updates[call.id] == nil {
            updateOrder.append(call.id)
            updates[call.id] = (call, expected)
        } else {
            updates[call.id]!.row = call
        }
    }

    mutating func audit(_ tenant: Tenant, _ action: String, _ callId: UUID) {
        audits.append((tenant.clientId, [UUID.random(), tenant.userId, action, "call", callId.uuidString, AuditOutcome.ok.rawValue, now]))
    }

    func weights(_ clientId: String, book: LoadBook) -> ScoringWeights {
        book.policy(of: clientId)?.weights ?? .contractDefaults
    }

    /// The oldest queued call this agent may take: first those already in the database (older than anything in
    /// this batch), then those this batch queued.
    mutating func oldestQueued(for agentId: UUID, _ agent: BookAgent, clientId: String, on db: any SQLDatabase)
        async throws -> CallRow? {
        var query = TenantScope(clientId: clientId).select(from: Call.schema, on: db)
            .columns(CallRow.columns.map { SQLIdentifier($0) })
            .where("status", .equal, CallStatus.queued.rawValue)
            .where { group in
                var group = group.where("sector", .equal, agent.sector)
                if !agent.teams.isEmpty { group = group.orWhere("team_id", .in, agent.teams) }
                return group
            }
        if !takenFromQueue.isEmpty { query = query.where("id", .notIn, Array(takenFromQueue)) }
        let decided = Set(updates.keys)
        var found: CallRow?
        for row in try await query.orderBy("created_at").orderBy("id").limit(8).all() {
            let call = try CallRow(row)
            // A call this batch already changed (cancelled, say) is not waiting any more.
            if decided.contains(call.id) { continue }
            found = call
            break
        }
        if found == nil {
            found = inserts.first { call in
                call.clientId == clientId && call.status == .queued && !takenFromQueue.contains(call.id)
                    && (call.sector == agent.sector || call.teamId.map(agent.teams.contains) == true)
            }
        }
        if let found { takenFromQueue.insert(found.id) }
        return found
    }

    /// Loads, new calls, changed calls, decisions and audit rows: one statement each (changed calls: one each).
    mutating func write(on db: any SQLDatabase, postgres: Bool) async throws {
        let sql = db
        let deltas = plan.netDeltas
        if !deltas.isEmpty {
            let rows = deltas.map { SQLGroupExpression([SQLBind($0.agent.agentId), SQLBind($0.delta)]) }
            let returned = try await sql.raw("""
                WITH v(agent_id, delta) AS (VALUES \(SQLList(rows)))
                UPDATE sector_agents SET current_load =
                    CASE WHEN sector_agents.current_load + v.delta < 0 THEN 0 ELSE sector_agents.current_load + v.delta END
                FROM v
                WHERE sector_agents.id = v.agent_id AND (v.delta < 0 OR (sector_agents.status = 'active'
                    AND sector_agents.current_load + v.delta <= sector_agents.max_concurrent))
                RETURNING sector_agents.id, sector_agents.client_id, sector_agents.current_load,
                    sector_agents.max_concurrent, sector_agents.status
                """).all()
            var confirmed: Set<UUID> = []
            for row in returned {
                let agentId: UUID = try row.decode("id")
                let clientId: String = try row.decode("client_id")
                confirmed.insert(agentId)
                plan.committedLoads[clientId, default: []].append((
                    agentId, try row.decode("current_load"), try row.decode("max_concurrent"),
                    try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue))
            }
            let lost = deltas.filter { $0.delta > 0 && !confirmed.contains($0.agent.agentId) }.map(\.agent)
            if !lost.isEmpty { throw LostClaims(agents: lost) }
        }
        try await TenantScope.insert(into: Call.schema, columns: CallRow.insertColumns,
                                     rows: inserts.map { ($0.clientId, $0.values) }, on: db)
        for id in updateOrder {
            let (call, expected) = updates[id]!
            let changed = try await sql.update(Call.schema)
                .set("status", to: call.status.rawValue)
                .set("agent_id", to: call.agentId)
                .set("outcome", to: call.outcome?.rawValue)
                .set("resolved", to: call.resolved)
                .set("satisfaction", to: call.satisfaction)
                .set("handling_time_seconds", to: call.handlingTimeSeconds)
                .set("assigned_at", to: call.assignedAt)
                .set("completed_at", to: call.completedAt)
                .set("cancelled_at", to: call.cancelledAt)
                .set("updated_at", to: call.updatedAt)
                .where("id", .equal, call.id)
                .where("client_id", .equal, call.clientId)
                .where("status", .equal, expected.rawValue)
                .returning("id")
                .first()
            // Changed by another process since this batch read it: decide the batch again on fresh rows.
            guard changed != nil else { throw CallChangedMeanwhile() }
        }
        try await TenantScope.insert(into: RoutingDecisionRecord.schema, columns: DecisionRow.columns,
                                     rows: decisions.map { ($0.clientId, $0.values) }, on: db)
        try await TenantScope.insert(into: AuditLogEntry.schema, columns: ["id", "actor", "action", "entity_type", "entity_id",
                                                                          "outcome", "created_at"],
                                     rows: audits, on: db)
        if postgres, !plan.committedLoadsForNotify.isEmpty {
            for payload in LoadNotification.payloads(plan.committedLoadsForNotify) {
                try await sql.raw("SELECT pg_notify(\(bind: LoadNotification.channel), \(bind: payload))").run()
            }
        }
    }
}

struct CallChangedMeanwhile: Error {}
