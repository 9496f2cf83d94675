import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// Position and estimated wait (issue 25, §7): a waiting call is told its place and about how long until an agent
/// takes it, from the rate at which the agents who may take it free a slot (`WaitEstimate`). On both databases;
/// the estimate's accuracy is measured in the simulator.
@Suite struct WaitEstimateTests {
    @Test func theRateIsEachAgentsSlotsOverItsHandlingTime() {
        #expect(WaitEstimate.slotsFreedPerSecond(slots: 2, handlingSeconds: 120) == 2.0 / 120)
        #expect(WaitEstimate.slotsFreedPerSecond(slots: 0, handlingSeconds: 120) == 0)
        #expect(WaitEstimate.slotsFreedPerSecond(slots: 1, handlingSeconds: 0) == 1, "a slot is never freed faster than a second")
        #expect(WaitEstimate.seconds(place: 3, slotsFreedPerSecond: 1.0 / 40) == 120)
        #expect(WaitEstimate.seconds(place: 1, slotsFreedPerSecond: 0) == nil, "nobody who may take it")
        #expect(WaitEstimate.seconds(place: 0, slotsFreedPerSecond: 1) == nil)
    }

    /// A pool keeps the rate of all its routable agents as a running total, through presence, capacity and
    /// handling-time changes; a requirement narrows it to the agents who have it.
    @Test func aPoolsRateFollowsItsAgents() {
        func candidate(_ slots: Int, _ handling: Double) -> RoutingCandidate {
            RoutingCandidate(id: UUID(), isActive: true, priority: 5, currentLoad: 0, maxConcurrent: slots, successRate: 0.5,
                             avgHandlingTime: handling)
        }
        var pool = CandidatePool([CandidatePool.Entry(candidate: candidate(1, 120), capabilities: ["french"]),
                                  CandidatePool.Entry(candidate: candidate(2, 120), capabilities: []),
                                  CandidatePool.Entry(candidate: candidate(3, 60), capabilities: ["french"])])
        #expect(abs(pool.slotsFreedPerSecond(required: []) - (1.0 / 120 + 2.0 / 120 + 3.0 / 60)) < 1e-12)
        #expect(abs(pool.slotsFreedPerSecond(required: ["french"]) - (1.0 / 120 + 3.0 / 60)) < 1e-12)
        pool.setLiveState(at: 2, load: 3, maxConcurrent: 3, isActive: false, channelsFull: 0)
        #expect(abs(pool.slotsFreedPerSecond(required: []) - 3.0 / 120) < 1e-12, "gone away: not counted")
        #expect(abs(pool.slotsFreedPerSecond(required: ["french"]) - 1.0 / 120) < 1e-12)
        pool.setHistory(at: 1, successRate: 0.5, avgHandlingTime: 240)
        pool.setLiveState(at: 0, load: 0, maxConcurrent: 4, isActive: true, channelsFull: 0)
        #expect(abs(pool.slotsFreedPerSecond(required: []) - (4.0 / 120 + 2.0 / 240)) < 1e-12)
        pool.setLiveState(at: 2, load: 0, maxConcurrent: 3, isActive: true, channelsFull: 0)
        #expect(abs(pool.slotsFreedPerSecond(required: []) - (4.0 / 120 + 2.0 / 240 + 3.0 / 60)) < 1e-12, "back")
        for index in 0..<3 { pool.setLiveState(at: index, load: 0, maxConcurrent: 3, isActive: false, channelsFull: 0) }
        #expect(pool.slotsFreedPerSecond(required: []) == 0, "nobody: exactly none, whatever the rounding")
    }

    private func queuedEvents(_ app: Application, _ clientId: String) async throws -> [UUID: JSONValue] {
        let events = try await EventOutbox.events(of: clientId, after: 0, limit: 1_000, on: app.db as! any SQLDatabase)
        var found: [UUID: JSONValue] = [:]
        for event in events where event.type == EventType.callQueued.rawValue {
            let data = try JSONDecoder().decode(JSONValue.self, from: Data(event.data.utf8))
            if let id = data["call_id"].uuid { found[id] = data }
        }
        return found
    }

    /// Three agents of one call at a time and 120 s of handling free a slot every 40 s: the calls waiting at places
    /// 1–4 are told 40, 80, 120 and 160 s, in their `call.queued` events, `GET /api/calls/:id` and the queue
    /// listing. An urgent call goes first; a call needing French waits for the one French speaker; an agent going
    /// offline slows every estimate; nobody routable, no estimate.
    @Test func aWaitingCallIsToldItsPlaceAndAboutHowLong() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let french = try await admin.createAgent(maxConcurrent: 1, avgHandlingTime: 120, capabilities: ["french"])
            let second = try await admin.createAgent(maxConcurrent: 1, avgHandlingTime: 120)
            let third = try await admin.createAgent(maxConcurrent: 1, avgHandlingTime: 120)
            for _ in 0..<3 { #expect(try await admin.createCall(#"{"sector":"billing"}"#).data["status"] == .string("active")) }
            var waiting: [UUID] = []
            for _ in 0..<4 { waiting.append(try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)) }

            var events = try await queuedEvents(app, admin.clientId)
            for (index, id) in waiting.enumerated() {
                #expect(events[id]?["queue_position"] == .number(Double(index + 1)), "\(String(describing: events[id]))")
                #expect(events[id]?["estimated_wait_seconds"] == .number(Double(40 * (index + 1))))
                let call = try await admin.send(.GET, "/api/calls/\(id)").data
                #expect(call["queue_position"] == .number(Double(index + 1)) && call["estimated_wait_seconds"] == .number(Double(40 * (index + 1))))
            }

            let urgent = try #require(try await admin.createCall(#"{"sector":"billing","priority":9}"#).data["id"].uuid)
            let needsFrench = try #require(try await admin.createCall(#"{"sector":"billing","required_capabilities":["french"]}"#).data["id"].uuid)
            events = try await queuedEvents(app, admin.clientId)
            #expect(events[urgent]?["queue_position"] == .number(1) && events[urgent]?["estimated_wait_seconds"] == .number(40))
            // Behind all six, and only the French speaker may take it: one slot every 120 s.
            #expect(events[needsFrench]?["queue_position"] == .number(6) && events[needsFrench]?["estimated_wait_seconds"] == .number(720))
            let listed = try await admin.send(.GET, "/api/routing/queue").data.arrayValue ?? []
            #expect(listed.map { $0["call_id"].uuid } == [urgent] + waiting + [needsFrench])
            #expect(listed.map { $0["estimated_wait_seconds"] } == [40, 80, 120, 160, 200, 720].map { .number(Double($0)) })

            // One agent offline: two slots every 120 s, so the call at place 2 waits about 120 s.
            #expect(try await admin.send(.PUT, "/api/agents/\(second)/presence", json: #"{"presence":"offline"}"#).status == .ok)
            #expect(try await admin.send(.GET, "/api/calls/\(waiting[0])").data["estimated_wait_seconds"] == .number(120))
            for agent in [french, third] {
                #expect(try await admin.send(.PUT, "/api/agents/\(agent)/presence", json: #"{"presence":"offline"}"#).status == .ok)
            }
            let stranded = try await admin.send(.GET, "/api/calls/\(waiting[0])").data
            #expect(stranded["queue_position"] == .number(2) && stranded["estimated_wait_seconds"] == .null)
        }
    }

    /// On steady replays (15 agents, handling 90–270 s, calls at random at the floor's capacity for three hours),
    /// the median error of the estimate each queued call was told is at most 30 % of the median wait.
    @Test(arguments: [UInt64(1), 2, 3])
    func theEstimateIsWithinThirtyPercentOnASteadyReplay(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let agents = (0..<15).map { _ in
            BookAgentRow(id: UUID(), sector: "support", isActive: true, priority: 5, capabilities: [], maxConcurrent: 1,
                         load: 0, successRate: 0.8, avgHandlingTime: 180)
        }
        var calls: [RoutingSimulation.Call] = []
        var time = 0.0
        while time < 3 * 3_600 {
            time += -log(1 - Double.random(in: 0..<1, using: &generator)) * 180 / 15
            calls.append(RoutingSimulation.Call(arrival: time, teamId: nil, sector: "support", capabilities: [],
                                                handlingSeconds: Double.random(in: 90...270, using: &generator)))
        }
        let report = RoutingSimulation.run(calls, catalogue: BookCatalogue(agents: agents, teams: [:], assignments: [], successHistory: [:]),
                                           policy: .defaults, horizonSeconds: 3 * 3_600, checkingWaitEstimates: true)
        let check = try! #require(report.waitEstimates)
        #expect(check.calls > 100, "enough calls queued to judge: \(check)")
        #expect(check.relativeError <= 0.3, "\(check)")
        #expect(RoutingSimulation.run(calls, catalogue: BookCatalogue(agents: agents, teams: [:], assignments: [], successHistory: [:]),
                                      policy: .defaults, horizonSeconds: 3 * 3_600).waitEstimates == nil, "measured only when asked")
    }
}
