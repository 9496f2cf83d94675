import Foundation
@testable import SwitchboardCore

/// Issue 25, §3: agents alike overall, unlike per capability. Ten are strong on French calls (88–95 %) and weak on
/// billing ones (55–65 %), ten the other way round; each has 60 recorded calls of each kind. Calls alternate between
/// the two. For the last third of the calls, the mean true rate of the chosen agents for the call's capability, as a
/// share of the best agent's for it, under the formula and under learning, at the default capability weight (5)
/// and at 20.
enum SkillLearningBenchmark {
    static let kinds = ["french", "billing"]

    static func population(seed: UInt64) -> (catalogue: BookCatalogue, truth: [UUID: [String: Double]]) {
        var generator = SeededGenerator(seed: seed)
        var agents: [BookAgentRow] = []
        var truth: [UUID: [String: Double]] = [:]
        var overall: [UUID: SuccessHistory] = [:]
        var byCapability: [UUID: [String: SuccessHistory]] = [:]
        for index in 0..<20 {
            let id = UUID(uuid: (UInt8(index), 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, UInt8(seed % 251)))
            let strong = Double.random(in: 0.88...0.95, using: &generator), weak = Double.random(in: 0.55...0.65, using: &generator)
            truth[id] = index < 10 ? ["french": strong, "billing": weak] : ["french": weak, "billing": strong]
            for kind in kinds {
                let successes = (0..<60).filter { _ in Double.random(in: 0..<1, using: &generator) < truth[id]![kind]! }.count
                byCapability[id, default: [:]][kind] = SuccessHistory(successes: successes, calls: 60)
                overall[id] = (overall[id] ?? .none) + SuccessHistory(successes: successes, calls: 60)
            }
            agents.append(BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: kinds, maxConcurrent: 2,
                                       load: 0, successRate: overall[id]!.rate!, avgHandlingTime: 180))
        }
        return (BookCatalogue(agents: agents, teams: [:], assignments: [], successHistory: overall, capabilityHistory: byCapability),
                truth)
    }

    static func run(calls count: Int = 1_500, seeds: Int = 20) {
        print("  \(seeds) seeds, \(count) calls each (French and billing in turn); the last third's chosen agents' true rate")
        print("  for the call's capability / the best agent's for it")
        print("  calls            policy                          min       mean")
        for (mode, spacing) in [("one at a time", 300.0), ("parallel (~4)", 30.0)] {
            let calls = (0..<count).map {
                RoutingSimulation.Call(arrival: Double($0) * spacing, teamId: nil, sector: "billing", capabilities: [kinds[$0 % 2]],
                                       handlingSeconds: 120)
            }
            var heavier = ScoringWeights.contractDefaults
            heavier.capabilities = 20
            var formulaHeavier = RoutingPolicy.defaults
            formulaHeavier.weights = heavier
            var learning = SimulationBenchmark.learningPolicy()
            var learningHeavier = learning
            learningHeavier.weights = heavier
            learning.weights = .contractDefaults
            let policies = [("formula", RoutingPolicy.defaults), ("formula, capability weight 20", formulaHeavier),
                            ("learning", learning), ("learning, capability weight 20", learningHeavier)]
            var ratios: [String: [Double]] = [:]
            for seed in 1...UInt64(seeds) {
                let (catalogue, truth) = population(seed: seed)
                let outcome: RoutingSimulation.Outcome = { call, agentId, generator in
                    Double.random(in: 0..<1, using: &generator) < truth[agentId]![calls[call].capabilities[0]]!
                }
                let best = Dictionary(uniqueKeysWithValues: kinds.map { kind in (kind, truth.values.map { $0[kind]! }.max()!) })
                for (name, policy) in policies {
                    let report = RoutingSimulation.run(calls, catalogue: catalogue, policy: policy,
                                                       horizonSeconds: Double(count) * spacing + 600, seed: seed, outcome: outcome)
                    var sum = 0.0, chosen = 0
                    for index in (2 * count / 3)..<count {
                        guard let agentId = report.agentOfCall[index] else { continue }
                        let kind = calls[index].capabilities[0]
                        sum += truth[agentId]![kind]! / best[kind]!
                        chosen += 1
                    }
                    ratios[name, default: []].append(chosen > 0 ? sum / Double(chosen) : 0)
                }
            }
            for (name, _) in policies {
                let values = ratios[name]!
                print("  " + mode.padding(toLength: 17, withPad: " ", startingAt: 0) + name.padding(toLength: 32, withPad: " ", startingAt: 0)
                      + String(format: "%5.1f %%   %5.1f %%", values.min()! * 100, values.reduce(0, +) / Double(values.count) * 100))
            }
        }
    }
}
