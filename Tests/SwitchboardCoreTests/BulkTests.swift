import FluentKit
import Foundation
import Testing
import Vapor
@testable import SwitchboardCore

@Suite("CSV reading")
struct CSVTableTests {
    @Test func quotedCellsLineBreaksAndAByteOrderMark() throws {
        let text = "\u{FEFF}External_ID,name,capabilities\r\n\"e-1\",\"Łukasz, Jr.\",\"french;spanish\"\r\ne-2,\"Say \"\"hi\"\"\",\n\n"
            + "e-3,\"two\nlines\",x"
        let table = try CSVTable.parse(text, maxRows: 10)
        #expect(table.header == ["external_id", "name", "capabilities"])
        #expect(table.rows == [
            ["external_id": "e-1", "name": "Łukasz, Jr.", "capabilities": "french;spanish"],
            ["external_id": "e-2", "name": "Say \"hi\"", "capabilities": ""],
            ["external_id": "e-3", "name": "two\nlines", "capabilities": "x"],
        ])
    }

    @Test func malformedInputIsNamed() {
        for (text, expected) in [
            ("", "empty"), ("a,b\n1", "line 2 has 1 cells"), ("a,a\n1,2", "'a' twice"), ("a,\n1,2", "no name"),
            ("a\n\"open", "not closed"), ("a\nx\"y", "quote inside"), ("a\n\"x\"y", "after a quoted cell"),
        ] {
            #expect(throws: CSVTable.ParseError.self, "\(text)") { try CSVTable.parse(text, maxRows: 10) }
            do { _ = try CSVTable.parse(text, maxRows: 10) } catch let error as CSVTable.ParseError {
                #expect(error.message.contains(expected), "\(text): \(error.message)")
            } catch {}
        }
        #expect(throws: CSVTable.ParseError.self) { try CSVTable.parse("a\n1\n2\n3", maxRows: 2) }
    }
}

@Suite("Bulk operations")
struct BulkTests {
    func agentCount(_ app: Application, _ client: APIClient) async throws -> Int {
        try await TenantScope(clientId: client.clientId).query(SectorAgent.self, on: app.db).count()
    }

    func auditCount(_ app: Application, _ client: APIClient, action: String) async throws -> Int {
        try await TenantScope(clientId: client.clientId).query(AuditLogEntry.self, on: app.db)
            .filter(\.$action == action).count()
    }

    func csv(_ client: APIClient, _ path: String, _ text: String) async throws -> APIResponse {
        try await client.send(.POST, path, headers: [("Content-Type", "text/csv; charset=utf-8")], body: text)
    }

    @Test func allOrNothingWritesNothingWhenOneRowIsBad() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let response = try await a.send(.POST, "/api/agents/bulk", json: """
                {"agents": [
                  {"external_id": "e-1", "name": "Ana", "sector": "billing"},
                  {"external_id": "e-2", "name": "", "sector": "billing", "priority": 11},
                  {"external_id": "e-3", "sector": "billing"},
                  {"external_id": "e-1", "name": "Ana again", "sector": "billing"},
                  {"name": "No id", "sector": "billing", "colour": "red"}
                ]}
                """)
            #expect(response.status == .badRequest)
            #expect(response.json["success"] == .bool(false))
            #expect(response.error?.contains("4 of 5 rows are invalid; nothing was written") == true, "\(response.text)")
            let rowErrors = (response.json["row_errors"].arrayValue ?? []).map {
                "\($0["index"].intValue ?? -1) \($0["field"].stringValue ?? "-")"
            }
            #expect(rowErrors == ["1 name", "1 priority", "2 name", "3 external_id", "4 colour", "4 external_id"])
            #expect(try await agentCount(app, a) == 0)
            #expect(try await auditCount(app, a, action: "agent.create") == 0)
        }
    }

    @Test func partialModeWritesExactlyTheGoodRows() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let response = try await a.send(.POST, "/api/agents/bulk?mode=partial", json: """
                {"agents": [
                  {"external_id": "e-1", "name": "Ana", "sector": "Billing", "capabilities": ["French"], "max_concurrent": 3},
                  {"external_id": "e-2", "name": "Bo", "sector": "billing", "success_rate": 1.5},
                  {"external_id": "e-3", "name": "Cy", "sector": "sales"}
                ]}
                """)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.data["mode"] == .string("partial"))
            #expect(response.data["received"] == .number(3))
            #expect(response.data["written"] == .number(2))
            #expect(response.data["failed"] == .number(1))
            #expect(response.data["errors"][0]["index"] == .number(1))
            #expect(response.data["errors"][0]["field"] == .string("success_rate"))
            #expect((response.data["results"].arrayValue ?? []).map { $0["index"].intValue ?? -1 } == [0, 2])
            let created = try #require(response.data["results"][0]["id"].uuid)
            let ana = try await a.agent(created)
            #expect(ana["external_id"] == .string("e-1"))
            #expect(ana["sector"] == .string("billing"))
            #expect(ana["capabilities"] == .array([.string("french")]))
            #expect(ana["max_concurrent"] == .number(3))
            #expect(try await agentCount(app, a) == 2)
            #expect(try await auditCount(app, a, action: "agent.create") == 2)

            // The same external ids again update, changing only the fields given.
            let again = try await a.send(.POST, "/api/agents/bulk", json: """
                {"agents": [{"external_id": "e-1", "priority": 9}, {"external_id": "e-4", "name": "Di", "sector": "billing"}]}
                """)
            #expect(again.status == .ok, "\(again.text)")
            #expect(again.data["results"][0]["action"] == .string("updated"))
            #expect(again.data["results"][0]["id"].uuid == created)
            #expect(again.data["results"][1]["action"] == .string("created"))
            let updated = try await a.agent(created)
            #expect(updated["priority"] == .number(9))
            #expect(updated["name"] == .string("Ana"))
            #expect(updated["max_concurrent"] == .number(3))
            #expect(try await auditCount(app, a, action: "agent.update") == 1)

            // Another tenant's identical external id is its own agent.
            let b = try await APIClient.make(app)
            let theirs = try await b.send(.POST, "/api/agents/bulk", json: #"{"agents": [{"external_id": "e-1", "name": "Z", "sector": "billing"}]}"#)
            #expect(theirs.data["results"][0]["action"] == .string("created"))
            #expect(try await a.agent(created)["name"] == .string("Ana"))
        }
    }

    @Test func perChannelLimitsByJSONAndCSV() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let json = try await a.send(.POST, "/api/agents/bulk", json: """
                {"agents": [{"external_id": "c-1", "name": "Multi", "sector": "billing", "channel_capacity": {"voice": 1, "webchat": 3}},
                            {"external_id": "c-2", "name": "Plain", "sector": "billing"}]}
                """)
            #expect(json.status == .ok, "\(json.text)")
            let multi = try #require(json.data["results"][0]["id"].uuid), plain = try #require(json.data["results"][1]["id"].uuid)
            #expect(try await a.agent(multi)["channel_capacity"] == .object(["voice": .number(1), "webchat": .number(3)]))
            #expect(try await a.agent(plain)["channel_capacity"] == .null)
            // CSV: one cell; an empty cell leaves the limits as they are, a new value replaces them.
            let updated = try await csv(a, "/api/agents/bulk", "external_id,channel_capacity,priority\nc-1,,7\nc-2,email=2;voice=1,\n")
            #expect(updated.status == .ok, "\(updated.text)")
            #expect(try await a.agent(multi)["channel_capacity"] == .object(["voice": .number(1), "webchat": .number(3)]))
            #expect(try await a.agent(plain)["channel_capacity"] == .object(["email": .number(2), "voice": .number(1)]))
            // Routing honours an imported limit: a second voice call for the one-voice agents waits.
            _ = try await a.send(.PUT, "/api/agents/\(plain)", json: #"{"status":"inactive"}"#)
            #expect(try await a.createCall(#"{"sector":"billing","channel":"voice"}"#).data["agent_id"].uuid == multi)
            #expect(try await a.createCall(#"{"sector":"billing","channel":"voice"}"#).data["status"] == .string("queued"))

            for (body, message) in [("c-3,X,billing,fax=1", "unknown channel 'fax'"), ("c-3,X,billing,voice=one", "voice=1;webchat=3"),
                                    ("c-3,X,billing,voice=101", "between")] {
                let refused = try await csv(a, "/api/agents/bulk", "external_id,name,sector,channel_capacity\n\(body)\n")
                #expect(refused.status == .badRequest)
                #expect(refused.json["row_errors"][0]["field"] == .string("channel_capacity"))
                #expect(refused.json["row_errors"][0]["message"].stringValue?.contains(message) == true, "\(refused.text)")
            }
            let badJSON = try await a.send(.POST, "/api/agents/bulk", json: #"{"agents":[{"external_id":"c-4","name":"Y","sector":"billing","channel_capacity":[1]}]}"#)
            #expect(badJSON.json["row_errors"][0]["field"] == .string("channel_capacity"), "\(badJSON.text)")
        }
    }

    @Test func csvWithQuotedCommasAndUTF8Names() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let response = try await csv(a, "/api/agents/bulk", """
                external_id,name,sector,capabilities,priority\r
                hr-001,"Łukasz Wróbel, Jr.",billing,"french; polish",7\r
                hr-002,"Zoë ""Z"" Ångström",billing,,\r

                """)
            #expect(response.status == .ok, "\(response.text)")
            let ids = (response.data["results"].arrayValue ?? []).compactMap { $0["id"].uuid }
            #expect(ids.count == 2)
            let first = try await a.agent(ids[0]), second = try await a.agent(ids[1])
            #expect(first["name"] == .string("Łukasz Wróbel, Jr."))
            #expect(first["capabilities"] == .array([.string("french"), .string("polish")]))
            #expect(first["priority"] == .number(7))
            #expect(second["name"] == .string("Zoë \"Z\" Ångström"))
            #expect(second["priority"] == .number(5))

            let bad = try await csv(a, "/api/agents/bulk", "external_id,name,sector,priority\nhr-003,Ok,billing,high\n")
            #expect(bad.status == .badRequest)
            #expect(bad.json["row_errors"][0]["field"] == .string("priority"))
            #expect(bad.json["row_errors"][0]["message"] == .string("priority must be a whole number"))
            let unknownColumn = try await csv(a, "/api/agents/bulk", "external_id,colour\nhr-005,red\n")
            #expect(unknownColumn.status == .badRequest)
            #expect(unknownColumn.error?.contains("unknown column 'colour'") == true, "\(unknownColumn.text)")
            #expect(try await csv(a, "/api/agents/bulk", "external_id,name\n").status == .badRequest)
            #expect(try await a.send(.POST, "/api/agents/bulk", json: #"{"agents":[]}"#).status == .badRequest)
            let broken = try await csv(a, "/api/agents/bulk", "external_id,name\n\"hr-004,Unclosed\n")
            #expect(broken.status == .badRequest)
            #expect(broken.error?.contains("not closed") == true)
        }
    }

    @Test func fiveThousandAgentsInOneRequest() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let rows = (0..<5_000).map {
                #"{"external_id":"x-\#($0)","name":"Agent \#($0)","sector":"s\#($0 % 7)","capabilities":["a","b"],"max_concurrent":4}"#
            }
            let response = try await a.send(.POST, "/api/agents/bulk", json: #"{"agents":[\#(rows.joined(separator: ","))]}"#)
            #expect(response.status == .ok, "\(response.text.prefix(300))")
            #expect(response.data["written"] == .number(5_000))
            #expect(try await agentCount(app, a) == 5_000)
            #expect(try await auditCount(app, a, action: "agent.create") == 5_000)
            let tooMany = (0...5_000).map { #"{"external_id":"y-\#($0)"}"# }.joined(separator: ",")
            #expect(try await a.send(.POST, "/api/agents/bulk", json: #"{"agents":[\#(tooMany)]}"#).status == .badRequest)
        }
    }

    @Test func routingSeesImportedAgentsAndQueuedCallsAreTaken() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let queued = try await a.createCall(#"{"sector":"imports"}"#)
            #expect(queued.data["status"] == .string("queued"), "\(queued.text)")
            let response = try await a.send(.POST, "/api/agents/bulk", json: #"{"agents":[{"external_id":"i-1","name":"New","sector":"imports"}]}"#)
            let agentId = try #require(response.data["results"][0]["id"].uuid)
            let call = try await a.send(.GET, "/api/calls/\(queued.data["id"].stringValue!)")
            #expect(call.data["status"] == .string("active"))
            #expect(call.data["agent_id"].uuid == agentId)
            let routed = try await a.send(.POST, "/api/routing/route", json: #"{"sector":"imports"}"#)
            #expect(routed.data["agent_id"].uuid == agentId)
        }
    }

    @Test func rolesAndTenants() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let manager = try await admin.as(.manager), viewer = try await admin.as(.viewer)
            let team = try await admin.createTeam()
            let body = #"{"agents":[{"external_id":"r-1","name":"R","sector":"billing"}]}"#
            #expect(try await manager.send(.POST, "/api/agents/bulk", json: body).status == .forbidden)
            #expect(try await viewer.send(.POST, "/api/teams/\(team)/members/bulk", json: #"{"members":[]}"#).status == .forbidden)
            #expect(try await manager.send(.POST, "/api/teams/\(team)/members/bulk",
                                           json: #"{"members":[{"email":"m@x.example","name":"M"}]}"#).status == .ok)
            let other = try await APIClient.make(app)
            #expect(try await other.send(.POST, "/api/teams/\(team)/members/bulk", json: #"{"members":[]}"#).status == .notFound)
            #expect(try await admin.send(.POST, "/api/agents/bulk", json: #"{"rows":[]}"#).status == .badRequest)
            let xml = try await admin.send(.POST, "/api/teams/\(team)/assignments/bulk", headers: [("Content-Type", "text/csv")],
                                           body: "member_id,agent_id\n")
            #expect(xml.status == .unsupportedMediaType)
        }
    }

    @Test func membersByEmailFromJSONAndCSV() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let team = try await a.createTeam()
            let existing = try await a.addMember(to: team, email: "rosa@example.com", role: "member")
            let response = try await csv(a, "/api/teams/\(team)/members/bulk", """
                email,name,role
                ROSA@example.com,"Diaz, Rosa",lead
                jake@example.com,Jake Peralta,
                """)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.data["results"][0]["action"] == .string("updated"))
            #expect(response.data["results"][0]["id"].uuid == existing)
            #expect(response.data["results"][1]["action"] == .string("created"))
            let members = try await a.send(.GET, "/api/teams/\(team)/members").data.arrayValue ?? []
            let rosa = members.first { $0["id"].uuid == existing }
            #expect(rosa?["name"] == .string("Diaz, Rosa"))
            #expect(rosa?["role"] == .string("lead"))
            #expect(members.first { $0["email"] == .string("jake@example.com") }?["role"] == .string("member"))

            let refused = try await a.send(.POST, "/api/teams/\(team)/members/bulk", json: """
                {"members":[{"email":"amy@example.com","name":"Amy"},{"email":"nope","name":"X"},{"email":"amy@example.com","name":"Amy 2"}]}
                """)
            #expect(refused.status == .badRequest)
            #expect((refused.json["row_errors"].arrayValue ?? []).map { $0["index"].intValue ?? -1 } == [1, 2])
            #expect(try await a.send(.GET, "/api/teams/\(team)/members").data.count == 2)
        }
    }

    @Test func assignmentsAcrossATeam() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let team = try await a.createTeam(sector: "billing"), otherTeam = try await a.createTeam(sector: "billing")
            let m1 = try await a.addMember(to: team), m2 = try await a.addMember(to: team)
            let outsider = try await a.addMember(to: otherTeam)
            let x = try await a.createAgent("X"), y = try await a.createAgent("Y")
            let sales = try await a.createAgent("S", sector: "sales")
            try await a.assign([y], to: m2, in: team)

            let refused = try await a.send(.POST, "/api/teams/\(team)/assignments/bulk", json: """
                {"assign":[{"member_id":"\(m1)","agent_id":"\(x)"},{"member_id":"\(outsider)","agent_id":"\(x)"},
                           {"member_id":"\(m1)","agent_id":"\(sales)"},{"member_id":"\(m1)","agent_id":"\(UUID())"}],
                 "unassign":[{"member_id":"\(m2)","agent_id":"\(y)"},{"member_id":"\(m1)","agent_id":"nope"}]}
                """)
            #expect(refused.status == .badRequest)
            let fields = (refused.json["row_errors"].arrayValue ?? []).map { "\($0["index"].intValue ?? -1) \($0["field"].stringValue ?? "")" }
            #expect(fields == ["1 member_id", "2 agent_id", "3 agent_id", "5 agent_id"])
            #expect(try await a.send(.GET, "/api/teams/\(team)/members").data.arrayValue?
                .first { $0["id"].uuid == m1 }?["agents"].count == 0)

            let applied = try await a.send(.POST, "/api/teams/\(team)/assignments/bulk", json: """
                {"assign":[{"member_id":"\(m1)","agent_id":"\(x)"},{"member_id":"\(m1)","agent_id":"\(y)"},
                           {"member_id":"\(m2)","agent_id":"\(y)"}],
                 "unassign":[{"member_id":"\(m2)","agent_id":"\(x)"}]}
                """)
            #expect(applied.status == .ok, "\(applied.text)")
            #expect((applied.data["results"].arrayValue ?? []).map { $0["action"].stringValue ?? "" }
                    == ["assigned", "assigned", "unchanged", "unchanged"])
            #expect(applied.data["written"] == .number(2))
            #expect(try await auditCount(app, a, action: "assignment.create") == 3)  // one earlier, two now

            let member = try await a.send(.POST, "/api/teams/\(team)/members/\(m2)/agents/bulk",
                                          json: #"{"unassign":["\#(y)"],"assign":["\#(x)"]}"#)
            #expect(member.status == .ok, "\(member.text)")
            #expect((member.data["results"].arrayValue ?? []).map { $0["action"].stringValue ?? "" } == ["assigned", "unassigned"])
            let agentsOfM2 = try await a.send(.GET, "/api/teams/\(team)/members").data.arrayValue?
                .first { $0["id"].uuid == m2 }?["agents"].arrayValue?.compactMap { $0["id"].uuid }
            #expect(agentsOfM2 == [x])
            #expect(try await a.send(.POST, "/api/teams/\(team)/members/\(outsider)/agents/bulk",
                                     json: #"{"assign":["\#(x)"]}"#).status == .notFound)
            // An id that is not a string is a malformed body, in either mode.
            #expect(try await a.send(.POST, "/api/teams/\(team)/members/\(m2)/agents/bulk?mode=partial",
                                     json: #"{"unassign":[452849]}"#).status == .badRequest)
        }
    }
}
