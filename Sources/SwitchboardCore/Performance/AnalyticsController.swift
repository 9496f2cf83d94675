import Vapor

/// Analytics over daily rows, and the aggregator's status and manual trigger.
struct AnalyticsController: Sendable {
    func readRoutes(_ routes: any RoutesBuilder) {
        routes.get("agents", ":agent_id", "metrics", use: agentMetrics)
        let analytics = routes.grouped("analytics")
        analytics.get("teams", "compare", use: compareTeams)
        analytics.get("teams", ":team_id", "trends", use: teamTrends)
        analytics.get("agents", "top", use: topAgents)
        analytics.get("export", use: export)
        analytics.get("service-level", use: serviceLevel)
        routes.get("system", "aggregator", use: aggregatorStatus)
    }

    func adminRoutes(_ routes: any RoutesBuilder) {
        routes.post("system", "aggregator", "run", use: runAggregator)
    }

    private func service(_ req: Request) throws -> AnalyticsService {
        AnalyticsService(store: req.store, tenant: try req.tenant)
    }

    @Sendable func agentMetrics(req: Request) async throws -> Envelope<MetricSeriesDTO> {
        let agentId = try req.idParameter("agent_id")
        let range = try DayRange.parse(QueryParameters(req))
        return Envelope(data: try await service(req).agentSeries(agentId, in: range))
    }

    @Sendable func teamTrends(req: Request) async throws -> Envelope<MetricSeriesDTO> {
        let teamId = try req.idParameter("team_id")
        let range = try DayRange.parse(QueryParameters(req))
        return Envelope(data: try await service(req).teamSeries(teamId, in: range))
    }

    static let maximumComparedTeams = 20

    @Sendable func compareTeams(req: Request) async throws -> Envelope<[TeamComparisonDTO]> {
        let query = QueryParameters(req)
        guard let teamIds = try query.uuidList("team_ids", maxCount: Self.maximumComparedTeams), !teamIds.isEmpty else {
            throw AppError.badRequest("team_ids is required: comma-separated team ids")
        }
        var seen = Set<UUID>()
        let unique = teamIds.filter { seen.insert($0).inserted }
        let range = try DayRange.parse(query)
        return Envelope(data: try await service(req).compareTeams(unique, in: range))
    }

    @Sendable func topAgents(req: Request) async throws -> Envelope<[TopAgentDTO]> {
        let query = QueryParameters(req)
        let metric = try query.oneOf("metric", as: RankingMetric.self) ?? .successRate
        let limit = try query.int("limit", in: 1...100, default: 10)
        let minimumCalls = try query.int("min_calls", in: 0...1_000_000, default: 5)
        let range = try DayRange.parse(query)
        return Envelope(data: try await service(req).topAgents(by: metric, limit: limit, minimumCalls: minimumCalls, in: range))
    }

    @Sendable func serviceLevel(req: Request) async throws -> Envelope<ServiceLevelReportDTO> {
        let query = QueryParameters(req)
        let grouping = try query.oneOf("group_by", as: ServiceLevelGrouping.self) ?? .day
        let teamId = try query.uuid("team_id"), agentId = try query.uuid("agent_id")
        var subject: (kind: DailyRollup.Subject, id: UUID)?
        switch (teamId, agentId) {
        case (nil, nil): subject = nil
        case (let teamId?, nil): subject = (.team, teamId)
        case (nil, let agentId?): subject = (.agent, agentId)
        default: throw AppError.badRequest("give team_id or agent_id, not both")
        }
        if subject != nil, grouping != .day {
            throw AppError.badRequest("team_id and agent_id narrow group_by=day; leave them out for group_by=\(grouping.rawValue)")
        }
        let range = try DayRange.parse(query)
        return Envelope(data: try await service(req).serviceLevel(groupedBy: grouping, subject: subject, in: range))
    }

    @Sendable func export(req: Request) async throws -> Response {
        let query = QueryParameters(req)
        let format = try ExportFormat.negotiate(accept: req.headers.first(name: .accept), format: try query.string("format", maxLength: 10))
        let level: DailyRollup.Subject
        switch try query.string("level", maxLength: 10) {
        case "agent": level = .agent
        case "team": level = .team
        default: throw AppError.badRequest("level is required: agent or team")
        }
        // Both are read, so that a malformed one is a 400 whichever level was asked for.
        let agentId = try query.uuid("agent_id"), teamId = try query.uuid("team_id")
        if level == .agent ? teamId != nil : agentId != nil {
            throw AppError.badRequest("agent_id narrows level=agent and team_id level=team; give the one of the level asked for")
        }
        let subjectId = level == .agent ? agentId : teamId
        let export = AnalyticsExport(store: req.store, scope: try req.tenant.scope, level: level,
                                     range: try DayRange.parse(query), subjectId: subjectId, format: format)
        return .streamed(headers: format.headers(filename: "\(level == .agent ? "agent" : "team")-metrics"), export.produce)
    }

    @Sendable func aggregatorStatus(req: Request) async throws -> Envelope<PerformanceAggregator.Status> {
        Envelope(data: await req.application.aggregator.currentStatus(for: try req.tenant.clientId))
    }

    @Sendable func runAggregator(req: Request) async throws -> Envelope<PerformanceAggregator.Status> {
        let status = await req.application.aggregator.runNow(for: try req.tenant.clientId)
        try await req.store.write { db in
            try await AuditLog.record("aggregator.run", "aggregator", id: nil, by: try req.tenant, on: db)
        }
        return Envelope(data: status)
    }
}
