import Foundation
import SQLKit
import Testing
import Vapor
@testable import SwitchboardCore

/// Issue 25, §3: under learning, each agent's success with the calls that asked for a capability is estimated on its
/// own, shrunk towards its overall estimate, and the capability term counts level / 5 × that estimate.
@Suite("Capability scores that learn")
struct CapabilityLearningTests {
    /// Two billing agents alike overall (50 of 100 calls each); `fluent` succeeded on 20 of 20 French calls and
    /// `shaky` on 4 of 20. The prior is worth 20 calls.
    private struct Fixture {
        let fluent = UUID(), shaky = UUID()
        var fluentLevel = 5

        func rows(extraCapabilities: [String] = []) -> [BookAgentRow] {
            let levels: [UUID: [String: Int]] = [fluent: fluentLevel < 5 ? ["french": fluentLevel] : [:], shaky: [:]]
            return [fluent, shaky].map { id in
                BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5,
                             capabilities: ["french", "billing"] + extraCapabilities, capabilityLevels: levels[id]!,
                             maxConcurrent: 10, load: 0, successRate: 0.5, avgHandlingTime: 180)
            }
        }

        func book(strategy: ScoringStrategy = .learning, extraCapabilities: [String] = []) -> TenantBook {
            var policy = RoutingPolicy.defaults
            policy.strategy = strategy
            policy.exploration = 0
            return TenantBook(
                policy: policy, agents: rows(extraCapabilities: extraCapabilities), teams: [:], assignments: [], queuedCalls: nil,
                successHistory: [fluent: SuccessHistory(successes: 50, calls: 100), shaky: SuccessHistory(successes: 50, calls: 100)],
                capabilityHistory: [fluent: ["french": SuccessHistory(successes: 20, calls: 20)],
                                    shaky: ["french": SuccessHistory(successes: 4, calls: 20)]],
                generator: SeededGenerator(seed: 7))
        }
    }

    private static let french = RouteRequest(teamId: nil, sector: "billing", capabilities: ["french"])

    @Test func estimatesShrinkTowardsTheAgentsOverallRate() {
        let estimates = CapabilityLearning.estimates(
            capabilities: ["french", "vip"], overall: 0.8, priorCalls: 20,
            history: ["french": SuccessHistory(successes: 20, calls: 20), "spanish": SuccessHistory(successes: 1, calls: 1)])
        // By hand: (20 × 0.8 + 20) / 40; a capability without calls estimates the agent's overall rate; one the agent
        // lacks gets no estimate.
        #expect(estimates["french"]?.mean == 0.9 && estimates["french"]?.callsObserved == 20)
        #expect(estimates["vip"]?.mean == 0.8 && estimates["vip"]?.callsObserved == 0)
        #expect(estimates["spanish"] == nil)
        let skills = AgentSkills(capabilities: ["french", "vip"], levels: ["french": 3])
        #expect(abs(CapabilityLearning.factor(skills, estimates: estimates, requested: ["french", "vip", "german"]) - (0.6 * 0.9 + 0.8)) < 1e-12)
        #expect(CapabilityLearning.asked(capabilities: ["vip", "french"], required: ["french", "billing"]) == ["billing", "french", "vip"])
        var history: [String: SuccessHistory] = [:]
        CapabilityLearning.record(true, asked: ["french", "vip"], in: &history)
        CapabilityLearning.record(false, asked: ["french"], in: &history)
        #expect(history == ["french": SuccessHistory(successes: 1, calls: 2), "vip": SuccessHistory(successes: 1, calls: 1)])
    }

    @Test func theCapabilityTermFollowsTheLearnedEstimateAndShowsIt() throws {
        let fixture = Fixture()
        // Overall both estimate 50 %: (20 × 0.5 + 50) / 120. French: fluent (20 × 0.5 + 20) / 40, shaky (10 + 4) / 40.
        let fluentFrench = 30.0 / 40, shakyFrench = 14.0 / 40
        var book = fixture.book()
        let decision = try book.decide(Self.french, claiming: false)
        #expect(decision.chosen?.agentId == fixture.fluent)
        let byAgent = Dictionary(uniqueKeysWithValues: decision.ranking.top.map { ($0.agentId, $0.breakdown) })
        let fluent = try #require(byAgent[fixture.fluent]), shaky = try #require(byAgent[fixture.shaky])
        #expect(abs(fluent.capabilities.value - fluentFrench) < 1e-12 && abs(fluent.capabilities.contribution - 5 * fluentFrench) < 1e-12)
        #expect(abs(shaky.capabilities.value - shakyFrench) < 1e-12)
        #expect(fluent.learning?.capabilities == [LearnedCapabilityTerm(capability: "french", level: 5, estimate: fluentFrench, callsObserved: 20)])
        #expect(shaky.learning?.capabilities == [LearnedCapabilityTerm(capability: "french", level: 5, estimate: shakyFrench, callsObserved: 20)])

        // A pool of more than 64 capabilities scores through per-decision factors: the same values.
        var wide = fixture.book(extraCapabilities: (0..<70).map { "skill\($0)" })
        let wideDecision = try wide.decide(Self.french, claiming: false)
        #expect(wideDecision.ranking.top.map(\.breakdown) == decision.ranking.top.map(\.breakdown))

        // A level scales the learned estimate: fluent at French 3 weighs 0.6 × 0.75 = 0.45, above shaky's 0.35.
        var levelled = Fixture()
        levelled.fluentLevel = 3
        var levelledBook = levelled.book()
        let levelledDecision = try levelledBook.decide(Self.french, claiming: false)
        let fluentLevelled = try #require(levelledDecision.ranking.top.first { $0.agentId == levelled.fluent })
        #expect(abs(fluentLevelled.breakdown.capabilities.value - 0.6 * fluentFrench) < 1e-12)
        #expect(fluentLevelled.breakdown.learning?.capabilities?.first?.level == 3)

        // Under the formula the capability term counts levels, and no learning term is shown.
        var formula = fixture.book(strategy: .formula)
        let byFormula = try formula.decide(Self.french, claiming: false)
        #expect(byFormula.ranking.top.allSatisfy { $0.breakdown.capabilities.value == 1 && $0.breakdown.learning == nil })

        // A call that requests nothing shows no per-capability terms.
        let plain = try book.decide(RouteRequest(teamId: nil, sector: "billing", capabilities: []), claiming: false)
        #expect(plain.ranking.top.allSatisfy { $0.breakdown.learning != nil && $0.breakdown.learning?.capabilities == nil })
    }

    @Test func outcomesMoveTheEstimateOfWhatTheCallAskedFor() throws {
        let fixture = Fixture()
        var book = fixture.book()
        // Ten failed French calls of fluent's: its French estimate falls below shaky's, its billing one moves only
        // with its overall estimate (its prior).
        for _ in 0..<10 { book.learnOutcome(of: fixture.fluent, successful: false, asked: ["french"]) }
        let decision = try book.decide(Self.french, claiming: false)
        #expect(decision.chosen?.agentId == fixture.shaky)
        let fluent = try #require(decision.ranking.top.first { $0.agentId == fixture.fluent })
        let overall = (20 * 0.5 + 50.0) / 130
        #expect(abs((fluent.breakdown.learning?.estimate ?? 0) - overall) < 1e-12)
        #expect(fluent.breakdown.learning?.capabilities == [
            LearnedCapabilityTerm(capability: "french", level: 5, estimate: (20 * overall + 20) / 50, callsObserved: 30)])
        let billing = try book.decide(RouteRequest(teamId: nil, sector: "billing", capabilities: ["billing"]), claiming: false)
        let fluentBilling = try #require(billing.ranking.top.first { $0.agentId == fixture.fluent })
        #expect(fluentBilling.breakdown.learning?.capabilities?.first?.callsObserved == 0)
        #expect(abs((fluentBilling.breakdown.learning?.capabilities?.first?.estimate ?? 0) - overall) < 1e-12)
    }

    @Test func theDecisionLogKeepsTheTermsPerCapability() throws {
        var book = Fixture().book()
        let decision = try book.decide(Self.french, claiming: false)
        let stored = DecisionJSON.candidates(decision.ranking.top)
        #expect(try DecisionJSON.candidates(from: stored) == decision.ranking.top)
        #expect(stored.contains(#""k":[["french",5,"#))
    }

    /// The history a book starts from adds the aggregated rows and the calls no run has counted yet, read in one
    /// statement: read in several, an aggregation committing between them counted its calls twice (on PostgreSQL,
    /// where a plain read takes no snapshot beyond its statement).
    @Test func theHistoryIsReadInOneStatement() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app, clientId: uniqueTenant("history"))
            let agent = try await a.createAgent("Fluent", capabilities: ["french"])
            let day = Day(containing: Date()).adding(days: -1)
            func ended(_ outcome: CallOutcome, capabilities: [String] = [], required: [String]? = nil) async throws {
                try await insertEndedCall(app, clientId: a.clientId, teamId: nil, agentId: agent, day: day, wait: 0,
                                          outcome: outcome, capabilities: capabilities, requiredCapabilities: required)
            }
            for _ in 0..<3 { try await ended(.successful, capabilities: ["french"]) }
            try await ended(.failed)
            _ = try await aggregate(app)
            try await ended(.successful, capabilities: ["french"])
            try await ended(.failed, required: ["french"])
            try await ended(.successful)

            let recording = StatementCounter(app.db as! any SQLDatabase)
            let history = try await BookCatalogue.successHistory(a.clientId, since: day.adding(days: -6), on: recording)
            #expect(recording.statements == 1)
            #expect(history.overall == [agent: SuccessHistory(successes: 5, calls: 7)])
            #expect(history.byCapability == [agent: ["french": SuccessHistory(successes: 4, calls: 5)]])
        }
    }

    /// Live, on either database: French calls' outcomes, counted by the aggregator or not yet, decide who takes the
    /// next French call; the breakdown and the decision log show why; a restart rebuilds the same estimates.
    @Test func liveRoutingLearnsPerCapabilityAndSurvivesARestart() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-skills-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let tenant = uniqueTenant("skills")
        let frenchCall = #"{"sector":"billing","capabilities":["french"]}"#
        func terms(_ a: APIClient, of agent: UUID) async throws -> JSONValue {
            let candidates = try await a.send(.POST, "/api/routing/route", json: frenchCall).data["candidates"].arrayValue ?? []
            return try #require(candidates.first { $0["agent_id"].uuid == agent })["breakdown"]["learning"]["capabilities"][0]
        }
        var agents: (fluent: UUID, shaky: UUID)?
        try await withSwitchboard(sqlitePath: path) { app in
            let a = try await APIClient.make(app, clientId: tenant)
            #expect(try await a.send(.PUT, "/api/settings",
                                     json: #"{"routing.strategy":"learning","routing.exploration":0,"routing.prior_calls":10}"#).status == .ok)
            let fluent = try await a.createAgent("Fluent", capabilities: ["french"])
            let shaky = try await a.createAgent("Shaky", capabilities: ["french"])
            agents = (fluent, shaky)
            // Alike overall (6 of 12 each), unlike in French: fluent 6 of 6, shaky 0 of 6 (half asked for it as required).
            let day = Day(containing: Date()).adding(days: -1)
            for (agent, frenchOutcome, otherOutcome) in [(fluent, CallOutcome.successful, CallOutcome.failed),
                                                         (shaky, .failed, .successful)] {
                for index in 0..<6 {
                    try await insertEndedCall(app, clientId: a.clientId, teamId: nil, agentId: agent, day: day, wait: 0,
                                              outcome: frenchOutcome, capabilities: index < 3 ? ["french"] : [],
                                              requiredCapabilities: index < 3 ? nil : ["french"])
                    try await insertEndedCall(app, clientId: a.clientId, teamId: nil, agentId: agent, day: day, wait: 0,
                                              outcome: otherOutcome)
                }
            }
            _ = try await aggregate(app)
            // Overall: the sector's 50 % and 12 calls at 50 %: 0.5. French: fluent (10 × 0.5 + 6) / 16, shaky 5 / 16.
            let fluentTerms = try await terms(a, of: fluent)
            #expect(fluentTerms["capability"] == .string("french") && fluentTerms["level"] == .number(5), "\(fluentTerms)")
            #expect(fluentTerms["calls_observed"] == .number(6))
            #expect(abs((fluentTerms["estimate"].numberValue ?? 0) - 11.0 / 16) < 1e-9, "\(fluentTerms)")
            #expect(abs((try await terms(a, of: shaky)["estimate"].numberValue ?? 0) - 5.0 / 16) < 1e-9)

            // A live French call goes to fluent and its decision log keeps the terms; it fails, and that counts at
            // once (no aggregation), for French only.
            let call = try await a.createCall(frenchCall)
            #expect(call.data["agent_id"].uuid == fluent, "\(call.text)")
            let callId = try #require(call.data["id"].uuid)
            let logged = try await a.send(.GET, "/api/routing/decisions?call_id=\(callId)").data[0]["candidates"]
            let loggedFluent = try #require(logged.arrayValue?.first { $0["agent_id"].uuid == fluent })
            #expect(loggedFluent["breakdown"]["learning"]["capabilities"][0]["calls_observed"] == .number(6), "\(loggedFluent)")
            #expect(try await a.complete(callId, outcome: "failed").status == .ok)
            #expect(try await terms(a, of: fluent)["calls_observed"] == .number(7))
        }
        let (fluent, shaky) = try #require(agents)
        // Restarted, before and after the aggregator counts the live call: the same terms.
        try await withSwitchboard(sqlitePath: path) { app in
            let a = try await APIClient.make(app, clientId: tenant)
            let rebuilt = try await terms(a, of: fluent)
            #expect(rebuilt["calls_observed"] == .number(7), "\(rebuilt)")
            _ = try await aggregate(app)
            let aggregated = try await terms(a, of: fluent)
            #expect(aggregated == rebuilt, "\(aggregated) vs \(rebuilt)")
            #expect(try await terms(a, of: shaky)["calls_observed"] == .number(6))
            let stored = try await (app.db as! any SQLDatabase).raw("""
                SELECT CAST(SUM(calls_handled) AS BIGINT) AS calls FROM agent_capability_metrics
                WHERE client_id = \(bind: tenant) AND agent_id = \(bind: fluent) AND capability = 'french'
                """).first()?.decode(column: "calls", as: Int.self)
            #expect(stored == 7)
            // What a database from before the table is filled with at migration: the rows the runs wrote.
            let recounted = try await CapabilityRollup.recountCounted(on: app.db as! any SQLDatabase).filter { $0.key.clientId == tenant }
            #expect(Set(recounted.keys.map(\.capability)) == ["french"])
            func recountedCalls(of agent: UUID) -> SuccessHistory {
                recounted.filter { $0.key.agentId == agent }.values.reduce(.none, +)
            }
            #expect(recountedCalls(of: fluent) == SuccessHistory(successes: 6, calls: 7))
            #expect(recountedCalls(of: shaky) == SuccessHistory(successes: 0, calls: 6))
        }
    }
}
