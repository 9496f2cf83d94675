import FluentKit
import Foundation
import SQLKit

/// The call lifecycle: create (route + claim), complete, cancel, and reads.
struct CallService: Sendable {
    let store: Store
    let tenant: Tenant
    let pools: RoutingPoolCache
    let metrics: SwitchboardMetrics

    private var scope: TenantScope { tenant.scope }

    struct Created: Sendable {
        let call: CallDTO
        /// True when an `Idempotency-Key` matched an earlier call, which is returned instead of a new one.
        let replayed: Bool
    }

    func create(_ input: CreateCallInput, idempotencyKey: String?) async throws -> Created {
        let key = try Check.optionalText(idempotencyKey, "Idempotency-Key", maxLength: CallLimits.idempotencyKey)
            .flatMap { $0.isEmpty ? nil : $0 }
        if let key, let earlier = try await existingCall(idempotencyKey: key, on: store.db) {
            return Created(call: CallDTO(earlier), replayed: true)
        }
        let policy = try await RoutingPolicy.load(for: tenant.clientId, on: store.db)
        let request = try input.validated(defaultChannel: policy.defaultChannel)
        let router = AgentRouter(tenant: tenant, pools: pools, policy: policy, metrics: metrics)
        let scope = self.scope, tenant = self.tenant
        do {
            let call = try await store.write { db in
                if let key, let earlier = try await existingCall(idempotencyKey: key, on: db) { return (earlier, true) }
                let decision = try await router.routeAndClaim(request.route, on: db)
                if decision.chosen == nil && policy.overflow == .reject {
                    throw AppError.conflict("no agent is available and this tenant's overflow policy is 'reject'")
                }
                let now = Date()
                let call = scope.owned(Call())
                call.id = UUID()
                call.teamId = decision.teamId
                call.sector = decision.sector
                call.capabilities = request.route.capabilities
                call.channel = request.channel
                call.externalRef = request.externalRef
                call.idempotencyKey = key
                call.createdAt = now
                call.callDay = Day(containing: now).description
                call.agentId = decision.chosen?.agentId
                call.status = decision.chosen == nil ? .queued : .active
                call.assignedAt = decision.chosen == nil ? nil : now
                // The hottest write in the product: plain SQL, not Fluent's reflective model save.
                try await scope.insert(into: Call.schema, [
                    ("id", call.id!), ("team_id", call.teamId), ("agent_id", call.agentId), ("sector", call.sector),
                    ("capabilities", call.capabilities), ("channel", call.channel.rawValue), ("external_ref", call.externalRef),
                    ("idempotency_key", call.idempotencyKey), ("status", call.status.rawValue), ("created_at", now),
                    ("assigned_at", call.assignedAt), ("call_day", call.callDay), ("updated_at", now),
                ], on: db)
                try await RoutingDecisionLog.record(decision, trigger: "call", callId: call.id, capabilities: call.capabilities,
                                                    tenant: tenant, on: db)
                try await AuditLog.record("call.create", "call", id: call.id, by: tenant, on: db)
                return (call, false)
            }
            metrics.counter("switchboard_calls_created_total", [("status", call.0.status.rawValue)]).increment()
            return Created(call: CallDTO(call.0), replayed: call.1)
        } catch let error as any DatabaseError where error.isConstraintFailure && key != nil {
            // Two requests with one key raced; the other one committed first, so return its call.
            guard let key, let earlier = try await existingCall(idempotencyKey: key, on: store.db) else { throw AppError.conflict("a call with this Idempotency-Key is being created; retry") }
            return Created(call: CallDTO(earlier), replayed: true)
        }
    }

    func complete(_ callId: UUID, with input: CompleteCallInput.Validated) async throws -> CallDTO {
        let scope = self.scope, tenant = self.tenant
        let policy = try await RoutingPolicy.load(for: tenant.clientId, on: store.db)
        let call = try await store.write { db in
            let call = try await scope.find(Call.self, callId, on: db)
            try Self.ensureActive(call, toBe: "completed")
            let now = Date()
            let updated = try await (db as! any SQLDatabase).update(Call.schema)
                .set("status", to: CallStatus.completed.rawValue)
                .set("outcome", to: input.outcome.rawValue)
                .set("resolved", to: input.resolved)
                .set("satisfaction", to: input.satisfaction)
                .set("handling_time_seconds", to: input.handlingTimeSeconds)
                .set("completed_at", to: now)
                .set("updated_at", to: now)
                .where("id", .equal, callId)
                .where("client_id", .equal, tenant.clientId)
                .where("status", .equal, CallStatus.active.rawValue)
                .returning("id")
                .first()
            guard updated != nil else { throw AppError.conflict("call is no longer active") }
            try await Self.releaseAgent(of: call, tenant: tenant, policy: policy, on: db)
            try await AuditLog.record("call.complete", "call", id: callId, by: tenant, on: db)
            return try await scope.find(Call.self, callId, on: db)
        }
        metrics.counter("switchboard_calls_completed_total", [("outcome", input.outcome.rawValue)]).increment()
        return CallDTO(call)
    }

    /// A queued or active call becomes cancelled; an active one gives its agent's capacity back.
    func cancel(_ callId: UUID) async throws -> CallDTO {
        let scope = self.scope, tenant = self.tenant
        let policy = try await RoutingPolicy.load(for: tenant.clientId, on: store.db)
        let call = try await store.write { db in
            let call = try await scope.find(Call.self, callId, on: db)
            guard call.status == .queued || call.status == .active else {
                throw AppError.conflict("call is already \(call.status.rawValue)")
            }
            let now = Date()
            let updated = try await (db as! any SQLDatabase).update(Call.schema)
                .set("status", to: CallStatus.cancelled.rawValue)
                .set("cancelled_at", to: now)
                .set("updated_at", to: now)
                .where("id", .equal, callId)
                .where("client_id", .equal, tenant.clientId)
                .where("status", .equal, call.status.rawValue)
                .returning("id")
                .first()
            guard updated != nil else { throw AppError.conflict("call changed while cancelling; try again") }
            if call.status == .active {
                try await Self.releaseAgent(of: call, tenant: tenant, policy: policy, on: db)
            }
            try await AuditLog.record("call.cancel", "call", id: callId, by: tenant, on: db)
            return try await scope.find(Call.self, callId, on: db)
        }
        metrics.counter("switchboard_calls_cancelled_total").increment()
        return CallDTO(call)
    }

    func get(_ callId: UUID) async throws -> CallDTO {
        CallDTO(try await scope.find(Call.self, callId, on: store.db))
    }

    struct ListFilter: Sendable {
        var status: CallStatus?
        var agentId: UUID?
        var teamId: UUID?
        var from: Day?
        var to: Day?
    }

    func list(_ filter: ListFilter, page: Page) async throws -> (calls: [CallDTO], total: Int) {
        var query = scope.query(Call.self, on: store.db)
        if let status = filter.status { query = query.filter(\.$status == status) }
        if let agentId = filter.agentId { query = query.filter(\.$agentId == agentId) }
        if let teamId = filter.teamId { query = query.filter(\.$teamId == teamId) }
        if let from = filter.from { query = query.filter(\.$createdAt >= from.startDate) }
        if let to = filter.to { query = query.filter(\.$createdAt < to.adding(days: 1).startDate) }
        let total = try await query.copy().count()
        let calls = try await query.sort(\.$createdAt, .descending).sort(\.$id)
            .range(page.offset..<(page.offset + page.limit)).all()
        return (calls.map(CallDTO.init), total)
    }

    // MARK: Helpers

    private func existingCall(idempotencyKey key: String, on db: any Database) async throws -> Call? {
        try await scope.query(Call.self, on: db).filter(\.$idempotencyKey == key).first()
    }

    private static func ensureActive(_ call: Call, toBe verb: String) throws {
        switch call.status {
        case .active: return
        case .queued: throw AppError.conflict("call is queued and has no agent yet; it cannot be \(verb)")
        case .completed, .cancelled: throw AppError.conflict("call is already \(call.status.rawValue)")
        }
    }

    /// Gives the agent's unit of capacity back and offers it to the queue in the same transaction.
    private static func releaseAgent(of call: Call, tenant: Tenant, policy: RoutingPolicy, on db: any Database) async throws {
        guard let agentId = call.agentId else { return }
        try await LoadLedger(clientId: tenant.clientId).release(agentId, on: db)
        try await QueueAssigner(tenant: tenant, policy: policy).offerCapacity(of: agentId, on: db)
    }
}
