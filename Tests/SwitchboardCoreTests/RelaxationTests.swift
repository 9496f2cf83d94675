import FluentKit
import Foundation
import SQLKit
import Testing
@testable import SwitchboardCore

@Suite("Queues that widen")
struct RelaxationTests {
    @Test func stagesFollowTheSteps() throws {
        let relaxation = try Relaxation(validating: .array([
            .object(["after_seconds": .number(0), "pool": .string("team")]),
            .object(["after_seconds": .number(30), "pool": .string("sector")]),
            .object(["after_seconds": .number(90), "pool": .string("sector"), "drop_required_capabilities": .bool(true)]),
        ]))
        #expect(relaxation.stage(waited: 0, hasTeam: true) == Relaxation.Stage(step: 0, pool: .team, requirementsDropped: false))
        #expect(relaxation.stage(waited: 29.9, hasTeam: true).pool == .team)
        #expect(relaxation.stage(waited: 30, hasTeam: true) == Relaxation.Stage(step: 1, pool: .sector, requirementsDropped: false))
        #expect(relaxation.stage(waited: 90, hasTeam: true) == Relaxation.Stage(step: 2, pool: .sector, requirementsDropped: true))
        #expect(relaxation.stage(waited: 0, hasTeam: false).pool == .sector, "a call without a team goes to its sector at once")
        #expect(relaxation.nextWidening(waited: 0, hasTeam: true) == 30)
        #expect(relaxation.nextWidening(waited: 30, hasTeam: true) == 90)
        #expect(relaxation.nextWidening(waited: 0, hasTeam: false) == 90)
        #expect(relaxation.nextWidening(waited: 95, hasTeam: true) == nil)
        #expect(Relaxation.standard.nextWidening(waited: 0, hasTeam: true) == nil, "the default is at its widest at once")
        #expect(Relaxation.standard.stage(waited: 0, hasTeam: true).pool == .sector)

        for bad: JSONValue in [
            .array([]), .object([:]), .array([.object(["after_seconds": .number(5), "pool": .string("team")])]),
            .array([.object(["after_seconds": .number(0), "pool": .string("floor")])]),
            .array([.object(["after_seconds": .number(0), "pool": .string("team")]), .object(["after_seconds": .number(-1), "pool": .string("sector")])]),
            .array([.object(["after_seconds": .number(0), "pool": .string("sector")]), .object(["after_seconds": .number(5), "pool": .string("team")])]),
            .array([.object(["after_seconds": .number(0), "pool": .string("team"), "extra": .bool(true)])]),
            .array([.object(["after_seconds": .number(0), "pool": .string("team"), "drop_required_capabilities": .string("yes")])]),
        ] {
            #expect(throws: AppError.self, "\(bad)") { try Relaxation(validating: bad) }
        }
    }

    @Test func aTeamCallGoesToTheSectorOnlyAfterItsWait() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let settings = try await a.send(.PUT, "/api/settings", json: """
                {"routing.relaxation": [{"after_seconds": 0, "pool": "team"}, {"after_seconds": 30, "pool": "sector"},
                                        {"after_seconds": 90, "pool": "sector", "drop_required_capabilities": true}]}
                """)
            #expect(settings.status == .ok, "\(settings.text)")
            #expect(try await a.send(.PUT, "/api/settings", json: #"{"routing.relaxation":[{"after_seconds":0,"pool":"moon"}]}"#).status
                    == .badRequest)
            let team = try await a.createTeam("T", sector: "billing")
            let member = try await a.addMember(to: team)
            let inTeam = try await a.createAgent("In team", maxConcurrent: 1)
            try await a.assign([inTeam], to: member, in: team)
            let outside = try await a.createAgent("Sector", maxConcurrent: 2, capabilities: ["spanish"])

            #expect(try await a.createCall(#"{"team_id":"\#(team)"}"#).data["agent_id"].uuid == inTeam)
            // The team is full; the sector agent is free, but the call may not leave its team yet.
            let waiting = try await a.createCall(#"{"team_id":"\#(team)"}"#)
            #expect(waiting.data["status"] == .string("queued"), "\(waiting.text)")
            let callId = try #require(waiting.data["id"].uuid)
            let createdAt = try await TenantScope(clientId: a.clientId).find(Call.self, callId, on: app.db).createdAt

            let queue = try await a.send(.GET, "/api/routing/queue")
            #expect(queue.status == .ok, "\(queue.text)")
            let listed = queue.data[0]
            #expect(listed["call_id"].uuid == callId && listed["step"] == .number(0) && listed["pool"] == .string("team"))
            #expect(listed["next_widening_at"].stringValue != nil, "\(listed)")

            let sweeper = app.queueSweeper
            #expect(try await sweeper.sweep(now: createdAt.addingTimeInterval(29), only: a.clientId) == 0)
            #expect(try await a.send(.GET, "/api/calls/\(callId)").data["status"] == .string("queued"))
            #expect(try await sweeper.sweep(now: createdAt.addingTimeInterval(30), only: a.clientId) == 1)
            let taken = try await a.send(.GET, "/api/calls/\(callId)").data
            #expect(taken["status"] == .string("active") && taken["agent_id"].uuid == outside, "\(taken)")
            let logged = try await a.send(.GET, "/api/routing/decisions?call_id=\(callId)").data.arrayValue ?? []
            let widened = try #require(logged.first { $0["trigger"] == .string("widen") })
            #expect(widened["step"] == .number(1) && widened["strategy"] == .string("sector"))
            #expect(abs((widened["waited_seconds"].numberValue ?? 0) - 30) < 0.001)
            let arrival = try #require(logged.first { $0["trigger"] == .string("call") })
            #expect(arrival["step"] == .number(0) && arrival["waited_seconds"] == .number(0))

            // Required capabilities hold until the step that drops them: a French call waits for a French agent.
            let french = try await a.createCall(#"{"team_id":"\#(team)","required_capabilities":["french"]}"#)
            let frenchId = try #require(french.data["id"].uuid)
            #expect(french.data["status"] == .string("queued"))
            let frenchAt = try await TenantScope(clientId: a.clientId).find(Call.self, frenchId, on: app.db).createdAt
            #expect(try await sweeper.sweep(now: frenchAt.addingTimeInterval(60), only: a.clientId) == 0, "the sector agent lacks French")
            #expect(try await sweeper.sweep(now: frenchAt.addingTimeInterval(90), only: a.clientId) == 1)
            #expect(try await a.send(.GET, "/api/calls/\(frenchId)").data["agent_id"].uuid == outside)
            #expect(try await a.send(.GET, "/api/routing/queue").data.count == 0)
        }
    }

    @Test func aFreedSectorAgentLeavesATeamCallThatHasNotWidened() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            _ = try await a.send(.PUT, "/api/settings", json: """
                {"routing.relaxation": [{"after_seconds": 0, "pool": "team"}, {"after_seconds": 600, "pool": "sector"}]}
                """)
            let team = try await a.createTeam("T", sector: "billing")
            let member = try await a.addMember(to: team)
            let inTeam = try await a.createAgent("In team", maxConcurrent: 1)
            try await a.assign([inTeam], to: member, in: team)
            let outside = try await a.createAgent("Sector", maxConcurrent: 1)
            #expect(try await a.createCall(#"{"team_id":"\#(team)"}"#).data["agent_id"].uuid == inTeam)
            let sectorCall = try await a.createCall(#"{"sector":"billing"}"#)
            #expect(sectorCall.data["agent_id"].uuid == outside, "a call without a team goes to its sector at once")
            let teamCall = try #require(try await a.createCall(#"{"team_id":"\#(team)"}"#).data["id"].uuid)
            // The sector agent finishes: the waiting team call is not its yet.
            #expect(try await a.complete(try #require(sectorCall.data["id"].uuid)).status == .ok)
            #expect(try await a.send(.GET, "/api/calls/\(teamCall)").data["status"] == .string("queued"))
            // The team's agent finishes: it takes it.
            let first = try #require(try await a.send(.GET, "/api/calls?status=active").data.arrayValue?.first?["id"].uuid)
            #expect(try await a.complete(first).status == .ok)
            let taken = try await a.send(.GET, "/api/calls/\(teamCall)").data
            #expect(taken["status"] == .string("active") && taken["agent_id"].uuid == inTeam, "\(taken)")

            // Another team call waits; the setting goes back to "team, then sector at once": the next sweep hands it
            // to the free sector agent rather than leaving it for the team.
            let later = try #require(try await a.createCall(#"{"team_id":"\#(team)"}"#).data["id"].uuid)
            #expect(try await a.send(.GET, "/api/calls/\(later)").data["status"] == .string("queued"))
            _ = try await a.send(.PUT, "/api/settings", json: #"{"routing.relaxation": [{"after_seconds": 0, "pool": "team"}, {"after_seconds": 0, "pool": "sector"}]}"#)
            #expect(try await app.queueSweeper.sweep(now: Date().addingTimeInterval(2), only: a.clientId) == 1)
            #expect(try await a.send(.GET, "/api/calls/\(later)").data["agent_id"].uuid == outside)
        }
    }
}
