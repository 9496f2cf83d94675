import Foundation
@testable import SwitchboardCore

/// `waits`: how close the estimated wait a queued call is told (`WaitEstimate`) comes to the wait it has, on steady
/// replays in the what-if simulator: one sector of agents taking one call at a time, whose 7-day handling time is
/// the replay's mean; calls arriving at random (Poisson) at a share of the floor's capacity, for six hours.
/// Prints the median absolute error against the median wait of the calls that queued (issue 25's bar: ≤ 30 %).
enum WaitEstimateBenchmark {
    static func run() {
        print("Estimated waits on steady replays (6 h, one sector, calls at random at the given share of capacity)")
        print("agents  handling             load   queued  median wait s  median |error| s  error ÷ wait")
        for (agents, handling) in [(20, "uniform 90–270 s"), (20, "exponential, 180 s"), (60, "uniform 90–270 s")] {
            for load in [0.95, 1.0, 1.05] {
                let check = measure(agents: agents, exponential: handling.hasPrefix("exponential"), load: load, seed: 7)
                print(String(format: "%6d  %-20@ %5.2f  %7d  %13.0f  %16.0f  %11.0f %%", agents, handling as NSString, load,
                             check.calls, check.medianWait, check.medianAbsoluteError, check.relativeError * 100))
            }
        }
    }

    static func measure(agents count: Int, exponential: Bool, load: Double, seed: UInt64) -> RoutingSimulation.WaitEstimateCheck {
        var generator = SeededGenerator(seed: seed)
        let meanHandling = 180.0, horizon = 6 * 3_600.0
        let agents = (0..<count).map { _ in
            BookAgentRow(id: UUID(), sector: "support", isActive: true, priority: 5, capabilities: [], maxConcurrent: 1,
                         load: 0, successRate: 0.8, avgHandlingTime: meanHandling)
        }
        let catalogue = BookCatalogue(agents: agents, teams: [:], assignments: [], successHistory: [:])
        let arrivalsPerSecond = load * Double(count) / meanHandling
        var calls: [RoutingSimulation.Call] = []
        var time = 0.0
        while true {
            time += -log(1 - Double.random(in: 0..<1, using: &generator)) / arrivalsPerSecond
            guard time < horizon else { break }
            let handling = exponential ? -log(1 - Double.random(in: 0..<1, using: &generator)) * meanHandling
                : Double.random(in: 0.5 * meanHandling...1.5 * meanHandling, using: &generator)
            calls.append(RoutingSimulation.Call(arrival: time, teamId: nil, sector: "support", capabilities: [],
                                                handlingSeconds: handling))
        }
        let report = RoutingSimulation.run(calls, catalogue: catalogue, policy: .defaults, horizonSeconds: horizon,
                                           checkingWaitEstimates: true)
        return report.waitEstimates ?? RoutingSimulation.WaitEstimateCheck()
    }
}
