import Vapor

/// The whole routing table. Auth is visible at a glance: public, any role (viewers read only), admin.
func routes(_ app: Application) throws {
    try app.register(collection: SystemController())
    EventStreamController().routes(app)
    TwilioController().routes(app)

    var api = app.grouped("api").grouped(RouteBodyLimitMiddleware()).grouped(TenantAuthMiddleware())
    if let limit = app.switchboardConfiguration.rateLimit {
        api = api.grouped(RateLimitMiddleware(limiter: RateLimiter(limit: limit)))
    }
    api = api.grouped(ReadOnlyForViewers()).grouped(AgentTokenFence())
    let admin = api.grouped(RoleGuard(minimum: .admin))

    let teams = TeamsController()
    teams.routes(api)
    teams.suggestionRoutes(api.grouped(RoleGuard(minimum: .manager)))
    let bulk = BulkController()
    bulk.routes(api)
    bulk.adminRoutes(admin)

    let agents = AgentsController()
    agents.readRoutes(api)
    agents.adminRoutes(admin)
    agents.managerRoutes(api.grouped(RoleGuard(minimum: .manager, agentsToo: true)))

    CallsController().routes(api)
    let routing = RoutingController()
    routing.routes(api)
    routing.simulationRoutes(api.grouped(RoleGuard(minimum: .manager)))

    let analytics = AnalyticsController()
    analytics.readRoutes(api)
    analytics.adminRoutes(admin)

    let channels = ChannelsController()
    channels.readRoutes(api)
    channels.adminRoutes(admin)

    WebhooksController().routes(admin)

    let settings = SettingsController()
    settings.readRoutes(api)
    settings.adminRoutes(admin)
}
