import FluentKit
import Foundation
import Testing
import VaporTesting
@testable import SwitchboardCore

/// Two tenants with the same shapes of data; tenant A probes every id-taking endpoint with tenant B's ids.
@Suite("Tenant isolation matrix")
struct IsolationMatrixTests {
    struct TenantData {
        let client: APIClient
        let team: UUID, member: UUID, agent: UUID, call: UUID, channel: UUID, webhook: UUID, delivery: UUID
    }

    func makeTenant(_ app: Application) async throws -> TenantData {
        let client = try await APIClient.make(app)
        let team = try await client.createTeam("Same name")
        let member = try await client.addMember(to: team, email: "same@example.com")
        let agent = try await client.createAgent("Same agent")
        try await client.assign([agent], to: member, in: team)
        let call = try #require(try await client.createCall(#"{"team_id":"\#(team)"}"#).data["id"].uuid)
        let channel = try #require(try await client.send(.POST, "/api/channels",
            json: #"{"type":"sms","name":"Same","config":{"provider":"p","sender":"S"},"credentials":{"api_key":"k"}}"#).data["id"].uuid)
        let webhook = try #require(try await client.send(.POST, "/api/webhooks",
            json: #"{"url":"https://93.184.216.34/hooks","events":["*"]}"#).data["id"].uuid)
        let delivery = UUID()
        try await TenantScope(clientId: client.clientId).insert(into: WebhookTables.deliveries, [
            ("id", delivery), ("webhook_id", webhook), ("event_type", "ping"), ("payload", "{}"), ("status", "failed"),
            ("attempts", 1), ("created_at", Date()), ("updated_at", Date()),
        ], on: app.db)
        try await aggregate(app)
        return TenantData(client: client, team: team, member: member, agent: agent, call: call, channel: channel,
                          webhook: webhook, delivery: delivery)
    }

    /// Everything tenant B can see, to prove the probes changed nothing.
    func snapshot(_ b: TenantData) async throws -> [String] {
        var texts: [String] = []
        for path in ["/api/teams/\(b.team)", "/api/agents/\(b.agent)", "/api/calls/\(b.call)", "/api/channels/\(b.channel)",
                     "/api/settings", "/api/teams/\(b.team)/members", "/api/webhooks/\(b.webhook)",
                     "/api/webhooks/\(b.webhook)/deliveries"] {
            let response = try await b.client.send(.GET, path)
            #expect(response.status == .ok)
            texts.append(response.text)
        }
        return texts
    }

    @Test func everyIdTakingEndpointAnswersAnotherTenantsIdsWith404() async throws {
        try await withSwitchboard { app in
            let a = try await makeTenant(app)
            let b = try await makeTenant(app)
            let before = try await snapshot(b)

            let substitutions = [
                "{team_id}": b.team.uuidString, "{member_id}": b.member.uuidString, "{agent_id}": b.agent.uuidString,
                "{call_id}": b.call.uuidString, "{channel_id}": b.channel.uuidString,
                "{suggestion_id}": "assign_agent.\(b.team).\(b.agent)",
                "{webhook_id}": b.webhook.uuidString, "{delivery_id}": b.delivery.uuidString,
            ]
            let bodies: [String: String] = [
                "PUT /api/teams/{team_id}": #"{"name":"pwned"}"#,
                "POST /api/teams/{team_id}/members": #"{"email":"x@example.com","name":"X","role":"member"}"#,
                "PUT /api/teams/{team_id}/members/{member_id}": #"{"name":"pwned"}"#,
                "POST /api/teams/{team_id}/members/{member_id}/agents": #"{"agent_ids":["\#(a.agent)"]}"#,
                "PUT /api/agents/{agent_id}": #"{"name":"pwned"}"#,
                "POST /api/calls/{call_id}/complete": #"{"outcome":"failed","resolved":false,"handling_time_seconds":1}"#,
                "PUT /api/channels/{channel_id}": #"{"name":"pwned"}"#,
                "PATCH /api/webhooks/{webhook_id}": #"{"active":false}"#,
            ]
            // Every route with an id in its path, straight from the routing table, so a new one cannot be missed.
            var probes: [(HTTPMethod, String, String?)] = []
            for route in app.routes.all {
                let template = "/" + route.path.map { component -> String in
                    if case .parameter(let name) = component { return "{\(name)}" }
                    return component.description
                }.joined(separator: "/")
                // (Phone providers' webhooks take no token: the channel's own signature proves them; tests/twilio.)
                guard template.contains("{"), template.hasPrefix("/api/") else { continue }
                var path = template
                for (placeholder, id) in substitutions { path = path.replacingOccurrences(of: placeholder, with: id) }
                probes.append((route.method, path, bodies["\(route.method.rawValue) \(template)"]))
            }
            // Nested ids: B's member under A's team, A's member under B's team, B's agent in a body.
            probes += [
                (.PUT, "/api/teams/\(a.team)/members/\(b.member)", #"{"name":"pwned"}"#),
                (.DELETE, "/api/teams/\(a.team)/members/\(b.member)", nil),
                (.POST, "/api/teams/\(a.team)/members/\(a.member)/agents", #"{"agent_ids":["\#(b.agent)"]}"#),
                (.DELETE, "/api/teams/\(a.team)/members/\(a.member)/agents/\(b.agent)", nil),
                (.POST, "/api/calls", #"{"team_id":"\#(b.team)"}"#),
                (.POST, "/api/routing/route", #"{"team_id":"\#(b.team)"}"#),
                (.GET, "/api/analytics/teams/compare?team_ids=\(b.team)", nil),
                (.POST, "/api/webhooks/\(a.webhook)/deliveries/\(b.delivery)/redeliver", nil),
            ]
            #expect(probes.count >= 27)

            for (method, path, body) in probes {
                let response = try await a.client.send(method, path, json: body)
                #expect(response.status == .notFound, "\(method) \(path) → \(response.status)")
                #expect(response.json["success"] == .bool(false))
            }

            // Filters and lists: empty, never B's rows.
            for path in ["/api/calls?agent_id=\(b.agent)", "/api/calls?team_id=\(b.team)",
                         "/api/routing/decisions?call_id=\(b.call)"] {
                let response = try await a.client.send(.GET, path)
                #expect(response.status == .ok)
                #expect(response.data.count == 0, "\(path)")
            }
            for path in ["/api/teams", "/api/agents", "/api/calls", "/api/channels", "/api/routing/decisions", "/api/webhooks",
                         "/api/analytics/agents/top?min_calls=0&metric=calls_handled"] {
                let text = try await a.client.send(.GET, path).text
                for id in [b.team, b.member, b.agent, b.call, b.channel, b.webhook] {
                    #expect(!text.contains(id.uuidString), "\(path) shows tenant B's \(id)")
                }
            }

            #expect(try await snapshot(b) == before, "no probe changed tenant B's data")
            await app.denialLog.flush(to: app.store())
            let denials = try await TenantScope(clientId: a.client.clientId).query(AuditLogEntry.self, on: app.db)
                .filter(\.$outcome == "denied").all().reduce(0) { $0 + $1.occurrences }
            #expect(denials == probes.count, "every probe is in tenant A's audit log as denied")

            // The same probes with an agent's token of tenant A: the fence or the tenant stops each one.
            let deskToken = try await TokenIssuer.issue(on: app, clientId: a.client.clientId, role: .agent, agentId: a.agent)
            let desk = APIClient(app: app, clientId: a.client.clientId, role: .agent, token: deskToken)
            for (method, path, body) in probes {
                let response = try await desk.send(method, path, json: body)
                #expect([.notFound, .forbidden].contains(response.status), "agent token: \(method) \(path) → \(response.status)")
            }
            #expect(try await snapshot(b) == before, "no agent-token probe changed tenant B's data")
        }
    }
}
