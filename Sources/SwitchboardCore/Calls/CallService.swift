import FluentKit
import Foundation
import SQLKit

/// The call lifecycle: create (route + claim), complete and cancel through the group-committing `CallWriter`,
/// and reads.
struct CallService: Sendable {
    let store: Store
    let tenant: Tenant
    let writer: CallWriter

    private var scope: TenantScope { tenant.scope }

    func create(_ input: CreateCallInput, idempotencyKey: String?) async throws -> CallChangeResult {
        let key = try Check.optionalText(idempotencyKey, "Idempotency-Key", maxLength: CallLimits.idempotencyKey)
            .flatMap { $0.isEmpty ? nil : $0 }
        let request = try input.validated()
        var change = NewCall(route: request.route, channel: request.channel, externalRef: request.externalRef,
                             idempotencyKey: key, priority: request.priority, callbackPhone: request.callbackPhone,
                             customerRef: request.customerRef)
        if request.preferredAgent != nil || request.customerRef != nil {
            let policy = try await writer.book.withBook(tenant.clientId, store: store) { $0.policy }
            change.preferredWaitSeconds = policy.preferredAgentWaitSeconds
            if let named = request.preferredAgent {
                change.preferredAgentId = try await preferredAgent(named)
            } else if policy.stickyCustomers, let customerRef = request.customerRef {
                change.preferredAgentId = try await lastGoodAgent(of: customerRef, now: Date())
            }
        }
        return try await writer.submit(.create(change), by: tenant)
    }

    /// The tenant's agent a call names; an unknown one (or another tenant's) is a 400 naming the field.
    private func preferredAgent(_ name: CreateCallInput.PreferredAgentName) async throws -> UUID {
        var query = scope.select(from: SectorAgent.schema, on: store.sql).column("id")
        switch name {
        case .id(let id): query = query.where("id", .equal, id)
        case .externalId(let externalId): query = query.where("external_id", .equal, externalId)
        }
        guard let row = try await query.limit(1).first() else {
            switch name {
            case .id: throw AppError.badRequest("preferred_agent_id names no agent of this tenant")
            case .externalId: throw AppError.badRequest("preferred_agent_external_id names no agent of this tenant")
            }
        }
        return try row.decode(column: "id", as: UUID.self)
    }

    /// A sticky customer's agent: who completed the customer's last successful call in the last
    /// `RoutingPolicy.stickyCustomerDays` days (nil: nobody did). Literals for status and outcome, so that the
    /// planner uses the partial index on exactly those calls.
    private func lastGoodAgent(of customerRef: String, now: Date) async throws -> UUID? {
        let since = now.addingTimeInterval(-Double(RoutingPolicy.stickyCustomerDays) * 86_400)
        return try await scope.select(from: Call.schema, on: store.sql).column("agent_id")
            .where("customer_ref", .equal, customerRef)
            .where(status: .completed)
            .where(SQLIdentifier("outcome"), .equal, SQLRaw("'\(CallOutcome.successful.rawValue)'"))
            .where("completed_at", .greaterThanOrEqual, since)
            .where("agent_id", .isNot, SQLLiteral.null)
            .orderBy("completed_at", .descending)
            .limit(1).first()?
            .decode(column: "agent_id", as: UUID?.self)
    }

    func complete(_ callId: UUID, with input: CompleteCallInput.Validated) async throws -> CallDTO {
        try await writer.submit(.complete(callId, input), by: tenant).call
    }

    func accept(_ callId: UUID) async throws -> CallDTO {
        try await writer.submit(.accept(callId), by: tenant).call
    }

    func reject(_ callId: UUID, reason: String?) async throws -> CallDTO {
        try await writer.submit(.reject(callId, reason: reason), by: tenant).call
    }

    /// A queued or active call becomes cancelled; an active one gives its agent's capacity back.
    func cancel(_ callId: UUID) async throws -> CallDTO {
        try await writer.submit(.cancel(callId), by: tenant).call
    }

    /// An agent's token reads only its own calls (another's is not found).
    func get(_ callId: UUID) async throws -> CallDTO {
        let call = try await scope.find(Call.self, callId, on: store.db)
        if let own = tenant.agentId, call.agentId != own { throw AppError.notFound(Call.entityName) }
        var answer = CallDTO(call)
        if call.channel == .sms || call.channel == .whatsapp {
            answer.messages = try await CallMessages.of(callId, scope: scope, on: store.sql)
        }
        if call.status == .queued {
            let now = Date()
            let policy = try await writer.book.withBook(tenant.clientId, store: store) { $0.policy }
            let entry = QueueOrder.Entry(id: answer.id, sector: answer.sector, priority: answer.priority, createdAt: answer.createdAt)
            let ahead = try await QueueOrder(agingSeconds: policy.priorityAgingSeconds, now: now)
                .storedAhead(of: entry, clientId: tenant.clientId, excluding: [entry.id], postgres: store.isPostgres, on: store.sql)
            try await writer.book.withBook(tenant.clientId, store: store) { book in
                QueueOrder.place(&answer, at: ahead + 1, in: book, now: now)
            }
        }
        return answer
    }

    struct ListFilter: Sendable {
        var status: CallStatus?
        var agentId: UUID?
        var teamId: UUID?
        var from: Day?
        var to: Day?

        /// `query` narrowed to the calls this filter lists (the listing's and the export's).
        func narrowing(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
            var query = query
            if let status { query = query.where("status", .equal, status.rawValue) }
            if let agentId { query = query.where("agent_id", .equal, agentId) }
            if let teamId { query = query.where("team_id", .equal, teamId) }
            if let from { query = query.where("created_at", .greaterThanOrEqual, from.startDate) }
            if let to { query = query.where("created_at", .lessThan, to.adding(days: 1).startDate) }
            return query
        }
    }

    /// An agent's token lists only its own calls, whatever `agent_id` it asks for.
    func list(_ filter: ListFilter, page: Page) async throws -> (calls: [CallDTO], total: Int) {
        var filter = filter
        if let own = tenant.agentId {
            if filter.agentId.map({ $0 != own }) == true { return ([], 0) }
            filter.agentId = own
        }
        let sql = store.sql
        let total = try await Self.countQuery(filter, of: scope, on: sql).first()?.decode(column: "n", as: Int.self) ?? 0
        let calls = try await Self.listQuery(filter, page: page, of: scope, on: sql).all().map(CallRow.init)
        return (calls.map(CallDTO.init), total)
    }

    /// A page of the listing, newest first (ties by id). An agent's or a team's calls are read through their own
    /// index (`AddCallsAgentTeamIndexes`), not through the whole history of the tenant.
    static func listQuery(_ filter: ListFilter, page: Page, of scope: TenantScope, on sql: any SQLDatabase) -> SQLSelectBuilder {
        filter.narrowing(scope.select(from: Call.schema, on: sql).columns(CallRow.columns.map { SQLIdentifier($0) }))
            .orderBy("created_at", .descending).orderBy("id", .ascending)
            .limit(page.limit).offset(page.offset)
    }

    static func countQuery(_ filter: ListFilter, of scope: TenantScope, on sql: any SQLDatabase) -> SQLSelectBuilder {
        filter.narrowing(scope.select(from: Call.schema, on: sql).column(SQLRaw("COUNT(*)"), as: "n"))
    }
}
