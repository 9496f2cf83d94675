import Foundation
import SQLKit


extension CallWriter {
    /// A new call: routed at once to the best agent with room, or queued (or refused, by the tenant's overflow).
    /// An `Idempotency-Key` already used for the same request replays the earlier call.
    func create(_ new: NewCall, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase) async throws
        -> CallChangeResult {
        if let key = new.idempotencyKey, let earlier = work.idempotent[IdempotencyKey(clientId: tenant.clientId, key: key)] {
            guard new.asksFor(earlier) else {
                throw AppError(.unprocessableEntity, "this Idempotency-Key was already used for a different request; use a new key")
            }
            return CallChangeResult(call: CallDTO(earlier), replayed: true)
        }
        var route = new.route
        route.channel = new.channel
        route.preferred = new.preferredAgentId.map { PreferredAgent(agentId: $0, waits: new.preferredWaitSeconds > 0) }
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
        call.requiredLevels = new.route.requiredLevels
        call.priority = new.priority
        call.callbackPhone = new.callbackPhone
        call.customerRef = new.customerRef
        call.preferredAgentId = new.preferredAgentId
        if decision.waitsForPreferred {
            call.preferredUntil = call.createdAt.addingTimeInterval(Double(new.preferredWaitSeconds))
        }
        if let chosen = decision.chosen { call.place(with: chosen.agentId, offerSeconds: policy.offerTimeoutSeconds, at: call.createdAt) }
        if call.status == .queued { try await countQueued(by: 1, of: tenant.clientId, on: db) }
        work.insert(call)
        work.logOffer(of: call)
        work.emit(EventPayload.created(call), for: tenant.clientId)
        if call.status == .queued {
            let (place, wait) = try await queuedPlace(of: call, isNew: true, policy: policy, &work, on: db)
            work.emit(EventPayload.queued(call, place: place, estimatedWait: wait), for: tenant.clientId, queueChange: 1)
        } else {
            work.emit(EventPayload.placed(call, decision, trigger: "call"), for: tenant.clientId)
        }
        work.decisions.append(DecisionRow(decision, trigger: "call", call: call, agingSeconds: policy.priorityAgingSeconds,
                                          stage: (stage.step, 0), at: work.now))
        work.audit(tenant, "call.create", call.id)
        return CallChangeResult(call: CallDTO(call), replayed: false)
    }

    /// The book's count of the tenant's waiting calls, which lets a release skip the queue when nobody waits.
    func countQueued(by change: Int, of clientId: String, on db: any SQLDatabase) async throws {
        try await book.withBook(clientId, store: store, on: db) { book in
            book.queuedCalls = book.queuedCalls.map { max(0, $0 + change) }
        }
    }
}
