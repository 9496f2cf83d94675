import FluentKit
import Foundation
import Testing
import Vapor
@testable import SwitchboardCore

/// Three billing agents: a newcomer with 3 calls, all successful; a veteran at 92 % and a weaker one at 60 %.
private struct LearningFixture {
    let newcomer = UUID(), veteran = UUID(), weaker = UUID()

    var rows: [BookAgentRow] {
        [(newcomer, 1.0), (veteran, 0.92), (weaker, 0.6)].map { id, rate in
            BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: [], maxConcurrent: 10, load: 0,
                         successRate: rate, avgHandlingTime: 180)
        }
    }

    var history: [UUID: SuccessHistory] {
        [newcomer: SuccessHistory(successes: 3, calls: 3), veteran: SuccessHistory(successes: 460, calls: 500),
         weaker: SuccessHistory(successes: 300, calls: 500)]
    }

    func book(_ policy: RoutingPolicy, seed: UInt64 = 1) -> TenantBook {
        TenantBook(policy: policy, agents: rows, teams: [:], assignments: [], queuedCalls: nil, successHistory: history,
                   generator: SeededGenerator(seed: seed))
    }
}

/// The default routing policy under learning, with what a test sets.
private func learningPolicy(exploration: Double = RoutingPolicy.defaults.exploration,
                            optimism: Double = RoutingPolicy.defaults.optimism,
                            explorationFloor: Double = RoutingPolicy.defaults.explorationFloor) -> RoutingPolicy {
    var policy = RoutingPolicy.defaults
    policy.strategy = .learning
    policy.exploration = exploration
    policy.optimism = optimism
    policy.explorationFloor = explorationFloor
    return policy
}

@Suite("Learning router")
struct LearningRouterTests {
    @Test func theEstimateIsTheHandComputedPosteriorMean() throws {
        let fixture = LearningFixture()
        var learning = learningPolicy(exploration: 0, optimism: 0)
        // By hand: the sector's rate is (3 + 460 + 300) / 1003; the prior is worth 20 calls at that rate.
        let sectorRate = 763.0 / 1003.0
        let newcomer = (20 * sectorRate + 3) / 23, veteran = (20 * sectorRate + 460) / 520, weaker = (20 * sectorRate + 300) / 520
        #expect(abs(newcomer - 0.79196) < 1e-4 && abs(veteran - 0.91389) < 1e-4)

        var book = fixture.book(learning)
        let decision = try book.decide(RouteRequest(teamId: nil, sector: "billing", capabilities: []), claiming: false)
        #expect(decision.chosen?.agentId == fixture.veteran, "500 calls at 92 % outrank 3 at 100 %")
        let byAgent = Dictionary(uniqueKeysWithValues: decision.ranking.top.map { ($0.agentId, $0.breakdown) })
        for (id, expected, calls) in [(fixture.newcomer, newcomer, 3), (fixture.veteran, veteran, 500), (fixture.weaker, weaker, 500)] {
            let breakdown = try #require(byAgent[id])
            #expect(abs(breakdown.successRate.value - expected) < 1e-12)
            #expect(abs(breakdown.successRate.contribution - 40 * expected) < 1e-9)
            #expect(breakdown.learning == LearningTerm(estimate: breakdown.successRate.value, callsObserved: calls, explored: false))
        }

        // The formula takes the 7-day rate at its word, and shows no learning term.
        var formula = fixture.book(.defaults)
        let byFormula = try formula.decide(RouteRequest(teamId: nil, sector: "billing", capabilities: []), claiming: false)
        #expect(byFormula.chosen?.agentId == fixture.newcomer)
        #expect(byFormula.chosen?.breakdown.learning == nil)

        // With optimism (the default, 2), the success term is the estimate plus two posterior standard deviations:
        // the newcomer's 3 calls leave its rate open, so it is tried before the veteran; its bonus is shown.
        learning.optimism = 2
        var optimistic = fixture.book(learning)
        let tried = try optimistic.decide(RouteRequest(teamId: nil, sector: "billing", capabilities: []), claiming: false)
        #expect(tried.chosen?.agentId == fixture.newcomer)
        let (alpha, beta) = (20 * sectorRate + 3, 20 * (1 - sectorRate))
        let spread = (alpha * beta / ((alpha + beta) * (alpha + beta) * (alpha + beta + 1))).squareRoot()
        let newcomerTerm = try #require(tried.chosen?.breakdown)
        #expect(abs(newcomerTerm.successRate.value - (newcomer + 2 * spread)) < 1e-12)
        #expect(abs((newcomerTerm.learning?.optimismBonus ?? 0) - 2 * spread) < 1e-12)
        #expect(abs((newcomerTerm.learning?.estimate ?? 0) - newcomer) < 1e-12)

        // The what-if simulator credits the chosen agent with its estimate, not with the optimism that chose it.
        let replay = RoutingSimulation.run([RoutingSimulation.Call(arrival: 0, teamId: nil, sector: "billing", capabilities: [],
                                                                   handlingSeconds: 60)],
                                           catalogue: BookCatalogue(agents: fixture.rows, teams: [:], assignments: [],
                                                                    successHistory: fixture.history),
                                           policy: learning, horizonSeconds: 600)
        #expect(replay.callsByAgent == [fixture.newcomer: 1])
        #expect(abs((replay.expectedSuccessRate ?? 0) - newcomer) < 1e-12, "\(String(describing: replay.expectedSuccessRate))")

        // With no prior strength the estimate is the agent's own rate; with no calls, the sector's.
        #expect(SuccessEstimate(priorMean: 0.7, priorCalls: 0, successes: 9, calls: 10).mean == 0.9)
        #expect(SuccessEstimate(priorMean: 0.7, priorCalls: 20, successes: 0, calls: 0).mean == 0.7)
        #expect(SuccessEstimate(priorMean: 0.7, priorCalls: 0, successes: 0, calls: 0).mean == 0.7)
    }

    @Test func optimismCountsOnlyWhereItCouldLiftAnAgentAboveTheBestEstimate() throws {
        // A veteran at 92 % over 500 calls, a steady agent at 85 % over 500, and one at 80 % over 60 calls, whose
        // wider posterior lifts it over the steady agent but not over the veteran.
        let veteran = UUID(), steady = UUID(), unsure = UUID()
        let history = [veteran: SuccessHistory(successes: 460, calls: 500), steady: SuccessHistory(successes: 425, calls: 500),
                       unsure: SuccessHistory(successes: 48, calls: 60)]
        var policy = learningPolicy()
        func book(veteranLoad: Int) -> TenantBook {
            let rows = [veteran, steady, unsure].map { id in
                BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: [], maxConcurrent: 2,
                             load: id == veteran ? veteranLoad : 0, successRate: 0.8, avgHandlingTime: 180)
            }
            return TenantBook(policy: policy, agents: rows, teams: [:], assignments: [], queuedCalls: nil, successHistory: history,
                              generator: SeededGenerator(seed: 1))
        }
        let sectorRate = 933.0 / 1060.0
        let estimates = history.mapValues {
            SuccessEstimate(priorMean: sectorRate, priorCalls: policy.priorCalls, successes: $0.successes, calls: $0.calls)
        }
        let best = estimates[veteran]!.mean
        let unsureTerm = estimates[unsure]!.term(optimism: 2), steadyTerm = estimates[steady]!.term(optimism: 2)
        #expect(steadyTerm < unsureTerm && unsureTerm < best, "the case this test is about")
        let request = RouteRequest(teamId: nil, sector: "billing", capabilities: [])

        // The veteran free: it takes the call with its bonus; the others' bonuses cannot reach it and are not added.
        var free = book(veteranLoad: 0)
        let first = try free.decide(request, claiming: false)
        #expect(first.chosen?.agentId == veteran)
        let shown = Dictionary(uniqueKeysWithValues: first.ranking.top.map { ($0.agentId, $0.breakdown) })
        #expect(abs(shown[veteran]!.successRate.value - estimates[veteran]!.term(optimism: 2)) < 1e-12)
        #expect(shown[veteran]!.learning!.optimismBonus > 0)
        for id in [steady, unsure] {
            #expect(shown[id]!.learning!.optimismBonus == 0)
            #expect(abs(shown[id]!.successRate.value - estimates[id]!.mean) < 1e-12)
        }

        // The veteran busy: the call goes to the next best estimate, not to the agent whose bonus alone would win.
        var busy = book(veteranLoad: 2)
        #expect(try busy.decide(request, claiming: false).chosen?.agentId == steady)
        policy.optimism = 0
        var withoutOptimism = book(veteranLoad: 2)
        #expect(try withoutOptimism.decide(request, claiming: false).chosen?.agentId == steady)

        // Without the veteran in the pool at all, the unsure agent's bonus lifts it over the best estimate left.
        policy.optimism = 2
        var withoutVeteran = TenantBook(
            policy: policy, agents: [steady, unsure].map {
                BookAgentRow(id: $0, sector: "billing", isActive: true, priority: 5, capabilities: [], maxConcurrent: 2, load: 0,
                             successRate: 0.8, avgHandlingTime: 180)
            }, teams: [:], assignments: [], queuedCalls: nil, successHistory: history.filter { $0.key != veteran },
            generator: SeededGenerator(seed: 1))
        let tried = try withoutVeteran.decide(request, claiming: false)
        #expect(tried.chosen?.agentId == unsure)
        #expect((tried.chosen?.breakdown.learning?.optimismBonus ?? 0) > 0)
    }

    @Test func aDecisionShowsTheOptimismItRankedOnAndAnExploredOneAddsNone() throws {
        let fixture = LearningFixture()
        let policy = learningPolicy(exploration: 0.2, optimism: 2, explorationFloor: 0.7)
        var book = fixture.book(policy, seed: 7)
        let request = RouteRequest(teamId: nil, sector: "billing", capabilities: [])
        var explored = 0, optimistic = 0
        for _ in 0..<400 {
            let decision = try book.decide(request, claiming: false)
            for candidate in decision.ranking.top {
                let breakdown = candidate.breakdown, learning = try #require(breakdown.learning)
                let contributions = breakdown.successRate.contribution + breakdown.priority.contribution
                    + breakdown.load.contribution + breakdown.handlingTime.contribution + breakdown.capabilities.contribution
                #expect(abs(candidate.score - contributions) < 1e-9, "the score shown is the one ranked on")
                if learning.explored {
                    #expect(learning.optimismBonus == 0)
                } else {
                    #expect(abs(breakdown.successRate.value - min(1, learning.estimate + learning.optimismBonus)) < 1e-12)
                }
                if candidate.agentId == fixture.weaker {
                    #expect(breakdown.successRate.value == learning.estimate, "below the floor and the best: its mean alone")
                }
            }
            if decision.chosen?.breakdown.learning?.explored == true { explored += 1 }
            if decision.ranking.top.contains(where: { ($0.breakdown.learning?.optimismBonus ?? 0) > 0 }) { optimistic += 1 }
        }
        #expect(explored > 0 && optimistic > 0, "both kinds of decision were made")
    }

    @Test func explorationStaysWithinItsBoundsAndRepeatsForASeed() throws {
        let fixture = LearningFixture()
        // The weaker agent's estimate (0.61) is below the floor: never drawn.
        var policy = learningPolicy(exploration: 0.1, optimism: 0, explorationFloor: 0.7)
        let request = RouteRequest(teamId: nil, sector: "billing", capabilities: [])

        func run(seed: UInt64) throws -> (explored: Int, choices: [UUID]) {
            var book = fixture.book(policy, seed: seed)
            var explored = 0
            var choices: [UUID] = []
            for _ in 0..<10_000 {
                let decision = try book.decide(request, claiming: false)
                let chosen = try #require(decision.chosen)
                choices.append(chosen.agentId)
                let weaker = try #require(decision.ranking.top.first { $0.agentId == fixture.weaker }?.breakdown)
                #expect(weaker.successRate.value == weaker.learning?.estimate, "below the floor: always its mean")
                if chosen.breakdown.learning?.explored == true {
                    explored += 1
                } else {
                    #expect(chosen.agentId == fixture.veteran, "without exploring, the best estimate wins")
                }
            }
            return (explored, choices)
        }

        let first = try run(seed: 42)
        // 10,000 draws at 10 %: four standard deviations (0.3 %) either side.
        #expect((880...1_120).contains(first.explored), "explored \(first.explored) of 10,000")
        #expect(first.choices.contains(fixture.newcomer), "exploring gives the uncertain newcomer some calls")
        #expect(!first.choices.contains(fixture.weaker))
        let again = try run(seed: 42)
        #expect(again.explored == first.explored && again.choices == first.choices, "the same seed, the same decisions")
        #expect(try run(seed: 43).choices != first.choices)

        policy.exploration = 0
        var never = fixture.book(policy)
        for _ in 0..<1_000 {
            #expect(try never.decide(request, claiming: false).chosen?.breakdown.learning?.explored == false)
        }
    }

    @Test func learningRoutesLiveCallsAndLogsItsTerms() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            for bad in [#"{"routing.strategy":"magic"}"#, #"{"routing.exploration":0.3}"#, #"{"routing.prior_calls":-1}"#,
                        #"{"routing.exploration_floor":2}"#, #"{"routing.max_wait_seconds":0}"#, #"{"routing.optimism":6}"#,
                        #"{"routing.optimism":-1}"#] {
                let refused = try await a.send(.PUT, "/api/settings", json: bad)
                #expect(refused.status == .badRequest, "\(bad): \(refused.text)")
            }
            let newcomer = try await a.createAgent("Newcomer", priority: 5, successRate: 0.5, avgHandlingTime: 60)
            let veteran = try await a.createAgent("Veteran", priority: 5, successRate: 0.5, avgHandlingTime: 60)
            let weaker = try await a.createAgent("Weaker", priority: 5, successRate: 0.5, avgHandlingTime: 60)
            let day = Day(containing: Date()).adding(days: -2)
            for (agent, calls, successes) in [(newcomer, 3, 3), (veteran, 50, 46), (weaker, 50, 30)] {
                for index in 0..<calls {
                    try await insertEndedCall(app, clientId: a.clientId, teamId: nil, agentId: agent, day: day, wait: 0,
                                              outcome: index < successes ? .successful : .failed, seconds: 60)
                }
            }
            try await aggregate(app)
            let route = #"{"sector":"billing"}"#
            // The formula: the newcomer's 7-day rate of 100 % wins.
            #expect(try await a.send(.POST, "/api/routing/route", json: route).data["agent_id"].uuid == newcomer)

            let changed = try await a.send(.PUT, "/api/settings",
                                           json: #"{"routing.strategy":"learning","routing.exploration":0,"routing.optimism":0,"routing.prior_calls":20}"#)
            #expect(changed.status == .ok, "\(changed.text)")
            let sectorRate = 79.0 / 103.0
            let expected: [UUID: (Double, Int)] = [
                newcomer: ((20 * sectorRate + 3) / 23, 3), veteran: ((20 * sectorRate + 46) / 70, 50),
                weaker: ((20 * sectorRate + 30) / 70, 50),
            ]
            let recommended = try await a.send(.POST, "/api/routing/route", json: route)
            #expect(recommended.data["agent_id"].uuid == veteran, "\(recommended.text)")
            for candidate in recommended.data["candidates"].arrayValue ?? [] {
                let agentId = try #require(candidate["agent_id"].uuid)
                let (estimate, calls) = try #require(expected[agentId])
                let learning = candidate["breakdown"]["learning"]
                #expect(abs((learning["estimate"].numberValue ?? 0) - estimate) < 1e-9, "\(candidate)")
                #expect(learning["calls_observed"] == .number(Double(calls)))
                #expect(learning["explored"] == .bool(false))
            }

            // A live call goes the same way, and the decision log keeps the learning terms.
            let call = try await a.createCall(route)
            #expect(call.data["agent_id"].uuid == veteran, "\(call.text)")
            let callId = try #require(call.data["id"].uuid)
            let logged = try await a.send(.GET, "/api/routing/decisions?call_id=\(callId)").data[0]["candidates"]
            let veteranRow = try #require(logged.arrayValue?.first { $0["agent_id"].uuid == veteran })
            #expect(abs((veteranRow["breakdown"]["learning"]["estimate"].numberValue ?? 0) - expected[veteran]!.0) < 1e-9)
            #expect(veteranRow["breakdown"]["learning"]["calls_observed"] == .number(50))

            // More calls of the newcomer's, all failed, after an aggregation: the book learns them.
            for _ in 0..<10 {
                try await insertEndedCall(app, clientId: a.clientId, teamId: nil, agentId: newcomer, day: day, wait: 0,
                                          outcome: .failed, seconds: 60)
            }
            try await aggregate(app)
            let after = try await a.send(.POST, "/api/routing/route", json: route).data["candidates"].arrayValue ?? []
            let newcomerRow = try #require(after.first { $0["agent_id"].uuid == newcomer })
            #expect(newcomerRow["breakdown"]["learning"]["calls_observed"] == .number(13), "\(newcomerRow)")
        }
    }

    /// Issue 25, §4: under learning, each completion moves its agent's estimate at once (no aggregation runs here),
    /// and a restart rebuilds the estimates from the stored calls, counted or not by the aggregator yet.
    @Test func learningMovesOnEveryCompletionAndSurvivesARestart() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-learn-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let tenant = uniqueTenant("learn")
        let route = #"{"sector":"billing"}"#
        func learning(_ a: APIClient, of agent: UUID) async throws -> JSONValue {
            let candidates = try await a.send(.POST, "/api/routing/route", json: route).data["candidates"].arrayValue ?? []
            return try #require(candidates.first { $0["agent_id"].uuid == agent })["breakdown"]["learning"]
        }
        var agents: (first: UUID, second: UUID)?
        try await withSwitchboard(sqlitePath: path) { app in
            let a = try await APIClient.make(app, clientId: tenant)
            #expect(try await a.send(.PUT, "/api/settings",
                                     json: #"{"routing.strategy":"learning","routing.exploration":0,"routing.prior_calls":4}"#).status == .ok)
            let one = try await a.createAgent("One", successRate: 0.5, avgHandlingTime: 60)
            let two = try await a.createAgent("Two", successRate: 0.5, avgHandlingTime: 60)
            // Equal estimates (the sector's 50 %, no calls): the tie-break picks one; its call fails.
            let chosen = try #require(try await a.send(.POST, "/api/routing/route", json: route).data["agent_id"].uuid)
            let other = chosen == one ? two : one
            let first = try await a.createCall(route)
            #expect(first.data["agent_id"].uuid == chosen, "\(first.text)")
            #expect(try await a.complete(try #require(first.data["id"].uuid), outcome: "failed").status == .ok)
            let learned = try await learning(a, of: chosen)
            #expect(learned["calls_observed"] == .number(1), "\(learned)")
            #expect(abs((learned["estimate"].numberValue ?? 0) - (4 * 0.5 + 0) / 5) < 1e-9, "\(learned)")
            // The other agent now goes first, and its success counts at once too.
            let next = try await a.createCall(route)
            #expect(next.data["agent_id"].uuid == other, "\(next.text)")
            #expect(try await a.complete(try #require(next.data["id"].uuid)).status == .ok)
            let succeeded = try await learning(a, of: other)
            #expect(succeeded["calls_observed"] == .number(1) && abs((succeeded["estimate"].numberValue ?? 0) - 3.0 / 5) < 1e-9,
                    "\(succeeded)")
            #expect(try await a.send(.POST, "/api/routing/route", json: route).data["agent_id"].uuid == other)
            agents = (chosen, other)
        }
        let (chosen, other) = try #require(agents)
        // A restart (nothing aggregated): the book is rebuilt from the stored calls, then the aggregator counts them
        // and the estimates stay where they were.
        try await withSwitchboard(sqlitePath: path) { app in
            let a = try await APIClient.make(app, clientId: tenant)
            #expect(try await learning(a, of: chosen)["calls_observed"] == .number(1))
            #expect(try await learning(a, of: other)["calls_observed"] == .number(1))
            _ = try await aggregate(app)
            let afterAggregation = try await learning(a, of: chosen)
            #expect(afterAggregation["calls_observed"] == .number(1), "\(afterAggregation)")
            // The sector's rate over the window is now 1 in 2: the prior mean stays 50 %.
            #expect(abs((afterAggregation["estimate"].numberValue ?? 0) - 2.0 / 5) < 1e-9)
        }
    }

    /// The measure `SwitchboardBench quality` reports: the mean true rate of the agents that took some calls, as a
    /// share of the best agent's.
    @Test func choiceQualityIsTheChosenAgentsTrueRateOverTheBest() {
        let good = UUID(), weak = UUID()
        let truth = [good: 0.9, weak: 0.45]
        let agents = [(good, 0.9), (weak, 0.45)].map { id, rate in
            BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: [], maxConcurrent: 1, load: 0,
                         successRate: rate, avgHandlingTime: 60)
        }
        let catalogue = BookCatalogue(agents: agents, teams: [:], assignments: [], successHistory: [:])
        let outcome: RoutingSimulation.Outcome = { _, agentId, _ in agentId == good }
        // One at a time: the better agent takes every call.
        let apart = (0..<4).map { RoutingSimulation.Call(arrival: Double($0) * 100, teamId: nil, sector: "billing", capabilities: [],
                                                        handlingSeconds: 30) }
        let alone = RoutingSimulation.run(apart, catalogue: catalogue, policy: .defaults, horizonSeconds: 1_000, outcome: outcome)
        #expect(RoutingSimulation.chosenQuality(alone, truth: truth, calls: 0..<4) == 1)
        // Two at a time: the second of each pair goes to the weaker agent.
        let pairs = (0..<4).map { RoutingSimulation.Call(arrival: Double($0 / 2) * 100, teamId: nil, sector: "billing", capabilities: [],
                                                        handlingSeconds: 30) }
        let together = RoutingSimulation.run(pairs, catalogue: catalogue, policy: .defaults, horizonSeconds: 1_000, outcome: outcome)
        #expect(together.agentOfCall == [good, weak, good, weak])
        #expect(abs((RoutingSimulation.chosenQuality(together, truth: truth, calls: 0..<4) ?? 0) - 0.75) < 1e-12)
        #expect(RoutingSimulation.chosenQuality(together, truth: truth, calls: 4..<4) == nil)
    }
}
