import Foundation

/// A discrete-event replay of calls against an agent catalogue under a routing policy: the same `TenantBook`
/// that routes live calls decides each arrival (team pool, then sector pool), a call nobody can take waits in
/// the queue, and a freed agent takes the oldest waiting call it serves, as the live `QueueHandoff` does (by its `mayTake`). Every agent
/// starts free. Pure and deterministic: the same input gives the same report.
enum RoutingSimulation {
    struct Call: Sendable {
        /// Seconds from the start of the replayed range.
        let arrival: Double
        let teamId: UUID?
        let sector: String
        let capabilities: [String]
        var handlingSeconds: Double
        /// Held against the agent's limit for the channel, if it has one.
        var channel: CallChannel? = nil
        /// Only agents with all of these may take the call.
        var requiredCapabilities: [String] = []
        /// Minimum levels in some capabilities (each required too).
        var requiredLevels: [String: Int] = [:]
        /// 1–10: while calls wait, the highest effective priority goes first (`QueueOrder`).
        var priority = CallLimits.defaultPriority
        /// A callback: the caller is rung back, so it waits without a line and never abandons.
        var isCallback = false
        /// The agent the call prefers: it waits up to `routing.preferred_agent_wait_seconds` for it when busy.
        var preferredAgentId: UUID? = nil

        var requirement: SkillRequirement { SkillRequirement(capabilities: requiredCapabilities, minimums: requiredLevels) }
    }

    typealias Catalogue = BookCatalogue

    /// Whether a call succeeded with the agent it went to, and what the router learns from it: for benchmarks on
    /// synthetic populations whose true rates are known (`learningEvery` outcomes at a time, as the aggregator
    /// feeds the live router a minute's calls at once). Replays of recorded calls learn nothing.
    typealias Outcome = @Sendable (_ call: Int, _ agentId: UUID, _ generator: inout SeededGenerator) -> Bool

    /// How the tenant's people answer offers (`routing.offer_timeout_seconds`), from its recent offer log: how long
    /// accepted offers took (each answer draws one), and the share of offers that ran out. Without offers, unused.
    struct Answering: Sendable {
        var delays: [Double] = []
        var missRate: Double = 0

        static let instant = Answering()
    }

    struct Report: Sendable, Equatable {
        var offered = 0
        var answered = 0
        /// Answered calls by how they reached their agent: `team` and `sector` at once, `queue` after waiting.
        var byStep: [RoutingStrategy: Int] = [:]
        /// Answered calls by the `routing.relaxation` step their wait had reached when an agent took them.
        var byRelaxationStep: [Int: Int] = [:]
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
        /// Only with an `Outcome`: the share of answered calls that succeeded, and the agent each call went to
        /// (nil: not answered).
        var realisedSuccessRate: Double?
        var agentOfCall: [UUID?] = []
        /// With `watching` a team: its calls offered, and the waits of those answered (for its service level).
        var watchedOffered = 0
        var watchedWaits: [Double] = []
        /// With offers: those that ran out (each call then went on to another agent, or waited again).
        var offersMissed = 0
        /// With `checkingWaitEstimates`: the wait each call that queued on arrival was told (`WaitEstimate`, at its
        /// place then, as `call.queued` says it) against the wait it had, over the calls answered.
        var waitEstimates: WaitEstimateCheck?
    }

    /// On a synthetic population whose true rates are known: the mean true rate of the agents that took the
    /// `calls` (by index, answered ones only) as a share of the best agent's.
    static func chosenQuality(_ report: Report, truth: [UUID: Double], calls: Range<Int>) -> Double? {
        let chosen = report.agentOfCall[calls].compactMap { $0.flatMap { truth[$0] } }
        guard let best = truth.values.max(), best > 0, !chosen.isEmpty else { return nil }
        return chosen.reduce(0, +) / Double(chosen.count) / best
    }

    struct WaitEstimateCheck: Sendable, Equatable {
        var calls = 0
        /// Median of |estimate − actual wait|, and median actual wait, in seconds.
        var medianAbsoluteError = 0.0
        var medianWait = 0.0
        /// The first over the second: the bar is 0.3.
        var relativeError: Double { medianWait > 0 ? medianAbsoluteError / medianWait : 0 }
    }

    static func run(
        _ calls: [Call], catalogue: Catalogue, policy: RoutingPolicy, horizonSeconds: Double, seed: UInt64 = 0,
        outcome: Outcome? = nil, learningEvery: Int = 1, watching watchedTeam: UUID? = nil, answering: Answering = .instant,
        checkingWaitEstimates: Bool = false
    ) -> Report {
        var policy = policy
        policy.decisionLogCandidates = 1  // only the chosen agent's breakdown is needed
        let freeAgents = catalogue.agents.map { row in
            BookAgentRow(id: row.id, sector: row.sector, isActive: row.isActive, priority: row.priority,
                         capabilities: row.capabilities, capabilityLevels: row.capabilityLevels,
                         maxConcurrent: row.maxConcurrent, load: 0,
                         successRate: row.successRate, avgHandlingTime: row.avgHandlingTime, channelCapacity: row.channelCapacity,
                         idleSince: row.idleSince)
        }
        // Replayed time starts now: every agent's last call before the replay ended earlier than any call in it.
        let replayStart = Date().timeIntervalSince1970
        var generator = SeededGenerator(seed: seed)
        var book = TenantBook(policy: policy, agents: freeAgents, teams: catalogue.teams, assignments: catalogue.assignments,
                              queuedCalls: nil, successHistory: catalogue.successHistory,
                              capabilityHistory: catalogue.capabilityHistory,
                              generator: SeededGenerator(seed: SeededGenerator.seed(seed, for: "routing")))
        var learned = catalogue.successHistory
        var learnedCapabilities = catalogue.capabilityHistory
        var unlearned: Set<UUID> = [], outcomesSinceLearning = 0
        let relaxation = policy.relaxation
        var queue = WaitingCalls(catalogue: catalogue, calls: calls, relaxation: relaxation,
                                 agingSeconds: policy.priorityAgingSeconds)
        var events = EventHeap()
        var report = Report()
        if outcome != nil { report.agentOfCall = Array(repeating: nil, count: calls.count) }
        var waits: [Double] = []
        var busy: [UUID: Double] = [:]
        var credited = 0.0, succeeded = 0
        // People: after-call work holds the slot (the agent's own time, else the policy's); an offer is answered
        // after a recorded delay, or runs out and the call goes on without that agent.
        let ownWrapUp = Dictionary(catalogue.agents.map { ($0.id, $0.wrapUpSeconds) }, uniquingKeysWith: { first, _ in first })
        func wrapUp(_ agentId: UUID) -> Double { Double((ownWrapUp[agentId] ?? nil) ?? policy.wrapUpSeconds) }
        let offerSeconds = Double(policy.offerTimeoutSeconds)
        var declined: [Int: Set<UUID>] = [:]
        /// Calls waiting again after a missed offer, or after waiting for their preferred agent in vain, oldest
        /// first; a freed agent looks at them before the lines.
        var returned: [Int] = []
        /// Calls waiting for their busy preferred agent, per agent in arrival order, and until when they do.
        var kept: [UUID: [Int]] = [:]
        var keptUntil: [Int: Double] = [:]
        let preferredWait = Double(policy.preferredAgentWaitSeconds)
        let skills = AgentSkills.byAgent(catalogue.agents)

        /// When a waiting caller hangs up (`routing.max_wait_seconds`); never for a callback.
        func abandonsAt(_ index: Int) -> Double? {
            calls[index].isCallback ? nil : policy.maxWaitSeconds.map { calls[index].arrival + Double($0) }
        }

        /// With `checkingWaitEstimates`: the estimate each call was given as it queued, and (error, wait) once answered.
        var estimates: [Int: Int] = [:]
        var estimateErrors: [(error: Double, wait: Double)] = []

        let order = calls.indices.sorted { calls[$0].arrival != calls[$1].arrival ? calls[$0].arrival < calls[$1].arrival : $0 < $1 }
        report.offered = calls.count
        if let watchedTeam { report.watchedOffered = calls.filter { $0.teamId == watchedTeam }.count }

        func start(_ index: Int, with agentId: UUID, at time: Double, step: RoutingStrategy) {
            let call = calls[index]
            var answered = time
            if offerSeconds > 0 {
                if answering.missRate > 0, Double.random(in: 0..<1, using: &generator) < answering.missRate {
                    events.push(Event(time: time + offerSeconds, kind: .offerRunsOut(agentId: agentId, channel: call.channel), call: index))
                    return
                }
                if !answering.delays.isEmpty {
                    answered += min(answering.delays[Int.random(in: 0..<answering.delays.count, using: &generator)], offerSeconds)
                }
            }
            waits.append(answered - call.arrival)
            if outcome != nil { report.agentOfCall[index] = agentId }
            if let estimate = estimates[index] { estimateErrors.append((abs(Double(estimate) - (answered - call.arrival)), answered - call.arrival)) }
            if let watchedTeam, call.teamId == watchedTeam { report.watchedWaits.append(answered - call.arrival) }
            report.answered += 1
            report.byStep[step, default: 0] += 1
            report.byRelaxationStep[relaxation.stage(waited: answered - call.arrival, hasTeam: call.teamId != nil).step, default: 0] += 1
            report.callsByAgent[agentId, default: 0] += 1
            credited += book.creditedSuccess(agentId) ?? 0
            let freed = answered + max(call.handlingSeconds, 0) + wrapUp(agentId)
            busy[agentId, default: 0] += max(0, min(freed, horizonSeconds) - min(time, horizonSeconds))
            events.push(Event(time: freed, kind: .departure(agentId: agentId, channel: call.channel), call: index))
        }

        /// The call as the router sees it after `waited` seconds: the pools and requirements its step allows.
        func request(for index: Int, waited: Double) -> RouteRequest {
            let call = calls[index]
            var request = RouteRequest(teamId: call.teamId, sector: call.sector, capabilities: call.capabilities,
                                       requiredCapabilities: call.requiredCapabilities, requiredLevels: call.requiredLevels,
                                       channel: call.channel, excluding: declined[index] ?? [],
                                       preferred: call.preferredAgentId.map { PreferredAgent(agentId: $0, waits: waited < preferredWait) })
            request.relax(to: relaxation.stage(waited: waited, hasTeam: call.teamId != nil))
            return request
        }

        /// Whether the book can route the request; a team gone from the catalogue routes by its sector.
        func route(_ request: RouteRequest) -> RoutingDecision? {
            if let decision = try? book.decide(request, claiming: true) { return decision }
            var bySector = request
            bySector.teamId = nil
            return try? book.decide(bySector, claiming: true)
        }

        /// A waiting call whose wait reached a wider step: offered to the wider pool, as the live sweeper does.
        func widen(_ index: Int, at time: Double) {
            guard queue.isWaiting(index, at: time) else { return }
            if let chosen = route(request(for: index, waited: time - calls[index].arrival))?.chosen {
                queue.take(index)
                start(index, with: chosen.agentId, at: time, step: .queue)
            }
        }

        func finish(_ call: Int, agentId: UUID, channel: CallChannel?, at time: Double) {
            book.adjustLoad(of: agentId, by: -1, channel: channel)
            book.setIdleSince(of: agentId, Date(timeIntervalSince1970: replayStart + time))
            if let outcome {
                let success = outcome(call, agentId, &generator)
                if success { succeeded += 1 }
                var history = learned[agentId] ?? .none
                history.calls += 1
                history.successes += success ? 1 : 0
                learned[agentId] = history
                CapabilityLearning.record(success, asked: CapabilityLearning.asked(
                    capabilities: calls[call].capabilities, required: calls[call].requirement.capabilities),
                                          in: &learnedCapabilities[agentId, default: [:]])
                unlearned.insert(agentId)
                outcomesSinceLearning += 1
                // The router learns in batches, as it does live from the aggregator's runs.
                if outcomesSinceLearning >= learningEvery {
                    for agentId in unlearned {
                        book.learn(of: agentId, history: learned[agentId]!, capabilityHistory: learnedCapabilities[agentId] ?? [:])
                    }
                    unlearned.removeAll(keepingCapacity: true)
                    outcomesSinceLearning = 0
                }
            }
            takeWaiting(agentId, at: time)
        }

        /// Whether the agent may take a call that went back to waiting after a missed offer (not one it missed).
        func mayTakeReturned(_ index: Int, _ agentId: UUID, _ agent: BookAgent, at time: Double) -> Bool {
            let call = calls[index]
            return !(declined[index]?.contains(agentId) ?? false) && (call.channel.map(agent.hasRoom(for:)) ?? true)
                && QueueHandoff.mayTake(callTeam: call.teamId, callSector: call.sector, required: call.requirement,
                                        waited: time - call.arrival, relaxation: relaxation, agentSector: agent.sector,
                                        agentTeams: agent.teams, agentSkills: skills[agentId] ?? .none)
        }

        /// A freed agent takes the oldest calls it may serve now, as long as it has room: those back from a missed
        /// offer first, then the lines.
        func takeWaiting(_ agentId: UUID, at time: Double) {
            while let agent = book.agent(agentId), agent.hasRoom {
                let waiting: Int
                // Abandoned while kept: gone, as from the lines.
                kept[agentId]?.removeAll { index in
                    guard let deadline = abandonsAt(index), deadline < time else { return false }
                    report.abandoned += 1
                    keptUntil[index] = nil
                    return true
                }
                if let position = kept[agentId]?.firstIndex(where: { calls[$0].channel.map(agent.hasRoom(for:)) ?? true }) {
                    waiting = kept[agentId]!.remove(at: position)
                    keptUntil[waiting] = nil
                } else if let position = returned.firstIndex(where: { mayTakeReturned($0, agentId, agent, at: time) }) {
                    waiting = returned.remove(at: position)
                } else if let next = queue.oldest(servedBy: agentId, agent, at: time, abandoning: &report.abandoned) {
                    waiting = next
                } else {
                    return
                }
                book.adjustLoad(of: agentId, by: 1, channel: calls[waiting].channel)
                start(waiting, with: agentId, at: time, step: .queue)
            }
        }

        /// A call put back in play (its offer ran out, or its wait for its preferred agent): abandoned if its caller
        /// would have hung up, else routed at once, else waiting again with its arrival time.
        func waitAgain(_ index: Int, at time: Double) {
            if let deadline = abandonsAt(index), deadline < time {
                report.abandoned += 1
            } else if let chosen = route(request(for: index, waited: time - calls[index].arrival))?.chosen {
                start(index, with: chosen.agentId, at: time, step: .queue)
            } else {
                returned.append(index)
                returned.sort { calls[$0].arrival != calls[$1].arrival ? calls[$0].arrival < calls[$1].arrival : $0 < $1 }
            }
        }

        /// An offer ran out: the agent's slot is free again, and the call goes on without it (to another agent at
        /// once, or to wait with its arrival time).
        func offerRanOut(_ index: Int, agentId: UUID, channel: CallChannel?, at time: Double) {
            report.offersMissed += 1
            declined[index, default: []].insert(agentId)
            book.adjustLoad(of: agentId, by: -1, channel: channel)
            waitAgain(index, at: time)
            takeWaiting(agentId, at: time)
        }

        /// A call's wait for its preferred agent ran out: it routes as usual, or waits for anyone.
        func stopKeeping(_ index: Int, at time: Double) {
            guard keptUntil.removeValue(forKey: index) != nil, let agentId = calls[index].preferredAgentId else { return }
            kept[agentId]?.removeAll { $0 == index }
            waitAgain(index, at: time)
        }

        func process(_ event: Event) {
            switch event.kind {
            case .preferredWaitEnds: stopKeeping(event.call, at: event.time)
            case .departure(let agentId, let channel): finish(event.call, agentId: agentId, channel: channel, at: event.time)
            case .offerRunsOut(let agentId, let channel): offerRanOut(event.call, agentId: agentId, channel: channel, at: event.time)
            case .widen: widen(event.call, at: event.time)
            }
        }

        for index in order {
            let call = calls[index]
            // Agents finishing, and waits widening, at or before the arrival come first.
            while let next = events.peek(), next.time <= call.arrival { process(events.pop()!) }
            let decision = route(request(for: index, waited: 0))
            if let chosen = decision?.chosen, let strategy = decision?.strategy {
                start(index, with: chosen.agentId, at: call.arrival, step: strategy)
            } else if policy.overflow == .reject {
                report.rejected += 1
            } else if decision?.waitsForPreferred == true, let agentId = call.preferredAgentId {
                kept[agentId, default: []].append(index)
                keptUntil[index] = call.arrival + preferredWait
                events.push(Event(time: call.arrival + preferredWait, kind: .preferredWaitEnds, call: index))
            } else {
                let teamId = call.teamId.flatMap { catalogue.teams[$0] != nil ? $0 : nil }
                if checkingWaitEstimates {
                    let place = queue.place(ofArrival: call.priority, sector: call.sector, at: call.arrival)
                    let arrival = Date(timeIntervalSinceReferenceDate: call.arrival)
                    estimates[index] = book.estimatedWait(
                        place: place, of: QueueOrder.Entry(id: UUID(), sector: call.sector, priority: call.priority, createdAt: arrival),
                        teamId: teamId, required: call.requirement, now: arrival)
                }
                queue.enqueue(index, teamId: teamId, sector: call.sector, channel: call.channel,
                              required: call.requirement, priority: call.priority, arrival: call.arrival,
                              deadline: abandonsAt(index))
                // Each later step that widens the call is a moment to offer it again.
                var waited = 0.0
                while let next = relaxation.nextWidening(waited: waited, hasTeam: teamId != nil) {
                    events.push(Event(time: call.arrival + next, kind: .widen, call: index))
                    waited = next
                }
            }
        }
        while let event = events.pop() { process(event) }
        let (abandonedLate, unanswered) = queue.remaining()
        // Calls left waiting after a missed offer: abandoned if their callers would have hung up by now.
        let hungUp = returned.filter { abandonsAt($0) != nil }.count
        report.abandoned += abandonedLate + hungUp
        report.unanswered = unanswered + returned.count - hungUp

        if checkingWaitEstimates {
            var check = WaitEstimateCheck(calls: estimateErrors.count)
            if !estimateErrors.isEmpty {
                check.medianAbsoluteError = nearestRank(estimateErrors.map(\.error).sorted(), 0.5)
                check.medianWait = nearestRank(estimateErrors.map(\.wait).sorted(), 0.5)
            }
            report.waitEstimates = check
        }
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

    private struct Event {
        enum Kind {
            case departure(agentId: UUID, channel: CallChannel?)
            /// An offer of the call to the agent ran out.
            case offerRunsOut(agentId: UUID, channel: CallChannel?)
            /// The call's wait reaches a wider relaxation step.
            case widen
            /// The call's wait for its busy preferred agent ends.
            case preferredWaitEnds
        }

        let time: Double
        let kind: Kind
        let call: Int

        /// Earlier first; at the same time departures (freed capacity) before widenings, then arrival order.
        func before(_ other: Event) -> Bool {
            if time != other.time { return time < other.time }
            if rank != other.rank { return rank < other.rank }
            return call < other.call
        }

        private var rank: Int {
            switch kind {
            case .departure, .offerRunsOut: 0
            case .widen, .preferredWaitEnds: 1
            }
        }
    }

    private struct EventHeap {
        private var items: [Event] = []

        func peek() -> Event? { items.first }

        mutating func push(_ item: Event) {
            items.append(item)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child].before(items[parent]) else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> Event? {
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
    /// sector's, its sector's teams', and its own teams') for the channels it has room for. Within a line the head
    /// waited longest, so if its step does not yet let this agent take it (another team's call still at its team
    /// step, requirements the agent lacks still holding), no later call of the line does either.
    private struct WaitingCalls {
        private struct Waiting {
            let call: Int
            let arrival: Double
            let deadline: Double?
            let priority: Int
        }

        private struct Line {
            var calls: [Waiting] = []
            var head = 0
        }

        /// A line holds calls of one priority, so each line is first come, first served.
        private struct LineKey: Hashable {
            let pool: PoolKey
            let channel: CallChannel?
            let required: SkillRequirement
            let priority: Int
        }

        private var lines: [LineKey: Line] = [:]
        /// The requirements and priorities of the lines that exist.
        private var requirements: Set<SkillRequirement> = [.none]
        private var priorities: Set<Int> = []
        private let agingSeconds: Int
        private static let channels: [CallChannel?] = [nil] + CallChannel.allCases
        /// Per agent: the lines it may look at, and whether through its own team (at any step).
        private let servedLines: [UUID: [(pool: PoolKey, ownTeam: Bool)]]
        private let skills: [UUID: AgentSkills]
        private let relaxation: Relaxation
        private let teamSectors: [UUID: String]
        /// Calls taken out of their line by a widening, or abandoned.
        private var done: [Bool]
        private var deadlines: [Double?]

        init(catalogue: Catalogue, calls: [Call], relaxation: Relaxation, agingSeconds: Int) {
            self.agingSeconds = agingSeconds
            var teamsBySector: [String: [UUID]] = [:]
            for (teamId, sector) in catalogue.teams { teamsBySector[sector, default: []].append(teamId) }
            var ownTeams: [UUID: Set<UUID>] = [:]
            for assignment in catalogue.assignments where catalogue.teams[assignment.teamId] != nil {
                ownTeams[assignment.agentId, default: []].insert(assignment.teamId)
            }
            var served: [UUID: [(pool: PoolKey, ownTeam: Bool)]] = [:]
            for agent in catalogue.agents {
                let own = ownTeams[agent.id] ?? []
                let teams = Set(teamsBySector[agent.sector] ?? []).union(own).sorted()
                served[agent.id] = [(.sector(agent.sector), false)] + teams.map { (.team($0), own.contains($0)) }
            }
            servedLines = served
            skills = AgentSkills.byAgent(catalogue.agents)
            self.relaxation = relaxation
            teamSectors = catalogue.teams
            done = Array(repeating: false, count: calls.count)
            deadlines = Array(repeating: nil, count: calls.count)
        }

        mutating func enqueue(_ call: Int, teamId: UUID?, sector: String, channel: CallChannel?, required: SkillRequirement,
                              priority: Int, arrival: Double, deadline: Double?) {
            requirements.insert(required)
            priorities.insert(priority)
            deadlines[call] = deadline
            let key = LineKey(pool: teamId.map { .team($0) } ?? .sector(sector), channel: channel, required: required,
                              priority: priority)
            lines[key, default: Line()].calls.append(Waiting(call: call, arrival: arrival, deadline: deadline, priority: priority))
        }

        /// The place a call arriving now with `priority` takes among its sector's waiting calls (1: next): behind
        /// every one whose effective priority is at least its own. Reads every waiting call, so only the wait
        /// estimate check asks for it.
        func place(ofArrival priority: Int, sector: String, at now: Double) -> Int {
            let order = QueueOrder(agingSeconds: agingSeconds, now: Date(timeIntervalSinceReferenceDate: now))
            var ahead = 0
            for (key, line) in lines {
                let lineSector: String? = switch key.pool {
                case .sector(let name): name
                case .team(let id): teamSectors[id]
                }
                guard lineSector == sector else { continue }
                for waiting in line.calls[line.head...] where isWaiting(waiting.call, at: now) {
                    let effective = order.effectivePriority(priority: waiting.priority,
                                                            createdAt: Date(timeIntervalSinceReferenceDate: waiting.arrival))
                    if effective >= priority { ahead += 1 }
                }
            }
            return ahead + 1
        }

        /// Still in a line and not yet given up (a caller past the deadline is counted as abandoned by the line).
        func isWaiting(_ call: Int, at now: Double) -> Bool { !done[call] && (deadlines[call].map { $0 >= now } ?? true) }

        /// Taken by a widening: its line skips it.
        mutating func take(_ call: Int) { done[call] = true }

        /// The first call in the queue's order (`QueueOrder`: highest effective priority, then oldest) the agent may
        /// take now, dropping (as abandoned) calls whose deadline passed before `now`.
        mutating func oldest(servedBy agentId: UUID, _ agent: BookAgent, at now: Double, abandoning abandoned: inout Int) -> Int? {
            var best: (key: LineKey, waiting: Waiting)?
            let has = skills[agentId] ?? .none
            // Replayed seconds as instants: only their differences matter to the order.
            let order = QueueOrder(agingSeconds: agingSeconds, now: Date(timeIntervalSinceReferenceDate: now))
            func effective(_ waiting: Waiting) -> Int {
                order.effectivePriority(priority: waiting.priority, createdAt: Date(timeIntervalSinceReferenceDate: waiting.arrival))
            }
            func precedes(_ a: Waiting, _ b: Waiting) -> Bool {
                let (first, second) = (effective(a), effective(b))
                if first != second { return first > second }
                return a.arrival != b.arrival ? a.arrival < b.arrival : a.call < b.call
            }
            for (pool, ownTeam) in servedLines[agentId] ?? [] {
                for channel in Self.channels where channel.map(agent.hasRoom(for:)) ?? true {
                    for required in requirements {
                        for priority in priorities {
                            let key = LineKey(pool: pool, channel: channel, required: required, priority: priority)
                            guard var line = lines[key] else { continue }
                            while line.head < line.calls.count {
                                let head = line.calls[line.head]
                                if done[head.call] {
                                    line.head += 1
                                } else if let deadline = head.deadline, deadline < now {
                                    done[head.call] = true
                                    line.head += 1
                                    abandoned += 1
                                } else {
                                    break
                                }
                            }
                            lines[key] = line
                            guard line.head < line.calls.count else { continue }
                            let head = line.calls[line.head]
                            // A line of a team of the agent's sector holds calls of that sector.
                            let team: UUID? = if case .team(let id) = pool { id } else { nil }
                            guard QueueHandoff.mayTake(callTeam: team, callSector: agent.sector, required: required,
                                                       waited: now - head.arrival, relaxation: relaxation,
                                                       agentSector: agent.sector, agentTeams: CollectionOfOne(ownTeam ? team : nil).lazy.compactMap { $0 },
                                                       agentSkills: has)
                            else { continue }
                            if best == nil || precedes(head, best!.waiting) { best = (key, head) }
                        }
                    }
                }
            }
            guard let best else { return nil }
            lines[best.key]!.head += 1
            done[best.waiting.call] = true
            return best.waiting.call
        }

        /// After the last event: calls with a deadline abandoned; the others were never answered.
        func remaining() -> (abandoned: Int, unanswered: Int) {
            var abandoned = 0, unanswered = 0
            for line in lines.values {
                for waiting in line.calls[line.head...] where !done[waiting.call] {
                    if waiting.deadline != nil { abandoned += 1 } else { unanswered += 1 }
                }
            }
            return (abandoned, unanswered)
        }
    }
}
