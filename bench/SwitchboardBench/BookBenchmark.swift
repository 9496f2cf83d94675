import Foundation
@testable import SwitchboardCore

/// The next route over a loaded book, in process: `TenantBook.decide` with a claim (then the claim given back,
/// so every decision sees the same pool), for one sector of 10,000 and 100,000 agents. This is the work the call
/// writer does per call; HTTP and the database are measured by bench/run-all.sh.
enum BookBenchmark {
    static func run() {
        print("TenantBook.decide(claiming:) — median of repeated decisions over one sector pool, top 20 kept")
        print("agents  decisions  median µs/decision  p99 µs")
        for size in [10_000, 100_000] {
            var generator = SplitMix(seed: 7)
            let capabilities = ["french", "spanish", "refunds", "vip", "billing", "tech", "sales", "retention"]
            let rows = (0..<size).map { _ in
                BookAgentRow(
                    id: UUID(), sector: "billing", isActive: generator.next() % 10 != 0,
                    priority: Int(generator.next() % 10) + 1,
                    capabilities: (0..<3).map { _ in capabilities[Int(generator.next() % UInt64(capabilities.count))] },
                    maxConcurrent: 10, load: Int(generator.next() % 12),
                    successRate: Double(generator.next() % 1000) / 1000, avgHandlingTime: Double(generator.next() % 600))
            }
            var book = TenantBook(policy: .defaults, agents: rows, teams: [:], assignments: [], queuedCalls: 0)
            let request = RouteRequest(teamId: nil, sector: "billing", capabilities: ["french", "vip"])
            let decisions = size >= 100_000 ? 200 : 2_000
            var samples: [Double] = []
            for _ in 0..<decisions {
                let start = ContinuousClock.now
                let decision = try! book.decide(request, claiming: true)
                let elapsed = ContinuousClock.now - start
                if let chosen = decision.chosen { book.adjustLoad(of: chosen.agentId, by: -1, channel: nil) }
                samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
            }
            samples.sort()
            print(String(format: "%6d  %9d  %18.1f  %6.1f", size, decisions, samples[samples.count / 2],
                         samples[samples.count * 99 / 100]))
        }
    }
}
