import FluentKit
import SQLKit
import Vapor

struct RoutingController: Sendable {
    func routes(_ routes: any RoutesBuilder) {
        let routing = routes.grouped("routing")
        routing.get("decisions", use: decisions)
        routing.get("health", use: health)
        routing.get("queue", use: queue)
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

    /// The waiting calls, oldest first, each with the `routing.relaxation` step its wait has reached and when it
    /// next widens.
    @Sendable func queue(req: Request) async throws -> Envelope<[QueuedCallDTO]> {
        let tenant = try req.tenant
        let page = try QueryParameters(req).page(defaultLimit: 100)
        let sql = req.db as! any SQLDatabase
        let store = req.application.store()
        // The tenant's policy and agents as routing holds them, rather than the settings read again.
        let policy = try await req.application.loadBook.withBook(tenant.clientId, store: store) { $0.policy }
        let order = QueueOrder(agingSeconds: policy.priorityAgingSeconds, now: Date())
        let waiting = try await QueueOrder.waiting(of: tenant.clientId, on: sql)
        let positions = order.positions(waiting)
        let query = tenant.scope.select(from: Call.schema, on: sql).columns(CallRow.columns.map { SQLIdentifier($0) })
            .where(status: .queued)
        let calls = try await order.ordering(query, postgres: store.isPostgres)
            .limit(page.limit).offset(page.offset).all().map(CallRow.init)
        let listed = try await req.application.loadBook.withBook(tenant.clientId, store: store) { book in
            calls.map { call in
                QueuedCallDTO(call, relaxation: book.policy.relaxation, order: order, position: positions[call.id],
                              estimatedWait: book.estimatedWait(place: positions[call.id], of: QueueOrder.Entry(call), teamId: call.teamId,
                                                                required: call.requirement, now: order.now))
            }
        }
        return Envelope(data: listed, meta: page.meta(total: waiting.count))
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

struct QueuedCallDTO: Encodable, Sendable {
    let callId: UUID
    @NullWhenAbsent var teamId: UUID?
    let sector: String
    let channel: CallChannel
    let capabilities: [String]
    let requiredCapabilities: [String]
    /// Minimum levels as the call asked them (`{}`: none); `max_required_level` lowers them at its step.
    let requiredLevels: [String: Int]
    let createdAt: Date
    let waitedSeconds: Double
    /// The `routing.relaxation` step the call's wait has reached, the widest pool it allows, and whether the
    /// call's required capabilities still hold.
    let step: Int
    let pool: Relaxation.Pool
    let requirementsDropped: Bool
    /// The step's cap on minimum levels (`max_required_level`); null when none holds.
    @NullWhenAbsent var maxRequiredLevel: Int?
    /// When the call widens next; null when it has reached its widest.
    @NullWhenAbsent var nextWideningAt: Date?
    /// Its priority, plus one for every `routing.priority_aging_seconds` waited; its place among its sector's
    /// waiting calls (1: next), in the order the queue hands them out.
    let priority: Int
    let effectivePriority: Int
    @NullWhenAbsent var queuePosition: Int?
    /// About how long until an agent takes it (`WaitEstimate`); null when nobody who may take it is routable.
    @NullWhenAbsent var estimatedWaitSeconds: Int?
    /// A callback waits without a caller on the line: the number to ring back.
    @NullWhenAbsent var callback: CallbackDTO?
    /// The agent the call waits for, while it waits for its busy preferred agent, and until when.
    @NullWhenAbsent var waitingForAgentId: UUID?
    @NullWhenAbsent var preferredUntil: Date?

    init(_ call: CallRow, relaxation: Relaxation, order: QueueOrder, position: Int?, estimatedWait: Int?) {
        let now = order.now
        callId = call.id
        teamId = call.teamId
        sector = call.sector
        channel = call.channel
        capabilities = call.capabilities
        requiredCapabilities = call.requiredCapabilities
        requiredLevels = call.requiredLevels
        priority = call.priority
        effectivePriority = order.effectivePriority(priority: call.priority, createdAt: call.createdAt)
        queuePosition = position
        estimatedWaitSeconds = estimatedWait
        callback = call.callbackPhone.map(CallbackDTO.init)
        let keptFor = call.reservedAgent(at: now)
        waitingForAgentId = keptFor
        preferredUntil = keptFor == nil ? nil : call.preferredUntil
        createdAt = call.createdAt
        waitedSeconds = max(0, now.timeIntervalSince(call.createdAt))
        let stage = relaxation.stage(waited: waitedSeconds, hasTeam: call.teamId != nil)
        step = stage.step
        pool = stage.pool
        requirementsDropped = stage.requirementsDropped
        maxRequiredLevel = stage.maxRequiredLevel
        nextWideningAt = relaxation.nextWidening(waited: waitedSeconds, hasTeam: call.teamId != nil)
            .map { call.createdAt.addingTimeInterval($0) }
    }
}
