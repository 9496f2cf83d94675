import Foundation
import Testing
import VaporTesting
@testable import SwitchboardCore

/// The what-if simulator with people: wrap-up holds the slot after each call, offers are answered after recorded
/// delays or run out and go on without that agent.
@Suite struct SimulationPeopleTests {
    let first = UUID(), second = UUID()

    func catalogue(_ agents: [UUID], wrapUp: Int? = nil) -> RoutingSimulation.Catalogue {
        BookCatalogue(agents: agents.map { id in
            BookAgentRow(id: id, sector: "billing", isActive: true, priority: id == first ? 9 : 1, capabilities: [], maxConcurrent: 1,
                         load: 0, successRate: 0.5, avgHandlingTime: 180, wrapUpSeconds: wrapUp)
        }, teams: [:], assignments: [], successHistory: [:])
    }

    /// Two calls at 0 and 10 s, 60 s each, for one agent: the second waits for the first and its wrap-up.
    let calls = [0.0, 10].map { RoutingSimulation.Call(arrival: $0, teamId: nil, sector: "billing", capabilities: [], handlingSeconds: 60) }

    @Test func wrapUpHoldsTheSlot() {
        var policy = RoutingPolicy.defaults
        let without = RoutingSimulation.run(calls, catalogue: catalogue([first]), policy: policy, horizonSeconds: 600)
        #expect(without.waitMax == 50)
        policy.wrapUpSeconds = 30
        let with = RoutingSimulation.run(calls, catalogue: catalogue([first]), policy: policy, horizonSeconds: 600)
        #expect(with.waitMax == 80 && with.answered == 2)
        // The agent's own time wins over the policy's.
        let own = RoutingSimulation.run(calls, catalogue: catalogue([first], wrapUp: 5), policy: policy, horizonSeconds: 600)
        #expect(own.waitMax == 55)
    }

    @Test func offersAreAnsweredAfterTheRecordedDelaysOrRunOut() {
        var policy = RoutingPolicy.defaults
        policy.offerTimeoutSeconds = 20
        let answered = RoutingSimulation.run([calls[0]], catalogue: catalogue([first]), policy: policy, horizonSeconds: 600,
                                             answering: .init(delays: [7], missRate: 0))
        #expect(answered.waitMax == 7 && answered.offersMissed == 0)
        // Every offer runs out: each agent misses the call once, then nobody may take it.
        let missed = RoutingSimulation.run([calls[0]], catalogue: catalogue([first, second]), policy: policy, horizonSeconds: 600,
                                           answering: .init(delays: [], missRate: 1))
        #expect(missed.offersMissed == 2 && missed.answered == 0 && missed.unanswered == 1)
        // Without offers, the answering model changes nothing.
        policy.offerTimeoutSeconds = 0
        let instant = RoutingSimulation.run([calls[0]], catalogue: catalogue([first]), policy: policy, horizonSeconds: 600,
                                            answering: .init(delays: [7], missRate: 1))
        #expect(instant.waitMax == 0 && instant.offersMissed == 0 && instant.answered == 1)
    }

    @Test func aManagerComparesWrapUpsOnRecordedCalls() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            _ = try await admin.createAgent(maxConcurrent: 1)
            for _ in 0..<3 {
                let call = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
                if try await admin.send(.GET, "/api/calls/\(call)").data["status"] == .string("active") {
                    _ = try await admin.complete(call, seconds: 60)
                }
            }
            let today = Day(containing: Date()).description
            let response = try await admin.send(.POST, "/api/routing/simulate", json: """
                {"from": "\(today)", "to": "\(today)", "policy": {"wrap_up_seconds": 600, "offer_timeout_seconds": 10}}
                """)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.data["proposed_settings"]["calls.wrap_up_seconds"] == .number(600))
            #expect(response.data["proposed_settings"]["routing.offer_timeout_seconds"] == .number(10))
            let current = response.data["current"], proposed = response.data["proposed"]
            #expect(proposed["wait_seconds"]["max"].numberValue! > current["wait_seconds"]["max"].numberValue!, "\(response.text)")
            #expect(proposed["offers_missed"] == .number(0))
            let bad = try await admin.send(.POST, "/api/routing/simulate", json: """
                {"from": "\(today)", "to": "\(today)", "policy": {"wrap_up_seconds": 4000}}
                """)
            #expect(bad.status == .badRequest && bad.error?.contains("calls.wrap_up_seconds") == true)
        }
    }
}
