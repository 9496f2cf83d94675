import Foundation

/// The contract's weights; the tenant setting `routing.weights` overrides them.
struct ScoringWeights: Codable, Sendable, Equatable {
    var successRate: Double = 40
    var priority: Double = 25
    var load: Double = 20
    var handlingTime: Double = 15
    var capabilities: Double = 5

    static let contractDefaults = ScoringWeights()
}

/// What the scorer needs to know about one agent: plain values only (no references), so ranking a large pool
/// moves no reference counts. Capability names live beside it in `CandidatePool`.
struct RoutingCandidate: Sendable, Equatable {
    let id: UUID
    var isActive: Bool
    var priority: Int
    var currentLoad: Int
    var maxConcurrent: Int
    /// The rate it is scored on: the 7-day rate under the formula, the estimate under learning (to which a
    /// decision may add an optimism bonus: `CandidatePool.optimismBonus`).
    var successRate: Double
    var avgHandlingTime: Double
    /// Bits of the agent's capabilities in the pool's capability index (see `CandidatePool`).
    var capabilityMask: UInt64 = 0
    /// `CallChannel.bit`s of the channels whose own limit is reached.
    var channelsFull: UInt8 = 0
    /// Seconds since 1970 at which its last call or after-call work ended (never: when it was created); the
    /// smaller, the longer idle.
    var idleSince: Double = 0

    var isEligible: Bool { isActive && currentLoad < maxConcurrent }

    /// Free for a call of the channel (`channelBit` 0: any channel, as for a recommendation without one).
    @inline(__always)
    func isEligible(channelBit: UInt8) -> Bool { isActive && currentLoad < maxConcurrent && channelsFull & channelBit == 0 }

    /// The id as two big-endian words: comparing them orders ids exactly as their canonical strings do.
    fileprivate var idOrder: (UInt64, UInt64) {
        withUnsafeBytes(of: id.uuid) { raw in
            (UInt64(bigEndian: raw.load(fromByteOffset: 0, as: UInt64.self)),
             UInt64(bigEndian: raw.load(fromByteOffset: 8, as: UInt64.self)))
        }
    }
}

/// The requested capabilities, resolved against one pool once per decision. Plain fields and payload-free modes:
/// the scorer reads them for every candidate of a pool that may hold 100,000, and an enum whose cases carry arrays
/// cost half as much again per candidate (measured, `SwitchboardBench scorer`).
struct CapabilityRequest: Sendable {
    enum Scoring: UInt8, Sendable {
        case none
        /// Every agent's capabilities fit the pool's 64-bit index: one AND and a popcount per candidate.
        case mask
        /// The same, where some agent has a level below the top: its levels in the matched bits, summed.
        case levelled
        /// The same under learning: its level / 5 × estimate in the matched bits, summed (`LearnedTable`).
        case learned
        /// More than 64 distinct capabilities in the pool: factors computed once for the decision.
        case factors
    }

    enum Admission: UInt8, Sendable {
        case everyone
        /// Every bit of `requiredMask`.
        case mask
        /// Every bit of `requiredMask`, and at least `minimums` in some of them.
        case levelled
        /// Per candidate, computed once for the decision (more than 64 capabilities).
        case each
        /// A required capability no agent of the pool has.
        case nobody
    }

    private(set) var scoring = Scoring.none
    private(set) var admission = Admission.everyone
    private var scoringMask: UInt64 = 0
    private var requiredMask: UInt64 = 0
    private var levels: LevelTable? = nil
    private var learned: LearnedTable? = nil
    private var minimums: [(bit: Int, level: UInt8)] = []
    private var factors: [Double] = []
    private var admitted: [Bool] = []
    /// Under learning, the requested names in order, for the breakdown's per-capability terms.
    var requested: [String] = []

    static let none = CapabilityRequest()

    static func scoring(mask: UInt64, levels: LevelTable?) -> CapabilityRequest {
        var request = CapabilityRequest()
        request.scoring = levels == nil ? .mask : .levelled
        request.scoringMask = mask
        request.levels = levels
        return request
    }

    static func scoring(mask: UInt64, learned: LearnedTable) -> CapabilityRequest {
        var request = CapabilityRequest()
        request.scoring = .learned
        request.scoringMask = mask
        request.learned = learned
        return request
    }

    static func scoring(factors: [Double]) -> CapabilityRequest {
        var request = CapabilityRequest()
        request.scoring = .factors
        request.factors = factors
        return request
    }

    /// Admits only candidates with every bit of `mask` and, with a level table, at least these levels.
    mutating func require(mask: UInt64, minimums: [(bit: Int, level: UInt8)] = [], levels: LevelTable? = nil) {
        requiredMask = mask
        if let levels, !minimums.isEmpty {
            admission = .levelled
            self.minimums = minimums
            self.levels = levels
        } else {
            admission = .mask
        }
    }

    mutating func require(each admitted: [Bool]) {
        admission = .each
        self.admitted = admitted
    }

    mutating func admitNobody() { admission = .nobody }

    /// The capability factor: Σ level / 5 over the requested capabilities the candidate has.
    @inline(__always)
    func factor(_ candidate: RoutingCandidate, at index: Int) -> Double {
        switch scoring {
        case .none: 0
        case .mask: Double((candidate.capabilityMask & scoringMask).nonzeroBitCount)
        case .levelled: levels!.factor(index, candidate.capabilityMask & scoringMask)
        case .learned: learned!.factor(index, candidate.capabilityMask & scoringMask)
        case .factors: factors[index]
        }
    }

    @inline(__always)
    func admits(_ candidate: RoutingCandidate, at index: Int) -> Bool {
        switch admission {
        case .everyone: true
        case .mask: candidate.capabilityMask & requiredMask == requiredMask
        case .levelled:
            candidate.capabilityMask & requiredMask == requiredMask
                && minimums.allSatisfy { levels!.level(index, bit: $0.bit) >= $0.level }
        case .each: admitted[index]
        case .nobody: false
        }
    }
}

struct ScoreFactor: Codable, Sendable, Equatable {
    /// The factor after clamping to [0, 1] (for capabilities: Σ level / 5 over the requested capabilities the
    /// agent has, the number of them when every level is the top one).
    let value: Double
    /// `weight * value`.
    let contribution: Double
}

/// Under the learning strategy, where the success-rate term came from.
struct LearningTerm: Codable, Sendable, Equatable {
    /// The posterior mean.
    let estimate: Double
    /// The agent's completed calls the estimate learned from (the last 30 days).
    let callsObserved: Int
    /// The decision drew the terms from the posteriors (the success-rate factor shows the draw).
    let explored: Bool
    /// What `routing.optimism` added to the estimate in the success-rate factor (`routing.optimism` × the
    /// posterior's standard deviation; 0 when the decision explored).
    var optimismBonus: Double = 0
    /// The requested capabilities the agent has, each with its level and learned estimate (issue 25, §3); absent
    /// when the call requested none.
    var capabilities: [LearnedCapabilityTerm]? = nil
}

struct ScoreBreakdown: Codable, Sendable, Equatable {
    let successRate: ScoreFactor
    let priority: ScoreFactor
    let load: ScoreFactor
    let handlingTime: ScoreFactor
    let capabilities: ScoreFactor
    /// Present only under the learning strategy.
    var learning: LearningTerm? = nil
}

/// The call's channel as the candidate had it: its live calls of that channel and its limit (nil: none, only
/// the total applies).
struct ChannelSlot: Codable, Sendable, Equatable {
    let channel: CallChannel
    let load: Int
    let capacity: Int?

    /// `capacity` is written as null, not left out, when the channel has no limit of its own.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(channel, forKey: .channel)
        try container.encode(load, forKey: .load)
        try container.encode(capacity, forKey: .capacity)
    }
}

struct ScoredCandidate: Codable, Sendable, Equatable {
    let agentId: UUID
    let score: Double
    let currentLoad: Int
    let maxConcurrent: Int
    let priority: Int
    let breakdown: ScoreBreakdown
    /// Present when the decision was for a call of a channel.
    var channelSlots: ChannelSlot? = nil
}

struct Ranking: Sendable {
    /// Best first; at most the number asked for (at least one when anyone is eligible).
    let top: [ScoredCandidate]
    let eligibleCount: Int
    var best: ScoredCandidate? { top.first }
}

/// The routing formula, and the only place it lives:
/// `40*success_rate + 25*(priority/10) + 20*(1 - load/10) + 15*(1 - aht/300) + 5*Σ(level/5)`,
/// each factor clamped to [0, 1] (the capability term sums the levels of the requested capabilities the agent has,
/// each out of 5, so it counts them when every level is 5, and is not clamped);
/// ties go to lower load, then higher priority, then the agent idle longest, then the smaller id.
enum AgentScorer {
    @inline(__always)
    static func factors(of candidate: RoutingCandidate, capabilities: Double, optimism: Double)
        -> (Double, Double, Double, Double, Double) {
        (
            clamp(candidate.successRate + optimism),
            clamp(Double(candidate.priority) / 10),
            clamp(1 - Double(candidate.currentLoad) / 10),
            clamp(1 - candidate.avgHandlingTime / 300),
            capabilities
        )
    }

    @inline(__always)
    static func score(_ candidate: RoutingCandidate, capabilities: Double, weights: ScoringWeights,
                      optimism: Double = 0) -> Double {
        let (success, priority, load, handling, capabilities) = factors(of: candidate, capabilities: capabilities,
                                                                        optimism: optimism)
        return weights.successRate * success + weights.priority * priority + weights.load * load
            + weights.handlingTime * handling + weights.capabilities * capabilities
    }

    static func explain(_ candidate: RoutingCandidate, capabilities factor: Double, weights: ScoringWeights,
                        learning: LearningTerm? = nil) -> ScoredCandidate {
        let optimism = learning?.optimismBonus ?? 0
        let (success, priority, load, handling, capabilities) = factors(of: candidate, capabilities: factor,
                                                                        optimism: optimism)
        return ScoredCandidate(
            agentId: candidate.id,
            score: score(candidate, capabilities: factor, weights: weights, optimism: optimism),
            currentLoad: candidate.currentLoad,
            maxConcurrent: candidate.maxConcurrent,
            priority: candidate.priority,
            breakdown: ScoreBreakdown(
                successRate: ScoreFactor(value: success, contribution: weights.successRate * success),
                priority: ScoreFactor(value: priority, contribution: weights.priority * priority),
                load: ScoreFactor(value: load, contribution: weights.load * load),
                handlingTime: ScoreFactor(value: handling, contribution: weights.handlingTime * handling),
                capabilities: ScoreFactor(value: capabilities, contribution: weights.capabilities * capabilities),
                learning: learning
            )
        )
    }

    /// Ranks the pool's eligible candidates and keeps the best `keep` (a bounded insertion, so ranking stays
    /// linear in the pool size). `excluding` skips agents whose claim was already lost.
    static func rank(
        _ pool: CandidatePool,
        requesting request: CapabilityRequest = .none,
        weights: ScoringWeights = .contractDefaults,
        keep: Int = 20,
        excluding excluded: Set<UUID> = [],
        explored: Bool = false,
        channel: CallChannel? = nil
    ) -> Ranking {
        let limit = max(keep, 1)
        let channelBit = channel?.bit ?? 0
        var top: [(score: Double, index: Int)] = []
        top.reserveCapacity(limit + 1)
        var eligible = 0
        let threshold = pool.optimismThreshold(admitting: request)
        pool.candidates.withUnsafeBufferPointer { candidates in
            pool.optimismBonuses.withUnsafeBufferPointer { bonuses in
                for index in candidates.indices {
                    guard candidates[index].isEligible(channelBit: channelBit), request.admits(candidates[index], at: index),
                          excluded.isEmpty || !excluded.contains(candidates[index].id) else { continue }
                    eligible += 1
                    let optimism = bonuses.isEmpty ? 0 : optimismBonus(bonuses[index], lifting: candidates[index], above: threshold)
                    let entry = (score: score(candidates[index], capabilities: request.factor(candidates[index], at: index),
                                              weights: weights, optimism: optimism),
                                 index: index)
                    if top.count == limit {
                        guard ranksBefore(entry, top[limit - 1], in: candidates) else { continue }
                        top.removeLast()
                    }
                    var position = top.count
                    while position > 0 && ranksBefore(entry, top[position - 1], in: candidates) { position -= 1 }
                    top.insert(entry, at: position)
                }
            }
        }
        let explained = top.map { entry in
            explain(pool.candidates[entry.index], capabilities: request.factor(pool.candidates[entry.index], at: entry.index),
                    weights: weights,
                    learning: pool.learningTerm(at: entry.index, explored: explored, requested: request.requested,
                                                optimismAbove: threshold))
        }
        return Ranking(top: explained, eligibleCount: eligible)
    }

    /// An agent's optimism bonus where it lifts the agent's estimate above `threshold`
    /// (`CandidatePool.optimismThreshold`), else 0.
    @inline(__always)
    static func optimismBonus(_ bonus: Double, lifting candidate: RoutingCandidate, above threshold: Double) -> Double {
        candidate.successRate + bonus > threshold ? bonus : 0
    }

    private static let scoreTolerance = 1e-9

    @inline(__always)
    private static func ranksBefore(
        _ a: (score: Double, index: Int), _ b: (score: Double, index: Int), in candidates: UnsafeBufferPointer<RoutingCandidate>
    ) -> Bool {
        if abs(a.score - b.score) > scoreTolerance { return a.score > b.score }
        let x = candidates[a.index], y = candidates[b.index]
        if x.currentLoad != y.currentLoad { return x.currentLoad < y.currentLoad }
        if x.priority != y.priority { return x.priority > y.priority }
        if x.idleSince != y.idleSince { return x.idleSince < y.idleSince }
        return x.idOrder < y.idOrder
    }

    /// Clamps to [0, 1]; NaN becomes 0 (infinities clamp like any other number).
    @inline(__always)
    private static func clamp(_ value: Double) -> Double {
        value >= 0 ? (value <= 1 ? value : 1) : 0
    }
}
