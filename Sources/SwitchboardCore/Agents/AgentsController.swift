import Vapor

struct AgentsController: Sendable {
    func readRoutes(_ routes: any RoutesBuilder) {
        let agents = routes.grouped("agents")
        agents.get(use: list)
        agents.get(":agent_id", use: get)
    }

    func adminRoutes(_ routes: any RoutesBuilder) {
        let agents = routes.grouped("agents")
        agents.post(use: create)
        agents.put(":agent_id", use: update)
        agents.delete(":agent_id", use: deactivate)
    }

    /// What a supervisor does on the floor.
    func managerRoutes(_ routes: any RoutesBuilder) {
        let agents = routes.grouped("agents")
        agents.put(":agent_id", "presence", use: setPresence)
        agents.post(":agent_id", "wrap-up", "end", use: endWrapUp)
    }

    private func service(_ req: Request) throws -> AgentService {
        AgentService(store: req.store, tenant: try req.tenant, book: req.application.loadBook, writer: req.application.callWriter)
    }

    @Sendable func list(req: Request) async throws -> Envelope<[AgentDTO]> {
        let query = QueryParameters(req)
        let page = try query.page()
        let result = try await service(req).list(
            sector: try query.string("sector", maxLength: AgentLimits.sector.upperBound),
            status: try query.oneOf("status", as: ActiveStatus.self),
            page: page
        )
        return Envelope(data: result.agents, meta: page.meta(total: result.total))
    }

    @Sendable func get(req: Request) async throws -> Envelope<AgentDTO> {
        Envelope(data: try await service(req).get(try req.idParameter("agent_id")))
    }

    @Sendable func create(req: Request) async throws -> Envelope<AgentDTO> {
        let fields = try await req.decodeBody(CreateAgentInput.self).validated()
        return .created(try await service(req).create(fields))
    }

    @Sendable func update(req: Request) async throws -> Envelope<AgentDTO> {
        let id = try req.idParameter("agent_id")
        let input = try await req.decodeBody(UpdateAgentInput.self, clearable: ["wrap_up_seconds", "contact"])
        return Envelope(data: try await service(req).update(id, with: input))
    }

    @Sendable func setPresence(req: Request) async throws -> Envelope<AgentDTO> {
        let id = try req.idParameter("agent_id")
        return Envelope(data: try await service(req).setPresence(id) { try await req.decodeBody(PresenceInput.self) })
    }

    /// The agent is ready before its after-call work's time.
    @Sendable func endWrapUp(req: Request) async throws -> Envelope<AgentDTO> {
        Envelope(data: try await service(req).endWrapUp(try req.idParameter("agent_id")))
    }

    @Sendable func deactivate(req: Request) async throws -> Envelope<AgentDTO> {
        Envelope(data: try await service(req).deactivate(try req.idParameter("agent_id")))
    }
}
