import Foundation

/// A discrete-event replay of calls against an agent catalogue under a routing policy: the same `TenantBook`
/// that routes live calls decides each arrival (team pool, then sector pool), a call nobody can take waits in
/// the queue, and a freed agent takes the oldest waiting call it serves, as `QueueAssigner` does. Every agent
/// starts free. Pure and deterministic: the same input gives the same report.
enum RoutingSimulation {
    struct Call: Sendable {
        /// Seconds from the start of the replayed range.
        let arrival: Double
        let teamId: UUID?
        let sector: String
        let capabilities: [String]
        let handlingSeconds: Double
        /// Held against the agent's limit for the channel, if it has one.
        var channel: CallChannel? = nil
        /// Only agents with all of these may take the call.
        var requiredCapabilities: [String] = []
    }

    typealias Catalogue = BookCatalogue

    /// Whether a call succeeded with the agent it went to, and what the router learns from it: for benchmarks on
    /// synthetic populations whose true rates are known (`learningEvery` outcomes at a time, as the aggregator
    /// feeds the live router a minute's calls at once). Replays of recorded calls learn nothing.
    typealias Outcome = @Sendable (_ call: Int, _ agentId: UUID, _ generator: inout SeededGenerator) -> Bool

    struct Report: Sendable, Equatable {
        var offered = 0
        var answered = 0
        /// Answered calls by how they reached their agent: `team` and `sector` at once, `queue` after waiting.
        var byStep: [RoutingStrategy: Int] = [:]
        /// Waited past `routing.max_wait_seconds` (when set).
        var abandoned = 0
        /// Refused at once (`routing.overflow` = `reject`).
        var rejected = 0
        /// Still waiting when every agent had finished: nobody could ever take them.
        var unanswered = 0
        /// Waits of answered calls, in seconds (nearest-rank percentiles).
        var waitP50 = 0.0
        var waitP95 = 0.0
        var waitMax = 0.0
        /// Busy time over capacity and the range's length, for each agent that could take a replayed call.
        var utilisation: [UUID: Double] = [:]
        var callsByAgent: [UUID: Int] = [:]
        var utilisationMean = 0.0
        var utilisationGini = 0.0
        /// The mean, over answered calls, of the success rate routing credited to the agent chosen (the agent's
        /// rate under the formula, its estimate under learning).
        var expectedSuccessRate: Double?
        /// Only with an `Outcome`: the share of answered calls that succeeded.
        var realisedSuccessRate: Double?
    }

    static func run(
        _ calls: [Call], catalogue: Catalogue, policy: RoutingPolicy, horizonSeconds: Double, seed: UInt64 = 0,
        outcome: Outcome? = nil, learningEvery: Int = 1
    ) -> Report {
        var policy = policy
        policy.decisionLogCandidates = 1  // only the chosen agent's breakdown is needed
        let freeAgents = catalogue.agents.map { row in
            BookAgentRow(id: row.id, sector: row.sector, isActive: row.isActive, priority: row.priority,
                         capabilities: row.capabilities, maxConcurrent: row.maxConcurrent, load: 0,
                         successRate: row.successRate, avgHandlingTime: row.avgHandlingTime, channelCapacity: row.channelCapacity)
        }
        var generator = SeededGenerator(seed: seed)
        var book = TenantBook(policy: policy, agents: freeAgents, teams: catalogue.teams, assignments: catalogue.assignments,
                              queuedCalls: nil, successHistory: catalogue.successHistory,
                              generator: SeededGenerator(seed: SeededGenerator.seed(seed, for: "routing")))
        var learned = catalogue.successHistory
        var unlearned: Set<UUID> = [], outcomesSinceLearning = 0
        var queue = WaitingCalls(catalogue: catalogue)
        var departures = DepartureHeap()
        var report = Report()
        var waits: [Double] = []
        var busy: [UUID: Double] = [:]
        var credited = 0.0, succeeded = 0

        let order = calls.indices.sorted { calls[$0].arrival != calls[$1].arrival ? calls[$0].arrival < calls[$1].arrival : $0 < $1 }
        report.offered = calls.count

        func start(_ index: Int, with agentId: UUID, at time: Double, step: RoutingStrategy) {
            let call = calls[index]
            waits.append(time - call.arrival)
            report.answered += 1
            report.byStep[step, default: 0] += 1
            report.callsByAgent[agentId, default: 0] += 1
            credited += book.candidate(agentId)?.successRate ?? 0
            let end = time + max(call.handlingSeconds, 0)
            busy[agentId, default: 0] += max(0, min(end, horizonSeconds) - min(time, horizonSeconds))
            departures.push(Departure(time: end, call: index, agentId: agentId, channel: call.channel))
        }

        func finish(_ departure: Departure) {
            book.adjustLoad(of: departure.agentId, by: -1, channel: departure.channel)
            if let outcome {
                let success = outcome(departure.call, departure.agentId, &generator)
                if success { succeeded += 1 }
                var history = learned[departure.agentId] ?? .none
                history.calls += 1
                history.successes += success ? 1 : 0
                learned[departure.agentId] = history
                unlearned.insert(departure.agentId)
                outcomesSinceLearning += 1
                // The router learns in batches, as it does live from the aggregator's runs.
                if outcomesSinceLearning >= learningEvery {
                    for agentId in unlearned { book.learn(of: agentId, history: learned[agentId]!) }
                    unlearned.removeAll(keepingCapacity: true)
                    outcomesSinceLearning = 0
                }
            }
            // The freed agent takes the oldest calls it serves, as long as it has room.
            while let agent = book.agent(departure.agentId), agent.hasRoom,
                  let waiting = queue.oldest(servedBy: departure.agentId, agent, at: departure.time, abandoning: &report.abandoned) {
                book.adjustLoad(of: departure.agentId, by: 1, channel: calls[waiting].channel)
                start(waiting, with: departure.agentId, at: departure.time, step: .queue)
            }
        }

        for index in order {
            let call = calls[index]
            // Agents finishing at or before the arrival free their capacity (and serve the queue) first.
            while let next = departures.peek(), next.time <= call.arrival { finish(departures.pop()!) }
            var request = RouteRequest(teamId: call.teamId, sector: call.sector, capabilities: call.capabilities,
                                       requiredCapabilities: call.requiredCapabilities, channel: call.channel)
            var decision = try? book.decide(request, claiming: true)
            if decision == nil {
                // The call's team is gone from the catalogue: the call is routed by its sector.
                request.teamId = nil
                decision = try? book.decide(request, claiming: true)
            }
            if let chosen = decision?.chosen, let strategy = decision?.strategy {
                start(index, with: chosen.agentId, at: call.arrival, step: strategy)
            } else if policy.overflow == .reject {
                report.rejected += 1
            } else {
                queue.enqueue(index, teamId: request.teamId, sector: call.sector, channel: call.channel,
                              required: Set(call.requiredCapabilities), arrival: call.arrival,
                              deadline: policy.maxWaitSeconds.map { call.arrival + Double($0) })
            }
        }
        while let departure = departures.pop() { finish(departure) }
        let (abandonedLate, unanswered) = queue.remaining()
        report.abandoned += abandonedLate
        report.unanswered = unanswered

        waits.sort()
        if !waits.isEmpty {
            report.waitP50 = nearestRank(waits, 0.5)
            report.waitP95 = nearestRank(waits, 0.95)
            report.waitMax = waits.last!
        }
        // Utilisation is over the agents some replayed call could have reached: its sector's and its team's.
        let sectors = Set(calls.map(\.sector)), teams = Set(calls.compactMap(\.teamId))
        let teamAgents = Set(catalogue.assignments.filter { teams.contains($0.teamId) }.map(\.agentId))
        let capacityTime = horizonSeconds > 0 ? horizonSeconds : 1
        for agent in catalogue.agents where agent.isActive && (sectors.contains(agent.sector) || teamAgents.contains(agent.id)) {
            report.utilisation[agent.id] = (busy[agent.id] ?? 0) / (capacityTime * Double(max(agent.maxConcurrent, 1)))
        }
        let values = report.utilisation.values.sorted()
        report.utilisationMean = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
        report.utilisationGini = gini(values)
        if report.answered > 0 {
            report.expectedSuccessRate = credited / Double(report.answered)
            if outcome != nil { report.realisedSuccessRate = Double(succeeded) / Double(report.answered) }
        }
        return report
    }

    /// The smallest value with at least `fraction` of the values at or below it.
    static func nearestRank(_ sorted: [Double], _ fraction: Double) -> Double {
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// 0 when every value is equal, towards 1 when one holds everything. `sorted` ascending.
    static func gini(_ sorted: [Double]) -> Double {
        let total = sorted.reduce(0, +)
        guard sorted.count > 1, total > 0 else { return 0 }
        let n = Double(sorted.count)
        let weighted = sorted.enumerated().reduce(0.0) { $0 + Double($1.offset + 1) * $1.element }
        return 2 * weighted / (n * total) - (n + 1) / n
    }

    private struct Departure {
        let time: Double
        let call: Int
        let agentId: UUID
        let channel: CallChannel?

        /// Earlier first; at the same time, the call that arrived first (calls are indexed in arrival order).
        func before(_ other: Departure) -> Bool {
            time != other.time ? time < other.time : call < other.call
        }
    }

    private struct DepartureHeap {
        private var items: [Departure] = []

        func peek() -> Departure? { items.first }

        mutating func push(_ item: Departure) {
            items.append(item)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child].before(items[parent]) else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> Departure? {
            guard !items.isEmpty else { return nil }
            items.swapAt(0, items.count - 1)
            let top = items.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var first = parent
                if left < items.count && items[left].before(items[first]) { first = left }
                if right < items.count && items[right].before(items[first]) { first = right }
                if first == parent { break }
                items.swapAt(parent, first)
                parent = first
            }
            return top
        }
    }

    /// Waiting calls in arrival order, one line per team and one per sector (calls without a team), each split by
    /// channel and required capabilities, so a freed agent looks only at the heads of the lines it serves (its
    /// sector's, its sector's teams', and its own teams') for the channels it has room for and the capabilities it has.
    private struct WaitingCalls {
        private struct Waiting {
            let call: Int
            let arrival: Double
            let deadline: Double?
        }

        private struct Line {
            var calls: [Waiting] = []
            var head = 0
        }

        private struct LineKey: Hashable {
            let pool: PoolKey
            let channel: CallChannel?
            let required: Set<String>
        }

        private var lines: [LineKey: Line] = [:]
        /// The required-capability sets of the lines that exist, so a freed agent checks only those.
        private var requiredSets: Set<Set<String>> = [[]]
        private let skills: [UUID: Set<String>]
        private static let channels: [CallChannel?] = [nil] + CallChannel.allCases
        private let servedLines: [UUID: [PoolKey]]

        init(catalogue: Catalogue) {
            var teamsBySector: [String: [UUID]] = [:]
            for (teamId, sector) in catalogue.teams { teamsBySector[sector, default: []].append(teamId) }
            var ownTeams: [UUID: Set<UUID>] = [:]
            for assignment in catalogue.assignments where catalogue.teams[assignment.teamId] != nil {
                ownTeams[assignment.agentId, default: []].insert(assignment.teamId)
            }
            var served: [UUID: [PoolKey]] = [:]
            for agent in catalogue.agents {
                let teams = Set(teamsBySector[agent.sector] ?? []).union(ownTeams[agent.id] ?? [])
                served[agent.id] = [.sector(agent.sector)] + teams.sorted { $0.uuidString < $1.uuidString }.map { .team($0) }
            }
            servedLines = served
            skills = Dictionary(catalogue.agents.map { ($0.id, Set($0.capabilities)) }, uniquingKeysWith: { first, _ in first })
        }

        mutating func enqueue(_ call: Int, teamId: UUID?, sector: String, channel: CallChannel?, required: Set<String>,
                              arrival: Double, deadline: Double?) {
            requiredSets.insert(required)
            let key = LineKey(pool: teamId.map { .team($0) } ?? .sector(sector), channel: channel, required: required)
            lines[key, default: Line()].calls.append(Waiting(call: call, arrival: arrival, deadline: deadline))
        }

        /// The oldest call the agent serves, dropping (as abandoned) calls whose deadline passed before `now`.
        mutating func oldest(servedBy agentId: UUID, _ agent: BookAgent, at now: Double, abandoning abandoned: inout Int) -> Int? {
            var best: (key: LineKey, waiting: Waiting)?
            let has = skills[agentId] ?? []
            let sets = requiredSets.filter { $0.isSubset(of: has) }
            let keys = (servedLines[agentId] ?? []).flatMap { pool in
                Self.channels.filter { $0.map(agent.hasRoom(for:)) ?? true }.flatMap { channel in
                    sets.map { LineKey(pool: pool, channel: channel, required: $0) }
                }
            }
            for key in keys {
                guard var line = lines[key] else { continue }
                while line.head < line.calls.count, let deadline = line.calls[line.head].deadline, deadline < now {
                    line.head += 1
                    abandoned += 1
                }
                lines[key] = line
                guard line.head < line.calls.count else { continue }
                let head = line.calls[line.head]
                if best == nil || head.arrival < best!.waiting.arrival
                    || (head.arrival == best!.waiting.arrival && head.call < best!.waiting.call) {
                    best = (key, head)
                }
            }
            guard let best else { return nil }
            lines[best.key]!.head += 1
            return best.waiting.call
        }

        /// After the last departure: calls with a deadline abandoned; the others were never answered.
        func remaining() -> (abandoned: Int, unanswered: Int) {
            var abandoned = 0, unanswered = 0
            for line in lines.values {
                for waiting in line.calls[line.head...] {
                    if waiting.deadline != nil { abandoned += 1 } else { unanswered += 1 }
                }
            }
            return (abandoned, unanswered)
        }
    }
}
