import Vapor

/// The contract's 12 team endpoints.
struct TeamsController: Sendable {
    func routes(_ routes: any RoutesBuilder) {
        let teams = routes.grouped("teams")
        teams.get(use: list)
        teams.post(use: create)
        teams.get(":team_id", use: detail)
        teams.put(":team_id", use: update)
        teams.delete(":team_id", use: deactivate)
        teams.get(":team_id", "performance", use: performance)

        let members = teams.grouped(":team_id", "members")
        members.get(use: listMembers)
        members.post(use: upsertMember)
        members.put(":member_id", use: updateMember)
        members.delete(":member_id", use: removeMember)
        members.post(":member_id", "agents", use: assignAgents)
        members.delete(":member_id", "agents", ":agent_id", use: unassignAgent)
    }

    /// Manager and admin: moves with the figures behind them.
    func suggestionRoutes(_ routes: any RoutesBuilder) {
        let suggestions = routes.grouped("teams", "suggestions")
        suggestions.get(use: listSuggestions)
        suggestions.post(":suggestion_id", "apply", use: applySuggestion)
    }

    @Sendable func listSuggestions(req: Request) async throws -> Envelope<[TeamSuggestionDTO]> {
        let service = TeamSuggestionService(store: req.store, tenant: try req.tenant, book: req.application.loadBook)
        var listed: [TeamSuggestionDTO] = []
        for suggestion in try await service.suggestions() {
            listed.append(TeamSuggestionDTO(suggestion, simulated: await service.simulatedEffect(of: suggestion, in: req.application)))
        }
        return Envelope(data: listed)
    }

    @Sendable func applySuggestion(req: Request) async throws -> Envelope<TeamSuggestionDTO> {
        guard let id = req.pathParameter("suggestion_id"), id.count <= 200 else {
            throw AppError.badRequest("a suggestion id is required")
        }
        let service = TeamSuggestionService(store: req.store, tenant: try req.tenant, book: req.application.loadBook)
        let applied = try await service.apply(id)
        return Envelope(data: TeamSuggestionDTO(applied, simulated: await service.simulatedEffect(of: applied, in: req.application)))
    }

    private func service(_ req: Request) throws -> TeamService {
        TeamService(store: req.store, tenant: try req.tenant, book: req.application.loadBook)
    }

    /// Served from `ReadCache` until the tenant's catalogue changes.
    @Sendable func list(req: Request) async throws -> Response {
        let tenant = try req.tenant
        return try await req.application.readCache.response(
            clientId: tenant.clientId, key: "teams?" + (req.url.query ?? ""), dependency: .catalogue
        ) {
            let query = QueryParameters(req)
            let page = try query.page()
            let result = try await service(req).list(
                sector: try query.string("sector", maxLength: TeamLimits.sector.upperBound),
                status: try query.oneOf("status", as: ActiveStatus.self),
                page: page
            )
            return try Envelope(data: result.teams, meta: page.meta(total: result.total)).encodedBody()
        }
    }

    /// Served from `ReadCache` until the tenant's catalogue or its agents' loads change (and each new day,
    /// as the performance window moves).
    @Sendable func detail(req: Request) async throws -> Response {
        let tenant = try req.tenant
        let teamId = try req.idParameter("team_id")
        let today = Day(containing: Date()).description
        return try await req.application.readCache.response(
            clientId: tenant.clientId, key: "team/\(teamId)/\(today)", dependency: .catalogueAndLoads
        ) {
            try Envelope(data: try await service(req).detail(teamId)).encodedBody()
        }
    }

    @Sendable func performance(req: Request) async throws -> Envelope<[DailyMetricsDTO]> {
        let teamId = try req.idParameter("team_id")
        let range = try DayRange.parse(QueryParameters(req))
        return Envelope(data: try await service(req).performance(of: teamId, in: range))
    }

    @Sendable func create(req: Request) async throws -> Envelope<TeamDTO> {
        .created(try await service(req).create(try await req.decodeBody(CreateTeamInput.self)))
    }

    @Sendable func update(req: Request) async throws -> Envelope<TeamDTO> {
        let teamId = try req.idParameter("team_id")
        return Envelope(data: try await service(req).update(teamId, with: try await req.decodeBody(UpdateTeamInput.self)))
    }

    @Sendable func deactivate(req: Request) async throws -> Envelope<TeamDTO> {
        Envelope(data: try await service(req).deactivate(try req.idParameter("team_id")))
    }

    @Sendable func listMembers(req: Request) async throws -> Envelope<[MemberDTO]> {
        Envelope(data: try await service(req).members(of: try req.idParameter("team_id")))
    }

    @Sendable func upsertMember(req: Request) async throws -> Envelope<MemberDTO> {
        let teamId = try req.idParameter("team_id")
        let result = try await service(req).upsertMember(in: teamId, try await req.decodeBody(MemberInput.self))
        return Envelope(status: result.created ? .created : .ok, data: result.member)
    }

    @Sendable func updateMember(req: Request) async throws -> Envelope<MemberDTO> {
        let teamId = try req.idParameter("team_id"), memberId = try req.idParameter("member_id")
        let input = try await req.decodeBody(UpdateMemberInput.self)
        return Envelope(data: try await service(req).updateMember(memberId, in: teamId, with: input))
    }

    @Sendable func removeMember(req: Request) async throws -> Envelope<DeletedDTO> {
        let teamId = try req.idParameter("team_id"), memberId = try req.idParameter("member_id")
        try await service(req).removeMember(memberId, from: teamId)
        return Envelope(data: DeletedDTO(id: memberId, deleted: true))
    }

    @Sendable func assignAgents(req: Request) async throws -> Envelope<MemberDTO> {
        let teamId = try req.idParameter("team_id"), memberId = try req.idParameter("member_id")
        let agentIds = try await req.decodeBody(AssignAgentsInput.self).validated()
        return Envelope(data: try await service(req).assignAgents(agentIds, to: memberId, in: teamId))
    }

    @Sendable func unassignAgent(req: Request) async throws -> Envelope<DeletedDTO> {
        let teamId = try req.idParameter("team_id"), memberId = try req.idParameter("member_id")
        let agentId = try req.idParameter("agent_id")
        try await service(req).unassignAgent(agentId, from: memberId, in: teamId)
        return Envelope(data: DeletedDTO(id: agentId, deleted: true))
    }
}
