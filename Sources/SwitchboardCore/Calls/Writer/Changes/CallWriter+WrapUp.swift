import Foundation
import SQLKit


extension CallWriter {
    /// Wrap-ups whose time has come (the wrap-up timer's, as of its clock): each still open gives its slot back,
    /// and the slot goes to the oldest waiting call the agent may take. One already ended (early, or by another
    /// process) is left alone.
    func endDueWrapUps(_ callIds: [UUID], asOf: Date, by tenant: Tenant, _ work: inout BatchWork,
                       on db: any SQLDatabase) async throws -> [UUID] {
        var handedOut: [UUID] = []
        for callId in callIds {
            guard let call = try? await work.existing(callId, of: tenant, probingWith: store.db),
                  let until = call.wrapUpUntil, until <= asOf
            else { continue }
            if call.isWrappingUp {
                handedOut += try await endWrapUp(of: call, early: false, by: tenant, &work, on: db)
            } else if call.status == .active, call.talkEndedAt != nil {
                // No disposition came from the desk by the end of the wrap-up: the default one.
                _ = try await completeAfterTalk(call, PhoneCalls.defaultDisposition, wrapUpDue: true, by: tenant, &work, on: db)
                work.audit(tenant, "call.complete", callId)
            }
        }
        return handedOut
    }

    /// The agent is ready before its after-call work's time (`POST /api/agents/:id/wrap-up/end`): every open
    /// wrap-up of the agent ends now, unless the tenant's `calls.wrap_up_mode` is `mandatory`. An agent with none
    /// open changes nothing.
    func endWrapUpsEarly(of agentId: UUID, by tenant: Tenant, _ work: inout BatchWork,
                         on db: any SQLDatabase) async throws -> [UUID] {
        let scope = tenant.scope
        guard try await scope.select(from: SectorAgent.schema, on: db).column("id").where("id", .equal, agentId).first() != nil else {
            _ = try await scope.find(SectorAgent.self, agentId, on: store.db)  // marks another tenant's id as a probe
            throw AppError.notFound(SectorAgent.entityName)
        }
        let open = try await scope.select(from: Call.schema, on: db)
            .columns(CallRow.columns.map { SQLIdentifier($0) })
            .where("agent_id", .equal, agentId)
            .where(status: .completed)
            .where("wrap_up_until", .isNot, SQLLiteral.null)
            .where("wrap_up_ended_at", .is, SQLLiteral.null)
            .all().map(CallRow.init)
            .map { work.known($0) }
            .filter(\.isWrappingUp)
        guard !open.isEmpty else { return [] }
        if try await book.withBook(tenant.clientId, store: store, on: db, { $0.policy.wrapUpMode }) == .mandatory {
            let ends = open.compactMap(\.wrapUpUntil).max()!
            throw AppError.conflict("after-call work is mandatory in this tenant (setting calls.wrap_up_mode); "
                + "it ends by itself at \(ends.formatted(.iso8601))")
        }
        var handedOut: [UUID] = []
        for call in open { handedOut += try await endWrapUp(of: call, early: true, by: tenant, &work, on: db) }
        return handedOut
    }

    func endWrapUp(of call: CallRow, early: Bool, by tenant: Tenant, _ work: inout BatchWork,
                           on db: any SQLDatabase) async throws -> [UUID] {
        guard let agentId = call.agentId, let until = call.wrapUpUntil else { return [] }
        var ended = call
        ended.wrapUpEndedAt = work.now
        ended.updatedAt = work.now
        work.update(ended, expecting: .completed)
        work.plan.wrapUpEnded(of: agentId, in: tenant.clientId, through: max(until, work.now))
        work.emit(EventPayload.wrapUpEnded(ended, agent: agentId, early: early), for: tenant.clientId)
        return try await release(ended, by: tenant, &work, on: db)
    }
}
