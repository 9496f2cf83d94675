import FluentKit
import Foundation
import SQLKit
import NIOConcurrencyHelpers
import Vapor

enum PoolKey: Hashable, Sendable {
    case team(UUID)
    case sector(String)
}

/// Where an agent sits in one of the book's pools.
struct PoolPosition: Sendable {
    let key: PoolKey
    let index: Int
}

/// One agent as the load book sees it: whether it can take a call, and where its copies in the pools are.
struct BookAgent: Sendable {
    let sector: String
    var isActive: Bool
    var load: Int
    var maxConcurrent: Int
    var channelLoads: ChannelNumbers = .zero
    var channelCapacity: ChannelNumbers = .unlimited
    /// Teams with an active member this agent is assigned to: their queued calls may go to it.
    var teams: [UUID]
    var positions: [PoolPosition]

    var hasRoom: Bool { isActive && load < maxConcurrent }

    /// Room in the total and in the channel's own limit.
    func hasRoom(for channel: CallChannel) -> Bool { hasRoom && channelLoads[channel] < channelCapacity[channel] }

    /// The channels that still have room (all of them when the total has).
    var channelsWithRoom: [CallChannel] { CallChannel.allCases.filter(hasRoom(for:)) }

    var channelsFull: UInt8 { ChannelNumbers.full(loads: channelLoads, capacity: channelCapacity) }
}

/// A tenant's agent as read from the database to build its book.
struct BookAgentRow: Sendable {
    let id: UUID
    let sector: String
    let isActive: Bool
    let priority: Int
    let capabilities: [String]
    let maxConcurrent: Int
    let load: Int
    let successRate: Double
    let avgHandlingTime: Double
    var channelCapacity: ChannelNumbers = .unlimited
    var channelLoads: ChannelNumbers = .zero
}

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

    /// Pools hold plain copies of each agent's live values, so the scorer reads them without a lookup.
    /// `successHistory` (the agents' completed calls over the learning window) is read only under the learning
    /// strategy: each agent's estimate has a prior centred on its sector's rate over the same calls.
    init(policy: RoutingPolicy, agents rows: [BookAgentRow], teams: [UUID: String],
         assignments: [(agentId: UUID, teamId: UUID)], queuedCalls: Int?,
         successHistory: [UUID: SuccessHistory] = [:], generator: SeededGenerator = SeededGenerator(),
         loadedAt: ContinuousClock.Instant = .now) {
        self.policy = policy
        self.teamSectors = teams
        self.queuedCalls = queuedCalls
        self.generator = generator
        self.loadedAt = loadedAt
        let rowsById = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        sectorPriors = policy.strategy == .learning ? Self.sectorPriors(rows, history: successHistory) : [:]
        let priors = sectorPriors
        func entry(_ row: BookAgentRow) -> CandidatePool.Entry {
            let calls = successHistory[row.id] ?? .none
            let estimate = priors[row.sector].map {
                SuccessEstimate(priorMean: $0, priorCalls: policy.priorCalls, successes: calls.successes, calls: calls.calls)
            }
            return CandidatePool.Entry(
                candidate: RoutingCandidate(id: row.id, isActive: row.isActive, priority: row.priority, currentLoad: row.load,
                                            maxConcurrent: row.maxConcurrent, successRate: row.successRate,
                                            avgHandlingTime: row.avgHandlingTime,
                                            channelsFull: ChannelNumbers.full(loads: row.channelLoads, capacity: row.channelCapacity)),
                capabilities: row.capabilities, estimate: estimate)
        }
        var teamsByAgent: [UUID: [UUID]] = [:]
        var agentsByTeam: [UUID: [UUID]] = [:]
        for assignment in assignments where rowsById[assignment.agentId] != nil && teams[assignment.teamId] != nil {
            if teamsByAgent[assignment.agentId, default: []].contains(assignment.teamId) { continue }
            teamsByAgent[assignment.agentId, default: []].append(assignment.teamId)
            agentsByTeam[assignment.teamId, default: []].append(assignment.agentId)
        }
        for row in rows {
            agents[row.id] = BookAgent(sector: row.sector, isActive: row.isActive, load: row.load,
                                       maxConcurrent: row.maxConcurrent, channelLoads: row.channelLoads,
                                       channelCapacity: row.channelCapacity, teams: teamsByAgent[row.id] ?? [], positions: [])
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
    /// rate under the formula, its posterior under learning.
    mutating func learn(of agentId: UUID, history: SuccessHistory) {
        guard let agent = agents[agentId] else { return }
        let estimate = sectorPriors[agent.sector].map {
            SuccessEstimate(priorMean: $0, priorCalls: policy.priorCalls, successes: history.successes, calls: history.calls)
        }
        for position in agent.positions {
            pools[position.key]?.setSuccess(at: position.index, rate: history.rate, estimate: estimate)
        }
    }

    private mutating func install(_ key: PoolKey, _ entries: [CandidatePool.Entry]) {
        let pool = CandidatePool(entries)
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
            if let decision = choose(.team(teamId), strategy: .team, sector: sector, request, claiming) { return decision }
            if request.widest == .team { return nobody(in: .team(teamId), sector: sector, request) }
        } else if let requested = request.sector {
            sector = requested
        } else {
            throw AppError.badRequest("team_id or sector is required")
        }
        if let decision = choose(.sector(sector), strategy: .sector, sector: sector, request, claiming) { return decision }
        return nobody(in: .sector(sector), sector: sector, request)
    }

    /// No agent is free: the widest pool's ranking is logged all the same.
    private func nobody(in key: PoolKey, sector: String, _ request: RouteRequest) -> RoutingDecision {
        let pool = pools[key] ?? CandidatePool([])
        let ranking = withChannelSlots(AgentScorer.rank(pool, requesting: pool.request(request.capabilities,
                                                                                         required: request.requiredCapabilities),
                                                        weights: policy.weights, keep: policy.decisionLogCandidates,
                                                        channel: request.channel), request.channel)
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
        let ranking = AgentScorer.rank(ranked, requesting: pool.request(request.capabilities, required: request.requiredCapabilities),
                                       weights: policy.weights,
                                       keep: policy.decisionLogCandidates, explored: explored, channel: request.channel)
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

    /// Values as committed in the database (after a batch, a lost claim, or another process's change).
    mutating func setLiveState(_ state: LiveState) {
        guard var agent = agents[state.agentId] else { return }
        agent.load = state.load
        agent.maxConcurrent = state.maxConcurrent
        agent.isActive = state.isActive
        agent.channelLoads = state.channelLoads
        agent.channelCapacity = state.channelCapacity
        install(agent, as: state.agentId)
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

    func capabilities(of agentId: UUID) -> [String] {
        guard let position = agents[agentId]?.positions.first, let pool = pools[position.key] else { return [] }
        return pool.capabilities(at: position.index)
    }
}

/// What a tenant's book is built from: its agents, teams and active assignments, and, for the learning
/// strategy, its agents' completed calls over the learning window.
struct BookCatalogue: Sendable {
    let agents: [BookAgentRow]
    /// Team id → sector.
    let teams: [UUID: String]
    let assignments: [(agentId: UUID, teamId: UUID)]
    let successHistory: [UUID: SuccessHistory]

    static func read(_ clientId: String, withHistory: Bool, on db: any SQLDatabase) async throws -> BookCatalogue {
        let scope = TenantScope(clientId: clientId)
        let agents = try await scope.select(from: SectorAgent.schema, on: db)
            .columns(["id", "sector", "status", "priority", "capabilities", "max_concurrent", "current_load",
                      "success_rate", "avg_handling_time"] + ChannelNumbers.loadColumns + ChannelNumbers.capacityColumns)
            .all()
            .map { row in
                BookAgentRow(
                    id: try row.decode("id"), sector: try row.decode("sector"),
                    isActive: try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue,
                    priority: try row.decode("priority"), capabilities: try row.decode("capabilities"),
                    maxConcurrent: try row.decode("max_concurrent"), load: try row.decode("current_load"),
                    successRate: try row.decode("success_rate"), avgHandlingTime: try row.decode("avg_handling_time"),
                    channelCapacity: try ChannelNumbers(capacityFrom: row), channelLoads: try ChannelNumbers(loadsFrom: row))
            }
        var teams: [UUID: String] = [:]
        for row in try await scope.select(from: Team.schema, on: db).columns("id", "sector").all() {
            teams[try row.decode("id")] = try row.decode("sector")
        }
        let activeMembers = Set(try await scope.select(from: TeamMember.schema, on: db).column("id")
            .where("status", .equal, ActiveStatus.active.rawValue).all()
            .map { try $0.decode(column: "id", as: UUID.self) })
        let assignments = try await scope.select(from: TeamAgentAssignment.schema, on: db)
            .columns("agent_id", "team_id", "member_id").all()
            .compactMap { row -> (agentId: UUID, teamId: UUID)? in
                guard activeMembers.contains(try row.decode(column: "member_id", as: UUID.self)) else { return nil }
                return (try row.decode("agent_id"), try row.decode("team_id"))
            }
        let history = withHistory
            ? try await successHistory(clientId, since: Day(containing: Date()).adding(days: 1 - RoutingPolicy.learningWindowDays), on: db)
            : [:]
        return BookCatalogue(agents: agents, teams: teams, assignments: assignments, successHistory: history)
    }

    /// The agents' completed calls and successes from the daily rows, from `since` to today.
    static func successHistory(_ clientId: String, since: Day, on db: any SQLDatabase) async throws -> [UUID: SuccessHistory] {
        var history: [UUID: SuccessHistory] = [:]
        let rows = try await TenantScope(clientId: clientId).select(from: AgentDailyMetrics.schema, on: db)
            .column("agent_id")
            .column(SQLRaw("CAST(SUM(calls_handled) AS BIGINT)"), as: "calls")
            .column(SQLRaw("CAST(SUM(calls_successful) AS BIGINT)"), as: "successes")
            .where("date", .greaterThanOrEqual, since.description)
            .groupBy("agent_id")
            .all()
        for row in rows {
            history[try row.decode("agent_id")] = SuccessHistory(successes: try row.decode("successes"), calls: try row.decode("calls"))
        }
        return history
    }

}

struct DataVersions: Equatable, Sendable {
    let catalogue: Int
    let live: Int
}

/// Every tenant's `TenantBook`, loaded on first use and kept current by the call writer. The database is the
/// record; this is the index. Any write to agents, teams, members, assignments or settings drops the tenant's
/// book (here and, over PostgreSQL, in every process), and the next decision reloads it; an aggregation updates
/// the agents' 7-day values in place instead (`applyAggregation`).
final class LoadBook: Sendable {
    private struct Slot {
        var book: TenantBook?
        /// Bumped by every change, so that a load racing with a change never installs a stale book.
        var generation = 0
        var hits = 0
        var misses = 0
        /// Bumped when the tenant's catalogue (agents, teams, members, assignments, settings, metrics) changes.
        var catalogueVersion = 0
        /// Bumped when committed loads change (this process's batches, or another's notifications).
        var liveVersion = 0
    }

    private let slots = NIOLockedValueBox<[String: Slot]>([:])
    /// Names this book in the loads it announces to other processes, so it can skip its own.
    let origin = UUID().uuidString
    /// Tells other processes (PostgreSQL NOTIFY); nil on SQLite, where one process is assumed.
    private let broadcast = NIOLockedValueBox<(@Sendable (String) async -> Void)?>(nil)

    func broadcastInvalidations(with broadcast: @escaping @Sendable (String) async -> Void) {
        self.broadcast.withLockedValue { $0 = broadcast }
    }

    /// Runs `body` on the tenant's book, loading it first if needed. `body` runs under the book's lock: keep it
    /// to in-memory work. `reloadingIfOlderThanTTL` also reloads a book older than the tenant's
    /// `routing.cache_ttl_seconds` (a bound on drift from changes made behind the service's back); the call writer
    /// asks for it once per tenant at the start of a batch, never in the middle of one, where a reload would
    /// forget the claims the batch has booked so far.
    func withBook<T>(
        _ clientId: String, store: Store, on db: (any SQLDatabase)? = nil, reloadingIfOlderThanTTL: Bool = false,
        _ body: (inout TenantBook) throws -> T
    ) async throws -> T {
        var mayReload = reloadingIfOlderThanTTL
        while true {
            let attempt: Result<T, any Error>? = slots.withLockedValue { slots in
                guard let book = slots[clientId]?.book else { return nil }
                if mayReload && ContinuousClock.now - book.loadedAt >= .seconds(book.policy.cacheTTLSeconds) { return nil }
                slots[clientId]!.hits += 1
                slots[clientId]!.generation += 1
                return Result { try body(&slots[clientId]!.book!) }
            }
            if let attempt { return try attempt.get() }
            try await load(clientId, store: store, on: db)
            mayReload = false  // a book just read is used even when the TTL is zero
        }
    }

    /// The tenant's book as it is now, without loading it (for tests and diagnostics).
    func peek(_ clientId: String) -> TenantBook? {
        slots.withLockedValue { $0[clientId]?.book }
    }

    /// Reads the tenant's book from the database and installs it unless something changed meanwhile.
    private func load(_ clientId: String, store: Store, on db: (any SQLDatabase)?) async throws {
        let generation = slots.withLockedValue { slots in
            slots[clientId, default: Slot()].misses += 1
            return slots[clientId]!.generation
        }
        // On SQLite the read takes the write gate (unless the caller holds it, passing its transaction), so no
        // batch is half-way between booking its claims and committing them: the book is exact there.
        let book: TenantBook
        if let db {
            book = try await read(clientId, store: store, on: db)
        } else if store.isPostgres {
            book = try await read(clientId, store: store, on: store.sql)
        } else {
            book = try await store.write { db in try await self.read(clientId, store: store, on: db as! any SQLDatabase) }
        }
        slots.withLockedValue { slots in
            if slots[clientId]?.generation == generation {
                slots[clientId]!.book = book
            }
        }
    }

    /// Repeatable per tenant once seeded (tests); from the system's generator otherwise.
    private let seed = NIOLockedValueBox<UInt64?>(nil)

    func seedRandomness(_ value: UInt64?) {
        seed.withLockedValue { $0 = value }
    }

    private func generator(for clientId: String) -> SeededGenerator {
        seed.withLockedValue { $0 }.map { SeededGenerator(seed: SeededGenerator.seed($0, for: clientId)) } ?? SeededGenerator()
    }

    func read(_ clientId: String, store: Store, on db: any SQLDatabase) async throws -> TenantBook {
        let policy = try await RoutingPolicy.load(for: clientId, on: db)
        let catalogue = try await BookCatalogue.read(clientId, withHistory: policy.strategy == .learning, on: db)
        var queued: Int?
        if !store.isPostgres {
            queued = try await TenantScope(clientId: clientId).queuedCallCount(on: db)
        }
        return TenantBook(policy: policy, agents: catalogue.agents, teams: catalogue.teams, assignments: catalogue.assignments,
                          queuedCalls: queued, successHistory: catalogue.successHistory, generator: generator(for: clientId))
    }
    /// Applies values committed elsewhere, if the tenant's book is loaded; unknown agents are ignored.
    func applyCommitted(_ clientId: String, _ states: [LiveState]) {
        slots.withLockedValue { slots in
            slots[clientId, default: Slot()].liveVersion += 1
            guard slots[clientId]?.book != nil else { return }
            slots[clientId]!.generation += 1
            for state in states { slots[clientId]!.book!.setLiveState(state) }
        }
    }

    /// Gives back (or re-books) what a rolled-back batch booked, if the book is still the one it booked in.
    func adjust(_ clientId: String, _ agentId: UUID, by delta: Int, channel: CallChannel?) {
        slots.withLockedValue { slots in
            guard slots[clientId]?.book != nil else { return }
            slots[clientId]!.generation += 1
            slots[clientId]!.book!.adjustLoad(of: agentId, by: delta, channel: channel)
        }
    }

    func policy(of clientId: String) -> RoutingPolicy? {
        slots.withLockedValue { $0[clientId]?.book?.policy }
    }

    /// After an aggregation that wrote new daily rows for the tenant: the agents' new 7-day values go into the
    /// loaded book in place (reloading a 100,000-agent book takes most of a second, and aggregation runs every
    /// minute), and the tenant's read models are marked stale (team pages show the daily rows). Other processes
    /// over PostgreSQL are told to drop their books, as for any catalogue change.
    func applyAggregation(_ clientId: String, history: [(agentId: UUID, successRate: Double, avgHandlingTime: Double)]) async {
        slots.withLockedValue { slots in
            slots[clientId, default: Slot()].catalogueVersion += 1
            guard let book = slots[clientId]?.book else { return }
            slots[clientId]!.generation += 1
            // Learning estimates come from 30 days of calls and the sector's rate: the next decision reloads them.
            guard book.policy.strategy == .formula else {
                slots[clientId]!.book = nil
                return
            }
            for value in history {
                slots[clientId]!.book!.setHistory(of: value.agentId, successRate: value.successRate,
                                                 avgHandlingTime: value.avgHandlingTime)
            }
        }
        await broadcast.withLockedValue { $0 }?(clientId)
    }

    /// Drops the tenant's book here and in every other process that listens.
    func invalidate(_ clientId: String) async {
        invalidateHere(clientId)
        await broadcast.withLockedValue { $0 }?(clientId)
    }

    func invalidate(_ clientIds: some Sequence<String> & Sendable) async {
        for clientId in clientIds { await invalidate(clientId) }
    }

    /// For invalidations that arrive from other processes, and after a failed write.
    func invalidateHere(_ clientId: String) {
        slots.withLockedValue { slots in
            slots[clientId, default: Slot()].book = nil
            slots[clientId]!.generation += 1
            slots[clientId]!.catalogueVersion += 1
        }
    }

    /// For read models that depend on the tenant's data: equal versions, unchanged data.
    func versions(of clientId: String) -> DataVersions {
        slots.withLockedValue { slots in
            let slot = slots[clientId] ?? Slot()
            return DataVersions(catalogue: slot.catalogueVersion, live: slot.liveVersion)
        }
    }

    /// After a lost connection to other processes: their changes meanwhile are unknown.
    func invalidateEverythingHere() {
        slots.withLockedValue { slots in
            for clientId in slots.keys {
                slots[clientId]!.book = nil
                slots[clientId]!.generation += 1
                slots[clientId]!.catalogueVersion += 1
                slots[clientId]!.liveVersion += 1
            }
        }
    }

    struct Snapshot: Content {
        let cachedPools: Int
        let oldestPoolAgeSeconds: Double?
        let cacheHits: Int
        let cacheMisses: Int
    }

    /// The tenant's own figures only.
    func snapshot(clientId: String) -> Snapshot {
        slots.withLockedValue { slots in
            let slot = slots[clientId] ?? Slot()
            let age = slot.book.map { ContinuousClock.now - $0.loadedAt }
            return Snapshot(
                cachedPools: slot.book?.poolCount ?? 0,
                oldestPoolAgeSeconds: age.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 },
                cacheHits: slot.hits,
                cacheMisses: slot.misses
            )
        }
    }
}

extension Application {
    private struct LoadBookKey: StorageKey { typealias Value = LoadBook }

    var loadBook: LoadBook {
        if let book = storage[LoadBookKey.self] { return book }
        let book = LoadBook()
        storage[LoadBookKey.self] = book
        return book
    }
}
