import Testing
import VaporTesting
@testable import SwitchboardCore

@Suite("Agent catalogue")
struct AgentsTests {
    @Test func createWithDefaultsGetListUpdateAndDeactivate() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let created = try await client.send(.POST, "/api/agents", json: #"{"name":"Ada","sector":"Billing","capabilities":["French","refunds","french"]}"#)
            #expect(created.status == .created)
            #expect(created.data["priority"] == .number(5))
            #expect(created.data["max_concurrent"] == .number(10))
            #expect(created.data["success_rate"] == .number(0.5))
            #expect(created.data["avg_handling_time"] == .number(180))
            #expect(created.data["current_load"] == .number(0))
            #expect(created.data["capabilities"] == .array([.string("french"), .string("refunds")]))
            #expect(created.data["sector"] == .string("billing"))
            let id = try #require(created.data["id"].uuid)

            #expect(try await client.send(.GET, "/api/agents/\(id)").data["name"] == .string("Ada"))
            let updated = try await client.send(.PUT, "/api/agents/\(id)", json: #"{"priority":9,"max_concurrent":3,"current_load":99}"#)
            #expect(updated.status == .ok)
            #expect(updated.data["priority"] == .number(9))
            #expect(updated.data["max_concurrent"] == .number(3))
            #expect(updated.data["current_load"] == .number(0), "current_load is never written by a client")

            let deleted = try await client.send(.DELETE, "/api/agents/\(id)")
            #expect(deleted.data["status"] == .string("inactive"))
            #expect(try await client.send(.GET, "/api/agents?status=inactive").data.count == 1)
            #expect(try await client.send(.GET, "/api/agents?status=active").data.count == 0)
        }
    }

    @Test func listFiltersBySectorAndPages() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            for index in 0..<3 { _ = try await client.createAgent("B\(index)", sector: "billing") }
            _ = try await client.createAgent("S", sector: "sales")
            let billing = try await client.send(.GET, "/api/agents?sector=billing&limit=2&offset=1")
            #expect(billing.data.count == 2)
            #expect(billing.json["meta"] == .object(["total": .number(3), "limit": .number(2), "offset": .number(1)]))
            #expect(try await client.send(.GET, "/api/agents?sector=sales").data[0]["name"] == .string("S"))
        }
    }

    @Test(arguments: [
        (#"{"name":"A","sector":"b","priority":0}"#, "priority"),
        (#"{"name":"A","sector":"b","priority":11}"#, "priority"),
        (#"{"name":"A","sector":"b","priority":"high"}"#, "priority"),
        (#"{"name":"A","sector":"b","max_concurrent":0}"#, "max_concurrent"),
        (#"{"name":"A","sector":"b","max_concurrent":101}"#, "max_concurrent"),
        (#"{"name":"A","sector":"b","success_rate":1.5}"#, "success_rate"),
        (#"{"name":"A","sector":"b","avg_handling_time":-1}"#, "avg_handling_time"),
        (#"{"name":"A","sector":"b","capabilities":"french"}"#, "capabilities"),
        (#"{"name":"A","sector":"b","capabilities":[""]}"#, "capabilities"),
        (#"{"name":"A","sector":"b","status":"deleted"}"#, "status"),
        (#"{"name":"A","sector":"b","priority":1e30}"#, "priority"),
        (#"{"name":"A","sector":"b","priority":4.5}"#, "priority"),
        (#"{"name":"A","sector":"b","priority":99999999999999999999}"#, "priority"),
        (#"{"sector":"b"}"#, "name"),
    ])
    func createRejectsBadInput(body: String, field: String) async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.POST, "/api/agents", json: body)
            #expect(response.status == .badRequest, "\(body)")
            #expect(response.error?.contains(field) == true, "\(response.error ?? "")")
            #expect(try await client.send(.GET, "/api/agents").data.count == 0)
        }
    }

    @Test func updateRejectsBadInputAndChangesNothing() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let id = try await client.createAgent("Keep", priority: 4)
            let response = try await client.send(.PUT, "/api/agents/\(id)", json: #"{"name":"Changed","priority":42}"#)
            #expect(response.status == .badRequest)
            let agent = try await client.agent(id)
            #expect(agent["name"] == .string("Keep"))
            #expect(agent["priority"] == .number(4))
            #expect(try await client.send(.PUT, "/api/agents/not-a-uuid", json: "{}").status == .badRequest)
        }
    }
}
