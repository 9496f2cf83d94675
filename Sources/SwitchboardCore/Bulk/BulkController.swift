import Vapor

/// `POST …/bulk`: agents (admin), a team's members and its assignments (manager and admin). JSON, or `text/csv`
/// with a header row for agents and members; `?mode=partial` writes the valid rows and reports the rest.
struct BulkController: Sendable {
    private static let maxBody = ByteCount(value: BodyLimit.bulk)

    func adminRoutes(_ routes: any RoutesBuilder) {
        routes.on(.POST, "agents", "bulk", body: .collect(maxSize: Self.maxBody), use: agents)
    }

    func routes(_ routes: any RoutesBuilder) {
        let team = routes.grouped("teams", ":team_id")
        team.on(.POST, "members", "bulk", body: .collect(maxSize: Self.maxBody), use: members)
        team.on(.POST, "members", ":member_id", "agents", "bulk", body: .collect(maxSize: Self.maxBody), use: memberAgents)
        team.on(.POST, "assignments", "bulk", body: .collect(maxSize: Self.maxBody), use: assignments)
    }

    private func service(_ req: Request) throws -> BulkService {
        BulkService(store: req.store, tenant: try req.tenant, book: req.application.loadBook, writer: req.application.callWriter)
    }

    @Sendable func agents(req: Request) async throws -> Envelope<BulkResultDTO> {
        let mode = try BulkInput.mode(of: req)
        let rows = try await BulkInput.rows(of: req, list: "agents", columns: BulkService.agentFields, maxRows: BulkLimits.agents)
        return Envelope(data: try await service(req).upsertAgents(rows, mode: mode))
    }

    @Sendable func members(req: Request) async throws -> Envelope<BulkResultDTO> {
        let teamId = try req.idParameter("team_id")
        let mode = try BulkInput.mode(of: req)
        let service = try service(req)
        try await service.ensureTeam(teamId)
        let rows = try await BulkInput.rows(of: req, list: "members", columns: BulkService.memberFields, maxRows: BulkLimits.members)
        return Envelope(data: try await service.upsertMembers(rows, in: teamId, mode: mode))
    }

    @Sendable func memberAgents(req: Request) async throws -> Envelope<BulkResultDTO> {
        let teamId = try req.idParameter("team_id"), memberId = try req.idParameter("member_id")
        let mode = try BulkInput.mode(of: req)
        let service = try service(req)
        try await service.ensureMember(memberId, in: teamId)
        let body = try await req.decodeBody([String: JSONValue].self, maxValues: BulkLimits.jsonValues)
        return Envelope(data: try await service.changeAssignments(
            try BulkService.assignmentRows(body, member: memberId), in: teamId, mode: mode))
    }

    @Sendable func assignments(req: Request) async throws -> Envelope<BulkResultDTO> {
        let teamId = try req.idParameter("team_id")
        let mode = try BulkInput.mode(of: req)
        let service = try service(req)
        try await service.ensureTeam(teamId)
        let body = try await req.decodeBody([String: JSONValue].self, maxValues: BulkLimits.jsonValues)
        return Envelope(data: try await service.changeAssignments(
            try BulkService.assignmentRows(body, member: nil), in: teamId, mode: mode))
    }
}
