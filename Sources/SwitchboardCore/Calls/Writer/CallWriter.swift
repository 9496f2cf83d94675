import FluentKit
import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import SQLKit


/// The one door for every change of a call's state or an agent's load (`CallChange`), applied in group commits.
/// Requests queue their change and wait; one writer takes everything waiting, decides and books it in memory (the
/// load book), writes it with one statement per table, and answers each request only after the database holds it.
/// While a batch commits the next one gathers, so the cost of a commit is shared by everyone who arrived meanwhile.
///
/// The database stays the judge of capacity: loads change by one conditional `UPDATE` per batch that refuses to
/// pass any agent's `max_concurrent`. If it refuses (another process claimed first, or the book was stale), the
/// batch is rolled back, the book takes the agents' committed values, and the batch is decided again. A batch
/// that fails otherwise is retried one change at a time, so each request gets its own answer.
///
/// Each change is one method in `Changes/`; how a batch reaches SQLite or PostgreSQL is `BatchWriting`.
final class CallWriter: Sendable {
    private struct Pending: Sendable {
        let tenant: Tenant
        let change: CallChange
        /// Answered with its agent as the batch left it (`changeAgent`); a bulk change of many agents is not.
        let answeredWithAgent: Bool
        let continuation: CheckedContinuation<ChangeAnswer, any Error>
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
    let writing: any BatchWriting
    let handoff: QueueHandoff
    let counters: WriterCounters
    private let queue = NIOLockedValueBox(Queue())
    let stamps = CallStamps()

    static let maxBatch = 256
    private static let lostClaimRetries = 8

    init(store: Store, book: LoadBook, events: EventHub, metrics: SwitchboardMetrics, logger: Logger) {
        self.store = store
        self.book = book
        self.events = events
        self.metrics = metrics
        self.logger = logger
        self.writing = store.isPostgres ? PostgresBatchWrite(store: store, book: book) : SQLiteBatchWrite(store: store, events: events)
        self.handoff = QueueHandoff(book: book, store: store)
        self.counters = WriterCounters(metrics)
    }

    /// Applies a change of a call (create, complete, cancel, widen) and returns the call as it left it.
    func submit(_ change: CallChange, by tenant: Tenant) async throws -> CallChangeResult {
        guard case .call(let result) = try await enqueue(change, by: tenant) else {
            preconditionFailure("\(change) is not a change of a call")
        }
        return result
    }

    /// Agents created or changed in the catalogue (already committed) take the waiting calls they now can;
    /// returns those calls.
    @discardableResult
    func agentsChanged(_ agentIds: [UUID], by tenant: Tenant) async throws -> [UUID] {
        guard !agentIds.isEmpty else { return [] }
        return try await handOut(.agentsChanged(agentIds), by: tenant)
    }

    /// An agent's presence; returns the waiting calls it took (coming back available).
    @discardableResult
    func agentPresence(_ agentId: UUID, _ presence: AgentPresence, reason: String?, by tenant: Tenant) async throws -> [UUID] {
        try await handOut(.presence(agentId, presence, reason: reason), by: tenant)
    }

    /// A change of agents or of their after-call work (not of one call); returns the waiting calls it handed out.
    @discardableResult
    func handOut(_ change: CallChange, by tenant: Tenant) async throws -> [UUID] {
        switch try await enqueue(change, by: tenant) {
        case .handedOut(let calls), .agent(_, let calls): calls
        case .call: []
        }
    }

    /// A change of one agent (its presence, the end of its after-call work), answered with the agent as it left it.
    func changeAgent(_ change: CallChange, by tenant: Tenant) async throws -> (agent: AgentDTO, handedOut: [UUID]) {
        guard case .agent(let agent, let calls) = try await enqueue(change, by: tenant, answeredWithAgent: true) else {
            throw AppError.notFound(SectorAgent.entityName)
        }
        return (agent, calls)
    }

    private func enqueue(_ change: CallChange, by tenant: Tenant, answeredWithAgent: Bool = false) async throws -> ChangeAnswer {
        try await withCheckedThrowingContinuation { continuation in
            let startDraining = queue.withLockedValue { queue in
                queue.pending.append(Pending(tenant: tenant, change: change, answeredWithAgent: answeredWithAgent,
                                             continuation: continuation))
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
            counters.batchSize.record(Double(batch.count))
            await commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) async {
        let plan = BatchPlan(origin: book.origin)
        // A batch that reads calls (completions, cancellations, widenings, hand-offs, idempotency keys) must see the
        // previous batch's; batches of plain new calls go ahead while it settles, their loads checked all the same.
        if batch.contains(where: \.change.readsCalls) { await writing.settlePrevious() }
        for attempt in 1...Self.lostClaimRetries {
            do {
                try await writing.commit(
                    answering: batch.map(\.continuation), plan: plan, clientIds: Set(batch.map(\.tenant.clientId)),
                    { db in try await self.decideAndWrite(batch, plan, handingOutWaitingCalls: attempt <= Self.lostClaimRetries / 2, on: db) },
                    committed: { results in
                        counters.countOffers(of: plan)
                        plan.committed(in: book)
                        counters.count(zip(batch.map(\.change), results))
                    })
                return
            } catch let lost as LostClaims where attempt < Self.lostClaimRetries {
                plan.rolledBack(in: book)
                counters.claimsLost.increment(by: Int64(lost.agents.count))
                await refresh(lost.agents)
                await Self.backOff(after: attempt)
            } catch let error where Self.isRefusal(error) && attempt < Self.lostClaimRetries {
                // PostgreSQL refused a claim or a call change of the batch, or chose it as a deadlock victim.
                let agents = plan.bookedAgents
                plan.rolledBack(in: book)
                counters.claimsLost.increment()
                await refresh(agents)
                await Self.backOff(after: attempt)
            } catch let error as any DatabaseError where error.isConstraintFailure && batch.count == 1
                        && attempt < Self.lostClaimRetries {
                // Another process committed a call with the same Idempotency-Key first: read again, and replay it.
                plan.rolledBack(in: book)
            } catch {
                plan.rolledBack(in: book)
                for clientId in Set(batch.map(\.tenant.clientId)) { book.invalidateHere(clientId) }
                guard batch.count > 1 else {
                    if Self.isRefusal(error) {
                        logger.error("a change was refused on every attempt", metadata: ["change": "\(batch[0].change.kind)"])
                    }
                    batch[0].continuation.resume(throwing: error)
                    return
                }
                logger.warning("a group commit failed; retrying its changes one by one", metadata: ["error": "\(error)"])
                counters.batchesSplit.increment()
                for pending in batch { await commit([pending]) }
                return
            }
        }
    }

    /// Processes that refused each other's batches would otherwise try again in step, and refuse each other again
    /// (seen once in ~500 calls on a slow two-core machine with three processes): a random pause that doubles with
    /// each attempt (first none, at most 64 ms) lets one go first.
    private static func backOff(after attempt: Int) async {
        guard attempt > 1 else { return }
        try? await Task.sleep(for: .microseconds(Int.random(in: 0...(1_000 << min(attempt, 6)))))
    }

    private static func isRefusal(_ error: any Error) -> Bool {
        if error is BatchRefused || error is CallChangedMeanwhile { return true }
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

    /// `presence`: what the batch being decided changed (not committed yet), which wins over the committed value.
    static func liveStates(of agentIds: [UUID], clientId: String, presence: [UUID: AgentPresence] = [:],
                           on db: any SQLDatabase) async throws -> [LiveState] {
        guard !agentIds.isEmpty else { return [] }
        return try await TenantScope(clientId: clientId).select(from: SectorAgent.schema, on: db)
            .columns(["id", "current_load", "max_concurrent", "status", "presence"] + ChannelNumbers.loadColumns
                        + ChannelNumbers.capacityColumns)
            .where("id", .in, agentIds)
            .all()
            .map { row in
                let agentId: UUID = try row.decode("id")
                let committed = try row.decode(column: "presence", as: String.self)
                return LiveState(agentId: agentId, load: try row.decode("current_load"),
                          maxConcurrent: try row.decode("max_concurrent"),
                          isActive: try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue
                            && (presence[agentId]?.rawValue ?? committed) == AgentPresence.available.rawValue,
                          channelLoads: try ChannelNumbers(loadsFrom: row), channelCapacity: try ChannelNumbers(capacityFrom: row))
            }
    }

    // MARK: One batch

    /// On its later attempts the batch leaves waiting calls to the queue sweeper: several processes handing out the
    /// same oldest waiting call refuse each other's batches, and the completion that freed the room must not fail
    /// for it (the sweeper offers the room within a second).
    private func decideAndWrite(
        _ batch: [Pending], _ plan: BatchPlan, handingOutWaitingCalls: Bool, on db: any SQLDatabase
    ) async throws -> [Result<ChangeAnswer, any Error>] {
        plan.rolledBack(in: book)  // a retried batch starts from the book as committed
        for clientId in Set(batch.map(\.tenant.clientId)) {
            try await book.withBook(clientId, store: store, on: db, reloadingIfOlderThanTTL: true) { _ in }
        }
        var work = BatchWork(plan: plan, now: stamps.next())
        work.handsOutWaitingCalls = handingOutWaitingCalls
        try await work.readExisting(batch.map { ($0.tenant, $0.change) }, on: db)
        var results: [Result<ChangeAnswer, any Error>] = []
        results.reserveCapacity(batch.count)
        for pending in batch {
            // A client's mistake fails its own change; anything else fails the batch (and so its write).
            do {
                results.append(.success(try await apply(pending.change, by: pending.tenant, &work, on: db)))
            } catch let error as AppError {
                results.append(.failure(error))
            }
        }
        try await work.write(with: writing, on: db)
        let agents = try await Self.agentsAnswered(in: batch, results, on: db)
        // Results of calls the queue handed to an agent later in the batch show their final state.
        return zip(batch, results).map { pending, result in
            result.map { answer in
                switch answer {
                case .call(let outcome):
                    guard !outcome.replayed, let row = work.finalRow(outcome.call.id) else { return answer }
                    return .call(CallChangeResult(call: CallDTO(row), replayed: false))
                case .handedOut(let calls):
                    guard pending.answeredWithAgent, let agentId = pending.change.answeredAgent,
                          let agent = agents[pending.tenant.clientId]?[agentId] else { return answer }
                    return .agent(agent, handedOut: calls)
                case .agent:
                    return answer
                }
            }
        }
    }

    /// The agents that changes of one agent are answered with, as the batch left them: read inside its transaction,
    /// one statement per tenant, so the answer is what commits and costs no read of its own afterwards.
    private static func agentsAnswered(in batch: [Pending], _ results: [Result<ChangeAnswer, any Error>],
                                       on db: any SQLDatabase) async throws -> [String: [UUID: AgentDTO]] {
        var wanted: [String: Set<UUID>] = [:]
        for (pending, result) in zip(batch, results) {
            guard case .success = result, pending.answeredWithAgent, let agentId = pending.change.answeredAgent else { continue }
            wanted[pending.tenant.clientId, default: []].insert(agentId)
        }
        var agents: [String: [UUID: AgentDTO]] = [:]
        for (clientId, ids) in wanted {
            agents[clientId] = try await AgentService.answers(ids.sorted(), of: clientId, on: db)
        }
        return agents
    }

    private func apply(_ change: CallChange, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase)
        async throws -> ChangeAnswer {
        switch change {
        case .create(let new): .call(try await create(new, by: tenant, &work, on: db))
        case .complete(let callId, let input): .call(try await complete(callId, input, by: tenant, &work, on: db))
        case .cancel(let callId): .call(try await cancel(callId, by: tenant, &work, on: db))
        case .widen(let callId, let asOf): .call(try await widen(callId, asOf: asOf, by: tenant, &work, on: db))
        case .agentsChanged(let agentIds): .handedOut(try await agentsChanged(agentIds, by: tenant, &work, on: db))
        case .presence(let agentId, let presence, let reason):
            .handedOut(try await setPresence(of: agentId, to: presence, reason: reason, by: tenant, &work, on: db))
        case .accept(let callId): .call(try await accept(callId, by: tenant, &work, on: db))
        case .reject(let callId, let reason): .call(try await reject(callId, reason: reason, by: tenant, &work, on: db))
        case .expireOffers(let callIds, let asOf): .handedOut(try await expireOffers(callIds, asOf: asOf, by: tenant, &work, on: db))
        case .endDueWrapUps(let callIds, let asOf):
            .handedOut(try await endDueWrapUps(callIds, asOf: asOf, by: tenant, &work, on: db))
        case .endWrapUpsEarly(let agentId): .handedOut(try await endWrapUpsEarly(of: agentId, by: tenant, &work, on: db))
        case .talkEnded(let callId, let agentId, let seconds):
            .call(try await endTalk(callId, of: agentId, seconds: seconds, by: tenant, &work, on: db))
        case .dialFailed(let callId, let agentId, let missed, let reason):
            .call(try await dialFailed(callId, of: agentId, missed: missed, reason: reason, by: tenant, &work, on: db))
        }
    }
}
