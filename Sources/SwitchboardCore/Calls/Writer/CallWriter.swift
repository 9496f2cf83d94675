import FluentKit
import Foundation
import Logging
import SQLKit
import NIOConcurrencyHelpers
import PostgresNIO
import Vapor


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
