import FluentKit
import Foundation
import SQLKit
import Testing
import Vapor
import VaporTesting
@testable import SwitchboardCore

/// What an attacker probing the service found, each closed at its root (issue: disk fill, CPU exhaustion,
/// length limits, JWT, static files and the rest).
@Suite struct SecurityTests {
    // MARK: unauthenticated requests

    @Test func unauthenticatedFloodIsLimitedBeforeItCostsAWrite() async throws {
        // A database of its own on PostgreSQL: anonymous denials of concurrent tests would share its rows.
        try await withSwitchboard(isolated: true) { app in
            let owner = try await APIClient.make(app)
            _ = try await owner.createTeam()  // the owner's token is known before the flood
            let pagesBefore = TestDatabase.isPostgres ? 0 : try await databasePages(app)
            let longSegment = String(repeating: "x", count: 900)
            var statuses: [UInt: Int] = [:]
            let started = ContinuousClock.now
            for index in 0..<1_000 {
                let response = try await owner.send(.GET, "/api/teams/\(longSegment)\(index)", authorized: false)
                statuses[response.status.code, default: 0] += 1
                if response.status == .tooManyRequests { #expect(response.headers.first(name: .retryAfter) != nil) }
            }
            let seconds = Double((ContinuousClock.now - started).components.seconds) + 1
            let limit = try #require(RateLimit.defaultUnauthenticatedLimit)
            #expect(statuses[429, default: 0] + statuses[401, default: 0] == 1_000, "\(statuses)")
            #expect(Double(statuses[401, default: 0]) <= Double(limit.burst) + limit.requestsPerSecond * seconds)

            // A client whose token was already verified is not held up by its address's limit.
            #expect(try await owner.send(.GET, "/api/teams").status == .ok)

            await app.denialLog.flush(to: app.store())
            let denials = try await TenantScope(clientId: AuditEntry.unauthenticatedClient)
                .query(AuditLogEntry.self, on: app.db).filter(\.$action == "denied.401").all()
            #expect(Double(denials.count) <= seconds + 1, "repeated denials from one address: one counted row a second")
            #expect(denials.reduce(0) { $0 + $1.occurrences } == statuses[401])
            #expect(denials.allSatisfy { $0.entityId == "GET /api/teams/:team_id" && $0.actor.hasPrefix("anonymous from") },
                    "the route's pattern, not the path sent: \(denials.map(\.entityId))")
            if !TestDatabase.isPostgres {
                let grown = try await databasePages(app) - pagesBefore
                #expect(grown * 4096 < 1_000_000, "the database grew by \(grown) pages")
            }
        }
    }

    @Test func denialRecordsAreBoundedInSizeAndNumber() async throws {
        // As above: on PostgreSQL, a database of its own.
        let log = DenialLog(logger: Logger(label: "test"))
        let denial = { (index: Int) in
            DenialLog.Denial(clientId: "-", actor: "anonymous from 10.0.0.\(index)", action: "denied.401",
                             entityType: "request", entityId: String(repeating: "é", count: 50_000))
        }
        for index in 0..<(DenialLog.capacity + 500) { log.record(denial(index)) }
        try await withSwitchboard(isolated: true) { app in
            await log.flush(to: app.store())
            let rows = try await TenantScope(clientId: "-").query(AuditLogEntry.self, on: app.db).all()
            #expect(rows.count == DenialLog.capacity + 1, "the distinct ones, and one row counting the rest")
            #expect(rows.allSatisfy { $0.entityId.utf8.count <= DenialLog.maxFieldLength })
            #expect(rows.reduce(0) { $0 + $1.occurrences } == DenialLog.capacity + 500)
            #expect(rows.contains { $0.action == "denied.other" && $0.occurrences == 500 })
        }
    }

    @Test func overlongURLsAre414() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.GET, "/api/teams?name=" + String(repeating: "a", count: 9_000))
            #expect(response.status == .uriTooLong)
            #expect(response.json["success"] == .bool(false))
            #expect(try await client.send(.GET, "/api/teams/" + String(repeating: "a", count: 1_100)).status == .uriTooLong)
            #expect(try await client.send(.GET, "/api/teams?name=" + String(repeating: "a", count: 7_000)).status != .uriTooLong)
        }
    }

    @Test func foreignIdsAreRecordedOffTheRequestPathAndUnknownOnesNot() async throws {
        try await withSwitchboard { app in
            let owner = try await APIClient.make(app)
            let team = try await owner.createTeam()
            let intruder = try await APIClient.make(app)
            app.denialLog.stopPeriodicFlush()  // so that only the request path could have written
            let foreign = try await intruder.send(.GET, "/api/teams/\(team)")
            let unknown = try await intruder.send(.GET, "/api/teams/\(UUID())")
            #expect(foreign.status == .notFound && unknown.status == .notFound)
            #expect(foreign.text == unknown.text)
            let scope = TenantScope(clientId: intruder.clientId)
            #expect(try await scope.query(AuditLogEntry.self, on: app.db).count() == 0, "nothing written on the request path")
            await app.denialLog.flush(to: app.store())
            let denials = try await scope.query(AuditLogEntry.self, on: app.db).all()
            #expect(denials.map(\.entityId) == [team.uuidString])
        }
    }

    // MARK: bodies

    @Test func bodiesAreLimitedBeforeTheyAreRead() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            // The declared length is refused before a byte of the body is read (the in-memory tester always sends
            // the true length, so the check is called as the server calls it).
            let declared = Request(application: app, method: .POST, url: "/api/teams",
                                   headers: ["Content-Length": "10000000000"], on: app.eventLoopGroup.next())
            #expect(throws: AppError.self) { try RequestLimitsMiddleware.checkDeclaredLength(of: declared, limit: BodyLimit.bulk) }
            // Above the off-loop threshold and within the limit: decoded on the thread pool, and fine.
            let padded = #"{"name":"padded","sector":"b","junk":[""# + String(repeating: "x", count: 8_000) + #""]}"#
            #expect(try await client.send(.POST, "/api/teams", json: padded).status == .created)
            let large = #"{"name":"a","sector":"b","junk":""# + String(repeating: "x", count: 20_000) + #""}"#
            #expect(try await client.send(.POST, "/api/teams", json: large).status == .payloadTooLarge)
            // Unauthenticated: refused for its size before the token is even looked at.
            #expect(try await client.send(.POST, "/api/teams", json: large, authorized: false).status == .payloadTooLarge)
        }
    }

    @Test func deepOrNumerousValuesAreRefusedBeforeDecoding() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let deep = #"{"name":"a","sector":"b","junk":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
            let deepResponse = try await client.send(.POST, "/api/teams", json: deep)
            #expect(deepResponse.status == .badRequest)
            #expect(deepResponse.error?.contains("nested too deeply") == true)
            let null = try await client.send(.POST, "/api/teams", json: #"{"name":"a","sector":"b","description":null}"#)
            #expect(null.error == "field 'description' must not be null; leave it out instead")
        }
    }

    @Test func theShapeScanTracksStringsAndFindsTopLevelNulls() throws {
        func shape(_ text: String) throws -> JSONShape.Shape { try JSONShape.inspect(Data(text.utf8)) }
        #expect(try shape(#"{"a":"[[[{{null","b":null}"#).firstNullField == "b")
        #expect(try shape(#"{"a":{"b":null},"c":1}"#).firstNullField == nil, "only top-level fields")
        #expect(try shape(#"{"a\"q":1,"n":"x\\","z":null}"#).firstNullField == "z")
        #expect(try shape(#"[null]"#).firstNullField == nil)
        #expect(throws: AppError.self) { try shape(String(repeating: "[", count: 33)) }
        #expect(throws: Never.self) { try shape(String(repeating: "[", count: 32) + String(repeating: "]", count: 32)) }
        #expect(throws: AppError.self) { try shape("[" + Array(repeating: "1", count: 10_001).joined(separator: ",") + "]") }
        #expect(throws: Never.self) { try shape("[" + Array(repeating: "12345", count: 9_999).joined(separator: ",") + "]") }
    }

    // MARK: text

    @Test func lengthsCountScalarsAndNamesAreNormalised() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let combining = "d" + String(repeating: "\u{301}", count: 2_000)
            let long = try await client.send(.POST, "/api/teams", json: #"{"name":"\#(combining)","sector":"billing"}"#)
            #expect(long.status == .badRequest, "one character with 2,000 combining marks is 2,001 scalars")

            let decomposed = try await client.send(.POST, "/api/teams", json: #"{"name":"Cafe\u0301","sector":"billing"}"#)
            #expect(decomposed.status == .created)
            #expect(decomposed.data["name"] == .string("Caf\u{e9}"), "stored in NFC")
            let composed = try await client.send(.POST, "/api/teams", json: #"{"name":"Caf\u00e9","sector":"billing"}"#)
            #expect(composed.status == .conflict, "the same name typed another way is the same name")

            for name in [#"a\u0000b"#, #"tab\there"#, #"bell\u0007"#, #"line\u2028break"#] {
                let response = try await client.send(.POST, "/api/teams", json: #"{"name":"\#(name)","sector":"billing"}"#)
                #expect(response.status == .badRequest, "\(name)")
            }
            let multiline = try await client.send(.POST, "/api/teams",
                                                  json: #"{"name":"Lines","sector":"billing","description":"one\ntwo"}"#)
            #expect(multiline.status == .created, "descriptions may have line breaks")
            let key = try await client.send(.POST, "/api/calls", json: #"{"sector":"billing"}"#,
                                            headers: [("Idempotency-Key", "key\u{7f}")])
            #expect(key.status == .badRequest)
        }
    }

    @Test func tenantAndSubjectClaimsAreShortPlainIdentifiers() async throws {
        try await withSwitchboard { app in
            let exp = Int(Date().timeIntervalSince1970) + 600
            for clientId in [" ", "acme ", "acme\\u0000", String(repeating: "a", count: 65), "ac me", "ácme", ""] {
                let token = signedToken(payload: #"{"sub":"u","client_id":"\#(clientId)","role":"admin","exp":\#(exp)}"#)
                let status = try await teamsStatus(app, token: token)
                #expect(status == .unauthorized, "client_id '\(clientId)'")
            }
            for subject in ["", " alice", String(repeating: "s", count: 129), "a\\nb"] {
                let token = signedToken(payload: #"{"sub":"\#(subject)","client_id":"acme","role":"admin","exp":\#(exp)}"#)
                let status = try await teamsStatus(app, token: token)
                #expect(status == .unauthorized, "sub '\(subject)'")
            }
            let good = signedToken(payload: #"{"sub":"auth0|alice@example.com","client_id":"acme-1.eu:prod_2","role":"admin","exp":\#(exp)}"#)
            #expect(try await teamsStatus(app, token: good) == .ok)
        }
    }

    // MARK: tokens

    @Test func onlyHS256HeadersAreAccepted() async throws {
        try await withSwitchboard { app in
            let payload = #"{"sub":"u","client_id":"acme","role":"admin","exp":\#(Int(Date().timeIntervalSince1970) + 600)}"#
            for header in [#"{"alg":"none","typ":"JWT"}"#, #"{"alg":"RS256","typ":"JWT"}"#, #"{"alg":"HS512","typ":"JWT"}"#,
                           #"{"typ":"JWT"}"#, #"{"alg":"HS256","crit":["exp"]}"#] {
                let token = signedToken(header: header, payload: payload)
                let status = try await teamsStatus(app, token: token)
                #expect(status == .unauthorized, "\(header)")
            }
            #expect(try await teamsStatus(app, token: signedToken(payload: payload)) == .ok)
        }
    }

    @Test func tokenTimesAreChecked() async throws {
        try await withSwitchboard { app in
            let now = Int(Date().timeIntervalSince1970)
            func claims(_ extra: String) -> String { #"{"sub":"u","client_id":"acme","role":"admin",\#(extra)}"# }
            let refused = [
                claims(#""exp":1e300"#),
                claims(#""exp":\#(now + 25 * 3600)"#),
                claims(#""exp":\#(now + 600),"nbf":\#(now + 300)"#),
                claims(#""exp":\#(now + 600),"iat":\#(now + 300)"#),
                claims(#""exp":\#(now - 10)"#),
            ]
            for payload in refused {
                let status = try await teamsStatus(app, token: signedToken(payload: payload))
                #expect(status == .unauthorized, "\(payload)")
            }
            let accepted = [
                claims(#""exp":\#(now + 23 * 3600)"#),
                claims(#""exp":\#(now + 600),"nbf":\#(now - 5),"iat":\#(now - 5)"#),
                claims(#""exp":\#(now + 600),"nbf":\#(now + 30)"#),  // within the clock skew
            ]
            for payload in accepted {
                let status = try await teamsStatus(app, token: signedToken(payload: payload))
                #expect(status == .ok, "\(payload)")
            }
        }
        try await withSwitchboard(configuring: { $0.maxTokenLifetimeSeconds = 3_600 }) { app in
            let now = Int(Date().timeIntervalSince1970)
            let payload = #"{"sub":"u","client_id":"acme","role":"admin","exp":\#(now + 7_200)}"#
            let status = try await teamsStatus(app, token: signedToken(payload: payload))
            #expect(status == .unauthorized, "the lifetime is configurable")
        }
    }

    // MARK: static files

    @Test func oddStaticPathsAre404sThatRevealNothing() async throws {
        try await withSwitchboard { app in
            #expect(FileManager.default.fileExists(atPath: app.directory.publicDirectory + "css/app.css"))
            #expect(try await app.testing().sendRequest(.GET, "/css/app.css").status == .ok)
            for path in ["/index.html/x", "/css/app.css/..", "/css/app.css%00.html", "/css/app.css%00", "/css/%2e%2e/index.html",
                         "/css/..%5cindex.html", "/%0d%0a"] {
                let response = try await app.testing().sendRequest(.GET, path)
                #expect(response.status == .notFound, "\(path): \(response.status)")
                #expect(!response.body.string.contains(app.directory.publicDirectory), "\(path)")
            }
        }
    }

    // MARK: per-tenant figures

    @Test func aggregatorFiguresArePerTenant() async throws {
        // Isolated on PostgreSQL: another test's aggregation would count this test's calls first.
        try await withSwitchboard(isolated: true) { app in
            let busy = try await APIClient.make(app)
            _ = try await busy.createAgent()
            let call = try await busy.createCall(#"{"sector":"billing"}"#)
            _ = try await busy.complete(try #require(call.data["id"].uuid))
            let quiet = try await APIClient.make(app)

            let quietRun = try await quiet.send(.POST, "/api/system/aggregator/run")
            #expect(quietRun.status == .ok)
            #expect(quietRun.data["groups_recomputed"] == .number(0), "another tenant's work is not reported")
            #expect(quietRun.data["rows_written"] == .number(0))
            #expect(quietRun.data["last_phases_ms"] == .null)
            let busyStatus = try await busy.send(.GET, "/api/system/aggregator")
            #expect((busyStatus.data["groups_recomputed"].numberValue ?? 0) >= 1, "\(busyStatus.text)")
            #expect((await app.aggregator.currentStatus().groupsRecomputed) >= 1)

            // The routing cache's figures are the caller's too.
            let busyHealth = try await busy.send(.GET, "/api/routing/health").data["cache"]
            let quietHealth = try await quiet.send(.GET, "/api/routing/health").data["cache"]
            #expect((busyHealth["cache_hits"].numberValue ?? 0) + (busyHealth["cache_misses"].numberValue ?? 0) >= 1, "\(busyHealth)")
            #expect(quietHealth["cache_hits"] == .number(0) && quietHealth["cache_misses"] == .number(0), "\(quietHealth)")
        }
    }

    // MARK: channels

    @Test func channelConfigsAreValidatedStrictly() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let refused = [
                #"{"type":"voice","name":"v","config":{"provider":"twilio","phone_number":"+442071838750\n"}}"#,
                #"{"type":"voice","name":"v","config":{"provider":"twilio","phone_number":"+442071838750\r\n"}}"#,
                #"{"type":"voice","name":"v","config":{"provider":"twi\u0000lio","phone_number":"+442071838750"}}"#,
                #"{"type":"webchat","name":"w","config":{"allowed_origins":["https://shop.example.com:70000"]}}"#,
                #"{"type":"webchat","name":"w","config":{"allowed_origins":["https://shop.example.com\n"]}}"#,
                ##"{"type":"webchat","name":"w","config":{"allowed_origins":["https://shop.example.com"],"widget_colour":"#1A73E8\n"}}"##,
            ] + ["127.0.0.1", "localhost", "mail.localhost", "169.254.169.254", "0.0.0.0", "2130706433", "smtp.example.com\n"].map {
                #"{"type":"email","name":"e","config":{"imap_host":"imap.example.com","smtp_host":"\#($0)","address":"help@example.com"}}"#
            }
            for body in refused {
                let response = try await admin.send(.POST, "/api/channels", json: body)
                #expect(response.status == .badRequest, "\(body): \(response.text)")
            }
            let fine = ##"{"type":"webchat","name":"w","config":{"allowed_origins":["https://shop.example.com:8443"],"widget_colour":"#1a73e8"}}"##
            #expect(try await admin.send(.POST, "/api/channels", json: fine).status == .created)
        }
    }

    // MARK: HTTP semantics

    @Test func corsAnswersVaryByOrigin() async throws {
        try await withSwitchboard(configuring: { $0.corsOrigins = ["https://app.example.com"] }) { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.GET, "/api/teams", headers: [("Origin", "https://app.example.com")])
            #expect(response.headers.first(name: .accessControlAllowOrigin) == "https://app.example.com")
            #expect(response.headers[.vary].contains { $0.lowercased().contains("origin") })
            let other = try await client.send(.GET, "/api/teams", headers: [("Origin", "https://evil.example.com")])
            #expect(other.headers[.vary].contains { $0.lowercased().contains("origin") })
        }
    }

    @Test func anIdempotencyKeyReusedForAnotherRequestIs422() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            _ = try await client.createAgent()
            let first = try await client.createCall(#"{"sector":"billing","external_ref":"A-1"}"#, idempotencyKey: "k1")
            #expect(first.status == .created)
            let replay = try await client.createCall(#"{"sector":"billing","external_ref":"A-1"}"#, idempotencyKey: "k1")
            #expect(replay.status == .ok)
            #expect(replay.data["id"] == first.data["id"])
            for body in [#"{"sector":"billing","external_ref":"A-2"}"#, #"{"sector":"sales","external_ref":"A-1"}"#,
                         #"{"sector":"billing","external_ref":"A-1","capabilities":["french"]}"#,
                         #"{"sector":"billing","external_ref":"A-1","channel":"sms"}"#] {
                let reused = try await client.createCall(body, idempotencyKey: "k1")
                #expect(reused.status == .unprocessableEntity, "\(body): \(reused.text)")
            }
            #expect(try await client.send(.GET, "/api/calls").data.count == 1)
        }
    }

    @Test func unsupportedMethodsAre405WithAllow() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam()
            let collection = try await client.send(.DELETE, "/api/calls")
            #expect(collection.status == .methodNotAllowed)
            #expect(collection.headers.first(name: .allow) == "GET, HEAD, POST")
            let item = try await client.send(.PATCH, "/api/teams/\(team)")
            #expect(item.status == .methodNotAllowed)
            #expect(item.headers.first(name: .allow) == "DELETE, GET, HEAD, PUT")
            #expect(item.json["success"] == .bool(false))
            #expect(try await client.send(.GET, "/api/nothing-here").status == .notFound)
            #expect(try await client.send(.HEAD, "/api/teams").status == .ok)
        }
    }
}

// MARK: helpers

/// The SQLite database's size in 4 KiB pages (its default page size), WAL included.
private func databasePages(_ app: Application) async throws -> Int {
    try await (app.db as! any SQLDatabase).raw("PRAGMA page_count").first()!.decode(column: "page_count", as: Int.self)
}

private func teamsStatus(_ app: Application, token: String) async throws -> HTTPResponseStatus {
    var headers = HTTPHeaders()
    headers.bearerAuthorization = BearerAuthorization(token: token)
    return try await app.testing().sendRequest(.GET, "/api/teams", headers: headers).status
}

/// A token signed with the test secret, with any header and payload (base64url without padding).
private func signedToken(header: String = #"{"alg":"HS256","typ":"JWT"}"#, payload: String) -> String {
    func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
    let signingInput = base64URL(Data(header.utf8)) + "." + base64URL(Data(payload.utf8))
    let mac = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(TestDatabase.jwtSecret.utf8)))
    return signingInput + "." + base64URL(Data(mac))
}
