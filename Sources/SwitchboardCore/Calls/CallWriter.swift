import FluentKit
import Foundation
import Logging
import SQLKit
import NIOConcurrencyHelpers
import PostgresNIO
import Vapor

/// A change to calls, waiting for the next group commit.
enum CallChange: Sendable {
    case create(NewCall)
    case complete(UUID, CompleteCallInput.Validated)
    case cancel(UUID)
    /// A waiting call whose `routing.relaxation` step widened by `asOf`: routed again in its wider pool (the
    /// sweeper's, whose clock decides how long the call has waited).
    case widen(UUID, asOf: Date)
}

struct NewCall: Sendable {
    let route: RouteRequest
    /// Nil: the tenant's default channel.
    let channel: CallChannel?
    let externalRef: String?
    let idempotencyKey: String?

    /// Whether `earlier` is what this request would have made: a replay under the same Idempotency-Key must
    /// ask for the same call (as payment APIs do), or the client has a bug that silently loses a call.
    func asksFor(_ earlier: CallRow) -> Bool {
        earlier.teamId == route.teamId
            && (route.teamId != nil || earlier.sector == route.sector)
            && Set(earlier.capabilities) == Set(route.capabilities)
            && Set(earlier.requiredCapabilities) == Set(route.requiredCapabilities)
            && (channel == nil || channel == earlier.channel)
            && earlier.externalRef == externalRef
    }
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
    let events: EventHub
    let metrics: SwitchboardMetrics
    let logger: Logger
    private let queue = NIOLockedValueBox(Queue())
    /// PostgreSQL: batches whose commits may not be confirmed yet.
    private let unsettled = NIOLockedValueBox<[BatchAnswer]>([])
    private let stamps = CallStamps()

    static let maxBatch = 256
    private static let lostClaimRetries = 5

    init(store: Store, book: LoadBook, events: EventHub, metrics: SwitchboardMetrics, logger: Logger) {
        self.store = store
        self.book = book
        self.events = events
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
        let plan = BatchPlan(origin: book.origin)
        // A batch that reads calls (completions, cancellations, widenings, idempotency keys) must see the previous
        // batch's: it waits for that commit. Batches of plain new calls go ahead while it settles; their loads are
        // checked by the database all the same.
        let reads = batch.contains { pending in
            if case .create(let new) = pending.change { return new.idempotencyKey != nil }
            return true
        }
        if reads {
            for previous in unsettled.withLockedValue({ $0 }) { await previous.settled() }
        }
        for attempt in 1...Self.lostClaimRetries {
            do {
                if store.isPostgres {
                    // The batch's reads are checked again by its one conditional statement, so no transaction (and
                    // no BEGIN and COMMIT round trips) is needed around them. Its requests are answered once the
                    // statement's commit is confirmed, while the next batch is already being decided.
                    let answer = BatchAnswer(batch.map(\.continuation), book: book, clientIds: Set(batch.map(\.tenant.clientId)))
                    let results = try await store.committingOnOneConnection({ db in
                        try await self.decideAndWrite(batch, plan, on: db)
                    }, committed: answer.committed)
                    plan.committed(in: book)
                    count(batch, results)
                    unsettled.withLockedValue { batches in
                        batches.removeAll { $0.isSettled }
                        batches.append(answer)
                    }
                    answer.written(results)
                    return
                }
                let results = try await store.writeSQL { db in try await self.decideAndWrite(batch, plan, on: db) }
                // PostgreSQL's subscribers learn of the batch's events by notification, sent at its commit.
                for (clientId, newest) in plan.eventHeads { events.signal(clientId, upTo: newest) }
                plan.committed(in: book)
                count(batch, results)
                for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
                return
            } catch let lost as LostClaims where attempt < Self.lostClaimRetries {
                plan.rolledBack(in: book)
                metrics.counter("switchboard_routing_claims_lost_total").increment(by: Int64(lost.agents.count))
                await refresh(lost.agents)
            } catch let error where Self.isRefusal(error) && attempt < Self.lostClaimRetries {
                // PostgreSQL refused a claim or a call change of the batch, or chose it as a deadlock victim.
                let agents = plan.bookedAgents
                plan.rolledBack(in: book)
                metrics.counter("switchboard_routing_claims_lost_total").increment()
                await refresh(agents)
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

    private static func isRefusal(_ error: any Error) -> Bool {
        if error is BatchRefused { return true }
        guard let error = error as? PSQLError else { return false }
        return ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "")
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

    static func liveStates(of agentIds: [UUID], clientId: String, on db: any SQLDatabase) async throws -> [LiveState] {
        guard !agentIds.isEmpty else { return [] }
        return try await TenantScope(clientId: clientId).select(from: SectorAgent.schema, on: db)
            .columns(["id", "current_load", "max_concurrent", "status"] + ChannelNumbers.loadColumns + ChannelNumbers.capacityColumns)
            .where("id", .in, agentIds)
            .all()
            .map { row in
                LiveState(agentId: try row.decode("id"), load: try row.decode("current_load"),
                          maxConcurrent: try row.decode("max_concurrent"),
                          isActive: try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue,
                          channelLoads: try ChannelNumbers(loadsFrom: row), channelCapacity: try ChannelNumbers(capacityFrom: row))
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
            case .widen:
                if outcome.call.status == .active { metrics.counter("switchboard_calls_widened_total").increment() }
            }
        }
    }

    // MARK: One batch

    private func decideAndWrite(
        _ batch: [Pending], _ plan: BatchPlan, on db: any SQLDatabase
    ) async throws -> [Result<CallChangeResult, any Error>] {
        plan.rolledBack(in: book)  // a retried transaction starts from the book as committed
        for clientId in Set(batch.map(\.tenant.clientId)) {
            try await book.withBook(clientId, store: store, on: db, reloadingIfOlderThanTTL: true) { _ in }
        }
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
                guard new.asksFor(earlier) else {
                    throw AppError(.unprocessableEntity,
                                   "this Idempotency-Key was already used for a different request; use a new key")
                }
                return CallChangeResult(call: CallDTO(earlier), replayed: true)
            }
            var route = new.route
            route.channel = new.channel
            let (decision, policy, stage) = try await decide(route, waited: 0, for: tenant, &work, on: db)
            if decision.chosen == nil && policy.overflow == .reject {
                throw AppError.conflict("no agent is available and this tenant's overflow policy is 'reject'")
            }
            let channel = new.channel ?? policy.defaultChannel
            if let chosen = decision.chosen { work.plan.booked(chosen.agentId, of: tenant.clientId, delta: 1, channel: channel) }
            var call = CallRow(
                id: .random(), clientId: tenant.clientId, teamId: decision.teamId, agentId: decision.chosen?.agentId,
                sector: decision.sector, capabilities: new.route.capabilities, channel: channel,
                externalRef: new.externalRef, idempotencyKey: new.idempotencyKey,
                status: decision.chosen == nil ? .queued : .active, createdAt: stamps.next())
            call.requiredCapabilities = new.route.requiredCapabilities
            if call.status == .queued {
                try await book.withBook(tenant.clientId, store: store, on: db) { book in
                    book.queuedCalls = book.queuedCalls.map { $0 + 1 }
                }
            }
            work.insert(call)
            work.emit(EventPayload.created(call), for: tenant.clientId)
            if call.status == .queued {
                work.emit(EventPayload.queued(call), for: tenant.clientId, queueChange: 1)
            } else {
                work.emit(EventPayload.assigned(call, decision, trigger: "call"), for: tenant.clientId)
            }
            work.decisions.append(DecisionRow(decision, trigger: "call", callId: call.id, capabilities: call.capabilities,
                                              requiredCapabilities: call.requiredCapabilities, stage: (stage.step, 0),
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
            work.emit(EventPayload.completed(call), for: tenant.clientId)
            try await release(call, by: tenant, &work, on: db)
            work.audit(tenant, "call.complete", callId)
            return CallChangeResult(call: CallDTO(call), replayed: false)

        case .widen(let callId, let asOf):
            var call = try await work.existing(callId, of: tenant, probingWith: store.db)
            // Taken or ended meanwhile: nothing to do.
            guard call.status == .queued else { return CallChangeResult(call: CallDTO(call), replayed: false) }
            let waited = max(0, asOf.timeIntervalSince(call.createdAt))
            let route = RouteRequest(teamId: call.teamId, sector: call.sector, capabilities: call.capabilities,
                                     requiredCapabilities: call.requiredCapabilities, channel: call.channel)
            let (decision, _, stage) = try await decide(route, waited: waited, for: tenant, &work, on: db)
            guard let chosen = decision.chosen else { return CallChangeResult(call: CallDTO(call), replayed: false) }
            work.plan.booked(chosen.agentId, of: tenant.clientId, delta: 1, channel: call.channel)
            try await book.withBook(tenant.clientId, store: store, on: db) { book in
                book.queuedCalls = book.queuedCalls.map { max(0, $0 - 1) }
            }
            call.status = .active
            call.agentId = chosen.agentId
            call.assignedAt = work.now
            call.updatedAt = work.now
            work.update(call, expecting: .queued)
            work.emit(EventPayload.assigned(call, decision, trigger: "widen"), for: tenant.clientId, queueChange: -1)
            work.decisions.append(DecisionRow(decision, trigger: "widen", callId: call.id, capabilities: call.capabilities,
                                              requiredCapabilities: call.requiredCapabilities, stage: (stage.step, waited),
                                              clientId: tenant.clientId, at: work.now))
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
            work.emit(EventPayload.cancelled(call, previous: previous), for: tenant.clientId,
                      queueChange: previous == .queued ? -1 : 0)
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

    /// Routes in the book (a call without a channel has the tenant's default). Over PostgreSQL the book may lag
    /// behind other processes, so before a call is queued the candidates' committed values are read and the
    /// decision made again.
    private func decide(_ route: RouteRequest, waited: Double, for tenant: Tenant, _ work: inout BatchWork,
                        on db: any SQLDatabase) async throws -> (RoutingDecision, RoutingPolicy, Relaxation.Stage) {
        let clock = ContinuousClock.now
        defer { metrics.recordRoutingDecision(since: clock) }
        var refreshed = false
        while true {
            let outcome: Result<(RoutingDecision, RoutingPolicy, Relaxation.Stage, [UUID]), any Error> = try await book.withBook(
                tenant.clientId, store: store, on: db
            ) { book in
                Result {
                    // The pools the call's wait allows (`routing.relaxation`).
                    var route = route
                    route.channel = route.channel ?? book.policy.defaultChannel
                    let stage = book.policy.relaxation.stage(waited: waited, hasTeam: route.teamId != nil)
                    route.widest = stage.pool
                    if stage.requirementsDropped { route.requiredCapabilities = [] }
                    let decision = try book.decide(route, claiming: true)
                    return (decision, book.policy, stage, decision.chosen == nil ? book.agentIds(for: route) : [])
                }
            }
            switch outcome {
            case .success(let (decision, policy, stage, candidates)):
                guard decision.chosen == nil, store.isPostgres, !refreshed, !candidates.isEmpty,
                      work.refreshedTenants.insert(tenant.clientId).inserted
                else {
                    metrics.counter("switchboard_routing_decisions_total", [("strategy", decision.strategy.rawValue)]).increment()
                    return (decision, policy, stage)
                }
                // Once a batch per tenant: later calls of the batch see these values plus the batch's own claims.
                refreshed = true
                let committed = try await Self.liveStates(of: candidates, clientId: tenant.clientId, on: db)
                book.applyCommitted(tenant.clientId, committed.map { state in
                    var booked = state
                    let delta = work.plan.delta(of: state.agentId, in: tenant.clientId)
                    booked = LiveState(agentId: state.agentId, load: state.load + delta.total, maxConcurrent: state.maxConcurrent,
                                       isActive: state.isActive, channelLoads: state.channelLoads.adding(delta),
                                       channelCapacity: state.channelCapacity)
                    return booked
                })
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
            book.adjustLoad(of: agentId, by: -1, channel: call.channel)
            return book.queuedCalls
        }
        work.plan.booked(agentId, of: clientId, delta: -1, channel: call.channel)
        guard queued != 0 else { return }
        while true {
            let agent = try await book.withBook(clientId, store: store, on: db) { book in book.agent(agentId) }
            guard let agent, agent.hasRoom else { return }
            let (skills, relaxation) = try await book.withBook(clientId, store: store, on: db) { book in
                (Set(book.capabilities(of: agentId)), book.policy.relaxation)
            }
            guard var waiting = try await work.oldestQueued(for: agentId, agent, capabilities: skills, relaxation: relaxation,
                                                           clientId: clientId, on: db)
            else { return }
            let (candidate, capabilities) = try await book.withBook(clientId, store: store, on: db) { book in
                book.adjustLoad(of: agentId, by: 1, channel: waiting.channel)
                book.queuedCalls = book.queuedCalls.map { max(0, $0 - 1) }
                return (book.candidate(agentId), book.capabilities(of: agentId))
            }
            work.plan.booked(agentId, of: clientId, delta: 1, channel: waiting.channel)
            let expected = waiting.status
            waiting.status = .active
            waiting.agentId = agentId
            waiting.assignedAt = work.now
            waiting.updatedAt = work.now
            work.update(waiting, expecting: expected)
            let scored = candidate.map { candidate in
                AgentScorer.explain(candidate, matches: Set(waiting.capabilities).intersection(capabilities).count,
                                    weights: work.weights(clientId, book: book))
            }
            let decision = RoutingDecision(
                strategy: .queue, sector: waiting.sector, teamId: waiting.teamId,
                ranking: Ranking(top: scored.map { [$0] } ?? [], eligibleCount: 1), chosen: scored, poolSize: 1)
            work.emit(EventPayload.assigned(waiting, decision, trigger: "queue"), for: clientId, queueChange: -1)
            if scored != nil {
                let waited = max(0, work.now.timeIntervalSince(waiting.createdAt))
                let step = relaxation.stage(waited: waited, hasTeam: waiting.teamId != nil).step
                work.decisions.append(DecisionRow(decision, trigger: "queue", callId: waiting.id,
                                                  capabilities: waiting.capabilities, requiredCapabilities: waiting.requiredCapabilities,
                                                  stage: (step, waited), clientId: clientId, at: work.now))
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

/// A PostgreSQL batch's answers: sent once both its results are known and its commit is confirmed, in whichever
/// order those two arrive.
final class BatchAnswer: Sendable {
    private struct State {
        var results: [Result<CallChangeResult, any Error>]?
        var commit: Result<Void, any Error>?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let continuations: [CheckedContinuation<CallChangeResult, any Error>]
    private let book: LoadBook
    private let clientIds: Set<String>
    private let state = NIOLockedValueBox(State())

    init(_ continuations: [CheckedContinuation<CallChangeResult, any Error>], book: LoadBook, clientIds: Set<String>) {
        self.continuations = continuations
        self.book = book
        self.clientIds = clientIds
    }

    func written(_ results: [Result<CallChangeResult, any Error>]) {
        answerIfReady(state.withLockedValue { state in
            state.results = results
            return state.commit.map { ($0, results) }
        })
    }

    @Sendable func committed(_ error: (any Error)?) {
        let commit: Result<Void, any Error> = error.map { .failure($0) } ?? .success(())
        let (ready, waiters) = state.withLockedValue { state in
            state.commit = commit
            defer { state.waiters = [] }
            return (state.results.map { (commit, $0) }, state.waiters)
        }
        for waiter in waiters { waiter.resume() }
        answerIfReady(ready)
    }

    var isSettled: Bool { state.withLockedValue { $0.commit != nil } }

    /// Returns once the batch's commit is confirmed (or failed).
    func settled() async {
        await withCheckedContinuation { waiter in
            let done = state.withLockedValue { state in
                if state.commit != nil { return true }
                state.waiters.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
    }

    private func answerIfReady(_ ready: (Result<Void, any Error>, [Result<CallChangeResult, any Error>])?) {
        guard let (commit, results) = ready else { return }
        switch commit {
        case .success:
            for (continuation, result) in zip(continuations, results) { continuation.resume(with: result) }
        case .failure(let error):
            // The statement ran but its commit failed: nothing of it holds, and the books drop what they were told.
            for clientId in clientIds { book.invalidateHere(clientId) }
            for continuation in continuations { continuation.resume(throwing: error) }
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
    /// The load book's name in load notifications.
    let origin: String
    init(origin: String) { self.origin = origin }

    /// Net change per agent and channel (every booking names its call's channel; the total is their sum).
    private var deltas: [LostClaims.Agent: ChannelNumbers] = [:]
    /// Loads as the batch's conditional update returned them.
    fileprivate var committedLoads: [String: [LiveState]] = [:]
    /// SQLite: each tenant's newest event number once the batch commits.
    fileprivate(set) var eventHeads: [String: Int64] = [:]

    func booked(_ agentId: UUID, of clientId: String, delta: Int, channel: CallChannel) {
        deltas[LostClaims.Agent(clientId: clientId, agentId: agentId), default: .zero][channel] += delta
    }

    var bookedAgents: [LostClaims.Agent] { deltas.filter { $0.value != .zero }.map(\.key) }

    /// What this batch booked for the agent so far (not yet in the database).
    func delta(of agentId: UUID, in clientId: String) -> ChannelNumbers {
        deltas[LostClaims.Agent(clientId: clientId, agentId: agentId)] ?? .zero
    }

    var netDeltas: [(agent: LostClaims.Agent, delta: ChannelNumbers)] {
        deltas.filter { $0.value != .zero }.map { ($0.key, $0.value) }
            .sorted { ($0.agent.agentId.uuidString) < ($1.agent.agentId.uuidString) }
    }

    func rolledBack(in book: LoadBook) {
        for (agent, delta) in deltas {
            for channel in CallChannel.allCases where delta[channel] != 0 {
                book.adjust(agent.clientId, agent.agentId, by: -delta[channel], channel: channel)
            }
        }
        deltas = [:]
        committedLoads = [:]
        eventHeads = [:]
    }

    func committed(in book: LoadBook) {
        for (clientId, states) in committedLoads { book.applyCommitted(clientId, states) }
        deltas = [:]
        committedLoads = [:]
        eventHeads = [:]
    }
}

/// One routing decision, ready for the decision log.
struct DecisionRow: Sendable {
    let clientId: String
    let values: [any Encodable & Sendable]

    static let columns = ["id", "call_id", "trigger", "request", "strategy", "agent_id", "score", "candidate_count",
                          "candidates", "created_at", "step", "waited_seconds"]

    init(_ decision: RoutingDecision, trigger: String, callId: UUID?, capabilities: [String], requiredCapabilities: [String] = [],
         stage: (step: Int, waited: Double)? = nil, clientId: String, at: Date) {
        self.clientId = clientId
        values = [
            UUID.random(), callId, trigger,
            DecisionJSON.request(teamId: decision.teamId, sector: decision.sector, capabilities: capabilities,
                                 requiredCapabilities: requiredCapabilities),
            decision.strategy.rawValue, decision.chosen?.agentId, decision.chosen?.score, decision.ranking.eligibleCount,
            DecisionJSON.candidates(decision.ranking.top), at, stage?.step, stage?.waited,
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
    /// Per tenant, whether the database held queued calls when this batch first looked.
    private var databaseQueue: [String: Bool] = [:]
    /// Tenants whose candidates' committed loads this batch already read (PostgreSQL, before queueing).
    var refreshedTenants: Set<String> = []
    /// Calls of this batch or read from the database that the queue already handed out here.
    private var takenFromQueue: Set<UUID> = []
    /// The batch's call events per tenant, in the order they happened, and each tenant's net change of waiting
    /// calls (a tenant is listed once its queue changed at all). Load events are added from the committed loads.
    private var events: [String: [PendingEvent]] = [:]
    private var queueChanges: [String: Int] = [:]

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
            case .complete(let id, _), .cancel(let id), .widen(let id, _): ids.append(id)
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

    mutating func emit(_ event: PendingEvent, for clientId: String, queueChange: Int = 0) {
        events[clientId, default: []].append(event)
        if queueChange != 0 { queueChanges[clientId, default: 0] += queueChange }
    }

    mutating func audit(_ tenant: Tenant, _ action: String, _ callId: UUID) {
        audits.append((tenant.clientId, [UUID.random(), tenant.userId, action, "call", callId.uuidString, AuditOutcome.ok.rawValue, now]))
    }

    func weights(_ clientId: String, book: LoadBook) -> ScoringWeights {
        book.policy(of: clientId)?.weights ?? .contractDefaults
    }

    /// The oldest queued call this agent may take: first those already in the database (older than anything in
    /// this batch), then those this batch queued.
    mutating func oldestQueued(for agentId: UUID, _ agent: BookAgent, capabilities: Set<String>, relaxation: Relaxation,
                               clientId: String, on db: any SQLDatabase) async throws -> CallRow? {
        let now = self.now
        func mayTake(_ call: CallRow) -> Bool {
            relaxation.mayServe(callTeam: call.teamId, callSector: call.sector, required: call.requiredCapabilities,
                                waited: now.timeIntervalSince(call.createdAt), agentSector: agent.sector, agentTeams: agent.teams,
                                agentCapabilities: capabilities)
        }
        // Only calls of channels the agent has room for: a freed chat slot does not take a queued voice call
        // from an agent whose one voice slot is busy.
        let channels = agent.channelsWithRoom
        guard !channels.isEmpty else { return nil }
        var query = TenantScope(clientId: clientId).select(from: Call.schema, on: db)
            .columns(CallRow.columns.map { SQLIdentifier($0) })
            .where("status", .equal, CallStatus.queued.rawValue)
            .where { group in
                var group = group.where("sector", .equal, agent.sector)
                if !agent.teams.isEmpty { group = group.orWhere("team_id", .in, agent.teams) }
                return group
            }
        if !takenFromQueue.isEmpty { query = query.where("id", .notIn, Array(takenFromQueue)) }
        if channels.count < CallChannel.allCases.count { query = query.where("channel", .in, channels.map(\.rawValue)) }
        let decided = Set(updates.keys)
        var found: CallRow?
        // Whether the tenant has any queued call in the database is asked once a batch, not once a release.
        if databaseQueue[clientId] == nil {
            databaseQueue[clientId] = try await TenantScope(clientId: clientId).select(from: Call.schema, on: db)
                .column("id").where("status", .equal, CallStatus.queued.rawValue).limit(1).first() != nil
        }
        // Pages of waiting calls, oldest first, until one this agent may take: a call this batch already changed
        // (cancelled, say) is not waiting any more, and one needing a capability the agent lacks is not its.
        let page = 8
        var offset = 0
        query = query.orderBy("created_at").orderBy("id")
        while databaseQueue[clientId] == true, found == nil {
            let rows = try await query.limit(page).offset(offset).all()
            for row in rows {
                let call = try CallRow(row)
                if decided.contains(call.id) || !mayTake(call) { continue }
                found = call
                break
            }
            if rows.count < page { break }
            offset += page
        }
        if found == nil {
            found = inserts.first { call in
                call.clientId == clientId && call.status == .queued && !takenFromQueue.contains(call.id)
                    && agent.hasRoom(for: call.channel) && mayTake(call)
            }
        }
        if let found { takenFromQueue.insert(found.id) }
        return found
    }

    /// Loads, new calls, changed calls, decisions and audit rows. The statements are the same on both databases;
    /// SQLite runs them one after another in the writer's transaction (inline, so cheaply), PostgreSQL receives
    /// them as one statement of data-modifying CTEs: one round trip, atomic on its own, which refuses everything
    /// if any load claim or call change is refused.
    mutating func write(on db: any SQLDatabase, postgres: Bool) async throws {
        let deltas = plan.netDeltas
        let loads = deltas.isEmpty ? nil : LoadStatement(deltas)
        let changes = updateOrder.map { id in Self.changeQuery(updates[id]!.row, expecting: updates[id]!.expected, on: db) }
        let inserts = [
            TenantScope.insertQuery(into: Call.schema, columns: CallRow.insertColumns,
                                    rows: self.inserts.map { ($0.clientId, $0.values) }, on: db),
            TenantScope.insertQuery(into: RoutingDecisionRecord.schema, columns: DecisionRow.columns,
                                    rows: decisions.map { ($0.clientId, $0.values) }, on: db),
            TenantScope.insertQuery(into: AuditLogEntry.schema, columns: AuditLog.columns, rows: audits, on: db),
        ].compactMap { $0 }
        let committed: [CommittedLoad]
        if postgres {
            committed = try await Self.runAsOneStatement(loads: loads, changes: changes, inserts: inserts,
                                                         events: BatchEvents(events, queueChanges: queueChanges, at: now),
                                                         origin: plan.origin, on: db)
        } else {
            if let loads { committed = try await loads.run(on: db) } else { committed = [] }
            for change in changes {
                // Changed by another process since this batch read it: decide the batch again on fresh rows.
                guard try await db.raw("\(change)").first() != nil else { throw CallChangedMeanwhile() }
            }
            for insert in inserts { try await db.execute(sql: insert) { _ in } }
            try await writeEvents(loads: committed, on: db)
        }
        let confirmed = Set(committed.map(\.id))
        let lost = deltas.filter { $0.delta.claims && !confirmed.contains($0.agent.agentId) }.map(\.agent)
        if !lost.isEmpty { throw LostClaims(agents: lost) }
        for load in committed { plan.committedLoads[load.clientId, default: []].append(load.state) }
    }

    /// SQLite: the batch's events after its other writes, each tenant's call events first, then the loads the
    /// batch committed, then the queue's new depth (counted after the batch's own changes).
    private mutating func writeEvents(loads: [CommittedLoad], on db: any SQLDatabase) async throws {
        var byTenant = events
        for load in loads { byTenant[load.clientId, default: []].append(EventPayload.loadChanged(load.state)) }
        for clientId in queueChanges.keys {
            let queued = try await TenantScope(clientId: clientId).queuedCallCount(on: db)
            byTenant[clientId, default: []].append(EventPayload.queueDepth(queued))
        }
        for (clientId, tenantEvents) in byTenant.sorted(by: { $0.key < $1.key }) {
            if let newest = try await EventOutbox.append(tenantEvents, clientId: clientId, at: now, on: db) {
                plan.eventHeads[clientId] = newest
            }
        }
    }

    /// A call's new state, written only if it is still in the state this batch read.
    private static func changeQuery(_ call: CallRow, expecting expected: CallStatus, on db: any SQLDatabase) -> any SQLExpression {
        db.update(Call.schema)
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
            .query
    }

    /// `WITH v …, loads AS (UPDATE …), c0 AS (UPDATE calls …), … , i0 AS (INSERT …), … SELECT <checked loads>`.
    /// Data-modifying CTEs all run, on one snapshot; the final SELECT turns a refused claim or change into an
    /// error (a cast that fails at run time), which aborts the whole statement.
    private static func runAsOneStatement(
        loads: LoadStatement?, changes: [any SQLExpression], inserts: [any SQLExpression], events: BatchEvents,
        origin: String, on db: any SQLDatabase
    ) async throws -> [CommittedLoad] {
        var ctes: [SQLQueryString] = []
        var checks: [SQLQueryString] = []
        defer { _ = 0 }
        if let loads {
            ctes.append("\(unsafeRaw: LoadStatement.valuesColumns) AS (VALUES \(SQLList(loads.values))), loads AS (\(loads.update))")
            checks.append("(SELECT count(*) FROM loads JOIN v ON v.agent_id = loads.id WHERE v.claim > 0) = \(literal: loads.claims)")
            // Other processes' books learn the committed loads (delivered only if this statement commits), in
            // notifications of at most 60 agents, well under PostgreSQL's 8,000-byte payload limit.
            ctes.append("""
                notified AS (SELECT pg_notify(\(bind: LoadNotification.channel), json_build_object(
                    'origin', \(bind: origin), 'clientId', client_id, 'states', json_agg(json_build_object(
                        'a', id, 'l', current_load, 'm', max_concurrent, 'on', status = 'active',
                        'c', \(unsafeRaw: LoadStatement.loadArray), 'k', \(unsafeRaw: LoadStatement.capacityArray))))::text)
                    FROM (SELECT loads.*, (row_number() OVER (PARTITION BY client_id ORDER BY id) - 1) / 60 AS chunk
                          FROM loads) AS numbered
                    GROUP BY client_id, chunk)
                """)
            checks.append("(SELECT count(*) FROM notified) >= 0")
        }
        for (index, change) in changes.enumerated() {
            ctes.append("\(unsafeRaw: "c\(index)") AS (\(change))")
            checks.append("(SELECT count(*) FROM \(unsafeRaw: "c\(index)")) = 1")
        }
        for (index, insert) in inserts.enumerated() { ctes.append("\(unsafeRaw: "i\(index)") AS (\(insert))") }
        if let outbox = events.statement(withLoads: loads != nil) {
            ctes.append(contentsOf: outbox)
            checks.append("(SELECT count(*) FROM events_notified) >= 0")
        }
        guard !ctes.isEmpty else { return [] }  // every change of the batch was refused or replayed
        let checked: SQLQueryString = checks.isEmpty ? "TRUE" : checks.joined(separator: " AND ")
        let rows: SQLQueryString = loads == nil ? "'[]'" : """
            (SELECT COALESCE(json_agg(json_build_object('id', id, 'client_id', client_id, 'current_load', current_load,
                'max_concurrent', max_concurrent, 'status', status, 'channel_loads', \(unsafeRaw: LoadStatement.loadArray),
                'channel_capacity', \(unsafeRaw: LoadStatement.capacityArray)))::text, '[]') FROM loads)
            """
        let statement: SQLQueryString = """
            WITH \(ctes.joined(separator: ", "))
            SELECT CASE WHEN \(checked) THEN \(rows) ELSE ('refused by the database: ' || now())::int::text END AS loads
            """
        do {
            guard let text = try await db.raw(statement).first()?.decode(column: "loads", as: String.self) else { return [] }
            return try JSONDecoder().decode([CommittedLoad].self, from: Data(text.utf8))
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "22P02" {
            // A claim or a change was refused: decide again with every agent of the batch refreshed.
            throw BatchRefused()
        }
    }
}

/// PostgreSQL: a batch's events as common table expressions of its one statement. The call events come from the
/// batch; the load events from the `loads` CTE (the values the statement commits); the queue depth from the
/// tenant's waiting calls as the statement's snapshot saw them plus the batch's own change. Each tenant's numbers
/// are taken by one upsert of its `event_sequences` row, whose lock orders the commits of its numbers.
private struct BatchEvents {
    let rows: [any SQLExpression]
    let queueChanges: [any SQLExpression]
    let now: Date

    init(_ events: [String: [PendingEvent]], queueChanges: [String: Int], at now: Date) {
        rows = events.flatMap { clientId, list in
            list.enumerated().map { index, event in
                SQLGroupExpression([SQLBind(clientId), SQLBind(Int64(index)), SQLBind(event.id), SQLBind(event.type.rawValue),
                                    SQLBind(event.data)])
            }
        }
        self.queueChanges = queueChanges.map { SQLGroupExpression([SQLBind($0.key), SQLBind(Int64($0.value))]) }
        self.now = now
    }

    func statement(withLoads: Bool) -> [SQLQueryString]? {
        guard !rows.isEmpty || withLoads || !queueChanges.isEmpty else { return nil }
        var ctes: [SQLQueryString] = []
        var sources: [SQLQueryString] = []
        if !rows.isEmpty {
            ctes.append("ev(client_id, ord, id, type, data) AS (VALUES \(SQLList(rows)))")
            sources.append("SELECT client_id::text, ord::bigint, id::uuid, type::text, data::text FROM ev")
        }
        if withLoads {
            sources.append("""
                SELECT client_id, 1000000 + row_number() OVER (PARTITION BY client_id ORDER BY id), gen_random_uuid(),
                    'agent.load_changed', json_build_object('agent_id', upper(id::text), 'channel_loads', json_build_object(\(
                        unsafeRaw: CallChannel.allCases.map { "'\($0.rawValue)', \($0.loadColumn)" }.joined(separator: ", "))),
                    'current_load', current_load, 'max_concurrent', max_concurrent)::text FROM loads
                """)
        }
        if !queueChanges.isEmpty {
            ctes.append("qd(client_id, delta) AS (VALUES \(SQLList(queueChanges)))")
            sources.append("""
                SELECT qd.client_id::text, 2000000, gen_random_uuid(), 'queue.depth_changed', json_build_object('queued',
                    GREATEST(0, (SELECT count(*) FROM calls WHERE calls.client_id = qd.client_id::text AND calls.status = \(unsafeRaw: CallStatus.queued.sqlLiteral))
                        + qd.delta::bigint))::text FROM qd
                """)
        }
        ctes.append("""
            events_numbered AS (SELECT client_id, id, type, data,
                    row_number() OVER (PARTITION BY client_id ORDER BY ord) AS n, count(*) OVER (PARTITION BY client_id) AS total
                FROM (\(sources.joined(separator: " UNION ALL "))) AS every_event(client_id, ord, id, type, data))
            """)
        ctes.append("""
            events_sequenced AS (INSERT INTO event_sequences AS s (client_id, last_sequence)
                SELECT DISTINCT client_id, total FROM events_numbered ORDER BY client_id
                ON CONFLICT (client_id) DO UPDATE SET last_sequence = s.last_sequence + excluded.last_sequence
                RETURNING client_id, last_sequence)
            """)
        ctes.append("""
            events_written AS (INSERT INTO events (client_id, sequence, id, type, occurred_at, data)
                SELECT e.client_id, q.last_sequence - e.total + e.n, e.id, e.type, \(bind: now), e.data
                FROM events_numbered e JOIN events_sequenced q ON q.client_id = e.client_id)
            """)
        ctes.append("""
            events_notified AS (SELECT pg_notify(\(bind: EventOutbox.channel), client_id || ' ' || last_sequence)
                FROM events_sequenced)
            """)
        return ctes
    }
}

/// The conditional load update of a batch: net change per agent and channel, never past `max_concurrent` nor
/// past a channel's own limit.
private struct LoadStatement {
    let values: [any SQLExpression]
    /// Agents the batch claims on (a positive change in any channel).
    let claims: Int

    static let deltaColumns = CallChannel.allCases.map { "d_\($0.rawValue)" }
    static let loadArray = "json_build_array(" + ChannelNumbers.loadColumns.joined(separator: ", ") + ")"
    static let capacityArray = "json_build_array(" + ChannelNumbers.capacityColumns.joined(separator: ", ") + ")"
    static let valuesColumns = "v(agent_id, delta, " + deltaColumns.joined(separator: ", ") + ", claim)"

    let update: SQLQueryString = {
        let sets = CallChannel.allCases.map { channel in
            let column = channel.loadColumn, delta = "v.d_\(channel.rawValue)"
            return "\(column) = CASE WHEN sector_agents.\(column) + \(delta) < 0 THEN 0 ELSE sector_agents.\(column) + \(delta) END"
        }.joined(separator: ", ")
        let limits = CallChannel.allCases.map { channel in
            let delta = "v.d_\(channel.rawValue)"
            return "(\(delta) <= 0 OR sector_agents.\(channel.capacityColumn) IS NULL "
                + "OR sector_agents.\(channel.loadColumn) + \(delta) <= sector_agents.\(channel.capacityColumn))"
        }.joined(separator: " AND ")
        let returned = (ChannelNumbers.loadColumns + ChannelNumbers.capacityColumns).map { "sector_agents.\($0)" }
            .joined(separator: ", ")
        return SQLQueryString("""
            UPDATE sector_agents SET current_load =
                CASE WHEN sector_agents.current_load + v.delta < 0 THEN 0 ELSE sector_agents.current_load + v.delta END,
                \(sets)
            FROM v
            WHERE sector_agents.id = v.agent_id AND (v.claim = 0 OR (sector_agents.status = 'active'
                AND sector_agents.current_load + v.delta <= sector_agents.max_concurrent AND \(limits)))
            RETURNING sector_agents.id, sector_agents.client_id, sector_agents.current_load,
                sector_agents.max_concurrent, sector_agents.status, \(returned)
            """)
    }()

    init(_ deltas: [(agent: LostClaims.Agent, delta: ChannelNumbers)]) {
        values = deltas.map { entry in
            SQLGroupExpression([SQLBind(entry.agent.agentId), SQLBind(entry.delta.total)]
                + CallChannel.allCases.map { SQLBind(entry.delta[$0]) } + [SQLBind(entry.delta.claims ? 1 : 0)])
        }
        claims = deltas.filter { $0.delta.claims }.count
    }

    func run(on db: any SQLDatabase) async throws -> [CommittedLoad] {
        try await db.raw("WITH \(unsafeRaw: Self.valuesColumns) AS (VALUES \(SQLList(values))) \(update)").all().map { row in
            CommittedLoad(id: try row.decode("id"), clientId: try row.decode("client_id"),
                          currentLoad: try row.decode("current_load"), maxConcurrent: try row.decode("max_concurrent"),
                          status: try row.decode("status"), channelLoads: try ChannelNumbers(loadsFrom: row),
                          channelCapacity: try ChannelNumbers(capacityFrom: row))
        }
    }
}

/// An agent's load as a batch committed it.
private struct CommittedLoad: Decodable {
    let id: UUID
    let clientId: String
    let currentLoad: Int
    let maxConcurrent: Int
    let status: String
    let channelLoads: ChannelNumbers
    let channelCapacity: ChannelNumbers

    enum CodingKeys: String, CodingKey {
        case id, clientId = "client_id", currentLoad = "current_load", maxConcurrent = "max_concurrent", status,
             channelLoads = "channel_loads", channelCapacity = "channel_capacity"
    }

    init(id: UUID, clientId: String, currentLoad: Int, maxConcurrent: Int, status: String, channelLoads: ChannelNumbers,
         channelCapacity: ChannelNumbers) {
        self.id = id
        self.clientId = clientId
        self.currentLoad = currentLoad
        self.maxConcurrent = maxConcurrent
        self.status = status
        self.channelLoads = channelLoads
        self.channelCapacity = channelCapacity
    }

    /// PostgreSQL's JSON: the channels as arrays in `CallChannel.allCases` order (null for no limit).
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(UUID.self, forKey: .id)
        clientId = try container.decode(String.self, forKey: .clientId)
        currentLoad = try container.decode(Int.self, forKey: .currentLoad)
        maxConcurrent = try container.decode(Int.self, forKey: .maxConcurrent)
        status = try container.decode(String.self, forKey: .status)
        channelLoads = ChannelNumbers(loads: try container.decode([Int].self, forKey: .channelLoads))
        channelCapacity = ChannelNumbers(limits: try container.decode([Int?].self, forKey: .channelCapacity))
    }

    var state: LiveState {
        LiveState(agentId: id, load: currentLoad, maxConcurrent: maxConcurrent, isActive: status == ActiveStatus.active.rawValue,
                  channelLoads: channelLoads, channelCapacity: channelCapacity)
    }
}

/// PostgreSQL refused a batch's claim or call change as a whole (see `runAsOneStatement`).
struct BatchRefused: Error {}

struct CallChangedMeanwhile: Error {}
