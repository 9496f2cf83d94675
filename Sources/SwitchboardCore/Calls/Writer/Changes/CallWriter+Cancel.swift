import Foundation
import SQLKit


extension CallWriter {
    /// A waiting or active call is cancelled; an active one's unit goes back to its agent, and on to the queue.
    func cancel(_ callId: UUID, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase) async throws
        -> CallChangeResult {
        var call = try await work.existing(callId, of: tenant, probingWith: store.db)
        let previous = call.status
        guard !previous.isFinal else { throw AppError.conflict("call is already \(previous.rawValue)") }
        call.status = .cancelled
        call.cancelledAt = work.now
        call.updatedAt = work.now
        work.update(call, expecting: previous)
        if previous == .offered { work.resolveOffer(of: call, .cancelled) }
        let wasWaiting = CallStatus.waiting.contains(previous)
        work.emit(EventPayload.cancelled(call, previous: previous), for: tenant.clientId, queueChange: wasWaiting ? -1 : 0)
        if previous.holdsCapacity {
            try await release(call, by: tenant, endsWork: previous == .active, &work, on: db)
        } else if wasWaiting {
            try await countQueued(by: -1, of: tenant.clientId, on: db)
        }
        work.audit(tenant, "call.cancel", callId)
        return CallChangeResult(call: CallDTO(call), replayed: false)
    }
}
