import FluentKit
import Foundation
import SQLKit

/// The tenant's agent catalogue. Every change invalidates the tenant's routing pools; an agent created or changed
/// then takes the waiting calls it now can, through the writer (which alone changes loads).
struct AgentService: Sendable {
    let store: Store
    let tenant: Tenant
    let book: LoadBook
    let writer: CallWriter

    private var scope: TenantScope { tenant.scope }

    func list(sector: String?, status: ActiveStatus?, page: Page) async throws -> (agents: [AgentDTO], total: Int) {
        var query = scope.query(SectorAgent.self, on: store.db)
        if let sector { query = query.filter(\.$sector == sector.lowercased()) }
        if let status { query = query.filter(\.$status == status) }
        let total = try await query.copy().count()
        let agents = try await query.sort(\.$sector).sort(\.$name).sort(\.$id)
            .range(page.offset..<(page.offset + page.limit)).all()
        let offers = try await PendingOffers.count(of: tenant.clientId, agents: agents.compactMap(\.id), on: store.sql)
        return (agents.map { AgentDTO($0, offers: offers[$0.id!] ?? 0) }, total)
    }

    func get(_ id: UUID) async throws -> AgentDTO {
        try await read(id)
    }

    /// Another tenant's id is a 404, marked as a probe.
    private func read(_ id: UUID) async throws -> AgentDTO {
        guard let agent = try await Self.answers([id], of: tenant.clientId, on: store.sql)[id] else {
            _ = try await scope.find(SectorAgent.self, id, on: store.db)
            throw AppError.notFound(SectorAgent.entityName)
        }
        return agent
    }

    /// Agents as the API shows them, read as plain rows with their pending offers counted, in one statement: the
    /// answer to a read of one agent, and to the changes of one agent, which the writer reads inside the batch
    /// that made them (one statement for all of a batch's presence changes, instead of a read through the pool each).
    static func answers(_ ids: [UUID], of clientId: String, on db: any SQLDatabase) async throws -> [UUID: AgentDTO] {
        guard !ids.isEmpty else { return [:] }
        var answers: [UUID: AgentDTO] = [:]
        for row in try await TenantScope(clientId: clientId).select(from: SectorAgent.schema, on: db)
            .column(SectorAgent.columnList)
            .column(PendingOffers.counted(of: clientId), as: "pending_offers")
            .where("id", .in, ids).all() {
            let agent = try SectorAgent(row: row)
            answers[try agent.requireID()] = AgentDTO(agent, offers: try row.decode(column: "pending_offers", as: Int.self))
        }
        return answers
    }

    func create(_ fields: AgentFields) async throws -> AgentDTO {
        let scope = self.scope, tenant = self.tenant
        let agent = try await store.write { db in
            let agent = scope.owned(fields.makeModel())
            try await agent.create(on: db)
            try await AuditLog.record("agent.create", "agent", id: agent.id, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.agent(agent.id!, "created")], clientId: tenant.clientId, on: db)
            let sql = db as! any SQLDatabase
            if let opening = AgentStateLog.opening([(agent.id!, .available, nil)], of: tenant.clientId, at: agent.stateSince ?? Date()) {
                try await sql.execute(sql: opening) { _ in }
            }
            return agent
        }
        return try await takeWaitingCalls(agent)
    }

    func update(_ id: UUID, with input: UpdateAgentInput) async throws -> AgentDTO {
        let scope = self.scope, tenant = self.tenant
        let agent = try await store.write { db in
            let agent = try await scope.find(SectorAgent.self, id, on: db)
            try input.apply(to: agent)
            try await agent.save(on: db)
            try await AuditLog.record("agent.update", "agent", id: id, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.agent(id, "updated")], clientId: tenant.clientId, on: db)
            return agent
        }
        return try await takeWaitingCalls(agent)
    }

    /// A presence change, through the writer (presence decides who is offered calls, as loads do). The reasons
    /// come from the routing book's policy, which any settings change refreshes. A body that does not decode or
    /// validate is a 400 only for an agent of this tenant: another tenant's id (or none) is a 404, whatever the body
    /// (the existence check runs only then, so a good change pays nothing for it).
    func setPresence(_ id: UUID, _ body: () async throws -> PresenceInput) async throws -> AgentDTO {
        let reasons = try await book.withBook(tenant.clientId, store: store) { $0.policy.awayReasons }
        let presence: AgentPresence, reason: String?
        do {
            (presence, reason) = try await body().validated(awayReasons: reasons)
        } catch {
            _ = try await scope.find(SectorAgent.self, id, on: store.db)
            throw error
        }
        return try await writer.changeAgent(.presence(id, presence, reason: reason), by: tenant).agent
    }

    /// Ends the agent's open wrap-ups now (409 when the tenant's wrap-up is mandatory); its slots go to waiting
    /// calls. An agent with none open is answered as it is.
    func endWrapUp(_ id: UUID) async throws -> AgentDTO {
        try await writer.changeAgent(.endWrapUpsEarly(id), by: tenant).agent
    }

    /// Soft delete: the agent stays in history but is no longer routed to.
    func deactivate(_ id: UUID) async throws -> AgentDTO {
        let scope = self.scope, tenant = self.tenant
        let agent = try await store.write { db in
            let agent = try await scope.find(SectorAgent.self, id, on: db)
            agent.status = .inactive
            try await agent.save(on: db)
            try await AuditLog.record("agent.deactivate", "agent", id: id, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.agent(id, "deactivated")], clientId: tenant.clientId, on: db)
            return agent
        }
        await book.invalidate(tenant.clientId)
        return AgentDTO(agent)
    }

    /// The routing pools learn the committed agent; an active one then takes the waiting calls it now can, and is
    /// answered with the load that left it.
    private func takeWaitingCalls(_ agent: SectorAgent) async throws -> AgentDTO {
        await book.invalidate(tenant.clientId)
        guard agent.status == .active,
              try await !writer.agentsChanged([agent.id!], by: tenant).isEmpty
        else { return AgentDTO(agent) }
        return try await read(agent.id!)
    }
}
