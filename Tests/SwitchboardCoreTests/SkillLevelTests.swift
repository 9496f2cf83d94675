import FluentKit
import Foundation
import SQLKit
import Testing
import Vapor
@testable import SwitchboardCore

@Suite("Skill levels")
struct SkillLevelTests {
    // MARK: The pure pieces

    @Test func aCapabilityWithoutALevelIsAtTheTopAndTheFactorSumsLevelsOutOfFive() {
        let agent = AgentSkills(capabilities: ["french", "vip", "refunds"], levels: ["french": 3, "refunds": 5, "klingon": 1])
        #expect(agent.level(of: "french") == 3 && agent.level(of: "vip") == 5 && agent.level(of: "klingon") == nil)
        #expect(agent.levels == ["french": 3], "a level for a capability it lacks, or at the top, is not kept")
        #expect(abs(agent.capabilityFactor(requested: ["french", "vip", "spanish", "french"]) - 1.6) < 1e-12)
        // With every level at 5 the factor is the contract's count of matches.
        let plain = AgentSkills(capabilities: ["french", "vip"])
        #expect(plain.capabilityFactor(requested: ["french", "vip", "spanish"]) == 2)

        let required = SkillRequirement(capabilities: ["vip"], minimums: ["french": 4])
        #expect(required.capabilities == ["vip", "french"], "a minimum requires its capability too")
        #expect(!agent.meets(required) && plain.meets(required))
        #expect(agent.meets(SkillRequirement(capabilities: [], minimums: ["french": 3])))
        #expect(!AgentSkills(capabilities: ["vip"]).meets(SkillRequirement(capabilities: [], minimums: ["french": 1])))
    }

    @Test func relaxationStepsCapMinimumLevels() throws {
        let relaxation = try Relaxation(validating: .array([
            .object(["after_seconds": .number(0), "pool": .string("team")]),
            .object(["after_seconds": .number(30), "pool": .string("team"), "max_required_level": .number(3)]),
            .object(["after_seconds": .number(60), "pool": .string("sector"), "max_required_level": .number(4)]),
            .object(["after_seconds": .number(90), "pool": .string("sector"), "max_required_level": .number(2)]),
        ]))
        #expect(relaxation.stage(waited: 0, hasTeam: true).maxRequiredLevel == nil)
        #expect(relaxation.stage(waited: 30, hasTeam: true).maxRequiredLevel == 3)
        #expect(relaxation.stage(waited: 60, hasTeam: true).maxRequiredLevel == 3, "a later, higher cap never raises a minimum again")
        #expect(relaxation.stage(waited: 90, hasTeam: true).maxRequiredLevel == 2)
        #expect(relaxation.nextWidening(waited: 0, hasTeam: false) == 30, "a lower cap is a widening, for a call without a team too")
        #expect(relaxation.nextWidening(waited: 30, hasTeam: false) == 90)

        let asked = SkillRequirement(capabilities: ["vip"], minimums: ["french": 5, "german": 2])
        let capped = asked.at(relaxation.stage(waited: 30, hasTeam: true))
        #expect(capped.minimums == ["french": 3, "german": 2] && capped.capabilities == ["vip", "french", "german"])
        let dropping = try Relaxation(validating: .array([
            .object(["after_seconds": .number(0), "pool": .string("sector")]),
            .object(["after_seconds": .number(10), "pool": .string("sector"), "drop_required_capabilities": .bool(true)]),
        ]))
        #expect(asked.at(dropping.stage(waited: 10, hasTeam: false)) == .none)
        #expect(relaxation.jsonValue[3]["max_required_level"] == .number(2))

        for bad: JSONValue in [.number(0), .number(6), .number(2.5), .string("3")] {
            #expect(throws: AppError.self) {
                try Relaxation(validating: .array([.object(["after_seconds": .number(0), "pool": .string("sector"),
                                                            "max_required_level": bad])]))
            }
        }
    }

    @Test func theScorerRanksByLevelAndAdmitsOnlyAgentsAtTheMinimum() {
        let expert = UUID(), learner = UUID(), none = UUID()
        func candidate(_ id: UUID) -> RoutingCandidate {
            RoutingCandidate(id: id, isActive: true, priority: 5, currentLoad: 0, maxConcurrent: 2, successRate: 0.5, avgHandlingTime: 180)
        }
        let entries = [
            CandidatePool.Entry(candidate: candidate(learner), capabilities: ["french"], levels: ["french": 2]),
            CandidatePool.Entry(candidate: candidate(expert), capabilities: ["french"], levels: ["french": 5]),
            CandidatePool.Entry(candidate: candidate(none), capabilities: []),
        ]
        // Indexed capabilities, and more than 64 of them (each agent then gets 70 filler capabilities of its own).
        let filler = (0..<70).map { "skill-\($0)" }
        for pool in [CandidatePool(entries),
                     CandidatePool(entries.map { entry in
                         var wide = entry
                         wide.capabilities += filler.map { "\($0)-\(entry.candidate.id)" }
                         return wide
                     })] {
            let ranking = AgentScorer.rank(pool, requesting: pool.request(["french"]))
            #expect(ranking.top.map(\.agentId) == [expert, learner, none])
            #expect(ranking.top.map(\.breakdown.capabilities.value) == [1, 0.4, 0])
            #expect(abs(ranking.top[0].score - ranking.top[1].score - 5 * 0.6) < 1e-9)
            let atThree = AgentScorer.rank(pool, requesting: pool.request([], required: SkillRequirement(capabilities: [], minimums: ["french": 3])))
            #expect(atThree.top.map(\.agentId) == [expert] && atThree.eligibleCount == 1)
            let atTwo = AgentScorer.rank(pool, requesting: pool.request([], required: SkillRequirement(capabilities: [], minimums: ["french": 2])))
            #expect(Set(atTwo.top.map(\.agentId)) == [expert, learner])
            #expect(pool.slotsFreedPerSecond(required: SkillRequirement(capabilities: [], minimums: ["french": 3]))
                    == WaitEstimate.slotsFreedPerSecond(slots: 2, handlingSeconds: 180))
        }
        // A pool where nobody has a level below 5 keeps the plain mask; minimums are then met by having the capability.
        let plain = CandidatePool([CandidatePool.Entry(candidate: candidate(expert), capabilities: ["french"])])
        #expect(AgentScorer.rank(plain, requesting: plain.request(["french"], required: SkillRequirement(capabilities: [], minimums: ["french": 5])))
            .best?.breakdown.capabilities.value == 1)
    }

    @Test func aCSVCellGivesLevelsInline() throws {
        let (names, levels) = try SkillLevel.parseCell(["french=3", "vip", " german = 4 "])
        #expect(names == ["french", "vip", "german"] && levels == ["french": 3, "german": 4])
        #expect(throws: AppError.self) { try SkillLevel.parseCell(["french=high"]) }
        #expect(SkillLevel.read(SkillLevel.stored(["b": 2, "a": 1])) == ["a": 1, "b": 2])
        #expect(SkillLevel.stored([:]) == nil && SkillLevel.read(nil).isEmpty)
    }

    // MARK: Through the API

    @Test func agentsKeepTheirLevelsAndBadLevelsAreRefused() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let created = try await a.send(.POST, "/api/agents", json: """
                {"name":"Ana","sector":"billing","capabilities":["French","vip"],"capability_levels":{"french":3}}
                """)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.data["id"].uuid)
            #expect(created.data["capability_levels"] == .object(["french": .number(3)]))
            #expect(try await a.agent(id)["capability_levels"] == .object(["french": .number(3)]))
            // New capabilities alone keep the levels of those that stay; new levels replace them.
            var updated = try await a.send(.PUT, "/api/agents/\(id)", json: #"{"capabilities":["french","german"]}"#)
            #expect(updated.data["capability_levels"] == .object(["french": .number(3)]), "\(updated.text)")
            updated = try await a.send(.PUT, "/api/agents/\(id)", json: #"{"capabilities":["german"]}"#)
            #expect(updated.data["capability_levels"] == .object([:]))
            updated = try await a.send(.PUT, "/api/agents/\(id)", json: #"{"capability_levels":{"german":2}}"#)
            #expect(updated.data["capability_levels"] == .object(["german": .number(2)]))
            _ = try await a.createAgent("Plain")
            let listed = try await a.send(.GET, "/api/agents?limit=10").data.arrayValue ?? []
            #expect(listed.count == 2 && listed.allSatisfy { $0["capability_levels"].objectValue != nil }, "always an object")

            for (body, field) in [
                (#"{"name":"X","sector":"billing","capabilities":["french"],"capability_levels":{"french":6}}"#, "capability_levels.french"),
                (#"{"name":"X","sector":"billing","capabilities":["french"],"capability_levels":{"french":0}}"#, "capability_levels.french"),
                (#"{"name":"X","sector":"billing","capabilities":["french"],"capability_levels":{"french":2.5}}"#, "capability_levels"),
                (#"{"name":"X","sector":"billing","capabilities":["french"],"capability_levels":{"german":2}}"#, "capability_levels.german"),
                (#"{"name":"X","sector":"billing","capabilities":["french"],"capability_levels":["french"]}"#, "capability_levels"),
            ] {
                let refused = try await a.send(.POST, "/api/agents", json: body)
                #expect(refused.status == .badRequest && refused.error?.contains(field) == true, "\(body): \(refused.text)")
            }
            #expect(try await a.send(.PUT, "/api/agents/\(id)", json: #"{"capability_levels":{"vip":3}}"#).status == .badRequest)
            #expect(try await a.agent(id)["capability_levels"] == .object(["german": .number(2)]), "nothing written on error")
            #expect(try await TenantScope(clientId: a.clientId).query(SectorAgent.self, on: app.db).count() == 2)
        }
    }

    @Test func callsRouteOnlyToAgentsAtTheirMinimumLevels() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            // The learner is better by every other measure.
            let learner = try await agent(a, "Learner", levels: #"{"french":2}"#, priority: 10, successRate: 0.95)
            let expert = try await agent(a, "Expert", levels: #"{"french":5}"#, priority: 1, successRate: 0.3)
            let route = try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","required_levels":{"french":4}}"#)
            #expect(route.data["agent_id"].uuid == expert && route.data["eligible_count"] == .number(1), "\(route.text)")
            #expect(try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","required_capabilities":["french"]}"#)
                .data["agent_id"].uuid == learner, "without a minimum, any level will do")

            let call = try await a.createCall(#"{"sector":"billing","required_levels":{"french":4},"capabilities":["french"]}"#)
            #expect(call.status == .created && call.data["agent_id"].uuid == expert, "\(call.text)")
            #expect(call.data["required_levels"] == .object(["french": .number(4)]) && call.data["required_capabilities"] == .array([]))
            let callId = try #require(call.data["id"].uuid)
            let logged = try await a.send(.GET, "/api/routing/decisions?call_id=\(callId)").data[0]
            #expect(logged["request"]["required_levels"] == .object(["french": .number(4)]), "\(logged)")
            #expect(logged["candidates"][0]["breakdown"]["capabilities"]["value"] == .number(1))

            // The expert is full: the next such call waits though the learner is free, and goes to the expert when
            // it frees; the learner's freed slot never takes it.
            let waiting = try await a.createCall(#"{"sector":"billing","required_levels":{"french":4}}"#)
            #expect(waiting.data["status"] == .string("queued"), "\(waiting.text)")
            let waitingId = try #require(waiting.data["id"].uuid)
            let queued = try await a.send(.GET, "/api/routing/queue").data[0]
            #expect(queued["required_levels"] == .object(["french": .number(4)]) && queued["max_required_level"] == .null, "\(queued)")
            let other = try await a.createCall(#"{"sector":"billing"}"#)
            #expect(other.data["agent_id"].uuid == learner)
            #expect(try await a.complete(try #require(other.data["id"].uuid)).status == .ok)
            #expect(try await a.send(.GET, "/api/calls/\(waitingId)").data["status"] == .string("queued"))
            #expect(try await a.complete(callId).status == .ok)
            let taken = try await a.send(.GET, "/api/calls/\(waitingId)").data
            #expect(taken["status"] == .string("active") && taken["agent_id"].uuid == expert, "\(taken)")

            // Idempotency compares the levels too.
            _ = try await a.createCall(#"{"sector":"billing","required_levels":{"french":2}}"#, idempotencyKey: "lv-1")
            #expect(try await a.createCall(#"{"sector":"billing","required_levels":{"french":3}}"#, idempotencyKey: "lv-1").status
                    == .unprocessableEntity)

            let before = try await TenantScope(clientId: a.clientId).query(Call.self, on: app.db).count()
            for (body, field) in [
                (#"{"sector":"billing","required_levels":{"french":6}}"#, "required_levels.french"),
                (#"{"sector":"billing","required_levels":{"french":0}}"#, "required_levels.french"),
                (#"{"sector":"billing","required_levels":{"french":"high"}}"#, "required_levels"),
                (#"{"sector":"billing","required_levels":["french"]}"#, "required_levels"),
            ] {
                let refused = try await a.createCall(body)
                #expect(refused.status == .badRequest && refused.error?.contains(field) == true, "\(body): \(refused.text)")
                #expect(try await a.send(.POST, "/api/routing/route", json: body).status == .badRequest)
            }
            #expect(try await TenantScope(clientId: a.clientId).query(Call.self, on: app.db).count() == before, "nothing written")
        }
    }

    @Test func aRelaxationStepLowersTheMinimumForTheSweeperAndTheHandOff() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            #expect(try await a.send(.PUT, "/api/settings", json: """
                {"routing.relaxation":[{"after_seconds":0,"pool":"sector"},{"after_seconds":30,"pool":"sector","max_required_level":2}]}
                """).status == .ok)
            let learner = try await agent(a, "Learner", levels: #"{"french":2}"#, maxConcurrent: 1)
            let novice = try await agent(a, "Novice", levels: #"{"french":1}"#, maxConcurrent: 1)
            let waiting = try await a.createCall(#"{"sector":"billing","required_levels":{"french":4}}"#)
            #expect(waiting.data["status"] == .string("queued"), "\(waiting.text)")
            let callId = try #require(waiting.data["id"].uuid)
            let createdAt = try await TenantScope(clientId: a.clientId).find(Call.self, callId, on: app.db).createdAt
            let sweeper = app.queueSweeper
            #expect(try await sweeper.sweep(now: createdAt.addingTimeInterval(29), only: a.clientId) == 0)
            #expect(try await sweeper.sweep(now: createdAt.addingTimeInterval(30), only: a.clientId) == 1)
            let taken = try await a.send(.GET, "/api/calls/\(callId)").data
            #expect(taken["agent_id"].uuid == learner, "level 2 now meets the call, level 1 never does: \(taken)")
            _ = novice

            // In the hand-off: a second call waits past its step while the learner is busy; the novice's freed slot
            // does not take it, the learner's does.
            let second = try await a.createCall(#"{"sector":"billing","required_levels":{"french":4}}"#)
            let secondId = try #require(second.data["id"].uuid)
            #expect(second.data["status"] == .string("queued"))
            try await backdate(secondId, by: 40, app)
            let listed = try await a.send(.GET, "/api/routing/queue").data[0]
            #expect(listed["max_required_level"] == .number(2), "\(listed)")
            let noviceCall = try await a.createCall(#"{"sector":"billing"}"#)
            #expect(noviceCall.data["agent_id"].uuid == novice)
            #expect(try await a.complete(try #require(noviceCall.data["id"].uuid)).status == .ok)
            #expect(try await a.send(.GET, "/api/calls/\(secondId)").data["status"] == .string("queued"))
            #expect(try await a.complete(callId).status == .ok)
            #expect(try await a.send(.GET, "/api/calls/\(secondId)").data["agent_id"].uuid == learner)
        }
    }

    @Test func aPreferredAgentBelowTheMinimumIsPassedOver() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let learner = try await agent(a, "Learner", levels: #"{"french":2}"#)
            let expert = try await agent(a, "Expert", levels: #"{"french":5}"#, priority: 1)
            let call = try await a.createCall("""
                {"sector":"billing","required_levels":{"french":3},"preferred_agent_id":"\(learner)"}
                """)
            #expect(call.data["agent_id"].uuid == expert, "\(call.text)")
            let easy = try await a.createCall("""
                {"sector":"billing","required_levels":{"french":2},"preferred_agent_id":"\(learner)"}
                """)
            #expect(easy.data["agent_id"].uuid == learner)
        }
    }

    @Test func bulkImportsTakeLevelsInlineInCSVAndAsAnObjectInJSON() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let csv = try await a.send(.POST, "/api/agents/bulk", headers: [("Content-Type", "text/csv")], body: """
                external_id,name,sector,capabilities
                lv-1,Ana,billing,French=3;vip
                lv-2,Bo,billing,german

                """)
            #expect(csv.status == .ok, "\(csv.text)")
            let ids = (csv.data["results"].arrayValue ?? []).compactMap { $0["id"].uuid }
            let ana = try await a.agent(ids[0])
            #expect(ana["capabilities"] == .array([.string("french"), .string("vip")]) && ana["capability_levels"] == .object(["french": .number(3)]),
                    "\(ana)")
            #expect(try await a.agent(ids[1])["capability_levels"] == .object([:]))
            let json = try await a.send(.POST, "/api/agents/bulk", json: """
                {"agents":[{"external_id":"lv-2","capability_levels":{"german":4}},
                           {"external_id":"lv-3","name":"Cy","sector":"billing","capabilities":["vip"],"capability_levels":{"vip":1}}]}
                """)
            #expect(json.status == .ok, "\(json.text)")
            #expect(try await a.agent(ids[1])["capability_levels"] == .object(["german": .number(4)]))
            // The routing book sees imported levels.
            let route = try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","required_levels":{"german":4}}"#)
            #expect(route.data["agent_id"].uuid == ids[1])

            for (body, field) in [("lv-4,Di,billing,french=9", "capabilities"), ("lv-4,Di,billing,french=high", "capabilities")] {
                let refused = try await a.send(.POST, "/api/agents/bulk", headers: [("Content-Type", "text/csv")],
                                               body: "external_id,name,sector,capabilities\n\(body)\n")
                #expect(refused.status == .badRequest && refused.text.contains(field), "\(body): \(refused.text)")
            }
            let stranger = try await a.send(.POST, "/api/agents/bulk", json: """
                {"agents":[{"external_id":"lv-1","capability_levels":{"klingon":2}}]}
                """)
            #expect(stranger.status == .badRequest && stranger.text.contains("capability_levels"), "\(stranger.text)")
            #expect(try await a.agent(ids[0])["capability_levels"] == .object(["french": .number(3)]), "nothing written")
        }
    }

    /// Seeded random agents with random levels, and calls with random minimums created in parallel and completed
    /// at random (so that every hand-off runs): every active call's agent meets every minimum the call asked.
    @Test(arguments: [UInt64(5), 77])
    func minimumsHoldUnderARandomMix(seed: UInt64) async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            var generator = SeededGenerator(seed: seed)
            let skills = ["french", "spanish", "vip"]
            var levelsOf: [UUID: [String: Int]] = [:]
            for index in 0..<6 {
                var levels: [String: Int] = [:]
                for skill in skills where Bool.random(using: &generator) { levels[skill] = Int.random(in: 1...5, using: &generator) }
                let id = try await agent(a, "A\(index)", levels: Self.json(levels), maxConcurrent: 2)
                levelsOf[id] = levels
            }
            try await runRandomCallMix(a, on: app, generator: &generator, callsPerRound: 12, body: { generator in
                var minimums: [String: Int] = [:]
                for skill in skills where Int.random(in: 0..<3, using: &generator) == 0 { minimums[skill] = Int.random(in: 1...5, using: &generator) }
                return #"{"sector":"billing","required_levels":\#(Self.json(minimums))}"#
            }, check: { call, agent in
                for (skill, minimum) in call["required_levels"].objectValue ?? [:] {
                    #expect((levelsOf[agent]?[skill] ?? 0) >= Int(minimum.numberValue ?? 9), "\(call)")
                }
            })
        }
    }

    @Test func theSimulatorHonoursLevelsAndTheirRelaxation() throws {
        let expert = UUID(), learner = UUID()
        let agents = [(expert, 5), (learner, 2)].map { id, level in
            BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: ["french"], capabilityLevels: ["french": level],
                         maxConcurrent: 1, load: 0, successRate: 0.5, avgHandlingTime: 60)
        }
        let catalogue = BookCatalogue(agents: agents, teams: [:], assignments: [], successHistory: [:])
        // Two calls at once needing French at 4: the second waits for the expert though the learner is free.
        let calls = [0.0, 1.0].map {
            RoutingSimulation.Call(arrival: $0, teamId: nil, sector: "billing", capabilities: [], handlingSeconds: 30,
                                   requiredLevels: ["french": 4])
        }
        let strict = RoutingSimulation.run(calls, catalogue: catalogue, policy: .defaults, horizonSeconds: 100)
        #expect(strict.callsByAgent == [expert: 2] && strict.waitMax == 29)
        // After 10 s a step lowers every minimum to 2: the waiting call goes to the learner then.
        var policy = RoutingPolicy.defaults
        policy.relaxation = try Relaxation(validating: .array([
            .object(["after_seconds": .number(0), "pool": .string("sector")]),
            .object(["after_seconds": .number(10), "pool": .string("sector"), "max_required_level": .number(2)]),
        ]))
        let relaxed = RoutingSimulation.run(calls, catalogue: catalogue, policy: policy, horizonSeconds: 100)
        #expect(relaxed.callsByAgent == [expert: 1, learner: 1] && relaxed.waitMax == 10, "\(relaxed.callsByAgent) \(relaxed.waitMax)")
    }

    // MARK: Helpers

    private func agent(_ a: APIClient, _ name: String, levels: String, priority: Int = 5, successRate: Double = 0.5,
                       maxConcurrent: Int = 1) async throws -> UUID {
        let names = (try JSONDecoder().decode([String: Int].self, from: Data(levels.utf8))).keys.sorted()
        let response = try await a.send(.POST, "/api/agents", json: """
            {"name":"\(name)","sector":"billing","priority":\(priority),"success_rate":\(successRate),"max_concurrent":\(maxConcurrent),
             "capabilities":[\(names.map { "\"\($0)\"" }.joined(separator: ","))],"capability_levels":\(levels)}
            """)
        try #require(response.status == .created, "\(response.text)")
        return try #require(response.data["id"].uuid)
    }

    private static func json(_ levels: [String: Int]) -> String {
        "{" + levels.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
    }

    /// Moves a call's arrival back, as if it had waited that long.
    private func backdate(_ callId: UUID, by seconds: Double, _ app: Application) async throws {
        let sql = app.db as! any SQLDatabase
        let call = try #require(try await Call.find(callId, on: app.db))
        try await sql.update(Call.schema).set("created_at", to: call.createdAt.addingTimeInterval(-seconds))
            .where("id", .equal, callId).run()
    }
}
