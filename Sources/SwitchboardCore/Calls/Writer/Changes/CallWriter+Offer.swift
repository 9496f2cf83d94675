import Foundation
import SQLKit


/// Offers that must be accepted (`routing.offer_timeout_seconds`): a routed call is `offered` to its agent, holding
/// the agent's slot, until the agent accepts, rejects or lets the time run out. A rejected or missed call goes back
/// to the queue with its arrival time (its place) and is routed again at once, never to an agent that declined it.
extension CallWriter {
    /// The offered call becomes active. Accepting it twice is the same answer; an offer that ran out, was rejected
    /// or withdrawn meanwhile is a 409 (the one that changed it first won).
    func accept(_ callId: UUID, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase) async throws
        -> CallChangeResult {
        var call = try await work.existing(callId, of: tenant, probingWith: store.db)
        try Self.checkStillOffered(call, to: tenant)
        switch call.status {
        case .active:
            return CallChangeResult(call: CallDTO(call), replayed: false)
        case .offered:
            call.status = .active
            call.assignedAt = work.now
            call.updatedAt = work.now
            work.update(call, expecting: .offered)
            work.resolveOffer(of: call, .accepted)
            if let agentId = call.agentId { work.plan.resetMissedOffers(of: agentId, in: tenant.clientId) }
            work.emit(EventPayload.acceptedOffer(call), for: tenant.clientId)
            work.audit(tenant, "call.accept", callId)
            return CallChangeResult(call: CallDTO(call), replayed: false)
        default:
            throw Self.noOpenOffer(call)
        }
    }

    /// The agent declines the offered call (a reason is optional): the call goes back to the queue and on to
    /// another agent.
    func reject(_ callId: UUID, reason: String?, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase)
        async throws -> CallChangeResult {
        let call = try await work.existing(callId, of: tenant, probingWith: store.db)
        try Self.checkStillOffered(call, to: tenant)
        guard call.status == .offered else {
            if call.status == .active { throw AppError.conflict("the offer was accepted; complete or cancel the call instead") }
            throw Self.noOpenOffer(call)
        }
        let requeued = try await returnToQueue(call, declined: true, expired: false, reason: reason, by: tenant, &work, on: db)
        work.audit(tenant, "call.reject", callId)
        return CallChangeResult(call: CallDTO(requeued), replayed: false)
    }

    /// Offers the offer timer found run out by `asOf`: each still open goes back to the queue, and counts as a
    /// miss of its agent; an agent reaching the tenant's `routing.max_missed_offers` in a row is set away
    /// (reason `missed_offers`), which also withdraws its other offers. (An offer made by another process just as
    /// its agent left `available` can outlive the withdrawal; it runs out here as a withdrawal, not a miss.)
    /// Returns the calls that went on to another agent at once.
    func expireOffers(_ callIds: [UUID], asOf: Date, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase)
        async throws -> [UUID] {
        var agents: [UUID: (presence: AgentPresence, missedBefore: Int)] = [:]
        var placed: [UUID] = []
        func note(_ call: CallRow) { if call.status.holdsCapacity { placed.append(call.id) } }
        for callId in callIds {
            guard let call = try? await work.existing(callId, of: tenant, probingWith: store.db), call.status == .offered,
                  let agentId = call.agentId, let expiry = call.offerExpiresAt, expiry <= asOf
            else { continue }
            if agents[agentId] == nil { agents[agentId] = try await missedOfferState(of: agentId, by: tenant, on: db) }
            let presence = work.presence[agentId]?.presence ?? agents[agentId]?.presence ?? .offline
            guard presence == .available else {
                note(try await returnToQueue(call, declined: false, expired: true, reason: "agent went \(presence.rawValue)",
                                             by: tenant, &work, on: db))
                continue
            }
            note(try await returnToQueue(call, declined: true, expired: true, reason: nil, by: tenant, &work, on: db))
            work.plan.missedOffer(by: agentId, in: tenant.clientId)
        }
        return placed + (try await setAwayAfterMissedOffers(agents, by: tenant, &work, on: db))
    }

    /// An agent's presence and its missed offers in a row, as stored (before this batch).
    func missedOfferState(of agentId: UUID, by tenant: Tenant, on db: any SQLDatabase) async throws
        -> (presence: AgentPresence, missedBefore: Int)? {
        guard let row = try await tenant.scope.select(from: SectorAgent.schema, on: db)
            .columns("presence", "missed_offers").where("id", .equal, agentId).first() else { return nil }
        return (AgentPresence(rawValue: try row.decode(column: "presence", as: String.self)) ?? .offline,
                try row.decode(column: "missed_offers", as: Int.self))
    }

    /// Each agent whose misses in a row (as stored, plus this batch's) reached the tenant's
    /// `routing.max_missed_offers` is set away (reason `missed_offers`), which withdraws its other offers. Returns
    /// the calls that went on to another agent.
    func setAwayAfterMissedOffers(_ agents: [UUID: (presence: AgentPresence, missedBefore: Int)], by tenant: Tenant,
                                  _ work: inout BatchWork, on db: any SQLDatabase) async throws -> [UUID] {
        let limit = try await book.withBook(tenant.clientId, store: store, on: db) { $0.policy.maxMissedOffers }
        guard limit > 0 else { return [] }
        var placed: [UUID] = []
        for (agentId, agent) in agents.sorted(by: { $0.key < $1.key }) {
            guard let added = work.plan.missedOffersAdded(by: agentId, in: tenant.clientId), agent.missedBefore + added >= limit,
                  (work.presence[agentId]?.presence ?? agent.presence) == .available
            else { continue }
            placed += try await setPresence(of: agentId, to: .away, reason: SettingsSchema.missedOffersReason, by: tenant, &work, on: db)
        }
        return placed
    }

    /// An agent that left `available` keeps its calls, but its pending offers go back to the queue at once (not as
    /// its misses, and it may be offered them again once back).
    func withdrawOffers(of agentId: UUID, becoming presence: AgentPresence, by tenant: Tenant, _ work: inout BatchWork,
                        on db: any SQLDatabase) async throws {
        // Offers in the database, and those this batch made (new calls, or waiting calls handed to the agent).
        let stored = try await tenant.scope.select(from: Call.schema, on: db)
            .columns(CallRow.columns.map { SQLIdentifier($0) })
            .where("agent_id", .equal, agentId).where(status: .offered)
            .all().map(CallRow.init).map { work.known($0) }
        var seen: Set<UUID> = []
        let pending = (stored + work.insertedCalls + work.changedCalls).filter { call in
            call.status == .offered && call.agentId == agentId && seen.insert(call.id).inserted
        }
        for call in pending {
            _ = try await returnToQueue(call, declined: false, expired: false, reason: "agent went \(presence.rawValue)",
                                        by: tenant, &work, on: db)
        }
        if presence != .available { work.plan.resetMissedOffers(of: agentId, in: tenant.clientId) }
    }

    /// The offered call (or an assigned one whose agent could not be reached) waits again, where it was in the queue
    /// (its arrival time is kept), and is routed at once among the agents that did not decline it; the agent's freed
    /// slot goes to the oldest waiting call it may take.
    func returnToQueue(_ offered: CallRow, declined: Bool, expired: Bool, reason: String?, by tenant: Tenant,
                               _ work: inout BatchWork, on db: any SQLDatabase) async throws -> CallRow {
        guard let agentId = offered.agentId else { return offered }
        let clientId = tenant.clientId
        let previous = offered.status
        var call = offered
        call.status = .queued
        call.agentId = nil
        call.offerExpiresAt = nil
        call.updatedAt = work.now
        if declined && !call.declinedBy.contains(agentId) { call.declinedBy.append(agentId) }
        try await book.withBook(clientId, store: store, on: db) { book in
            book.adjustLoad(of: agentId, by: -1, channel: call.channel)
        }
        work.plan.booked(agentId, of: clientId, delta: -1, channel: call.channel)
        work.emit(EventPayload.offerDeclined(call.id, by: agentId, expired: expired, reason: reason), for: clientId)
        if previous == .offered { work.resolveOffer(of: call, !declined ? .withdrawn : expired ? .expired : .rejected) }

        let trigger = expired ? "offer_expired" : "offer_rejected"
        let waited = max(0, work.now.timeIntervalSince(call.createdAt))
        let (decision, policy, stage) = try await decide(call.routeRequest(at: work.now), waited: waited, for: tenant, &work, on: db)
        if let chosen = decision.chosen {
            work.plan.booked(chosen.agentId, of: clientId, delta: 1, channel: call.channel)
            call.place(with: chosen.agentId, offerSeconds: policy.offerTimeoutSeconds, at: work.now)
            work.emit(EventPayload.placed(call, decision, trigger: trigger), for: clientId)
        } else {
            try await countQueued(by: 1, of: clientId, on: db)
            let (place, wait) = try await queuedPlace(of: call, isNew: false, policy: policy, &work, on: db)
            work.emit(EventPayload.queued(call, place: place, estimatedWait: wait), for: clientId, queueChange: 1)
        }
        work.update(call, expecting: previous)
        work.logOffer(of: call)
        work.decisions.append(DecisionRow(decision, trigger: trigger, call: call, agingSeconds: policy.priorityAgingSeconds,
                                          stage: (stage.step, waited), declined: (agentId, reason), at: work.now))
        _ = try await handoff.offer(capacityOf: agentId, of: clientId, &work, on: db)
        return call
    }

    /// An agent's token answers only an offer made to it: one that went to another agent after it declined is no
    /// longer its own (a 409 saying so, rather than a 404 for a call it knows).
    private static func checkStillOffered(_ call: CallRow, to tenant: Tenant) throws {
        guard let own = tenant.agentId, call.agentId != own else { return }
        throw AppError.conflict("this offer is no longer yours: it was rejected or ran out, and the call went on")
    }

    private static func noOpenOffer(_ call: CallRow) -> AppError {
        switch call.status {
        case .queued: AppError.conflict("the call has no open offer: it was rejected or ran out, and the call is waiting again")
        case .completed, .cancelled: AppError.conflict("call is already \(call.status.rawValue)")
        default: AppError.conflict("the call has no open offer (it is \(call.status.rawValue))")
        }
    }
}
