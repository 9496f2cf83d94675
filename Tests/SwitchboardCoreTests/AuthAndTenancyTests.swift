import FluentKit
import Foundation
import JWT
import Testing
import VaporTesting
@testable import SwitchboardCore

@Suite("Authentication, roles and tenant isolation")
struct AuthAndTenancyTests {
    /// The token is read from the header's bytes by Vapor's own rule: the same token, or none, for every form.
    @Test func aBearerTokenIsReadAsVaporReadsIt() {
        let forms = ["Bearer abc.def.ghi", "bearer abc", "BEARER abc", "Bearer  abc", " Bearer abc ", "Bearer", "Bearer ",
                     "Bearer a b", "Basic abc", "Bearerx abc", "Bear abc", "Béarer abc", "Bearer tökén", "", "abc",
                     "Bearer\tabc", "Bearer abc\u{301}"]
        for form in forms {
            let headers = HTTPHeaders([("Authorization", form)])
            #expect(headers.bearerToken == headers.bearerAuthorization?.token, "\(form)")
        }
        #expect(HTTPHeaders().bearerToken == nil)
        #expect(HTTPHeaders([("Authorization", "Bearer abc.def")]).bearerToken == "abc.def")
    }

    @Test func missingMalformedExpiredAndForgedTokensAre401() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let noToken = try await client.send(.GET, "/api/teams", authorized: false)
            #expect(noToken.status == .unauthorized)
            #expect(noToken.json == .object(["success": .bool(false), "error": .string("missing bearer token")]))

            let garbage = try await client.send(.GET, "/api/teams", headers: [("Authorization", "Bearer not.a.jwt")], authorized: false)
            #expect(garbage.status == .unauthorized)

            let expired = try await TokenIssuer.issue(on: app, clientId: client.clientId, role: .admin, ttlSeconds: -60)
            let expiredResponse = try await client.send(.GET, "/api/teams", headers: [("Authorization", "Bearer \(expired)")], authorized: false)
            #expect(expiredResponse.status == .unauthorized)
            #expect(expiredResponse.error == "token expired")

            let otherKeys = JWTKeyCollection()
            await otherKeys.add(hmac: HMACKey(from: "another-secret-that-is-also-long-enough-000"), digestAlgorithm: .sha256)
            let forged = try await otherKeys.sign(TenantClaims(
                sub: "mallory", clientId: client.clientId, role: .admin, exp: .init(value: Date().addingTimeInterval(600))))
            let forgedResponse = try await client.send(.GET, "/api/teams", headers: [("Authorization", "Bearer \(forged)")], authorized: false)
            #expect(forgedResponse.status == .unauthorized)
            #expect(forgedResponse.error == "invalid token")
        }
    }

    @Test func tokensMissingAClaimAre401() async throws {
        try await withSwitchboard { app in
            struct NoRole: JWTPayload {
                var sub: SubjectClaim
                var client_id: String
                var exp: ExpirationClaim
                func verify(using algorithm: some JWTAlgorithm) async throws {}
            }
            struct NoExpiry: JWTPayload {
                var sub: SubjectClaim
                var client_id: String
                var role: String
                func verify(using algorithm: some JWTAlgorithm) async throws {}
            }
            let client = try await APIClient.make(app)
            let noRole = try await app.jwt.keys.sign(NoRole(sub: "u", client_id: "x", exp: .init(value: Date().addingTimeInterval(600))))
            let noExpiry = try await app.jwt.keys.sign(NoExpiry(sub: "u", client_id: "x", role: "admin"))
            let longClient = try await app.jwt.keys.sign(TenantClaims(
                sub: "u", clientId: String(repeating: "c", count: 65), role: .admin, exp: .init(value: Date().addingTimeInterval(600))))
            for token in [noRole, noExpiry, longClient] {
                let response = try await client.send(.GET, "/api/teams", headers: [("Authorization", "Bearer \(token)")], authorized: false)
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func viewersReadButCannotWrite() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let team = try await admin.createTeam()
            let agent = try await admin.createAgent()
            let member = try await admin.addMember(to: team)
            let viewer = try await admin.as(.viewer)
            #expect(try await viewer.send(.GET, "/api/teams").status == .ok)
            #expect(try await viewer.send(.GET, "/api/agents/\(agent)").status == .ok)
            let writes: [(HTTPMethod, String, String?)] = [
                (.POST, "/api/teams", #"{"name":"x","sector":"billing"}"#),
                (.PUT, "/api/teams/\(team)", #"{"name":"y"}"#),
                (.DELETE, "/api/teams/\(team)", nil),
                (.POST, "/api/teams/\(team)/members", #"{"email":"a@b.co","name":"A","role":"lead"}"#),
                (.PUT, "/api/teams/\(team)/members/\(member)", #"{"name":"B"}"#),
                (.DELETE, "/api/teams/\(team)/members/\(member)", nil),
                (.POST, "/api/teams/\(team)/members/\(member)/agents", #"{"agent_ids":["\#(agent)"]}"#),
                (.DELETE, "/api/teams/\(team)/members/\(member)/agents/\(agent)", nil),
                (.POST, "/api/agents", #"{"name":"x","sector":"billing"}"#),
                (.PUT, "/api/agents/\(agent)", #"{"priority":1}"#),
                (.DELETE, "/api/agents/\(agent)", nil),
                (.POST, "/api/calls", #"{"sector":"billing"}"#),
                (.POST, "/api/routing/route", #"{"sector":"billing"}"#),
                (.PUT, "/api/settings", #"{"routing.overflow":"reject"}"#),
            ]
            for (method, path, body) in writes {
                let response = try await viewer.send(method, path, json: body)
                #expect(response.status == .forbidden, "\(method) \(path)")
            }
            #expect(try await admin.send(.GET, "/api/teams/\(team)").data["status"] == .string("active"))
        }
    }

    @Test func managersWriteTeamsButNotTheCatalogueOrSettings() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let agent = try await admin.createAgent()
            let manager = try await admin.as(.manager)
            let team = try await manager.createTeam()
            let member = try await manager.addMember(to: team)
            try await manager.assign([agent], to: member, in: team)
            #expect(try await manager.send(.POST, "/api/agents", json: #"{"name":"x","sector":"billing"}"#).status == .forbidden)
            #expect(try await manager.send(.PUT, "/api/agents/\(agent)", json: #"{"priority":1}"#).status == .forbidden)
            #expect(try await manager.send(.DELETE, "/api/agents/\(agent)").status == .forbidden)
            #expect(try await manager.send(.PUT, "/api/settings", json: #"{"routing.overflow":"reject"}"#).status == .forbidden)
            #expect(try await manager.send(.POST, "/api/calls", json: #"{"sector":"billing"}"#).status == .created)
        }
    }

    /// Every endpoint that takes an id answers another tenant's id exactly as an unknown id.
    @Test func anotherTenantsIdsAreNotFoundEverywhere() async throws {
        try await withSwitchboard { app in
            let owner = try await APIClient.make(app)
            let team = try await owner.createTeam()
            let member = try await owner.addMember(to: team)
            let agent = try await owner.createAgent()
            try await owner.assign([agent], to: member, in: team)
            let call = try #require(try await owner.createCall(#"{"sector":"billing"}"#).data["id"].uuid)

            let intruder = try await APIClient.make(app)
            let ownTeam = try await intruder.createTeam()
            let ownMember = try await intruder.addMember(to: ownTeam)
            let ownAgent = try await intruder.createAgent()
            let missing = UUID()

            let probes: [(HTTPMethod, String, String?)] = [
                (.GET, "/api/teams/\(team)", nil),
                (.GET, "/api/teams/\(team)/members", nil),
                (.GET, "/api/teams/\(team)/performance", nil),
                (.PUT, "/api/teams/\(team)", #"{"name":"pwned"}"#),
                (.DELETE, "/api/teams/\(team)", nil),
                (.POST, "/api/teams/\(team)/members", #"{"email":"x@y.co","name":"X","role":"member"}"#),
                (.PUT, "/api/teams/\(team)/members/\(member)", #"{"name":"pwned"}"#),
                (.DELETE, "/api/teams/\(team)/members/\(member)", nil),
                (.POST, "/api/teams/\(team)/members/\(member)/agents", #"{"agent_ids":["\#(ownAgent)"]}"#),
                (.DELETE, "/api/teams/\(team)/members/\(member)/agents/\(agent)", nil),
                (.PUT, "/api/teams/\(ownTeam)/members/\(member)", #"{"name":"pwned"}"#),
                (.POST, "/api/teams/\(ownTeam)/members/\(ownMember)/agents", #"{"agent_ids":["\#(agent)"]}"#),
                (.GET, "/api/agents/\(agent)", nil),
                (.PUT, "/api/agents/\(agent)", #"{"name":"pwned"}"#),
                (.DELETE, "/api/agents/\(agent)", nil),
                (.GET, "/api/calls/\(call)", nil),
                (.POST, "/api/calls/\(call)/complete", #"{"outcome":"failed","resolved":false,"handling_time_seconds":1}"#),
                (.POST, "/api/calls/\(call)/cancel", nil),
                (.POST, "/api/calls", #"{"team_id":"\#(team)"}"#),
                (.POST, "/api/routing/route", #"{"team_id":"\#(team)"}"#),
            ]
            for (method, path, body) in probes {
                let response = try await intruder.send(method, path, json: body)
                #expect(response.status == .notFound, "\(method) \(path): \(response.status)")
                let unknown = path.replacingOccurrences(of: team.uuidString, with: missing.uuidString)
                    .replacingOccurrences(of: member.uuidString, with: missing.uuidString)
                    .replacingOccurrences(of: agent.uuidString, with: missing.uuidString)
                    .replacingOccurrences(of: call.uuidString, with: missing.uuidString)
                let unknownBody = body?.replacingOccurrences(of: team.uuidString, with: missing.uuidString)
                    .replacingOccurrences(of: agent.uuidString, with: missing.uuidString)
                let baseline = try await intruder.send(method, unknown, json: unknownBody)
                #expect(baseline.status == .notFound)
                #expect(baseline.text == response.text, "same body for unknown and foreign ids: \(path)")
            }

            // Lists and filters show nothing of the other tenant.
            #expect(try await intruder.send(.GET, "/api/calls?agent_id=\(agent)").data.count == 0)
            #expect(try await intruder.send(.GET, "/api/routing/decisions?call_id=\(call)").data.count == 0)
            #expect(try await intruder.send(.GET, "/api/agents?sector=billing").data.count == 1)

            // Nothing of the owner's changed.
            let ownerTeam = try await owner.send(.GET, "/api/teams/\(team)")
            #expect(ownerTeam.data["status"] == .string("active"))
            #expect(ownerTeam.data["members"][0]["agents"].count == 1)
            #expect(try await owner.agent(agent)["current_load"] == .number(1))
            #expect(try await owner.send(.GET, "/api/calls/\(call)").data["status"] == .string("active"))

            // The probes were audited as denied, under the intruder's tenant.
            await app.denialLog.flush(to: app.store())
            let denials = try await TenantScope(clientId: intruder.clientId).query(AuditLogEntry.self, on: app.db)
                .filter(\.$outcome == "denied").all()
            #expect(denials.reduce(0) { $0 + $1.occurrences } >= 15)
            #expect(denials.contains { $0.entityId == team.uuidString && $0.entityType == "team" })
        }
    }

    @Test func routingNeverPicksAnotherTenantsAgent() async throws {
        try await withSwitchboard { app in
            let owner = try await APIClient.make(app)
            _ = try await owner.createAgent(successRate: 1, avgHandlingTime: 1)
            let other = try await APIClient.make(app)
            let route = try await other.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
            #expect(route.status == .ok)
            #expect(route.data["agent_id"] == .null)
            #expect(route.data["strategy"] == .string("none"))
            let call = try await other.createCall(#"{"sector":"billing"}"#)
            #expect(call.data["status"] == .string("queued"))
        }
    }

    @Test func writesAndDenialsAreAudited() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app, subject: "alice")
            let team = try await admin.createTeam()
            let viewer = try await admin.as(.viewer)
            _ = try await viewer.send(.DELETE, "/api/teams/\(team)")
            _ = try await admin.send(.GET, "/api/teams", authorized: false)
            await app.denialLog.flush(to: app.store())

            let entries = try await TenantScope(clientId: admin.clientId).query(AuditLogEntry.self, on: app.db).all()
            #expect(entries.contains { $0.action == "team.create" && $0.actor == "alice" && $0.entityId == team.uuidString })
            #expect(entries.contains { $0.action == "denied.403" && $0.outcome == "denied" })
            let anonymous = try await TenantScope(clientId: AuditEntry.unauthenticatedClient)
                .query(AuditLogEntry.self, on: app.db).filter(\.$action == "denied.401").count()
            #expect(anonymous >= 1)
        }
    }

    /// Tenant scoping by construction: no product code reaches a tenant table except through TenantScope.
    @Test func onlyTenantScopeQueriesModelsDirectly() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/SwitchboardCore")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        #expect(files.count > 20)
        for file in files where file.lastPathComponent != "TenantScope.swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(!text.contains(".query(on:"), "\(file.lastPathComponent) queries a model without TenantScope")
            #expect(text.range(of: #"\b[A-Z]\w*\.find\("#, options: .regularExpression) == nil,
                    "\(file.lastPathComponent) finds a model without TenantScope")
        }
    }
}
