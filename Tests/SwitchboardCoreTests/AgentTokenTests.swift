import Foundation
import JWT
import Testing
import Vapor
import VaporTesting
@testable import SwitchboardCore

/// The `agent` role: a person at its own desk. Its token reaches its own agent, calls and events; everything else
/// is a 403, another agent's call a 404; a token naming no agent of its tenant is a 401.
@Suite struct AgentTokenTests {
    private func agentClient(_ app: Application, _ admin: APIClient, _ agent: UUID) async throws -> APIClient {
        let token = try await TokenIssuer.issue(on: app, clientId: admin.clientId, role: .agent, subject: "desk", agentId: agent)
        return APIClient(app: app, clientId: admin.clientId, role: .agent, token: token)
    }

    @Test func anAgentTokenWithoutAValidAgentIsRefused() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let other = try await APIClient.make(app)
            let strangersAgent = try await other.createAgent()
            let cases: [(Role, UUID?)] = [(.agent, nil), (.agent, UUID()), (.agent, strangersAgent), (.manager, UUID())]
            for (role, agentId) in cases {
                let token = try await TokenIssuer.issue(on: app, clientId: admin.clientId, role: role, agentId: agentId)
                let client = APIClient(app: app, clientId: admin.clientId, role: role, token: token)
                let response = try await client.send(.GET, "/api/calls")
                #expect(response.status == .unauthorized, "\(role) \(String(describing: agentId)): \(response.text)")
            }
        }
    }

    /// Every route of the table, straight from the router, with an agent's token: only its desk's routes get past
    /// the fence, everything else is 403.
    @Test func anAgentTokenReachesOnlyItsOwnDesk() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let own = try await admin.createAgent("Own")
            let colleague = try await admin.createAgent("Colleague")
            let desk = try await agentClient(app, admin, own)
            let allowed: Set<String> = [
                "GET /api/agents/{own}", "PUT /api/agents/{own}/presence", "POST /api/agents/{own}/wrap-up/end",
                "GET /api/calls", "GET /api/calls/{call_id}", "POST /api/calls/{call_id}/complete",
                "POST /api/calls/{call_id}/accept", "POST /api/calls/{call_id}/reject", "GET /api/settings",
            ]
            var reached: Set<String> = []
            for route in app.routes.all {
                let template = "/" + route.path.map { component -> String in
                    if case .parameter(let name) = component { return "{\(name)}" }
                    return component.description
                }.joined(separator: "/")
                guard template.hasPrefix("/api/"), template != "/api/events/stream" else { continue }
                for agentPlaceholder in template.contains("{agent_id}") ? ["{own}", "{colleague}"] : ["{agent_id}"] {
                    let shown = template.replacingOccurrences(of: "{agent_id}", with: agentPlaceholder)
                    let path = shown.replacingOccurrences(of: "{own}", with: own.uuidString)
                        .replacingOccurrences(of: "{colleague}", with: colleague.uuidString)
                        .replacingOccurrences(of: #"\{[a-z_]+\}"#, with: UUID().uuidString, options: .regularExpression)
                    let response = try await desk.send(route.method, path, json: "{}")
                    let key = "\(route.method.rawValue) \(shown)"
                    if allowed.contains(key) {
                        #expect(response.status != .forbidden, "\(key): \(response.text)")
                        reached.insert(key)
                    } else {
                        #expect(response.status == .forbidden, "\(key) answered \(response.status.code): \(response.text)")
                    }
                }
            }
            // The accept and reject routes come with offers; the rest of the desk is there.
            #expect(allowed.subtracting(reached).isSubset(of: ["POST /api/calls/{call_id}/accept", "POST /api/calls/{call_id}/reject"]))
        }
    }

    @Test func anAgentWorksItsOwnCallsOnly() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let own = try await admin.createAgent("Own", maxConcurrent: 1)
            let mine = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let colleague = try await admin.createAgent("Colleague", maxConcurrent: 1)
            let theirs = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await admin.send(.GET, "/api/calls/\(theirs)").data["agent_id"] == .string(colleague.uuidString))
            let desk = try await agentClient(app, admin, own)

            let listed = try await desk.send(.GET, "/api/calls")
            #expect(listed.status == .ok && listed.data.arrayValue?.map { $0["id"] } == [.string(mine.uuidString)], "\(listed.text)")
            #expect(try await desk.send(.GET, "/api/calls?agent_id=\(colleague)").data.arrayValue?.isEmpty == true)
            #expect(try await desk.send(.GET, "/api/calls/\(mine)").status == .ok)
            #expect(try await desk.send(.GET, "/api/calls/\(theirs)").status == .notFound)
            let body = #"{"outcome":"successful","resolved":true,"handling_time_seconds":60}"#
            #expect(try await desk.send(.POST, "/api/calls/\(theirs)/complete", json: body).status == .notFound)
            #expect(try await admin.send(.GET, "/api/calls/\(theirs)").data["status"] == .string("active"))
            let done = try await desk.send(.POST, "/api/calls/\(mine)/complete", json: body)
            #expect(done.status == .ok && done.data["status"] == .string("completed"))

            // Its own presence and wrap-up; not a colleague's, and no new calls or cancellations.
            #expect(try await desk.send(.PUT, "/api/agents/\(own)/presence", json: #"{"presence":"away","reason":"break"}"#).status == .ok)
            #expect(try await desk.send(.PUT, "/api/agents/\(colleague)/presence", json: #"{"presence":"offline"}"#).status == .forbidden)
            #expect(try await desk.send(.POST, "/api/agents/\(own)/wrap-up/end").status == .ok)
            #expect(try await desk.createCall(#"{"sector":"billing"}"#).status == .forbidden)
            #expect(try await desk.send(.POST, "/api/calls/\(theirs)/cancel").status == .forbidden)
            #expect(try await desk.send(.GET, "/api/agents/\(own)").data["presence"] == .string("away"))
        }
    }

    @Test func anAgentFollowsOnlyItsOwnEvents() async throws {
        try await withSwitchboard { app in
            let port = try await app.listenOnAnyPort()
            let admin = try await APIClient.make(app)
            let own = try await admin.createAgent("Own", maxConcurrent: 1)
            let colleague = try await admin.createAgent("Colleague", maxConcurrent: 1)
            let desk = try await agentClient(app, admin, own)
            let probe = try await StreamProbe.connect(port: port, firstMessage: #"{"token": "\#(desk.token)"}"#, on: app.eventLoopGroup)
            try await probe.wait { $0.contains { $0["type"] == .string("ready") } }
            _ = try await admin.createCall(#"{"sector":"billing"}"#)
            _ = try await admin.createCall(#"{"sector":"billing"}"#)
            _ = try await admin.send(.PUT, "/api/agents/\(colleague)/presence", json: #"{"presence":"offline"}"#)
            _ = try await admin.send(.PUT, "/api/agents/\(own)/presence", json: #"{"presence":"offline"}"#)
            let events = try await probe.wait { $0.contains { $0["type"] == .string("agent.presence_changed") } }
                .filter { $0["type"].stringValue?.contains(".") == true }
            #expect(!events.isEmpty)
            for event in events {
                let agentId = event["data"]["agent_id"]
                #expect(agentId == .string(own.uuidString), "\(event)")
            }
            #expect(events.filter { $0["type"] == .string("call.assigned") }.count == 1)
            await probe.close()
            await app.server.shutdown()
        }
    }
}
