import Foundation

/// The agents a request may be routed to. Capabilities are indexed as bits when the pool has at most 64
/// distinct ones, so matching costs one AND and a popcount per candidate (and, when some agent has a level below
/// the top, a table lookup per requested capability it has).
struct CandidatePool: Sendable {
    struct Entry: Sendable {
        var candidate: RoutingCandidate
        var capabilities: [String]
        /// Its skill levels (`SkillLevel`): a capability without one is at the top level.
        var levels: [String: Int] = [:]
        /// Under the learning strategy: the agent's success estimate, whose mean (plus the pool's optimism bonus) is
        /// then the candidate's term.
        var estimate: SuccessEstimate? = nil
        /// Under the learning strategy: its estimate per capability it has (`CapabilityLearning`).
        var capabilityEstimates: [String: SuccessEstimate]? = nil
    }

    private(set) var candidates: [RoutingCandidate]
    /// Σ max_concurrent / avg_handling_time over the routable agents (`slotsFreedPerSecond`).
    private var routableSlotsPerSecond = 0.0
    private var routableCount = 0
    /// Parallel to `candidates` under the learning strategy; nil under the formula.
    private(set) var estimates: [SuccessEstimate]?
    /// Parallel to `candidates`.
    private let skills: [AgentSkills]
    private let capabilityBits: [String: Int]?
    /// When some agent's level is below the top and the capabilities are indexed: each candidate's level per
    /// capability bit (0: it lacks it), `capabilityBits.count` to a candidate.
    private let levelTable: LevelTable?
    /// Parallel to `candidates` under the learning strategy: each agent's estimate per capability it has.
    private var capabilityEstimates: [[String: SuccessEstimate]]?
    /// The same as terms per capability bit, when the capabilities are indexed.
    private var learnedTable: LearnedTable?
    /// Under learning, the standard deviations added to each estimate (`RoutingPolicy.optimism`).
    private let optimism: Double
    /// Parallel to `candidates` under learning: `optimism` standard deviations of each estimate, which a decision
    /// may add to its success term (`optimismThreshold`); empty under the formula. Beside the candidates rather
    /// than in them, so the formula's ranking reads no wider values.
    private(set) var optimismBonuses: [Double] = []
    /// Under learning, the highest estimate in the pool and whose it is: an agent's optimism counts only where it
    /// lifts the agent above it (`optimismThreshold`).
    private var bestMean = -Double.infinity
    private var bestMeanIndex = -1

    init(_ entries: [Entry], optimism: Double = 0) {
        self.optimism = optimism
        var bits: [String: Int] = [:]
        for name in entries.lazy.flatMap(\.capabilities) where bits[name] == nil {
            bits[name] = bits.count
        }
        let indexable = bits.count <= UInt64.bitWidth
        capabilityBits = indexable ? bits : nil
        let skills = entries.map { AgentSkills(capabilities: $0.capabilities, levels: $0.levels) }
        self.skills = skills
        levelTable = indexable && skills.contains { !$0.levels.isEmpty } ? LevelTable(skills, bits: bits) : nil
        let estimates = entries.compactMap(\.estimate)
        self.estimates = !estimates.isEmpty && estimates.count == entries.count ? estimates : nil
        let capabilityEstimates = entries.compactMap(\.capabilityEstimates)
        if !capabilityEstimates.isEmpty && capabilityEstimates.count == entries.count {
            self.capabilityEstimates = capabilityEstimates
            learnedTable = indexable ? LearnedTable(skills, estimates: capabilityEstimates, bits: bits) : nil
        }
        candidates = entries.map { entry in
            var candidate = entry.candidate
            if let estimate = entry.estimate { candidate.successRate = estimate.mean }
            candidate.capabilityMask = indexable
                ? entry.capabilities.reduce(UInt64(0)) { $0 | (1 << UInt64(bits[$1]!)) } : 0
            return candidate
        }
        optimismBonuses = self.estimates?.map { optimism * $0.standardDeviation } ?? []
        routableSlotsPerSecond = candidates.reduce(0) { $0 + Self.slotsPerSecond(of: $1) }
        routableCount = candidates.filter(\.isActive).count
        findBestMean()
    }

    /// A pool of agents without capabilities.
    init(candidates: [RoutingCandidate]) {
        self.init(candidates.map { Entry(candidate: $0, capabilities: []) })
    }

    var agentIds: [UUID] { candidates.map(\.id) }

    func skills(at index: Int) -> AgentSkills { skills[index] }

    /// The slots the routable agents who meet `required` free a second (`WaitEstimate`). Without requirements,
    /// the running total: every queued call asks, and a pool may hold 100,000 agents.
    func slotsFreedPerSecond(required: SkillRequirement) -> Double {
        // The count is exact where the sum may keep a rounding residue once every agent left.
        guard !required.isEmpty else { return routableCount > 0 ? max(0, routableSlotsPerSecond) : 0 }
        var rate = 0.0
        for (index, candidate) in candidates.enumerated() where skills[index].meets(required) {
            rate += Self.slotsPerSecond(of: candidate)
        }
        return rate
    }

    private static func slotsPerSecond(of candidate: RoutingCandidate) -> Double {
        candidate.isActive ? WaitEstimate.slotsFreedPerSecond(slots: candidate.maxConcurrent, handlingSeconds: candidate.avgHandlingTime) : 0
    }

    /// Replaces one agent's share of the running total around a change of its values.
    private mutating func updating(_ index: Int, _ change: (inout RoutingCandidate) -> Void) {
        routableSlotsPerSecond -= Self.slotsPerSecond(of: candidates[index])
        routableCount -= candidates[index].isActive ? 1 : 0
        change(&candidates[index])
        routableSlotsPerSecond += Self.slotsPerSecond(of: candidates[index])
        routableCount += candidates[index].isActive ? 1 : 0
    }

    /// The success rate routing credits the agent with: its estimate under learning (without the optimism that only
    /// decides whom to try), else the rate it is scored on.
    func creditedSuccess(at index: Int) -> Double { estimates?[index].mean ?? candidates[index].successRate }

    /// What `AgentScorer.rank` shows of a candidate's learning term, for a decision with this optimism threshold.
    func learningTerm(at index: Int, explored: Bool, requested: [String], optimismAbove threshold: Double) -> LearningTerm? {
        estimates.map { estimates in
            LearningTerm(estimate: estimates[index].mean, callsObserved: estimates[index].callsObserved, explored: explored,
                         optimismBonus: explored ? 0 : optimismBonus(at: index, above: threshold),
                         capabilities: learnedTerms(at: index, requested: requested))
        }
    }

    /// Under learning, an agent's optimism bonus counts only when it lifts the agent above the highest estimate
    /// among the agents that could take the call (busy or not): trying an agent pays only if it might be the best
    /// one. Among agents alike but for their estimates, one call at a time, that changes no decision (the
    /// best-estimated agent outscores every agent the rule holds back); when the best agents are busy, the calls go
    /// to the next best by estimate instead of to agents tried too little to rule out, which `SwitchboardBench
    /// quality` showed to cost calls (docs/PERFORMANCE.md).
    /// Without estimates nothing has a bonus, and the threshold does not matter.
    func optimismThreshold(admitting request: CapabilityRequest) -> Double {
        guard let estimates else { return .infinity }
        guard request.admission != .everyone else { return bestMean }
        var best = -Double.infinity
        for index in candidates.indices where request.admits(candidates[index], at: index) {
            best = max(best, estimates[index].mean)
        }
        return best
    }

    /// What optimism adds to the candidate's success term in a decision with this threshold.
    func optimismBonus(at index: Int, above threshold: Double) -> Double {
        optimismBonuses.isEmpty ? 0 : AgentScorer.optimismBonus(optimismBonuses[index], lifting: candidates[index], above: threshold)
    }

    private mutating func findBestMean() {
        bestMean = -.infinity
        bestMeanIndex = -1
        guard let estimates else { return }
        for (index, estimate) in estimates.enumerated() where estimate.mean > bestMean {
            bestMean = estimate.mean
            bestMeanIndex = index
        }
    }

    /// The load book keeps each pool's live values current in place, without rebuilding it.
    mutating func setLiveState(at index: Int, load: Int, maxConcurrent: Int, isActive: Bool, channelsFull: UInt8) {
        updating(index) { candidate in
            candidate.currentLoad = load
            candidate.maxConcurrent = maxConcurrent
            candidate.isActive = isActive
            candidate.channelsFull = channelsFull
        }
    }

    /// When the agent's last call or after-call work ended.
    mutating func setIdleSince(at index: Int, _ seconds: Double) {
        candidates[index].idleSince = seconds
    }

    /// An agent's 7-day values after an aggregation; the pool's order and capability index do not depend on them.
    mutating func setHistory(at index: Int, successRate: Double, avgHandlingTime: Double) {
        updating(index) { candidate in
            candidate.successRate = successRate
            candidate.avgHandlingTime = avgHandlingTime
        }
    }

    var isEmpty: Bool { candidates.isEmpty }

    /// A new success term: the estimate's (with its optimism bonus) when the pool learns, else the observed rate
    /// (when there is one); under learning, with the agent's new estimate per capability.
    mutating func setSuccess(at index: Int, rate: Double?, estimate: SuccessEstimate?,
                             capabilityEstimates: [String: SuccessEstimate]? = nil) {
        if let estimate, estimates != nil {
            estimates![index] = estimate
            candidates[index].successRate = estimate.mean
            optimismBonuses[index] = optimism * estimate.standardDeviation
            if estimate.mean >= bestMean {
                bestMean = estimate.mean
                bestMeanIndex = index
            } else if index == bestMeanIndex {
                findBestMean()
            }
        } else if let rate {
            candidates[index].successRate = rate
        }
        if let capabilityEstimates, self.capabilityEstimates != nil {
            self.capabilityEstimates![index] = capabilityEstimates
            if let capabilityBits { learnedTable?.set(index, skills[index], capabilityEstimates, bits: capabilityBits) }
        }
    }

    /// One candidate explained on its own (a preferred agent), as `AgentScorer.rank` explains those it keeps.
    func explain(at index: Int, requested: [String], weights: ScoringWeights) -> ScoredCandidate {
        let names = Array(Set(requested)).sorted()
        let factor = capabilityEstimates.map { CapabilityLearning.factor(skills[index], estimates: $0[index], requested: names) }
            ?? skills[index].capabilityFactor(requested: names)
        let threshold = optimismThreshold(admitting: .none)
        return AgentScorer.explain(candidates[index], capabilities: factor, weights: weights,
                                   learning: learningTerm(at: index, explored: false, requested: names, optimismAbove: threshold))
    }

    /// Under learning, the requested capabilities the agent has with their level and estimate (the breakdown).
    func learnedTerms(at index: Int, requested: [String]) -> [LearnedCapabilityTerm]? {
        guard let capabilityEstimates, !requested.isEmpty else { return nil }
        return requested.compactMap { name in
            guard let level = skills[index].level(of: name), let estimate = capabilityEstimates[index][name] else { return nil }
            return LearnedCapabilityTerm(capability: name, level: level, estimate: estimate.mean,
                                         callsObserved: estimate.callsObserved)
        }
    }

    /// A copy whose success terms are drawn from each agent's posterior (Thompson sampling), except for agents
    /// whose estimate is below `floor`, which keep their mean: exploration never favours a known poor performer.
    func exploring(floor: Double, using generator: inout some RandomNumberGenerator) -> CandidatePool {
        guard let estimates else { return self }
        var copy = self
        // The draws stand in for optimism: an explored decision adds no bonus, not even to agents below the floor.
        copy.optimismBonuses = [Double](repeating: 0, count: candidates.count)
        for index in copy.candidates.indices where candidates[index].isEligible && estimates[index].mean >= floor {
            copy.candidates[index].successRate = estimates[index].sample(using: &generator)
        }
        return copy
    }

    /// `requested` add to the score (by level); `required` admits only agents that meet it.
    func request(_ requested: [String], required: SkillRequirement = .none) -> CapabilityRequest {
        var request = scoring(requested)
        guard !required.isEmpty else { return request }
        guard let capabilityBits else {
            request.require(each: skills.map { $0.meets(required) })
            return request
        }
        var mask: UInt64 = 0
        for name in required.capabilities {
            guard let bit = capabilityBits[name] else {
                request.admitNobody()
                return request
            }
            mask |= 1 << UInt64(bit)
        }
        // Without levels below the top, having a capability meets any minimum in it.
        request.require(mask: mask, minimums: required.minimums.map { (bit: capabilityBits[$0.key]!, level: UInt8($0.value)) },
                        levels: levelTable)
        return request
    }

    private func scoring(_ requested: [String]) -> CapabilityRequest {
        let names = Set(requested)
        guard !names.isEmpty else { return .none }
        var request: CapabilityRequest
        if let capabilityBits {
            // A name no agent has can match nobody, so it contributes no bit.
            let mask = names.reduce(UInt64(0)) { mask, name in
                capabilityBits[name].map { mask | (1 << UInt64($0)) } ?? mask
            }
            request = learnedTable.map { .scoring(mask: mask, learned: $0) } ?? .scoring(mask: mask, levels: levelTable)
        } else if let capabilityEstimates {
            request = .scoring(factors: skills.indices.map {
                CapabilityLearning.factor(skills[$0], estimates: capabilityEstimates[$0], requested: names)
            })
        } else {
            request = .scoring(factors: skills.map { $0.capabilityFactor(requested: names) })
        }
        if capabilityEstimates != nil { request.requested = names.sorted() }
        return request
    }
}

/// Each candidate's level in each indexed capability, in one flat array (a candidate's row is `stride` long).
struct LevelTable: Sendable {
    private let levels: [UInt8]
    private let stride: Int

    init(_ skills: [AgentSkills], bits: [String: Int]) {
        stride = max(bits.count, 1)
        var levels = [UInt8](repeating: 0, count: skills.count * stride)
        for (index, agent) in skills.enumerated() {
            for name in agent.capabilities { levels[index * stride + bits[name]!] = UInt8(agent.level(of: name)!) }
        }
        self.levels = levels
    }

    @inline(__always)
    func level(_ index: Int, bit: Int) -> UInt8 { levels[index * stride + bit] }

    /// Σ level / 5 over the bits of `mask` (the requested capabilities the candidate has).
    @inline(__always)
    func factor(_ index: Int, _ mask: UInt64) -> Double {
        var bits = mask
        var sum = 0
        while bits != 0 {
            sum += Int(level(index, bit: bits.trailingZeroBitCount))
            bits &= bits - 1
        }
        return Double(sum) / Double(SkillLevel.top)
    }
}
