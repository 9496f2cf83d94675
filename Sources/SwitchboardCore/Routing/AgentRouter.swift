import FluentKit
import Foundation
import SQLKit

struct RouteRequest: Sendable {
    var teamId: UUID?
    var sector: String?
    var capabilities: [String]
    /// An agent lacking any of these is never chosen.
    var requiredCapabilities: [String] = []
    /// Minimum levels (1–5) in some capabilities, each required as well: an agent below one is never chosen.
    var requiredLevels: [String: Int] = [:]
    /// The call's channel: an agent whose own limit for it is reached is not free for it. Nil: any channel.
    var channel: CallChannel? = nil
    /// How far a call of a team may go: its team only, or its sector after its team (`routing.relaxation`).
    var widest: Relaxation.Pool = .sector
    /// Agents that rejected or missed an offer of this call: never chosen for it.
    var excluding: Set<UUID> = []
    /// The agent the call asks for (`preferred_agent_id`, or a sticky customer's last agent): chosen when it can
    /// take the call; when it is busy and `waits`, the call waits for it (nobody else is chosen).
    var preferred: PreferredAgent? = nil
}

extension RouteRequest {
    var requirement: SkillRequirement { SkillRequirement(capabilities: requiredCapabilities, minimums: requiredLevels) }

    /// The request as a call that waited until `stage` of `routing.relaxation` asks: in the pools it reached, with
    /// the requirements it still has.
    mutating func relax(to stage: Relaxation.Stage) {
        widest = stage.pool
        guard !requiredCapabilities.isEmpty || !requiredLevels.isEmpty else { return }
        let relaxed = requirement.at(stage)
        requiredCapabilities = relaxed.capabilities.sorted()
        requiredLevels = relaxed.minimums
    }
}

struct PreferredAgent: Sendable, Equatable {
    let agentId: UUID
    /// Whether a busy preferred agent keeps the call waiting for it (its window is open).
    let waits: Bool
}

enum RoutingStrategy: String, Codable, Sendable, CaseIterable {
    case team, sector, none
    /// A queued call handed to an agent that freed up.
    case queue
    /// The agent the call named, or its customer's last agent (`routing.sticky_customers`).
    case preferred
}

struct RoutingDecision: Sendable {
    let strategy: RoutingStrategy
    let sector: String
    let teamId: UUID?
    let ranking: Ranking
    /// The agent routed to (and, for a claiming route, whose capacity was claimed).
    let chosen: ScoredCandidate?
    let poolSize: Int
    /// Nobody chosen because the call waits for its busy preferred agent.
    var waitsForPreferred = false
}

/// Recommends the agent for a request from the tenant's load book: the team pool first, then the sector pool,
/// each ranked by `AgentScorer` with live loads. Claims happen only in `CallWriter`.
struct AgentRouter: Sendable {
    let tenant: Tenant
    let book: LoadBook
    let store: Store
    let metrics: SwitchboardMetrics

    /// A recommendation only: nothing is claimed or written.
    func recommend(_ request: RouteRequest) async throws -> RoutingDecision {
        let start = ContinuousClock.now
        defer { metrics.recordRoutingDecision(since: start) }
        var reloaded = false
        while true {
            do {
                let decision = try await book.withBook(tenant.clientId, store: store, reloadingIfOlderThanTTL: true) { book in
                    // As a call without a channel would be: of the tenant's default channel.
                    var request = request
                    request.channel = request.channel ?? book.policy.defaultChannel
                    return try book.decide(request, claiming: false)
                }
                metrics.counter("switchboard_routing_decisions_total", [("strategy", decision.strategy.rawValue)]).increment()
                return decision
            } catch TenantBook.Miss.unknownTeam(let teamId) {
                // Not the tenant's team (the usual 404, with cross-tenant probes marked), or newer than the book.
                _ = try await tenant.scope.find(Team.self, teamId, on: store.db)
                guard !reloaded else { throw AppError.notFound(Team.entityName) }
                reloaded = true
                book.invalidateHere(tenant.clientId)
            }
        }
    }
}

extension RoutingCandidate {
    init(_ agent: SectorAgent) {
        self.init(
            id: agent.id!, isActive: agent.status == .active && agent.presence == .available, priority: agent.priority,
            currentLoad: agent.currentLoad, maxConcurrent: agent.maxConcurrent, successRate: agent.successRate,
            avgHandlingTime: agent.avgHandlingTime,
            channelsFull: ChannelNumbers.full(loads: agent.channelLoads, capacity: ChannelNumbers(capacity: agent.channelCapacity))
        )
    }
}
