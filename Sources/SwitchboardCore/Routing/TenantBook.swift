import Foundation

/// One tenant's routing state in memory: every pool a call can be routed to (each team's agents, each sector's
/// active agents) with live loads, the tenant's policy, and, where this process is the only writer, the depth
/// of its queue. Pure: it decides and books claims; the database write is `CallWriter`'s.
struct TenantBook: Sendable {
    let policy: RoutingPolicy
    let loadedAt: ContinuousClock.Instant
    private(set) var agents: [UUID: BookAgent] = [:]
    private(set) var pools: [PoolKey: CandidatePool] = [:]
    private let teamSectors: [UUID: String]
    /// Exact on SQLite (one process writes); nil on PostgreSQL, where other processes queue calls too.
    var queuedCalls: Int?
    /// Decides which learning decisions explore; seeded in tests so that decisions repeat.
    private var generator: SeededGenerator
    /// Under the learning strategy, each sector's prior mean; empty under the formula.
    private let sectorPriors: [String: Double]
    /// Under the learning strategy, each agent's calls over the learning window as this book knows them: the stored
    /// ones when it was loaded, then every outcome since (`learnOutcome`). Empty under the formula.
    private var learnedHistory: [UUID: SuccessHistory]
    /// The same per capability the calls asked for (issue 25, §3). Empty under the formula.
    private var learnedCapabilities: [UUID: [String: SuccessHistory]]

    /// Pools hold plain copies of each agent's live values, so the scorer reads them without a lookup.
    /// `successHistory` (the agents' completed calls over the learning window) is read only under the learning
    /// strategy: each agent's estimate has a prior centred on its sector's rate over the same calls, and its
    /// estimate per capability (from `capabilityHistory`) a prior centred on its own.
    init(policy: RoutingPolicy, agents rows: [BookAgentRow], teams: [UUID: String],
         assignments: [(agentId: UUID, teamId: UUID)], queuedCalls: Int?,
         successHistory: [UUID: SuccessHistory] = [:], capabilityHistory: [UUID: [String: SuccessHistory]] = [:],
         generator: SeededGenerator = SeededGenerator(),
         loadedAt: ContinuousClock.Instant = .now) {
        self.policy = policy
        self.teamSectors = teams
        self.queuedCalls = queuedCalls
        self.generator = generator
        self.loadedAt = loadedAt
        let rowsById = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        sectorPriors = policy.strategy == .learning ? Self.sectorPriors(rows, history: successHistory) : [:]
        learnedHistory = policy.strategy == .learning ? successHistory : [:]
        learnedCapabilities = policy.strategy == .learning ? capabilityHistory : [:]
        let priors = sectorPriors
        func entry(_ row: BookAgentRow) -> CandidatePool.Entry {
            let calls = successHistory[row.id] ?? .none
            let estimate = priors[row.sector].map {
                SuccessEstimate(priorMean: $0, priorCalls: policy.priorCalls, successes: calls.successes, calls: calls.calls)
            }
            let capabilityEstimates = estimate.map {
                CapabilityLearning.estimates(capabilities: row.capabilities, overall: $0.mean, priorCalls: policy.priorCalls,
                                             history: capabilityHistory[row.id] ?? [:])
            }
            return CandidatePool.Entry(
                candidate: RoutingCandidate(id: row.id, isActive: row.isActive && row.isAvailable, priority: row.priority,
                                            currentLoad: row.load,
                                            maxConcurrent: row.maxConcurrent, successRate: row.successRate,
                                            avgHandlingTime: row.avgHandlingTime,
                                            channelsFull: ChannelNumbers.full(loads: row.channelLoads, capacity: row.channelCapacity),
                                            idleSince: row.idleSince.timeIntervalSince1970),
                capabilities: row.capabilities, levels: row.capabilityLevels, estimate: estimate,
                capabilityEstimates: capabilityEstimates)
        }
        var teamsByAgent: [UUID: [UUID]] = [:]
        var agentsByTeam: [UUID: [UUID]] = [:]
        for assignment in assignments where rowsById[assignment.agentId] != nil && teams[assignment.teamId] != nil {
            if teamsByAgent[assignment.agentId, default: []].contains(assignment.teamId) { continue }
            teamsByAgent[assignment.agentId, default: []].append(assignment.teamId)
            agentsByTeam[assignment.teamId, default: []].append(assignment.agentId)
        }
        for row in rows {
            agents[row.id] = BookAgent(sector: row.sector, isActive: row.isActive && row.isAvailable, load: row.load,
                                       maxConcurrent: row.maxConcurrent, channelLoads: row.channelLoads,
                                       channelCapacity: row.channelCapacity, teams: teamsByAgent[row.id] ?? [], positions: [],
                                       wrapUpSeconds: row.wrapUpSeconds)
        }
        var bySector: [String: [BookAgentRow]] = [:]
        for row in rows where row.isActive { bySector[row.sector, default: []].append(row) }
        for (sector, members) in bySector { install(.sector(sector), members.map(entry)) }
        for (teamId, agentIds) in agentsByTeam { install(.team(teamId), agentIds.compactMap { rowsById[$0] }.map(entry)) }
    }

    /// Each sector's prior mean: its success rate over the window (all its agents' calls together), or, for a
    /// sector without calls, the mean of its agents' recorded success rates.
    static func sectorPriors(_ rows: [BookAgentRow], history: [UUID: SuccessHistory]) -> [String: Double] {
        var sectorCalls: [String: SuccessHistory] = [:]
        var sectorRates: [String: (sum: Double, count: Int)] = [:]
        for row in rows {
            let calls = history[row.id] ?? .none
            sectorCalls[row.sector, default: .none].successes += calls.successes
            sectorCalls[row.sector, default: .none].calls += calls.calls
            sectorRates[row.sector, default: (0, 0)].sum += row.successRate
            sectorRates[row.sector, default: (0, 0)].count += 1
        }
        return sectorRates.reduce(into: [:]) { priors, entry in
            priors[entry.key] = sectorCalls[entry.key]?.rate ?? entry.value.sum / Double(max(entry.value.count, 1))
        }
    }

    /// The agent's success term after more of its calls ended (the simulator's online learning): its observed
    /// rate under the formula, its posterior under learning, with its estimate per capability from
    /// `capabilityHistory` (the calls that asked for each).
    mutating func learn(of agentId: UUID, history: SuccessHistory, capabilityHistory: [String: SuccessHistory] = [:]) {
        guard let agent = agents[agentId], let first = agent.positions.first else { return }
        let estimate = sectorPriors[agent.sector].map {
            SuccessEstimate(priorMean: $0, priorCalls: policy.priorCalls, successes: history.successes, calls: history.calls)
        }
        let capabilityEstimates = estimate.map {
            CapabilityLearning.estimates(capabilities: pools[first.key]!.skills(at: first.index).capabilities, overall: $0.mean,
                                         priorCalls: policy.priorCalls, history: capabilityHistory)
        }
        for position in agent.positions {
            pools[position.key]?.setSuccess(at: position.index, rate: history.rate, estimate: estimate,
                                            capabilityEstimates: capabilityEstimates)
        }
    }

    /// Under the learning strategy, a completed call's outcome moves its agent's estimate, and its estimate for each
    /// capability the call asked for (`asked`), at once, not only after the next aggregation (issue 25, §3 and §4).
    /// Under the formula the 7-day rate stays the aggregator's.
    mutating func learnOutcome(of agentId: UUID, successful: Bool, asked: [String] = []) {
        guard policy.strategy == .learning, agents[agentId] != nil else { return }
        let history = (learnedHistory[agentId] ?? .none) + SuccessHistory(successes: successful ? 1 : 0, calls: 1)
        learnedHistory[agentId] = history
        CapabilityLearning.record(successful, asked: asked, in: &learnedCapabilities[agentId, default: [:]])
        learn(of: agentId, history: history, capabilityHistory: learnedCapabilities[agentId]!)
    }

    private mutating func install(_ key: PoolKey, _ entries: [CandidatePool.Entry]) {
        let pool = CandidatePool(entries, optimism: policy.strategy == .learning ? policy.optimism : 0)
        for (index, candidate) in pool.candidates.enumerated() {
            agents[candidate.id]?.positions.append(PoolPosition(key: key, index: index))
        }
        pools[key] = pool
    }

    enum Miss: Error {
        /// The team is not the tenant's (or does not exist): the caller answers 404 the usual way.
        case unknownTeam(UUID)
    }

    /// The team pool first, then (unless the call may not leave its team yet) the sector pool; claims the chosen
    /// agent here when asked. The ranking shows loads as they were before this claim, as the decision log always has.
    mutating func decide(_ request: RouteRequest, claiming: Bool) throws -> RoutingDecision {
        let sector: String
        if let teamId = request.teamId {
            guard let teamSector = teamSectors[teamId] else { throw Miss.unknownTeam(teamId) }
            sector = teamSector
        } else if let requested = request.sector {
            sector = requested
        } else {
            throw AppError.badRequest("team_id or sector is required")
        }
        if let preferred = request.preferred, let decision = prefer(preferred, sector: sector, request, claiming) {
            return decision
        }
        if let teamId = request.teamId {
            if let decision = choose(.team(teamId), strategy: .team, sector: sector, request, claiming) { return decision }
            if request.widest == .team { return nobody(in: .team(teamId), sector: sector, request) }
        }
        if let decision = choose(.sector(sector), strategy: .sector, sector: sector, request, claiming) { return decision }
        return nobody(in: .sector(sector), sector: sector, request)
    }

    /// The preferred agent's decision: it is chosen when it can take the call now, whatever its team; when it
    /// is busy (no room, or in after-call work) and the call may wait for it, nobody is (the call waits for it).
    /// Nil when it cannot serve the call at all (another sector, a required capability missing, away, inactive, or
    /// it declined the call): the call routes as usual.
    private mutating func prefer(_ preferred: PreferredAgent, sector: String, _ request: RouteRequest,
                                 _ claiming: Bool) -> RoutingDecision? {
        guard !request.excluding.contains(preferred.agentId), let agent = agents[preferred.agentId],
              agent.sector == sector, agent.isActive, let position = agent.positions.first, let pool = pools[position.key]
        else { return nil }
        guard pool.skills(at: position.index).meets(request.requirement) else { return nil }
        let hasRoom = request.channel.map(agent.hasRoom(for:)) ?? agent.hasRoom
        guard hasRoom || preferred.waits else { return nil }
        let scored = pool.explain(at: position.index, requested: request.capabilities, weights: policy.weights)
        let ranking = withChannelSlots(Ranking(top: [scored], eligibleCount: hasRoom ? 1 : 0), request.channel)
        guard hasRoom else {
            return RoutingDecision(strategy: .none, sector: sector, teamId: request.teamId, ranking: ranking, chosen: nil,
                                   poolSize: 1, waitsForPreferred: true)
        }
        if claiming { adjustLoad(of: preferred.agentId, by: 1, channel: request.channel) }
        return RoutingDecision(strategy: .preferred, sector: sector, teamId: request.teamId, ranking: ranking,
                               chosen: ranking.best, poolSize: 1)
    }

    /// No agent is free: the widest pool's ranking is logged all the same.
    private func nobody(in key: PoolKey, sector: String, _ request: RouteRequest) -> RoutingDecision {
        let pool = pools[key] ?? CandidatePool([])
        let ranking = withChannelSlots(AgentScorer.rank(pool, requesting: pool.request(request.capabilities,
                                                                                         required: request.requirement),
                                                        weights: policy.weights, keep: policy.decisionLogCandidates,
                                                        excluding: request.excluding, channel: request.channel), request.channel)
        return RoutingDecision(strategy: .none, sector: sector, teamId: request.teamId, ranking: ranking, chosen: nil,
                               poolSize: pool.candidates.count)
    }

    private mutating func choose(
        _ key: PoolKey, strategy: RoutingStrategy, sector: String, _ request: RouteRequest, _ claiming: Bool
    ) -> RoutingDecision? {
        guard let pool = pools[key], !pool.isEmpty else { return nil }
        var ranked = pool
        var explored = false
        if pool.estimates != nil, policy.exploration > 0, Double.random(in: 0..<1, using: &generator) < policy.exploration {
            explored = true
            ranked = pool.exploring(floor: policy.explorationFloor, using: &generator)
        }
        let ranking = AgentScorer.rank(ranked, requesting: pool.request(request.capabilities, required: request.requirement),
                                       weights: policy.weights,
                                       keep: policy.decisionLogCandidates, excluding: request.excluding, explored: explored,
                                       channel: request.channel)
        guard ranking.best != nil else { return nil }
        let shown = withChannelSlots(ranking, request.channel)
        if claiming { adjustLoad(of: shown.best!.agentId, by: 1, channel: request.channel) }
        return RoutingDecision(strategy: strategy, sector: sector, teamId: request.teamId, ranking: shown,
                               chosen: shown.best, poolSize: pool.candidates.count)
    }

    /// The candidates' slots of the call's channel, as they were before this decision's claim.
    private func withChannelSlots(_ ranking: Ranking, _ channel: CallChannel?) -> Ranking {
        guard let channel else { return ranking }
        return Ranking(top: ranking.top.map { candidate in
            var shown = candidate
            if let agent = agents[candidate.agentId] {
                let limit = agent.channelCapacity[channel]
                shown.channelSlots = ChannelSlot(channel: channel, load: agent.channelLoads[channel], capacity: limit == .max ? nil : limit)
            }
            return shown
        }, eligibleCount: ranking.eligibleCount)
    }

    func agent(_ id: UUID) -> BookAgent? { agents[id] }

    /// Books a claim (+1) or a release (-1) of a call of the channel; never below zero.
    mutating func adjustLoad(of agentId: UUID, by delta: Int, channel: CallChannel?) {
        guard var agent = agents[agentId] else { return }
        agent.load = max(0, agent.load + delta)
        if let channel { agent.channelLoads[channel] = max(0, agent.channelLoads[channel] + delta) }
        install(agent, as: agentId)
    }

    /// Whether the agent may be offered calls (active and available), before the batch that changes it commits.
    mutating func setRoutable(_ agentId: UUID, _ routable: Bool) {
        guard var agent = agents[agentId] else { return }
        agent.isActive = routable
        install(agent, as: agentId)
    }

    /// Values as committed in the database (after a batch, a lost claim, or another process's change).
    mutating func setLiveState(_ state: LiveState) {
        guard var agent = agents[state.agentId] else { return }
        agent.load = state.load
        agent.maxConcurrent = state.maxConcurrent
        agent.isActive = state.isActive
        agent.channelLoads = state.channelLoads
        agent.channelCapacity = state.channelCapacity
        install(agent, as: state.agentId)
        if let idleSince = state.idleSince { setIdleSince(of: state.agentId, idleSince) }
    }

    /// The agent's last call or after-call work ended then: among equal scores, the agent idle longest goes first.
    mutating func setIdleSince(of agentId: UUID, _ date: Date) {
        guard let agent = agents[agentId] else { return }
        for position in agent.positions { pools[position.key]?.setIdleSince(at: position.index, date.timeIntervalSince1970) }
    }

    private mutating func install(_ agent: BookAgent, as agentId: UUID) {
        let full = agent.channelsFull
        for position in agent.positions {
            pools[position.key]?.setLiveState(at: position.index, load: agent.load, maxConcurrent: agent.maxConcurrent,
                                              isActive: agent.isActive, channelsFull: full)
        }
        agents[agentId] = agent
    }

    /// The agent's 7-day values after an aggregation, in every pool it sits in.
    mutating func setHistory(of agentId: UUID, successRate: Double, avgHandlingTime: Double) {
        guard let agent = agents[agentId] else { return }
        for position in agent.positions {
            pools[position.key]?.setHistory(at: position.index, successRate: successRate, avgHandlingTime: avgHandlingTime)
        }
    }

    /// Whether a queued call of this sector or team may go to the agent.
    func agent(_ agentId: UUID, serves sector: String, team teamId: UUID?) -> Bool {
        guard let agent = agents[agentId] else { return false }
        return agent.sector == sector || teamId.map(agent.teams.contains) == true
    }

    /// The agents a request could be routed to, for refreshing their live values before deciding to queue.
    func agentIds(for request: RouteRequest) -> [UUID] {
        var ids: [UUID] = []
        if let teamId = request.teamId, let pool = pools[.team(teamId)] { ids += pool.agentIds }
        let sector = request.teamId.flatMap { teamSectors[$0] } ?? request.sector
        if let sector, let pool = pools[.sector(sector)] { ids += pool.agentIds }
        return ids
    }

    var poolCount: Int { pools.count }

    /// The agent's values as the scorer sees them (from any pool it sits in).
    func candidate(_ agentId: UUID) -> RoutingCandidate? {
        guard let position = agents[agentId]?.positions.first, let pool = pools[position.key] else { return nil }
        return pool.candidates[position.index]
    }

    /// `CandidatePool.creditedSuccess` of the agent (from any pool it sits in).
    func creditedSuccess(_ agentId: UUID) -> Double? {
        guard let position = agents[agentId]?.positions.first, let pool = pools[position.key] else { return nil }
        return pool.creditedSuccess(at: position.index)
    }

    /// The agent scored for a call requesting these capabilities, with its breakdown (a hand-off's decision).
    func explain(_ agentId: UUID, requested: [String]) -> ScoredCandidate? {
        guard let position = agents[agentId]?.positions.first, let pool = pools[position.key] else { return nil }
        return pool.explain(at: position.index, requested: requested, weights: policy.weights)
    }

    /// The slots a second freed by the agents who may take a waiting call of the sector that needs `required`
    /// (its sector's routable agents who meet it; a team's agents are agents of its sector).
    func slotsFreedPerSecond(sector: String, required: SkillRequirement) -> Double {
        pools[.sector(sector)]?.slotsFreedPerSecond(required: required) ?? 0
    }

    /// A waiting call's estimated wait at `place` (`WaitEstimate`): its requirements narrow the agents as its
    /// wait's `routing.relaxation` step holds them. Nil without a place, or when nobody who may take it is routable.
    func estimatedWait(place: Int?, of call: QueueOrder.Entry, teamId: UUID?, required: SkillRequirement, now: Date) -> Int? {
        guard let place else { return nil }
        let waited = max(0, now.timeIntervalSince(call.createdAt))
        let stage = policy.relaxation.stage(waited: waited, hasTeam: teamId != nil)
        return WaitEstimate.seconds(place: place, slotsFreedPerSecond: slotsFreedPerSecond(sector: call.sector, required: required.at(stage)))
    }

    func skills(of agentId: UUID) -> AgentSkills {
        guard let position = agents[agentId]?.positions.first, let pool = pools[position.key] else { return .none }
        return pool.skills(at: position.index)
    }
}
