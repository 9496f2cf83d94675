import FluentKit
import Foundation
import SQLKit

struct RouteRequest: Sendable {
    var teamId: UUID?
    var sector: String?
    var capabilities: [String]
}

enum RoutingStrategy: String, Codable, Sendable {
    case team, sector, none
    /// A queued call handed to an agent that freed up.
    case queue
}

struct RoutingDecision: Sendable {
    let strategy: RoutingStrategy
    let sector: String
    let teamId: UUID?
    let ranking: Ranking
    /// The agent routed to (and, for a claiming route, whose capacity was claimed).
    let chosen: ScoredCandidate?
    let poolSize: Int
}

/// Chooses the agent for a request: the team pool first, then the sector pool, each ranked by
/// `AgentScorer` over cached pool attributes merged with load read fresh from the database.
struct AgentRouter: Sendable {
    let tenant: Tenant
    let pools: RoutingPoolCache
    let policy: RoutingPolicy
    let metrics: SwitchboardMetrics

    private var scope: TenantScope { tenant.scope }

    /// A recommendation only: nothing is claimed or written.
    func recommend(_ request: RouteRequest, on db: any Database) async throws -> RoutingDecision {
        try await decide(request, claiming: false, on: db)
    }

    /// Routes and claims the chosen agent's capacity atomically. Call inside the write transaction
    /// that stores the call, so the claim and the call commit together.
    func routeAndClaim(_ request: RouteRequest, on db: any Database) async throws -> RoutingDecision {
        try await decide(request, claiming: true, on: db)
    }

    private func decide(_ request: RouteRequest, claiming: Bool, on db: any Database) async throws -> RoutingDecision {
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            metrics.histogram("switchboard_routing_decision_seconds")
                .record(Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
        }
        let sector: String
        if let teamId = request.teamId {
            let team = try await scope.find(Team.self, teamId, on: db)
            sector = team.sector
            let teamPool = try await livePool(.team(teamId), on: db)
            if let decision = try await choose(from: teamPool, strategy: .team, sector: sector, request, claiming, db) {
                return record(decision)
            }
        } else if let requested = request.sector {
            sector = requested
        } else {
            throw AppError.badRequest("team_id or sector is required")
        }
        let sectorPool = try await livePool(.sector(sector), on: db)
        if let decision = try await choose(from: sectorPool, strategy: .sector, sector: sector, request, claiming, db) {
            return record(decision)
        }
        let ranking = AgentScorer.rank(sectorPool, requesting: sectorPool.request(request.capabilities),
                                       weights: policy.weights, keep: policy.decisionLogCandidates)
        return record(RoutingDecision(strategy: .none, sector: sector, teamId: request.teamId, ranking: ranking,
                                      chosen: nil, poolSize: sectorPool.candidates.count))
    }

    /// The best eligible agent of the pool, claimed when asked; nil when nobody in the pool can take it.
    private func choose(
        from pool: CandidatePool, strategy: RoutingStrategy, sector: String, _ request: RouteRequest,
        _ claiming: Bool, _ db: any Database
    ) async throws -> RoutingDecision? {
        let capabilityRequest = pool.request(request.capabilities)
        var lostClaims: Set<UUID> = []
        while true {
            let ranking = AgentScorer.rank(pool, requesting: capabilityRequest, weights: policy.weights,
                                           keep: policy.decisionLogCandidates, excluding: lostClaims)
            guard let best = ranking.best else { return nil }
            if !claiming {
                return RoutingDecision(strategy: strategy, sector: sector, teamId: request.teamId, ranking: ranking,
                                       chosen: best, poolSize: pool.candidates.count)
            }
            if try await LoadLedger(clientId: tenant.clientId).claim(best.agentId, on: db) {
                return RoutingDecision(strategy: strategy, sector: sector, teamId: request.teamId, ranking: ranking,
                                       chosen: best, poolSize: pool.candidates.count)
            }
            // Another transaction filled the agent between our read and our claim: try the next one.
            metrics.counter("switchboard_routing_claims_lost_total").increment()
            lostClaims.insert(best.agentId)
        }
    }

    private func record(_ decision: RoutingDecision) -> RoutingDecision {
        metrics.counter("switchboard_routing_decisions_total", [("strategy", decision.strategy.rawValue)]).increment()
        return decision
    }

    // MARK: Pools

    private func livePool(_ key: PoolKey, on db: any Database) async throws -> CandidatePool {
        let scope = self.scope
        let pool = try await pools.pool(key, clientId: tenant.clientId, ttl: .seconds(policy.cacheTTLSeconds)) {
            try await Self.loadPool(key, scope: scope, on: db)
        }
        guard !pool.isEmpty else { return pool }
        return pool.withLiveState(try await liveState(of: key, pool: pool, on: db))
    }

    /// Pools are read with SQL into plain values: a sector can hold 100,000 agents, and hydrating that many
    /// Fluent models cost seconds and hundreds of megabytes (docs/PERFORMANCE.md).
    private static func loadPool(_ key: PoolKey, scope: TenantScope, on db: any Database) async throws -> CandidatePool {
        var query = scope.select(from: SectorAgent.schema, on: db)
            .columns("id", "status", "priority", "capabilities", "max_concurrent", "current_load", "success_rate",
                     "avg_handling_time")
        switch key {
        case .team(let teamId):
            let memberIds = try await scope.select(from: TeamMember.schema, on: db).column("id")
                .where("team_id", .equal, teamId).where("status", .equal, ActiveStatus.active.rawValue).all()
                .map { try $0.decode(column: "id", as: UUID.self) }
            guard !memberIds.isEmpty else { return CandidatePool([]) }
            let agentIds = try await scope.select(from: TeamAgentAssignment.schema, on: db).column("agent_id")
                .where("member_id", .in, memberIds).all()
                .map { try $0.decode(column: "agent_id", as: UUID.self) }
            guard !agentIds.isEmpty else { return CandidatePool([]) }
            query = query.where("id", .in, Array(Set(agentIds)))
        case .sector(let sector):
            query = query.where("sector", .equal, sector).where("status", .equal, ActiveStatus.active.rawValue)
        }
        return CandidatePool(try await query.all().map { row in
            CandidatePool.Entry(
                candidate: RoutingCandidate(
                    id: try row.decode("id"),
                    isActive: try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue,
                    priority: try row.decode("priority"),
                    currentLoad: try row.decode("current_load"),
                    maxConcurrent: try row.decode("max_concurrent"),
                    successRate: try row.decode("success_rate"),
                    avgHandlingTime: try row.decode("avg_handling_time")
                ),
                capabilities: try row.decode("capabilities")
            )
        })
    }

    /// Load, capacity and status as committed now; the cache never decides whether an agent is full.
    private func liveState(of key: PoolKey, pool: CandidatePool, on db: any Database) async throws -> [UUID: LiveAgentState] {
        var query = (db as! any SQLDatabase).select()
            .columns("id", "current_load", "max_concurrent", "status")
            .from(SectorAgent.schema)
            .where("client_id", .equal, tenant.clientId)
        switch key {
        case .team: query = query.where("id", .in, pool.agentIds)
        case .sector(let sector): query = query.where("sector", .equal, sector)
        }
        var states: [UUID: LiveAgentState] = [:]
        for row in try await query.all() {
            let status: String = try row.decode("status")
            states[try row.decode("id")] = LiveAgentState(
                currentLoad: try row.decode("current_load"),
                maxConcurrent: try row.decode("max_concurrent"),
                isActive: status == ActiveStatus.active.rawValue
            )
        }
        return states
    }
}

extension RoutingCandidate {
    init(_ agent: SectorAgent) {
        self.init(
            id: agent.id!, isActive: agent.status == .active, priority: agent.priority,
            currentLoad: agent.currentLoad, maxConcurrent: agent.maxConcurrent, successRate: agent.successRate,
            avgHandlingTime: agent.avgHandlingTime
        )
    }
}
