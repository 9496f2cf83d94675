import Foundation

/// The agents a request may be routed to. Capabilities are indexed as bits when the pool has at most 64
/// distinct ones, so matching costs one AND and a popcount per candidate.
struct CandidatePool: Sendable {
    struct Entry: Sendable {
        var candidate: RoutingCandidate
        var capabilities: [String]
        /// Under the learning strategy: the agent's success estimate, whose mean is then the candidate's term.
        var estimate: SuccessEstimate? = nil
    }

    private(set) var candidates: [RoutingCandidate]
    /// Σ max_concurrent / avg_handling_time over the routable agents (`slotsFreedPerSecond`).
    private var routableSlotsPerSecond = 0.0
    private var routableCount = 0
    /// Parallel to `candidates` under the learning strategy; nil under the formula.
    private(set) var estimates: [SuccessEstimate]?
    /// Parallel to `candidates`.
    private let capabilities: [[String]]
    private let capabilityBits: [String: Int]?

    init(_ entries: [Entry]) {
        var bits: [String: Int] = [:]
        for name in entries.lazy.flatMap(\.capabilities) where bits[name] == nil {
            bits[name] = bits.count
        }
        let indexable = bits.count <= UInt64.bitWidth
        capabilityBits = indexable ? bits : nil
        capabilities = entries.map(\.capabilities)
        let estimates = entries.compactMap(\.estimate)
        self.estimates = !estimates.isEmpty && estimates.count == entries.count ? estimates : nil
        candidates = entries.map { entry in
            var candidate = entry.candidate
            if let estimate = entry.estimate { candidate.successRate = estimate.mean }
            candidate.capabilityMask = indexable
                ? entry.capabilities.reduce(UInt64(0)) { $0 | (1 << UInt64(bits[$1]!)) } : 0
            return candidate
        }
        routableSlotsPerSecond = candidates.reduce(0) { $0 + Self.slotsPerSecond(of: $1) }
        routableCount = candidates.filter(\.isActive).count
    }

    /// A pool of agents without capabilities.
    init(candidates: [RoutingCandidate]) {
        self.init(candidates.map { Entry(candidate: $0, capabilities: []) })
    }

    var agentIds: [UUID] { candidates.map(\.id) }

    func capabilities(at index: Int) -> [String] { capabilities[index] }

    /// The slots the routable agents with every `required` capability free a second (`WaitEstimate`). Without
    /// requirements, the running total: every queued call asks, and a pool may hold 100,000 agents.
    func slotsFreedPerSecond(required: [String]) -> Double {
        // The count is exact where the sum may keep a rounding residue once every agent left.
        guard !required.isEmpty else { return routableCount > 0 ? max(0, routableSlotsPerSecond) : 0 }
        var rate = 0.0
        for (index, candidate) in candidates.enumerated() where required.allSatisfy(capabilities[index].contains) {
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

    /// A new success term: the estimate's mean when the pool learns, else the observed rate (when there is one).
    mutating func setSuccess(at index: Int, rate: Double?, estimate: SuccessEstimate?) {
        if let estimate, estimates != nil {
            estimates![index] = estimate
            candidates[index].successRate = estimate.mean
        } else if let rate {
            candidates[index].successRate = rate
        }
    }

    /// A copy whose success terms are drawn from each agent's posterior (Thompson sampling), except for agents
    /// whose estimate is below `floor`, which keep their mean: exploration never favours a known poor performer.
    func exploring(floor: Double, using generator: inout some RandomNumberGenerator) -> CandidatePool {
        guard let estimates else { return self }
        var copy = self
        for index in copy.candidates.indices where candidates[index].isEligible && estimates[index].mean >= floor {
            copy.candidates[index].successRate = estimates[index].sample(using: &generator)
        }
        return copy
    }

    /// `requested` add to the score; `required` admit only agents that have them all.
    func request(_ requested: [String], required: [String] = []) -> CapabilityRequest {
        var request = scoring(requested)
        let needed = Set(required)
        guard !needed.isEmpty else { return request }
        if let capabilityBits {
            var mask: UInt64 = 0
            for name in needed {
                guard let bit = capabilityBits[name] else {
                    request.required = .impossible
                    return request
                }
                mask |= 1 << UInt64(bit)
            }
            request.required = .mask(mask)
        } else {
            request.required = .each(capabilities.map { needed.isSubset(of: $0) })
        }
        return request
    }

    private func scoring(_ requested: [String]) -> CapabilityRequest {
        let names = Set(requested)
        guard !names.isEmpty else { return .none }
        guard let capabilityBits else {
            return CapabilityRequest(matching: .counts(capabilities.map { $0.reduce(0) { $0 + (names.contains($1) ? 1 : 0) } }))
        }
        // A name no agent has can match nobody, so it contributes no bit.
        let mask = names.reduce(UInt64(0)) { mask, name in
            capabilityBits[name].map { mask | (1 << UInt64($0)) } ?? mask
        }
        return CapabilityRequest(matching: .mask(mask))
    }
}
