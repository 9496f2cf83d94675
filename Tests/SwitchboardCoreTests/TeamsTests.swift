import FluentKit
import Testing
import VaporTesting
@testable import SwitchboardCore

@Suite("Teams API")
struct TeamsTests {
    @Test func createListGetUpdateAndSoftDelete() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let created = try await client.send(.POST, "/api/teams", json: #"{"name":"Billing EU","sector":"Billing","description":"first line"}"#)
            #expect(created.status == .created)
            #expect(created.isSuccessEnvelope)
            #expect(created.data["sector"] == .string("billing"))
            #expect(created.data["status"] == .string("active"))
            let id = try #require(created.data["id"].uuid)

            let list = try await client.send(.GET, "/api/teams")
            #expect(list.status == .ok)
            #expect(list.data.count == 1)
            #expect(list.json["meta"]["total"] == .number(1))
            #expect(list.data[0]["member_count"] == .number(0))

            let detail = try await client.send(.GET, "/api/teams/\(id)")
            #expect(detail.data["name"] == .string("Billing EU"))
            #expect(detail.data["members"] == .array([]))
            #expect(detail.data["performance"] == .array([]))

            let updated = try await client.send(.PUT, "/api/teams/\(id)", json: #"{"name":"Billing Europe","description":"tier 1"}"#)
            #expect(updated.status == .ok)
            #expect(updated.data["name"] == .string("Billing Europe"))
            #expect(updated.data["sector"] == .string("billing"))

            let deleted = try await client.send(.DELETE, "/api/teams/\(id)")
            #expect(deleted.status == .ok)
            #expect(deleted.data["status"] == .string("inactive"))
            #expect(try await client.send(.GET, "/api/teams/\(id)").status == .ok, "soft delete keeps the team")
        }
    }

    @Test func filtersBySectorAndStatus() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            _ = try await client.createTeam("A", sector: "billing")
            let sales = try await client.createTeam("B", sector: "sales")
            _ = try await client.createTeam("C", sector: "sales")
            _ = try await client.send(.DELETE, "/api/teams/\(sales)")

            #expect(try await client.send(.GET, "/api/teams?sector=sales").data.count == 2)
            #expect(try await client.send(.GET, "/api/teams?sector=sales&status=active").data.count == 1)
            #expect(try await client.send(.GET, "/api/teams?status=inactive").data[0]["name"] == .string("B"))
            #expect(try await client.send(.GET, "/api/teams?status=deleted").status == .badRequest)
            #expect(try await client.send(.GET, "/api/teams?limit=1").data.count == 1)
            #expect(try await client.send(.GET, "/api/teams?limit=0").status == .badRequest)
        }
    }

    @Test(arguments: [
        (#"{"sector":"billing"}"#, "name"),
        (#"{"name":"","sector":"billing"}"#, "name"),
        (#"{"name":42,"sector":"billing"}"#, "name"),
        (#"{"name":"x","sector":"billing","description":7}"#, "description"),
        (#"{"name":"x"}"#, "sector"),
        ("{not json", "malformed"),
    ])
    func createRejectsBadInput(body: String, field: String) async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.POST, "/api/teams", json: body)
            #expect(response.status == .badRequest)
            #expect(response.json["success"] == .bool(false))
            #expect(response.error?.contains(field) == true, "\(response.error ?? "")")
            #expect(try await client.send(.GET, "/api/teams").data.count == 0, "nothing written")
        }
    }

    @Test func overlongNameIsRejected() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let name = String(repeating: "n", count: 121)
            let response = try await client.send(.POST, "/api/teams", json: #"{"name":"\#(name)","sector":"billing"}"#)
            #expect(response.status == .badRequest)
            #expect(response.error?.contains("name") == true)
        }
    }

    @Test func duplicateTeamNameIsAConflict() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            _ = try await client.createTeam("Same")
            let again = try await client.send(.POST, "/api/teams", json: #"{"name":"Same","sector":"billing"}"#)
            #expect(again.status == .conflict)
            #expect(try await client.send(.GET, "/api/teams").data.count == 1)
        }
    }

    @Test func memberUpsertIsIdempotent() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam()
            let body = #"{"email":"Ana@Example.com","name":"Ana","role":"lead"}"#
            let first = try await client.send(.POST, "/api/teams/\(team)/members", json: body)
            #expect(first.status == .created)
            #expect(first.data["email"] == .string("ana@example.com"))
            let second = try await client.send(.POST, "/api/teams/\(team)/members", json: body)
            #expect(second.status == .ok)
            #expect(second.data["id"] == first.data["id"])
            let renamed = try await client.send(.POST, "/api/teams/\(team)/members",
                                                json: #"{"email":"ana@example.com","name":"Ana B","role":"supervisor"}"#)
            #expect(renamed.data["id"] == first.data["id"])
            #expect(renamed.data["role"] == .string("supervisor"))
            let members = try await client.send(.GET, "/api/teams/\(team)/members")
            #expect(members.data.count == 1)
            #expect(members.data[0]["name"] == .string("Ana B"))
        }
    }

    @Test func memberValidation() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam()
            let badEmail = try await client.send(.POST, "/api/teams/\(team)/members", json: #"{"email":"nope","name":"A","role":"lead"}"#)
            #expect(badEmail.status == .badRequest)
            #expect(badEmail.error?.contains("email") == true)
            let badRole = try await client.send(.POST, "/api/teams/\(team)/members", json: #"{"email":"a@b.co","name":"A","role":"boss"}"#)
            #expect(badRole.status == .badRequest)
            #expect(badRole.error?.contains("role") == true)
            let member = try await client.addMember(to: team)
            let badStatus = try await client.send(.PUT, "/api/teams/\(team)/members/\(member)", json: #"{"status":"gone"}"#)
            #expect(badStatus.status == .badRequest)
            let updated = try await client.send(.PUT, "/api/teams/\(team)/members/\(member)", json: #"{"role":"lead","status":"inactive"}"#)
            #expect(updated.data["role"] == .string("lead"))
            #expect(updated.data["status"] == .string("inactive"))
        }
    }

    @Test func assignmentsAreIdempotentAndRespectSector() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam(sector: "billing")
            let member = try await client.addMember(to: team)
            let agent = try await client.createAgent(sector: "billing")
            let salesAgent = try await client.createAgent(sector: "sales")

            try await client.assign([agent], to: member, in: team)
            try await client.assign([agent, agent], to: member, in: team)
            let members = try await client.send(.GET, "/api/teams/\(team)/members")
            #expect(members.data[0]["agents"].count == 1)
            #expect(members.data[0]["agents"][0]["id"].uuid == agent)

            let wrongSector = try await client.send(.POST, "/api/teams/\(team)/members/\(member)/agents",
                                                    json: #"{"agent_ids":["\#(salesAgent)"]}"#)
            #expect(wrongSector.status == .badRequest)
            #expect(wrongSector.error?.contains("sector") == true)

            let empty = try await client.send(.POST, "/api/teams/\(team)/members/\(member)/agents", json: #"{"agent_ids":[]}"#)
            #expect(empty.status == .badRequest)
            let badId = try await client.send(.POST, "/api/teams/\(team)/members/\(member)/agents", json: #"{"agent_ids":["nope"]}"#)
            #expect(badId.status == .badRequest)
            #expect(badId.error?.contains("agent_ids") == true)

            let unassigned = try await client.send(.DELETE, "/api/teams/\(team)/members/\(member)/agents/\(agent)")
            #expect(unassigned.status == .ok)
            #expect(try await client.send(.GET, "/api/teams/\(team)/members").data[0]["agents"].count == 0)
            #expect(try await client.send(.DELETE, "/api/teams/\(team)/members/\(member)/agents/\(agent)").status == .notFound)
        }
    }

    @Test func removingAMemberRemovesItsAssignments() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam()
            let member = try await client.addMember(to: team)
            let other = try await client.addMember(to: team)
            let agent = try await client.createAgent()
            try await client.assign([agent], to: member, in: team)
            try await client.assign([agent], to: other, in: team)

            let removed = try await client.send(.DELETE, "/api/teams/\(team)/members/\(member)")
            #expect(removed.status == .ok)
            let remaining = try await TenantScope(clientId: client.clientId)
                .query(TeamAgentAssignment.self, on: app.db).all()
            #expect(remaining.count == 1)
            #expect(remaining.first?.$member.id == other)
            #expect(try await client.send(.DELETE, "/api/teams/\(team)/members/\(member)").status == .notFound)
        }
    }

    @Test func detailShowsMembersWithAgents() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam()
            let member = try await client.addMember(to: team, email: "lead@example.com", role: "lead")
            let agent = try await client.createAgent("Zed")
            try await client.assign([agent], to: member, in: team)
            let detail = try await client.send(.GET, "/api/teams/\(team)")
            #expect(detail.data["members"][0]["email"] == .string("lead@example.com"))
            #expect(detail.data["members"][0]["agents"][0]["name"] == .string("Zed"))
        }
    }

    @Test func performanceRangeIsValidated() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam()
            #expect(try await client.send(.GET, "/api/teams/\(team)/performance").status == .ok)
            #expect(try await client.send(.GET, "/api/teams/\(team)/performance?from=2026-02-01&to=2026-01-01").status == .badRequest)
            #expect(try await client.send(.GET, "/api/teams/\(team)/performance?from=2024-01-01&to=2026-01-01").status == .badRequest)
            #expect(try await client.send(.GET, "/api/teams/\(team)/performance?from=2026-13-01").status == .badRequest)
        }
    }
}
