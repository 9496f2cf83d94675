import FluentKit
import Foundation
import SQLKit
import Testing
@testable import SwitchboardCore

@Suite("Required capabilities")
struct RequiredCapabilitiesTests {
    @Test func anAgentLackingARequiredCapabilityIsNeverChosen() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            // The best agent by every other measure lacks French.
            let star = try await a.createAgent("Star", priority: 10, maxConcurrent: 5, successRate: 0.99, capabilities: ["spanish"])
            let french = try await a.createAgent("French", priority: 1, maxConcurrent: 1, successRate: 0.2, capabilities: ["french", "vip"])
            let route = try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","required_capabilities":["french"]}"#)
            #expect(route.data["agent_id"].uuid == french, "\(route.text)")
            #expect(route.data["eligible_count"] == .number(1))
            #expect(try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","capabilities":["french"]}"#)
                .data["agent_id"].uuid == star, "a wished-for capability only adds to the score")
            #expect(try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","required_capabilities":["klingon"]}"#)
                .data["agent_id"] == .null, "nobody has it")
            #expect(try await a.send(.POST, "/api/calls", json: #"{"sector":"billing","required_capabilities":"french"}"#).status == .badRequest)

            let first = try await a.createCall(#"{"sector":"billing","required_capabilities":["french"]}"#)
            #expect(first.data["agent_id"].uuid == french && first.data["required_capabilities"] == .array([.string("french")]))
            // French is full: the next French call waits even though Star is free; a Spanish call goes to Star.
            let waiting = try await a.createCall(#"{"sector":"billing","required_capabilities":["french","vip"]}"#)
            #expect(waiting.data["status"] == .string("queued"), "\(waiting.text)")
            let other = try await a.createCall(#"{"sector":"billing","required_capabilities":["spanish"]}"#)
            #expect(other.data["agent_id"].uuid == star)
            // Star frees up: the waiting French call is not its to take.
            #expect(try await a.complete(try #require(other.data["id"].uuid)).status == .ok)
            let waitingId = try #require(waiting.data["id"].uuid)
            #expect(try await a.send(.GET, "/api/calls/\(waitingId)").data["status"] == .string("queued"))
            // A later call without requirements is taken by Star, past the waiting French call.
            #expect(try await a.createCall(#"{"sector":"billing"}"#).data["agent_id"].uuid == star)
            // French frees up and takes the waiting call.
            #expect(try await a.complete(try #require(first.data["id"].uuid)).status == .ok)
            let taken = try await a.send(.GET, "/api/calls/\(waitingId)").data
            #expect(taken["status"] == .string("active") && taken["agent_id"].uuid == french)
            let logged = try await a.send(.GET, "/api/routing/decisions?call_id=\(waitingId)").data
            #expect(logged.arrayValue?.allSatisfy { $0["request"]["required_capabilities"] == .array([.string("french"), .string("vip")]) } == true,
                    "\(logged)")
            // Idempotency compares the requirements too.
            _ = try await a.createCall(#"{"sector":"billing","required_capabilities":["vip"]}"#, idempotencyKey: "k-1")
            #expect(try await a.createCall(#"{"sector":"billing","required_capabilities":["spanish"]}"#, idempotencyKey: "k-1").status
                    == .unprocessableEntity)
        }
    }

    /// The queue is read in pages, each twice the last (8, 16, 32…): a freed agent reaches the first call it may
    /// take behind a backlog it cannot serve, here the first call of the third page, and not the one after it.
    @Test func aFreedAgentReachesPastABacklogItCannotServe() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let plain = try await a.createAgent("Plain", maxConcurrent: 1)
            let busy = try await a.createCall(#"{"sector":"billing"}"#)
            #expect(busy.data["agent_id"].uuid == plain)
            for _ in 0..<24 {
                #expect(try await a.createCall(#"{"sector":"billing","required_capabilities":["french"]}"#).data["status"] == .string("queued"))
            }
            let first = try #require(try await a.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let second = try #require(try await a.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await a.complete(try #require(busy.data["id"].uuid)).status == .ok)
            #expect(try await a.send(.GET, "/api/calls/\(first)").data["agent_id"].uuid == plain)
            #expect(try await a.send(.GET, "/api/calls/\(second)").data["status"] == .string("queued"))
            #expect(try await a.send(.GET, "/api/calls?status=queued&limit=100").data.arrayValue?.count == 25)
        }
    }

    /// The queue is read page after page from where the last page ended: past calls that share one instant (as
    /// those created in one batch do, ordered by id across a page's edge), and with priorities mixed.
    @Test(arguments: [false, true])
    func aFreedAgentReachesPastABacklogOfOneInstant(mixedPriorities: Bool) async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let plain = try await a.createAgent("Plain", maxConcurrent: 1)
            let busy = try #require(try await a.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            var defaultPriority: [UUID] = []
            for index in 0..<48 {
                let urgent = mixedPriorities && index % 5 == 0
                let body = #"{"sector":"billing","required_capabilities":["french"],"priority":\#(urgent ? 7 : 5)}"#
                let call = try await a.createCall(body).data
                #expect(call["status"] == .string("queued"))
                if !urgent { defaultPriority.append(try #require(call["id"].uuid)) }
            }
            // Every waiting call at one instant; two of them, far down the queue, need nothing the agent lacks.
            let instant = Date(timeIntervalSince1970: 1_800_000_000.123_456)
            let byId = defaultPriority.sorted { $0.uuidString < $1.uuidString }
            let (first, second) = (byId[30], byId[35])
            for call in try await Call.query(on: app.db).filter(\.$clientId == a.clientId).filter(\.$status == .queued).all() {
                call.createdAt = instant
                if call.id == first || call.id == second { call.requiredCapabilities = [] }
                try await call.save(on: app.db)
            }
            #expect(try await a.complete(busy).status == .ok)
            #expect(try await a.send(.GET, "/api/calls/\(first)").data["agent_id"].uuid == plain)
            #expect(try await a.send(.GET, "/api/calls/\(second)").data["status"] == .string("queued"))
        }
    }

    /// Seeded random agents and calls, created in parallel and completed at random: at every step, every active
    /// call's agent has every capability the call required.
    @Test(arguments: [UInt64(3), 99])
    func requirementsHoldUnderARandomMix(seed: UInt64) async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            var generator = SeededGenerator(seed: seed)
            let skills = ["french", "spanish", "vip", "refunds"]
            var agentSkills: [UUID: Set<String>] = [:]
            for index in 0..<6 {
                let mine = skills.filter { _ in Bool.random(using: &generator) }
                let id = try await a.createAgent("A\(index)", maxConcurrent: 2, capabilities: mine)
                agentSkills[id] = Set(mine)
            }
            try await runRandomCallMix(a, on: app, generator: &generator, callsPerRound: 15, body: { generator in
                let required = skills.filter { _ in Int.random(in: 0..<4, using: &generator) == 0 }
                return #"{"sector":"billing","required_capabilities":[\#(required.map { "\"\($0)\"" }.joined(separator: ","))]}"#
            }, check: { call, agent in
                let required = Set((call["required_capabilities"].arrayValue ?? []).compactMap(\.stringValue))
                #expect(required.isSubset(of: agentSkills[agent] ?? []), "\(call)")
            })
        }
    }

    @Test func theSimulatorHonoursRequirements() {
        let french = UUID(), plain = UUID()
        let agents = [(french, ["french"]), (plain, [String]())].map { id, skills in
            BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: skills, maxConcurrent: 1, load: 0,
                         successRate: 0.5, avgHandlingTime: 60)
        }
        // Two French calls at once: the second waits for the French agent though the other one is free.
        let calls = [0.0, 1.0].map {
            RoutingSimulation.Call(arrival: $0, teamId: nil, sector: "billing", capabilities: [], handlingSeconds: 30,
                                   requiredCapabilities: ["french"])
        }
        let report = RoutingSimulation.run(calls, catalogue: BookCatalogue(agents: agents, teams: [:], assignments: [], successHistory: [:]),
                                           policy: .defaults, horizonSeconds: 100)
        #expect(report.callsByAgent == [french: 2])
        #expect(report.waitMax == 29)
    }
}
