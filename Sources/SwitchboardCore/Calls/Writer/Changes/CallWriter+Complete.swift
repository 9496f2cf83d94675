import Foundation
import SQLKit


extension CallWriter {
    /// An active call ends with its outcome. Its agent's unit goes to the oldest waiting call it may take, at once
    /// or, when the agent has after-call work (its own `wrap_up_seconds`, else `calls.wrap_up_seconds`), when that
    /// ends (`endWrapUps`).
    func complete(_ callId: UUID, _ input: CompleteCallInput.Validated, by tenant: Tenant, _ work: inout BatchWork,
                  on db: any SQLDatabase) async throws -> CallChangeResult {
        var call = try await work.existing(callId, of: tenant, probingWith: store.db)
        guard call.status.holdsCapacity else {
            if call.status.isFinal { throw AppError.conflict("call is already \(call.status.rawValue)") }
            throw AppError.conflict("call is \(call.status.rawValue) and has no agent yet; it cannot be completed")
        }
        if call.talkEndedAt != nil {
            let completed = try await completeAfterTalk(call, input, by: tenant, &work, on: db)
            work.audit(tenant, "call.complete", callId)
            return CallChangeResult(call: CallDTO(completed), replayed: false)
        }
        let previous = call.status
        call.status = .completed
        call.outcome = input.outcome
        call.resolved = input.resolved
        call.satisfaction = input.satisfaction
        call.handlingTimeSeconds = input.handlingTimeSeconds
        call.completedAt = work.now
        call.updatedAt = work.now
        work.update(call, expecting: previous)
        work.plan.outcomeKnown(of: call, in: tenant.clientId)
        if let agentId = call.agentId,
           case let seconds = try await book.withBook(tenant.clientId, store: store, on: db, {
               $0.agent(agentId)?.wrapUpSeconds ?? $0.policy.wrapUpSeconds
           }), seconds > 0 {
            // A whole second, stored exactly by both databases: the agent's `wrap_up_until` is compared with it.
            call.wrapUpUntil = Date(timeIntervalSince1970: (work.now.timeIntervalSince1970 + Double(seconds)).rounded(.up))
            work.update(call, expecting: previous)
            work.emit(EventPayload.completed(call), for: tenant.clientId)
            work.plan.wrapUpStarted(of: agentId, in: tenant.clientId, until: call.wrapUpUntil!)
            work.emit(EventPayload.wrapUpStarted(call, agent: agentId, until: call.wrapUpUntil!), for: tenant.clientId)
        } else {
            work.emit(EventPayload.completed(call), for: tenant.clientId)
            try await release(call, by: tenant, &work, on: db)
        }
        work.audit(tenant, "call.complete", callId)
        return CallChangeResult(call: CallDTO(call), replayed: false)
    }

    /// Gives the call's unit back to its agent and hands it to the oldest waiting call the agent may take.
    /// `endsWork`: the agent had the call (not only an offer of it), so it is idle from now (the tie-break).
    @discardableResult
    func release(_ call: CallRow, by tenant: Tenant, endsWork: Bool = true, _ work: inout BatchWork,
                 on db: any SQLDatabase) async throws -> [UUID] {
        guard let agentId = call.agentId else { return [] }
        if endsWork { work.plan.callEnded(by: agentId, in: tenant.clientId, at: work.now) }
        try await book.withBook(tenant.clientId, store: store, on: db) { book in
            book.adjustLoad(of: agentId, by: -1, channel: call.channel)
        }
        work.plan.booked(agentId, of: tenant.clientId, delta: -1, channel: call.channel)
        return try await handoff.offer(capacityOf: agentId, of: tenant.clientId, &work, on: db)
    }
}
