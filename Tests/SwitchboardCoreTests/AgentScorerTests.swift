import Foundation
import Testing
@testable import SwitchboardCore

@Suite("AgentScorer: the routing formula")
struct AgentScorerTests {
    static func candidate(
        _ id: String = "00000000-0000-0000-0000-000000000001", priority: Int = 5, load: Int = 0, max: Int = 10,
        success: Double = 0.5, aht: Double = 180, active: Bool = true, idleSince: Double = 0
    ) -> RoutingCandidate {
        RoutingCandidate(id: UUID(uuidString: id)!, isActive: active, priority: priority, currentLoad: load, maxConcurrent: max,
                         successRate: success, avgHandlingTime: aht, idleSince: idleSince)
    }

    static func pool(_ candidates: RoutingCandidate...) -> CandidatePool { CandidatePool(candidates: candidates) }

    struct ScoreCase: Sendable, CustomTestStringConvertible {
        let candidate: RoutingCandidate
        var capabilities: [String] = []
        let requested: [String]
        let expected: Double
        let testDescription: String
    }

    /// Hand-computed: 40*s + 25*p/10 + 20*(1-l/10) + 15*(1-aht/300) + 5*matches, factors clamped.
    static let scoreCases: [ScoreCase] = [
        ScoreCase(candidate: candidate(success: 0.5, aht: 180), requested: [], expected: 58.5, testDescription: "defaults"),
        ScoreCase(candidate: candidate(priority: 10, load: 0, success: 1, aht: 0), requested: [], expected: 100,
                  testDescription: "perfect agent"),
        ScoreCase(candidate: candidate(priority: 1, load: 5, success: 0.25, aht: 150), requested: [], expected: 30,
                  testDescription: "mid values"),
        ScoreCase(candidate: candidate(load: 12, max: 20, success: 1.7, aht: 900), requested: [], expected: 52.5,
                  testDescription: "clamped above"),
        ScoreCase(candidate: candidate(success: -0.3, aht: -50), requested: [], expected: 47.5,
                  testDescription: "clamped below"),
        ScoreCase(candidate: candidate(), capabilities: ["french", "refunds", "vip"], requested: ["french", "vip", "spanish"],
                  expected: 68.5, testDescription: "two matching capabilities"),
        ScoreCase(candidate: candidate(), capabilities: ["french"], requested: ["spanish"], expected: 58.5,
                  testDescription: "no matching capability"),
    ]

    @Test(arguments: scoreCases)
    func scoreMatchesHandComputedValues(_ scoreCase: ScoreCase) {
        let pool = CandidatePool([.init(candidate: scoreCase.candidate, capabilities: scoreCase.capabilities)])
        let ranking = AgentScorer.rank(pool, requesting: pool.request(scoreCase.requested))
        let best = ranking.best!
        #expect(abs(best.score - scoreCase.expected) < 1e-9, "\(best.score) vs \(scoreCase.expected)")
        let parts = best.breakdown
        let sum = parts.successRate.contribution + parts.priority.contribution + parts.load.contribution
            + parts.handlingTime.contribution + parts.capabilities.contribution
        #expect(abs(sum - best.score) < 1e-9, "the breakdown adds up to the score")
    }

    @Test func breakdownShowsClampedFactors() {
        let scored = AgentScorer.explain(Self.candidate(load: 15, max: 20, success: 2, aht: 600), capabilities: 2, weights: .contractDefaults)
        #expect(scored.breakdown.successRate == ScoreFactor(value: 1, contribution: 40))
        #expect(scored.breakdown.load == ScoreFactor(value: 0, contribution: 0))
        #expect(scored.breakdown.handlingTime == ScoreFactor(value: 0, contribution: 0))
        #expect(scored.breakdown.capabilities == ScoreFactor(value: 2, contribution: 10))
    }

    @Test func ineligibleAgentsAreNotRanked() {
        let full = Self.candidate("00000000-0000-0000-0000-00000000000a", load: 3, max: 3, success: 1)
        let inactive = Self.candidate("00000000-0000-0000-0000-00000000000b", success: 1, active: false)
        let ok = Self.candidate("00000000-0000-0000-0000-00000000000c", success: 0.1)
        let ranking = AgentScorer.rank(Self.pool(full, inactive, ok))
        #expect(ranking.eligibleCount == 1)
        #expect(ranking.best?.agentId == ok.id)
        #expect(AgentScorer.rank(Self.pool(full, inactive)).best == nil)
    }

    @Test func tiesGoToLowerLoadThenHigherPriorityThenLongestIdleThenSmallerId() {
        // Equal scores built on purpose: weights that ignore load and priority.
        let flat = ScoringWeights(successRate: 1, priority: 0, load: 0, handlingTime: 0, capabilities: 0)
        let a = Self.candidate("00000000-0000-0000-0000-000000000003", priority: 5, load: 2)
        let b = Self.candidate("00000000-0000-0000-0000-000000000002", priority: 5, load: 1)
        #expect(AgentScorer.rank(Self.pool(a, b), weights: flat).best?.agentId == b.id, "lower load first")

        let c = Self.candidate("00000000-0000-0000-0000-000000000003", priority: 9, load: 1)
        #expect(AgentScorer.rank(Self.pool(b, c), weights: flat).best?.agentId == c.id, "then higher priority")

        let idleLonger = Self.candidate("00000000-0000-0000-0000-0000000000ff", priority: 5, load: 1, idleSince: 1_000)
        let idleShorter = Self.candidate("00000000-0000-0000-0000-0000000000fe", priority: 5, load: 1, idleSince: 2_000)
        #expect(AgentScorer.rank(Self.pool(idleShorter, idleLonger), weights: flat).best?.agentId == idleLonger.id,
                "then the agent idle longest")
        #expect(AgentScorer.rank(Self.pool(idleLonger, idleShorter), weights: flat).top.map(\.agentId) == [idleLonger.id, idleShorter.id])
        let busierButIdleLonger = Self.candidate("00000000-0000-0000-0000-0000000000fd", priority: 5, load: 2, idleSince: 0)
        #expect(AgentScorer.rank(Self.pool(busierButIdleLonger, idleShorter), weights: flat).best?.agentId == idleShorter.id,
                "load before idle time")

        let d = Self.candidate("00000000-0000-0000-0000-0000000000ff", priority: 5, load: 1)
        let e = Self.candidate("00000000-0000-0000-0000-0000000000fe", priority: 5, load: 1)
        #expect(AgentScorer.rank(Self.pool(d, e), weights: flat).best?.agentId == e.id, "then the smaller id")
        let f = Self.candidate("a0000000-0000-0000-0000-000000000000", priority: 5, load: 1)
        let g = Self.candidate("0b000000-0000-0000-0000-000000000000", priority: 5, load: 1)
        #expect(AgentScorer.rank(Self.pool(f, g), weights: flat).best?.agentId == g.id, "ids compare as their strings do")
    }

    @Test func rankKeepsTheTopNInOrder() {
        let candidates = (0..<200).map { index in
            Self.candidate(String(format: "00000000-0000-0000-0000-%012d", index), success: Double(index % 97) / 100)
        }
        let ranking = AgentScorer.rank(CandidatePool(candidates: candidates), keep: 20)
        #expect(ranking.top.count == 20)
        #expect(ranking.eligibleCount == 200)
        let scores = ranking.top.map(\.score)
        #expect(scores == scores.sorted(by: >))
        let bruteForce = candidates.map { AgentScorer.score($0, capabilities: 0, weights: .contractDefaults) }.sorted(by: >)
        #expect(scores == Array(bruteForce.prefix(20)))
        #expect(AgentScorer.rank(CandidatePool(candidates: candidates), keep: 0).top.count == 1, "the best is always kept")
    }

    @Test func capabilityMatchingWorksBeyondSixtyFourDistinctNames() {
        let many = (0..<70).map { index in
            CandidatePool.Entry(candidate: Self.candidate(String(format: "00000000-0000-0000-0000-%012d", index)),
                                capabilities: ["cap\(index)"])
        }
        let pool = CandidatePool(many)
        let ranking = AgentScorer.rank(pool, requesting: pool.request(["cap69"]))
        #expect(ranking.best?.agentId == many[69].candidate.id)
        #expect(ranking.best?.breakdown.capabilities.value == 1)
    }

    @Test func customWeightsApply() {
        let weights = ScoringWeights(successRate: 0, priority: 100, load: 0, handlingTime: 0, capabilities: 0)
        let low = Self.candidate("00000000-0000-0000-0000-000000000001", priority: 2, success: 1)
        let high = Self.candidate("00000000-0000-0000-0000-000000000002", priority: 8, success: 0)
        let best = AgentScorer.rank(Self.pool(low, high), weights: weights).best
        #expect(best?.agentId == high.id)
        #expect(best?.score == 80)
    }
}
