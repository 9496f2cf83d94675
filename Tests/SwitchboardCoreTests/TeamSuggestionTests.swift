import FluentKit
import Foundation
import Testing
import Vapor
@testable import SwitchboardCore

@Suite("Team suggestions")
struct TeamSuggestionTests {
    @Test func anObviousMoveIsSuggestedAndApplied() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let today = Day(containing: Date()), yesterday = Day(containing: Date()).adding(days: -1)
            // Front desk: one agent, callers waiting 90 s for most calls.
            let front = try await a.createTeam("Front desk", sector: "billing")
            let frontLead = try await a.addMember(to: front, email: "lead@front.example", role: "lead")
            _ = try await a.addMember(to: front, email: "m@front.example", role: "member")
            let busy = try await a.createAgent("Busy", maxConcurrent: 1)
            try await a.assign([busy], to: frontLead, in: front)
            for index in 0..<20 {
                try await insertEndedCall(app, clientId: a.clientId, teamId: front, agentId: busy, day: yesterday,
                                          wait: index < 8 ? 0 : 90, outcome: index < 15 ? .successful : .failed, seconds: 300)
            }
            // Back office: an agent with time to spare and the best record in the sector.
            let back = try await a.createTeam("Back office", sector: "billing")
            let backMember = try await a.addMember(to: back)
            let spare = try await a.createAgent("Spare", maxConcurrent: 5)
            try await a.assign([spare], to: backMember, in: back)
            for _ in 0..<12 {
                try await insertEndedCall(app, clientId: a.clientId, teamId: back, agentId: spare, day: today.adding(days: -3),
                                          wait: 0, outcome: .successful, seconds: 60)
            }
            // Free too, a little less successful: second choice.
            let alsoSpare = try await a.createAgent("Also spare", maxConcurrent: 5)
            for index in 0..<12 {
                try await insertEndedCall(app, clientId: a.clientId, teamId: nil, agentId: alsoSpare, day: today.adding(days: -4),
                                          wait: 0, outcome: index < 11 ? .successful : .failed, seconds: 60)
            }
            // Unassigned, free, but weaker than the front desk: not the one to lend.
            let weak = try await a.createAgent("Weak", maxConcurrent: 5)
            for index in 0..<12 {
                try await insertEndedCall(app, clientId: a.clientId, teamId: nil, agentId: weak, day: today.adding(days: -2),
                                          wait: 0, outcome: index < 6 ? .successful : .failed, seconds: 60)
            }
            try await aggregate(app)
            // The front desk's calls stay in the team for an hour before the sector may take them (so the lent
            // agent, not the sector, is what changes its week in the replay).
            #expect(try await a.send(.PUT, "/api/settings", json: """
                {"routing.relaxation": [{"after_seconds": 0, "pool": "team"}, {"after_seconds": 3600, "pool": "sector"}]}
                """).status == .ok)

            let manager = try await a.as(.manager)
            let listed = try await manager.send(.GET, "/api/teams/suggestions")
            #expect(listed.status == .ok, "\(listed.text)")
            let suggestions = listed.data.arrayValue ?? []
            #expect(suggestions.count == 1, "\(listed.text)")
            let move = suggestions[0]
            #expect(move["kind"] == .string("assign_agent"))
            #expect(move["team_id"].uuid == front)
            #expect(move["agent_id"].uuid == spare)
            #expect(move["member_id"].uuid == frontLead)
            #expect(move["evidence"]["team_service_level"] == .number(40))
            #expect(move["evidence"]["team_p90_wait_seconds"] == .number(90))
            #expect(move["evidence"]["agent_success_rate"] == .number(1))
            #expect(move["evidence"]["agent_calls"] == .number(12))
            // The what-if simulator replays the week: 20 calls at once, 300 s each, on one agent (one answered at
            // once, the rest waiting 300 s apiece) or with the spare agent's 5 more places (6 at once).
            let effect = move["expected_effect"]
            #expect(effect["source"] == .string("simulator"), "\(effect)")
            #expect(effect["figures"]["team_calls_replayed"] == .number(20))
            #expect(effect["figures"]["team_service_level_before"] == .number(5))
            #expect(effect["figures"]["team_service_level_after"] == .number(30))
            #expect(effect["figures"]["team_p90_wait_seconds_after"] == .number(600))
            #expect((effect["figures"]["team_p90_wait_seconds_before"].numberValue ?? 0) >= 3_000)
            #expect(effect["summary"].stringValue?.contains("30 % answered within 20 s instead of 5 %") == true, "\(effect)")
            #expect(effect["figures"]["pool_capacity_after"] == .number(6), "the daily rows' estimate is kept beside it")
            #expect(move["summary"].stringValue?.contains("Assign Spare to Front desk") == true)

            #expect(try await a.as(.viewer).send(.GET, "/api/teams/suggestions").status == .forbidden)
            let id = try #require(move["id"].stringValue)
            let applied = try await manager.send(.POST, "/api/teams/suggestions/\(id)/apply")
            #expect(applied.status == .ok, "\(applied.text)")
            let lead = try await a.send(.GET, "/api/teams/\(front)/members").data.arrayValue?.first { $0["id"].uuid == frontLead }
            #expect(lead?["agents"].arrayValue?.compactMap { $0["id"].uuid }.sorted { $0.uuidString < $1.uuidString }
                    == [busy, spare].sorted { $0.uuidString < $1.uuidString })
            let audits = try await TenantScope(clientId: a.clientId).query(AuditLogEntry.self, on: app.db)
                .filter(\.$action == "suggestion.apply.assign_agent").count()
            #expect(audits == 1)
            // Done: the move is no longer suggested (nor another agent for the same week's figures), and applying it
            // again is a conflict.
            #expect(try await manager.send(.GET, "/api/teams/suggestions").data.count == 0)
            #expect(try await manager.send(.POST, "/api/teams/suggestions/\(id)/apply").status == .conflict)
            #expect(try await APIClient.make(app).send(.POST, "/api/teams/suggestions/\(id)/apply").status == .notFound)
            #expect(try await manager.send(.POST, "/api/teams/suggestions/not-a-suggestion/apply").status == .badRequest)
        }
    }

    @Test func aDropIsTracedToTheAgentBehindIt() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let today = Day(containing: Date())
            let team = try await a.createTeam("Support", sector: "billing")
            let member = try await a.addMember(to: team)
            let slipping = try await a.createAgent("Slipping"), steady = try await a.createAgent("Steady")
            try await a.assign([slipping, steady], to: member, in: team)
            for (agent, lastWeekSuccesses, thisWeekSuccesses) in [(slipping, 18, 8), (steady, 18, 18)] {
                for index in 0..<20 {
                    try await insertEndedCall(app, clientId: a.clientId, teamId: team, agentId: agent, day: today.adding(days: -9),
                                              wait: 0, outcome: index < lastWeekSuccesses ? .successful : .failed)
                    try await insertEndedCall(app, clientId: a.clientId, teamId: team, agentId: agent, day: today.adding(days: -2),
                                              wait: 0, outcome: index < thisWeekSuccesses ? .successful : .failed)
                }
            }
            try await aggregate(app)
            let suggestions = try await a.send(.GET, "/api/teams/suggestions").data.arrayValue ?? []
            #expect(suggestions.count == 1)
            let move = try #require(suggestions.first)
            #expect(move["kind"] == .string("unassign_agent"))
            #expect(move["agent_id"].uuid == slipping)
            #expect(move["evidence"]["team_success_rate"] == .number(0.65))
            #expect(move["evidence"]["team_success_rate_previous_week"] == .number(0.9))
            #expect(move["expected_effect"]["figures"]["team_success_rate_expected"] == .number(0.9))
            let applied = try await a.send(.POST, "/api/teams/suggestions/\(move["id"].stringValue!)/apply")
            #expect(applied.status == .ok, "\(applied.text)")
            let agents = try await a.send(.GET, "/api/teams/\(team)/members").data[0]["agents"].arrayValue?.compactMap { $0["id"].uuid }
            #expect(agents == [steady])
        }
    }

    /// Two teams of one sector both miss their target: neither gets the other's agents.
    @Test func anAgentOfAStrugglingTeamIsNotLent() {
        let calls = DailyCounts(callsHandled: 40, callsSuccessful: 36, callsFailed: 4, callsResolved: 0, avgSatisfaction: nil,
                                satisfactionCount: 0, avgHandlingTime: 60)
        var slow = WaitCounts.zero
        for index in 0..<20 { slow.add(.answered(afterWaiting: index < 10 ? 0 : 90)) }
        func agent(_ name: String) -> TeamSuggester.AgentFacts {
            TeamSuggester.AgentFacts(id: UUID(), name: name, sector: "billing", active: true, maxConcurrent: 4,
                                     month: calls, week: calls, previousWeek: calls)
        }
        let north = agent("North"), south = agent("South"), free = agent("Free")
        func team(_ name: String, _ member: TeamSuggester.AgentFacts) -> TeamSuggester.TeamFacts {
            TeamSuggester.TeamFacts(id: UUID(), name: name, sector: "billing", assignee: UUID(), agentIds: [member.id],
                                    week: .init(counts: .zero, waits: slow), previousWeek: .zero)
        }
        let context = TeamSuggester.Context(target: .defaults, weeklyOpenSeconds: 144_000)
        let both = [team("North team", north), team("South team", south)]
        #expect(TeamSuggester.suggestions(teams: both, agents: [north, south], context: context).isEmpty)
        // A free agent goes to one of them (the worst first; here they tie, so by id), not to both.
        let moves = TeamSuggester.suggestions(teams: both, agents: [north, south, free], context: context)
        #expect(moves.map(\.agentId) == [free.id])
    }

    @Test func occupancyAndOpenHours() {
        let hours: JSONValue = .object([
            "monday": .object(["open": .string("09:00"), "close": .string("17:00")]),
            "tuesday": .object(["open": .string("08:30"), "close": .string("12:00")]), "sunday": .null,
        ])
        #expect(TeamSuggester.weeklyOpenSeconds(hours) == 8 * 3600 + 3.5 * 3600)
        let agent = TeamSuggester.AgentFacts(
            id: UUID(), name: "A", sector: "s", active: true, maxConcurrent: 2, month: .zero,
            week: DailyCounts(callsHandled: 10, callsSuccessful: 10, callsFailed: 0, callsResolved: 0, avgSatisfaction: nil,
                              satisfactionCount: 0, avgHandlingTime: 720),
            previousWeek: .zero)
        let context = TeamSuggester.Context(target: .defaults, weeklyOpenSeconds: 36_000)
        #expect(TeamSuggester.occupancy(agent, context: context) == 0.1)
        #expect(TeamSuggester.occupancy(agent, context: TeamSuggester.Context(target: .defaults, weeklyOpenSeconds: 0)) == nil)
    }
}
