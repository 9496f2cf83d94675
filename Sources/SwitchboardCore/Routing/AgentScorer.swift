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

/// What the scorer needs to know about one agent; no I/O, no Fluent.
struct RoutingCandidate: Sendable, Equatable {
    let id: UUID
    var isActive: Bool
    var priority: Int
    var currentLoad: Int
    var maxConcurrent: Int
    var successRate: Double
    var avgHandlingTime: Double
    var capabilities: [String]
    /// Bits of `capabilities` in the pool's capability index (see `CandidatePool`).
    var capabilityMask: UInt64 = 0

    var isEligible: Bool { isActive && currentLoad < maxConcurrent }

    /// The id as two big-endian words: comparing them orders ids exactly as their canonical strings do.
    fileprivate var idOrder: (UInt64, UInt64) {
        withUnsafeBytes(of: id.uuid) { raw in
            (UInt64(bigEndian: raw.load(fromByteOffset: 0, as: UInt64.self)),
             UInt64(bigEndian: raw.load(fromByteOffset: 8, as: UInt64.self)))
        }
    }
}

/// The requested capabilities, resolved against a pool once per decision.
struct CapabilityRequest: Sendable {
    let names: Set<String>
    /// Set when every requested name could be mapped to the pool's bit index.
    let mask: UInt64?

    static let none = CapabilityRequest(names: [], mask: 0)

    func matches(_ candidate: RoutingCandidate) -> Int {
        if names.isEmpty { return 0 }
        if let mask { return (candidate.capabilityMask & mask).nonzeroBitCount }
        return candidate.capabilities.reduce(0) { $0 + (names.contains($1) ? 1 : 0) }
    }
}

struct ScoreFactor: Codable, Sendable, Equatable {
    /// The factor after clamping to [0, 1] (for capabilities: the number of matches).
    let value: Double
    /// `weight * value`.
    let contribution: Double
}

struct ScoreBreakdown: Codable, Sendable, Equatable {
    let successRate: ScoreFactor
    let priority: ScoreFactor
    let load: ScoreFactor
    let handlingTime: ScoreFactor
    let capabilities: ScoreFactor
}

struct ScoredCandidate: Codable, Sendable, Equatable {
    let agentId: UUID
    let score: Double
    let currentLoad: Int
    let maxConcurrent: Int
    let priority: Int
    let breakdown: ScoreBreakdown
}

struct Ranking: Sendable {
    /// Best first; at most the number asked for (at least one when anyone is eligible).
    let top: [ScoredCandidate]
    let eligibleCount: Int
    var best: ScoredCandidate? { top.first }
}

/// The routing formula, and the only place it lives:
/// `40*success_rate + 25*(priority/10) + 20*(1 - load/10) + 15*(1 - aht/300) + 5*matches`,
/// each factor clamped to [0, 1] (the capability term counts matches and is not clamped);
/// ties go to lower load, then higher priority, then the smaller id.
enum AgentScorer {
    static func factors(of candidate: RoutingCandidate, matches: Int) -> (Double, Double, Double, Double, Double) {
        (
            clamp(candidate.successRate),
            clamp(Double(candidate.priority) / 10),
            clamp(1 - Double(candidate.currentLoad) / 10),
            clamp(1 - candidate.avgHandlingTime / 300),
            Double(matches)
        )
    }

    static func score(_ candidate: RoutingCandidate, matches: Int, weights: ScoringWeights) -> Double {
        let (success, priority, load, handling, capabilities) = factors(of: candidate, matches: matches)
        return weights.successRate * success + weights.priority * priority + weights.load * load
            + weights.handlingTime * handling + weights.capabilities * capabilities
    }

    static func explain(_ candidate: RoutingCandidate, matches: Int, weights: ScoringWeights) -> ScoredCandidate {
        let (success, priority, load, handling, capabilities) = factors(of: candidate, matches: matches)
        return ScoredCandidate(
            agentId: candidate.id,
            score: score(candidate, matches: matches, weights: weights),
            currentLoad: candidate.currentLoad,
            maxConcurrent: candidate.maxConcurrent,
            priority: candidate.priority,
            breakdown: ScoreBreakdown(
                successRate: ScoreFactor(value: success, contribution: weights.successRate * success),
                priority: ScoreFactor(value: priority, contribution: weights.priority * priority),
                load: ScoreFactor(value: load, contribution: weights.load * load),
                handlingTime: ScoreFactor(value: handling, contribution: weights.handlingTime * handling),
                capabilities: ScoreFactor(value: capabilities, contribution: weights.capabilities * capabilities)
            )
        )
    }

    /// Ranks the eligible candidates and keeps the best `keep` (a bounded insertion, so ranking stays
    /// linear in the pool size). `excluding` skips agents whose claim was already lost.
    static func rank(
        _ candidates: [RoutingCandidate],
        requesting request: CapabilityRequest = .none,
        weights: ScoringWeights = .contractDefaults,
        keep: Int = 20,
        excluding excluded: Set<UUID> = []
    ) -> Ranking {
        let limit = max(keep, 1)
        var top: [(score: Double, index: Int)] = []
        top.reserveCapacity(limit + 1)
        var eligible = 0
        for index in candidates.indices {
            let candidate = candidates[index]
            guard candidate.isEligible, excluded.isEmpty || !excluded.contains(candidate.id) else { continue }
            eligible += 1
            let entry = (score: score(candidate, matches: request.matches(candidate), weights: weights), index: index)
            if top.count == limit {
                guard ranksBefore(entry, top[limit - 1], in: candidates) else { continue }
                top.removeLast()
            }
            var position = top.count
            while position > 0 && ranksBefore(entry, top[position - 1], in: candidates) { position -= 1 }
            top.insert(entry, at: position)
        }
        let explained = top.map { entry in
            explain(candidates[entry.index], matches: request.matches(candidates[entry.index]), weights: weights)
        }
        return Ranking(top: explained, eligibleCount: eligible)
    }

    private static let scoreTolerance = 1e-9

    private static func ranksBefore(
        _ a: (score: Double, index: Int), _ b: (score: Double, index: Int), in candidates: [RoutingCandidate]
    ) -> Bool {
        if abs(a.score - b.score) > scoreTolerance { return a.score > b.score }
        let x = candidates[a.index], y = candidates[b.index]
        if x.currentLoad != y.currentLoad { return x.currentLoad < y.currentLoad }
        if x.priority != y.priority { return x.priority > y.priority }
        return x.idOrder < y.idOrder
    }

    private static func clamp(_ value: Double) -> Double {
        guard value.isFinite else { return 0 }
        return min(max(value, 0), 1)
    }
}
