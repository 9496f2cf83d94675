import Foundation
import SQLKit


/// Phone calls whose provider reports how they go (the Twilio bridge): the talk ends before the disposition, so the
/// agent's wrap-up runs from the end of the talk, and the call is completed by the agent's disposition or, at the
/// end of the wrap-up, by the default one. A dial the agent's phone did not answer sends the call on.
enum PhoneCalls {
    /// What a phone call is completed with when its agent gives no disposition by the end of the wrap-up.
    static let defaultDisposition = CompleteCallInput.Validated(outcome: .successful, resolved: false, satisfaction: nil,
                                                                handlingTimeSeconds: 0)
}

extension CallWriter {
    /// The talk of an assigned (or offered, so answered) call ended after `seconds`. Reported twice (the dial's
    /// result and the call's status both say so), the first counts. A call no longer with an agent is left alone.
    func endTalk(_ callId: UUID, of expectedAgent: UUID?, seconds: Double, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase)
        async throws -> CallChangeResult {
        var call = try await work.existing(callId, of: tenant, probingWith: store.db)
        let previous = call.status
        guard call.talkEndedAt == nil, previous.holdsCapacity, let agentId = call.agentId,
              expectedAgent == nil || expectedAgent == agentId else {
            return CallChangeResult(call: CallDTO(call), replayed: false)
        }
        if previous == .offered {
            // The agent answered the phone: that is the offer accepted.
            call.status = .active
            call.assignedAt = work.now
            work.resolveOffer(of: call, .accepted)
            work.plan.resetMissedOffers(of: agentId, in: tenant.clientId)
            work.emit(EventPayload.acceptedOffer(call), for: tenant.clientId)
        }
        call.talkSeconds = seconds
        // A whole second (stored exactly by both databases), so that the wrap-up from it lasts exactly its seconds.
        call.talkEndedAt = Date(timeIntervalSince1970: work.now.timeIntervalSince1970.rounded(.up))
        call.updatedAt = work.now
        let wrapUpSeconds = try await book.withBook(tenant.clientId, store: store, on: db) {
            $0.agent(agentId)?.wrapUpSeconds ?? $0.policy.wrapUpSeconds
        }
        guard wrapUpSeconds > 0 else {
            let completed = try await completeAfterTalk(call, PhoneCalls.defaultDisposition, expecting: previous, by: tenant,
                                                        &work, on: db)
            work.audit(tenant, "call.complete", callId)
            return CallChangeResult(call: CallDTO(completed), replayed: false)
        }
        call.wrapUpUntil = call.talkEndedAt!.addingTimeInterval(Double(wrapUpSeconds))
        work.update(call, expecting: previous)
        work.plan.wrapUpStarted(of: agentId, in: tenant.clientId, until: call.wrapUpUntil!)
        work.emit(EventPayload.wrapUpStarted(call, agent: agentId, until: call.wrapUpUntil!), for: tenant.clientId)
        work.audit(tenant, "call.talk_ended", callId)
        return CallChangeResult(call: CallDTO(call), replayed: false)
    }

    /// The disposition of a call whose talk ended: its handling time is the talk plus the wrap-up until now (or
    /// until the wrap-up's end); a wrap-up still running goes on to its end (the wrap-up timer ends it), one the
    /// wrap-up timer found due (`wrapUpDue`) ends with it.
    func completeAfterTalk(_ talked: CallRow, _ disposition: CompleteCallInput.Validated, expecting previous: CallStatus = .active,
                           wrapUpDue: Bool = false, by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase)
        async throws -> CallRow {
        var call = talked
        let talkEnded = call.talkEndedAt ?? work.now
        let wrapUpEnds = wrapUpDue ? call.wrapUpUntil ?? work.now : min(work.now, call.wrapUpUntil ?? work.now)
        call.status = .completed
        call.outcome = disposition.outcome
        call.resolved = disposition.resolved
        call.satisfaction = disposition.satisfaction
        call.handlingTimeSeconds = (call.talkSeconds ?? 0) + max(0, wrapUpEnds.timeIntervalSince(talkEnded))
        call.completedAt = work.now
        call.updatedAt = work.now
        work.update(call, expecting: previous)
        work.plan.outcomeKnown(of: call, in: tenant.clientId)
        work.emit(EventPayload.completed(call), for: tenant.clientId)
        if call.wrapUpUntil == nil {
            try await release(call, by: tenant, &work, on: db)
        } else if wrapUpDue || call.wrapUpUntil! <= work.now {
            _ = try await endWrapUp(of: call, early: false, by: tenant, &work, on: db)
            call = work.known(call)
        }
        return call
    }

    /// The agent's phone did not take the call: it goes back to the queue where it was (never again to this
    /// agent) and on to another at once if one is free. A call whose talk began or ended, or that is no longer
    /// with an agent, is left alone (a late or repeated report).
    func dialFailed(_ callId: UUID, of expectedAgent: UUID?, missed: Bool, reason: String, by tenant: Tenant, _ work: inout BatchWork,
                    on db: any SQLDatabase) async throws -> CallChangeResult {
        let call = try await work.existing(callId, of: tenant, probingWith: store.db)
        guard call.status.holdsCapacity, call.talkEndedAt == nil, let agentId = call.agentId,
              expectedAgent == nil || expectedAgent == agentId else {
            return CallChangeResult(call: CallDTO(call), replayed: false)
        }
        // An offered call the phone did not answer is a missed offer, under the offers' rules.
        let counted = missed && call.status == .offered
        let before = counted ? try await missedOfferState(of: agentId, by: tenant, on: db) : nil
        let requeued = try await returnToQueue(call, declined: true, expired: counted, reason: reason, by: tenant, &work, on: db)
        if counted, let before {
            work.plan.missedOffer(by: agentId, in: tenant.clientId)
            _ = try await setAwayAfterMissedOffers([agentId: before], by: tenant, &work, on: db)
        }
        work.audit(tenant, "call.dial_failed", callId)
        return CallChangeResult(call: CallDTO(work.known(requeued)), replayed: false)
    }
}
