import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// `GET /api/calls` filtered by an agent or a team: the right calls, newest first, counted and paged, read through
/// the agent's or the team's own index. On both databases.
@Suite struct CallListingTests {
    /// Without `idx_calls_agent_created` and `idx_calls_team_created` SQLite read an agent's or a team's calls
    /// through `idx_calls_client_created`: every call the tenant ever had, for the page and again for the count.
    @Test(arguments: ["agent", "team"], [false, true])
    func anAgentsOrATeamsCallsAreReadThroughTheirOwnIndex(by owner: String, withStatus: Bool) async throws {
        try await withSwitchboard { app in
            let filter = CallService.ListFilter(status: withStatus ? .completed : nil, agentId: owner == "agent" ? UUID() : nil,
                                                teamId: owner == "team" ? UUID() : nil)
            let scope = TenantScope(clientId: "plan")
            let plans = try await queryPlans(app) { sql in
                [CallService.listQuery(filter, page: Page(limit: 50, offset: 100), of: scope, on: sql).select,
                 CallService.countQuery(filter, of: scope, on: sql).select]
            }
            for plan in plans {
                #expect(!plan.contains("idx_calls_client_created") && plan.contains("idx_calls_"), "\(plan)")
                if !app.store().isPostgres && !withStatus {
                    #expect(plan.contains("idx_calls_\(owner)_created"), "\(plan)")
                }
            }
        }
    }

    @Test func anAgentsAndATeamsCallsAreListedNewestFirstCountedAndPaged() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let teamAgent = try await admin.createAgent("In the team", maxConcurrent: 20)
            let team = try await admin.createTeam()
            try await admin.assign([teamAgent], to: try await admin.addMember(to: team), in: team)
            let other = try await admin.createAgent("Outside", maxConcurrent: 20, status: "inactive")
            var created: [(id: UUID, agent: UUID?, team: UUID?)] = []
            for index in 0..<9 {
                let body = index % 3 == 0 ? #"{"team_id":"\#(team)"}"# : #"{"sector":"billing"}"#
                let call = try await admin.createCall(body).data
                created.append((try #require(call["id"].uuid), call["agent_id"].uuid, call["team_id"].uuid))
                if index == 4 {
                    // The rest of the sector's calls go to the other agent.
                    #expect(try await admin.send(.PUT, "/api/agents/\(other)", json: #"{"status":"active"}"#).status == .ok)
                    #expect(try await admin.send(.PUT, "/api/agents/\(teamAgent)", json: #"{"status":"inactive"}"#).status == .ok)
                }
            }
            #expect(try await admin.send(.PUT, "/api/agents/\(other)", json: #"{"status":"inactive"}"#).status == .ok)
            let queued = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            // Distinct creation times, one second apart in creation order, so that newest first is one order.
            let start = Date().addingTimeInterval(-100)
            for (index, call) in (created.map(\.id) + [queued]).enumerated() {
                try await (app.db as! any SQLDatabase).update(Call.schema)
                    .set("created_at", to: SQLBind(start.addingTimeInterval(Double(index)))).where("id", .equal, call).run()
            }
            #expect(try await admin.complete(created[1].id).status == .ok)

            func listed(_ query: String) async throws -> (ids: [UUID], total: Double?) {
                let page = try await admin.send(.GET, "/api/calls?\(query)")
                #expect(page.status == .ok, "\(query): \(page.text)")
                return ((page.data.arrayValue ?? []).compactMap { $0["id"].uuid }, page.json["meta"]["total"].numberValue)
            }
            let byTeamAgent = created.filter { $0.agent == teamAgent }.map(\.id).reversed() as [UUID]
            #expect(byTeamAgent.count == 5 && created.filter { $0.agent == other }.count == 4, "\(created)")
            let all = try await listed("agent_id=\(teamAgent)")
            #expect(all.ids == byTeamAgent && all.total == 5)
            let first = try await listed("agent_id=\(teamAgent)&limit=2"), rest = try await listed("agent_id=\(teamAgent)&limit=3&offset=2")
            #expect(first.ids + rest.ids == byTeamAgent && first.total == 5 && rest.total == 5)
            let teamCalls = try await listed("team_id=\(team)")
            #expect(teamCalls.ids == created.filter { $0.team == team }.map(\.id).reversed() && teamCalls.total == 3)
            let completed = try await listed("agent_id=\(teamAgent)&status=completed")
            #expect(completed.ids == [created[1].id] && completed.total == 1)
            let waiting = try await listed("status=queued")
            #expect(waiting.ids == [queued] && waiting.total == 1, "a waiting call is no agent's")
        }
    }
}
