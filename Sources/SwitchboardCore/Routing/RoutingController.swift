import FluentKit
import Vapor

struct RoutingController: Sendable {
    func routes(_ routes: any RoutesBuilder) {
        let routing = routes.grouped("routing")
        routing.get("decisions", use: decisions)
        routing.get("health", use: health)
        routing.post("route", use: route)
    }

    /// Managers and admins: a simulation reads every call of its range.
    func simulationRoutes(_ routes: any RoutesBuilder) {
        routes.grouped("routing").post("simulate", use: simulate)
    }

    @Sendable func simulate(req: Request) async throws -> Envelope<SimulationDTO> {
        let body = try await req.decodeBody([String: JSONValue].self, literalKeys: true)
        let service = RoutingSimulationService(store: req.store, tenant: try req.tenant)
        return Envelope(data: try await service.simulate(try RoutingSimulationService.request(from: body)))
    }

    /// A dry run: the recommendation and every candidate's breakdown; nothing is claimed or logged.
    @Sendable func route(req: Request) async throws -> Envelope<RouteRecommendationDTO> {
        let request = try await req.decodeBody(RouteInput.self).validated()
        let router = AgentRouter(tenant: try req.tenant, book: req.application.loadBook, store: req.store,
                                 metrics: req.application.metrics)
        return Envelope(data: RouteRecommendationDTO(try await router.recommend(request)))
    }

    @Sendable func decisions(req: Request) async throws -> Envelope<[RoutingDecisionDTO]> {
        let query = QueryParameters(req)
        let page = try query.page()
        var decisions = try req.tenant.scope.query(RoutingDecisionRecord.self, on: req.db)
        if let callId = try query.uuid("call_id") { decisions = decisions.filter(\.$callId == callId) }
        let total = try await decisions.copy().count()
        let rows = try await decisions.sort(\.$createdAt, .descending).sort(\.$id)
            .range(page.offset..<(page.offset + page.limit)).all()
        return Envelope(data: try rows.map(RoutingDecisionDTO.init), meta: page.meta(total: total))
    }

    struct Health: Content {
        let cache: LoadBook.Snapshot
        let cacheTtlSeconds: Int
        let decisionsLogged: Int
        let queuedCalls: Int
        let activeCalls: Int
        let lastDecisionAt: Date?
    }

    @Sendable func health(req: Request) async throws -> Envelope<Health> {
        let tenant = try req.tenant
        let scope = tenant.scope
        let policy = try await RoutingPolicy.load(for: tenant.clientId, on: req.db)
        let lastDecision = try await scope.query(RoutingDecisionRecord.self, on: req.db)
            .sort(\.$createdAt, .descending).first()
        return Envelope(data: Health(
            cache: req.application.loadBook.snapshot(clientId: tenant.clientId),
            cacheTtlSeconds: policy.cacheTTLSeconds,
            decisionsLogged: try await scope.query(RoutingDecisionRecord.self, on: req.db).count(),
            queuedCalls: try await scope.query(Call.self, on: req.db).filter(\.$status == .queued).count(),
            activeCalls: try await scope.query(Call.self, on: req.db).filter(\.$status == .active).count(),
            lastDecisionAt: lastDecision?.createdAt
        ))
    }
}
