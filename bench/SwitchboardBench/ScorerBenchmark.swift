import Foundation
@testable import SwitchboardCore

/// Ranks pools of 1,000 / 10,000 / 100,000 candidates with `AgentScorer` and reports the median time
/// per decision and per candidate.
enum ScorerBenchmark {
    static func run() {
        print("AgentScorer.rank — median of repeated decisions, top 20 kept, 2 capabilities requested")
        print("candidates  decisions  median µs/decision  ns/candidate")
        for size in [1_000, 10_000, 100_000] {
            var generator = SplitMix(seed: 42)
            let capabilities = ["french", "spanish", "refunds", "vip", "billing", "tech", "sales", "retention"]
            let pool = CandidatePool((0..<size).map { _ in
                CandidatePool.Entry(
                    candidate: RoutingCandidate(
                        id: UUID(), isActive: generator.next() % 10 != 0,
                        priority: Int(generator.next() % 10) + 1,
                        currentLoad: Int(generator.next() % 12), maxConcurrent: 10,
                        successRate: Double(generator.next() % 1000) / 1000,
                        avgHandlingTime: Double(generator.next() % 600)
                    ),
                    capabilities: (0..<3).map { _ in capabilities[Int(generator.next() % UInt64(capabilities.count))] }
                )
            })
            let request = pool.request(["french", "vip"])
            let decisions = max(20, 2_000_000 / size)
            var samples: [Double] = []
            var checksum = 0.0
            for _ in 0..<decisions {
                let start = ContinuousClock.now
                let ranking = AgentScorer.rank(pool, requesting: request, weights: .contractDefaults, keep: 20)
                let elapsed = ContinuousClock.now - start
                checksum += ranking.best?.score ?? 0
                samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
            }
            samples.sort()
            let median = samples[samples.count / 2]
            print(String(format: "%10d  %9d  %18.1f  %12.2f", size, decisions, median, median * 1000 / Double(size)))
            if checksum.isNaN { print("unreachable") }
        }
    }
}

/// A small deterministic generator so every run ranks the same pools.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
