import FluentKit
import Foundation
import Testing
import Vapor
@testable import SwitchboardCore

/// Team T (billing) has agent A (one call at a time, 80 %); B (one at a time, 60 %) is a billing agent of no team.
/// Four calls: three for T at 0, 10 and 20 s (handling 100, 50, 30 s) and one for the sector at 30 s (40 s).
/// By hand: A takes the first (team); B the second (sector); the third and fourth wait. B frees at 60 and takes
/// the third (waited 40 s, busy until 90), then the fourth (waited 60 s, busy until 130); A frees at 100.
private struct HandBuiltDay {
    let team = UUID(), a = UUID(), b = UUID()

    var catalogue: RoutingSimulation.Catalogue {
        BookCatalogue(
            agents: [(a, 0.8), (b, 0.6)].map { id, rate in
                BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: [], maxConcurrent: 1,
                             load: 0, successRate: rate, avgHandlingTime: 180)
            },
            teams: [team: "billing"], assignments: [(agentId: a, teamId: team)], successHistory: [:])
    }

    var calls: [RoutingSimulation.Call] {
        [(0.0, team, 100.0), (10, team, 50), (20, team, 30), (30, nil, 40)].map { arrival, teamId, seconds in
            RoutingSimulation.Call(arrival: arrival, teamId: teamId, sector: "billing", capabilities: [], handlingSeconds: seconds)
        }
    }
}

@Suite("What-if simulator")
struct RoutingSimulationTests {
    @Test func aHandBuiltDayGivesTheWaitsComputedByHand() {
        let day = HandBuiltDay()
        let report = RoutingSimulation.run(day.calls, catalogue: day.catalogue, policy: .defaults, horizonSeconds: 200)
        #expect(report.offered == 4 && report.answered == 4)
        #expect(report.byStep == [.team: 1, .sector: 1, .queue: 2])
        #expect(report.abandoned == 0 && report.rejected == 0 && report.unanswered == 0)
        // Waits 0, 0, 40, 60: nearest-rank p50 is the 2nd, p95 the 4th.
        #expect(report.waitP50 == 0 && report.waitP95 == 60 && report.waitMax == 60)
        #expect(report.utilisation == [day.a: 100.0 / 200, day.b: 120.0 / 200])
        #expect(report.callsByAgent == [day.a: 1, day.b: 3])
        #expect(abs(report.utilisationMean - 0.55) < 1e-12)
        // |0.6 − 0.5| × 2 / (2 × 2² × 0.55)
        #expect(abs(report.utilisationGini - 0.2 / 4.4) < 1e-12)
        // A's 80 % once, B's 60 % three times.
        #expect(abs((report.expectedSuccessRate ?? 0) - 0.65) < 1e-12)
        #expect(report.realisedSuccessRate == nil)
        #expect(RoutingSimulation.run(day.calls, catalogue: day.catalogue, policy: .defaults, horizonSeconds: 200) == report,
                "the same input, the same numbers")

        // Callers who give up after 50 s: the fourth call is abandoned at 80 s, before B frees at 90.
        var patient = RoutingPolicy.defaults
        patient.maxWaitSeconds = 50
        let withGiveUps = RoutingSimulation.run(day.calls, catalogue: day.catalogue, policy: patient, horizonSeconds: 200)
        #expect(withGiveUps.answered == 3 && withGiveUps.abandoned == 1)
        #expect(withGiveUps.waitMax == 40 && withGiveUps.utilisation[day.b] == 0.4)
        // The same fourth call as a callback: rung back, it never gives up, and B takes it at 90 as without limit.
        var calls = day.calls
        calls[3].isCallback = true
        let withCallback = RoutingSimulation.run(calls, catalogue: day.catalogue, policy: patient, horizonSeconds: 200)
        #expect(withCallback.answered == 4 && withCallback.abandoned == 0 && withCallback.waitMax == 60)

        // Refusing when nobody is free: the two waiting calls are rejected.
        var refusing = RoutingPolicy.defaults
        refusing.overflow = .reject
        let rejected = RoutingSimulation.run(day.calls, catalogue: day.catalogue, policy: refusing, horizonSeconds: 200)
        #expect(rejected.rejected == 2 && rejected.answered == 2 && rejected.waitMax == 0)

        // Team calls that may leave their team only after 30 s: the second waits for the sector agent until then.
        var patientTeam = RoutingPolicy.defaults
        patientTeam.relaxation = Relaxation(steps: [.init(afterSeconds: 0, pool: .team, dropRequiredCapabilities: false),
                                                    .init(afterSeconds: 30, pool: .sector, dropRequiredCapabilities: false)])
        let twoTeamCalls = Array(day.calls.prefix(2))
        let widened = RoutingSimulation.run(twoTeamCalls, catalogue: day.catalogue, policy: patientTeam, horizonSeconds: 200)
        #expect(widened.waitMax == 30 && widened.callsByAgent == [day.a: 1, day.b: 1])
        #expect(widened.byRelaxationStep == [0: 1, 1: 1] && widened.byStep == [.team: 1, .queue: 1])
        let atOnce = RoutingSimulation.run(twoTeamCalls, catalogue: day.catalogue, policy: .defaults, horizonSeconds: 200)
        #expect(atOnce.waitMax == 0 && atOnce.byStep == [.team: 1, .sector: 1] && atOnce.byRelaxationStep == [1: 2])

        // A sector nobody serves: its call waits to the end.
        let stranded = day.calls + [RoutingSimulation.Call(arrival: 5, teamId: nil, sector: "sales", capabilities: [], handlingSeconds: 9)]
        #expect(RoutingSimulation.run(stranded, catalogue: day.catalogue, policy: .defaults, horizonSeconds: 200).unanswered == 1)
    }

    /// The replay's queue follows the live one's order. One agent busy until 100 s; A (priority 5) arrives at 10 s,
    /// B (priority 9) at 20 s, 50 s each. Aging every 60 s: at 100 s A stands at 6, B at 10, so B goes first and
    /// A waits 140 s (first come, first served would make B wait 130 s); with priorities equal, A goes first.
    @Test func waitingCallsGoByEffectivePriority() {
        let agent = UUID()
        let catalogue = BookCatalogue(
            agents: [BookAgentRow(id: agent, sector: "billing", isActive: true, priority: 5, capabilities: [], maxConcurrent: 1,
                                  load: 0, successRate: 0.5, avgHandlingTime: 180)],
            teams: [:], assignments: [], successHistory: [:])
        func calls(_ priorities: (Int, Int)) -> [RoutingSimulation.Call] {
            [(0.0, 5, 100.0), (10, priorities.0, 50), (20, priorities.1, 50)].map { arrival, priority, seconds in
                var call = RoutingSimulation.Call(arrival: arrival, teamId: nil, sector: "billing", capabilities: [],
                                                  handlingSeconds: seconds)
                call.priority = priority
                return call
            }
        }
        let ordered = RoutingSimulation.run(calls((5, 9)), catalogue: catalogue, policy: .defaults, horizonSeconds: 400)
        #expect(ordered.answered == 3 && ordered.waitMax == 140, "\(ordered.waitMax)")
        let equal = RoutingSimulation.run(calls((5, 5)), catalogue: catalogue, policy: .defaults, horizonSeconds: 400)
        #expect(equal.waitMax == 130)
    }

    @Test func learningBeatsTheFormulaOnASyntheticPopulation() {
        // Fifteen agents whose true rates are known; the router sees only outcomes, a batch of 250 at a time (as the
        // aggregator feeds it; the tie-break spreads the formula's calls over the equal new hires, so each batch
        // teaches it about all of them). Five veterans at 92 % and five at 75 %, 500 calls each; five new hires at 55 % whose
        // 3 calls so far all succeeded: the formula trusts their 100 %, learning shrinks it towards the sector.
        var agents: [BookAgentRow] = []
        var truth: [UUID: Double] = [:]
        var history: [UUID: SuccessHistory] = [:]
        for index in 0..<15 {
            let id = UUID()
            let (rate, record): (Double, SuccessHistory) = switch index {
            case 0..<5: (0.92, SuccessHistory(successes: 460, calls: 500))
            case 5..<10: (0.75, SuccessHistory(successes: 375, calls: 500))
            default: (0.55, SuccessHistory(successes: 3, calls: 3))
            }
            truth[id] = rate
            history[id] = record
            agents.append(BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: [], maxConcurrent: 2,
                                       load: 0, successRate: record.rate!, avgHandlingTime: 180))
        }
        let catalogue = BookCatalogue(agents: agents, teams: [:], assignments: [], successHistory: history)
        let calls = (0..<1_000).map { RoutingSimulation.Call(arrival: Double($0) * 300, teamId: nil, sector: "billing", capabilities: [],
                                                             handlingSeconds: 120) }
        let trueRates = truth
        let outcome: RoutingSimulation.Outcome = { _, agentId, generator in
            Double.random(in: 0..<1, using: &generator) < trueRates[agentId]!
        }
        var learning = RoutingPolicy.defaults
        learning.strategy = .learning
        // Learning in batches of 250 outcomes, optimism would keep its choice for a whole batch: this compares the
        // estimate alone (with a little Thompson exploration) against the formula's observed rates.
        learning.optimism = 0
        learning.exploration = 0.05
        func realised(_ policy: RoutingPolicy) -> Double {
            RoutingSimulation.run(calls, catalogue: catalogue, policy: policy, horizonSeconds: 300_000, seed: 5, outcome: outcome,
                                  learningEvery: 250).realisedSuccessRate ?? 0
        }
        let formulaRate = realised(.defaults), learningRate = realised(learning)
        #expect(learningRate > formulaRate + 0.02, "learning \(learningRate), formula \(formulaRate)")
        #expect(realised(learning) == learningRate, "seeded: the same run twice")
    }

    @Test func theEndpointReplaysRecordedCallsUnderBothPolicies() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let team = try await a.createTeam("T", sector: "billing")
            let member = try await a.addMember(to: team)
            let agentA = try await a.createAgent("A", maxConcurrent: 1, successRate: 0.8)
            let agentB = try await a.createAgent("B", maxConcurrent: 1, successRate: 0.6)
            try await a.assign([agentA], to: member, in: team)
            let day = Day(containing: Date()).adding(days: -3)
            for (offset, teamId, seconds) in [(0.0, team, 100.0), (10, team, 50), (20, team, 30), (30, nil, 40)] as [(Double, UUID?, Double)] {
                let call = TenantScope(clientId: a.clientId).owned(Call())
                call.teamId = teamId
                call.agentId = agentA
                call.sector = "billing"
                call.capabilities = []
                call.channel = .voice
                call.status = .completed
                call.createdAt = day.startDate.addingTimeInterval(36_000 + offset)
                call.assignedAt = call.createdAt
                call.completedAt = call.createdAt.addingTimeInterval(seconds)
                call.handlingTimeSeconds = seconds
                call.outcome = .successful
                call.callDay = day.description
                try await call.create(on: app.db)
            }
            let callsBefore = try await TenantScope(clientId: a.clientId).query(Call.self, on: app.db).count()

            let body = #"{"from":"\#(day)","to":"\#(day)","policy":{"overflow":"reject","weights":{"success_rate":10,"priority":25,"load":20,"handling_time":15,"capabilities":5}}}"#
            let manager = try await a.as(.manager)
            let response = try await manager.send(.POST, "/api/routing/simulate", json: body)
            #expect(response.status == .ok, "\(response.text)")
            let data = response.data
            #expect(data["calls"] == .number(4))
            let current = data["current"]
            #expect(current["answered"] == .number(4))
            #expect(current["by_step"] == .object(["team": .number(1), "sector": .number(1), "queue": .number(2)]))
            #expect(current["wait_seconds"] == .object(["p50": .number(0), "p95": .number(60), "max": .number(60)]))
            #expect(abs((current["expected_success_rate"].numberValue ?? 0) - 0.65) < 1e-12)
            let agents = current["agents"].arrayValue ?? []
            #expect(agents.map { $0["name"] } == [.string("B"), .string("A")], "busiest first")
            #expect(agents.first?["agent_id"].uuid == agentB && agents.last?["agent_id"].uuid == agentA)
            #expect(agents.first?["utilisation"] == .number(120.0 / 86_400))
            #expect(agents.first?["calls"] == .number(3))
            let proposed = data["proposed"]
            #expect(proposed["rejected"] == .number(2) && proposed["answered"] == .number(2))
            #expect(data["current_settings"]["routing.overflow"] == .string("queue"))
            #expect(data["proposed_settings"]["routing.overflow"] == .string("reject"))
            #expect(data["proposed_settings"]["routing.weights"]["success_rate"] == .number(10))
            #expect(data["proposed_settings"]["routing.strategy"] == .null, "unchanged settings are not proposed")
            #expect(try await manager.send(.POST, "/api/routing/simulate", json: body).data == data, "the same numbers twice")

            // Nothing was written.
            #expect(try await TenantScope(clientId: a.clientId).query(Call.self, on: app.db).count() == callsBefore)
            #expect(try await a.send(.GET, "/api/routing/decisions").data.count == 0)
            #expect(try await a.send(.GET, "/api/settings/audit").data.count == 0)

            // Another tenant's range is its own: empty.
            let other = try await APIClient.make(app)
            #expect(try await other.send(.POST, "/api/routing/simulate", json: body).data["calls"] == .number(0))

            #expect(try await a.as(.viewer).send(.POST, "/api/routing/simulate", json: body).status == .forbidden)
            for bad in [#"{"from":"\#(day)"}"#, #"{"from":"\#(day)","to":"\#(day.adding(days: -1))"}"#,
                        #"{"from":"\#(day.adding(days: -40))","to":"\#(day)"}"#, #"{"from":"soon","to":"\#(day)"}"#,
                        #"{"from":"\#(day)","to":"\#(day)","policy":{"relaxation":[]}}"#,
                        #"{"from":"\#(day)","to":"\#(day)","policy":{"exploration":1}}"#,
                        #"{"from":"\#(day)","to":"\#(day)","policy":[]}"#, #"{"from":"\#(day)","to":"\#(day)","policy":null}"#, #"{"from":"\#(day)","to":"\#(day)","extra":1}"#] {
                let refused = try await manager.send(.POST, "/api/routing/simulate", json: bad)
                #expect(refused.status == .badRequest, "\(bad): \(refused.text)")
                #expect(refused.json["success"] == .bool(false) && refused.error != nil)
            }
        }
    }
}
