import Foundation
import SQLKit


extension CallWriter {
    /// A waiting call whose wait reached a wider `routing.relaxation` step is routed again in its wider pool; one
    /// taken or ended meanwhile is left as it is.
    func widen(_ callId: UUID, asOf: Date, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase) async throws
        -> CallChangeResult {
        var call = try await work.existing(callId, of: tenant, probingWith: store.db)
        guard CallStatus.waiting.contains(call.status) else { return CallChangeResult(call: CallDTO(call), replayed: false) }
        let waited = max(0, asOf.timeIntervalSince(call.createdAt))
        let (decision, policy, stage) = try await decide(call.routeRequest(at: asOf), waited: waited, for: tenant, &work, on: db)
        guard let chosen = decision.chosen else { return CallChangeResult(call: CallDTO(call), replayed: false) }
        work.plan.booked(chosen.agentId, of: tenant.clientId, delta: 1, channel: call.channel)
        try await countQueued(by: -1, of: tenant.clientId, on: db)
        let previous = call.status
        call.place(with: chosen.agentId, offerSeconds: policy.offerTimeoutSeconds, at: work.now)
        work.update(call, expecting: previous)
        work.logOffer(of: call)
        work.emit(EventPayload.placed(call, decision, trigger: "widen"), for: tenant.clientId, queueChange: -1)
        work.decisions.append(DecisionRow(decision, trigger: "widen", call: call, agingSeconds: policy.priorityAgingSeconds,
                                          stage: (stage.step, waited), at: work.now))
        return CallChangeResult(call: CallDTO(call), replayed: false)
    }
}
