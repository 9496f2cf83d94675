import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

@Suite("Envelope, errors and the operational endpoints")
struct EnvelopeAndSystemTests {
    @Test func unknownRoutesAreEnvelope404s() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.GET, "/api/nothing-here")
            #expect(response.status == .notFound)
            #expect(response.json == .object(["success": .bool(false), "error": .string("not found")]))
        }
    }

    @Test func badUUIDsInPathsAre400() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.GET, "/api/teams/12345")
            #expect(response.status == .badRequest)
            #expect(response.error == "team_id must be a valid UUID")
        }
    }

    @Test(arguments: [20_000, 1_100_000])
    func bodiesOverTheLimitAre413(size: Int) async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let huge = #"{"name":"x","sector":"billing","description":""# + String(repeating: "a", count: size) + #""}"#
            var headers = HTTPHeaders()
            headers.bearerAuthorization = BearerAuthorization(token: client.token)
            headers.contentType = .json
            // Through a real socket and the service's own server: refused from the declared length.
            let response = try await app.testing(method: .running(hostname: "127.0.0.1", port: try freePort()))
                .sendRequest(.POST, "/api/teams", headers: headers, body: ByteBuffer(string: huge))
            #expect(response.status == .payloadTooLarge)
            #expect(response.body.string.contains(#""success":false"#))
            #expect(try await client.send(.GET, "/api/teams").data.count == 0)
        }
    }

    @Test func missingBodyAndWrongContentTypeAre4xx() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            #expect(try await client.send(.POST, "/api/teams").status == .badRequest)
            let text = try await client.send(.POST, "/api/teams", json: #"{"name":"x","sector":"y"}"#, headers: [("Content-Type", "text/plain")])
            #expect(text.status == .unsupportedMediaType)
        }
    }

    @Test func unknownFieldsAreIgnored() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.POST, "/api/teams", json: #"{"name":"x","sector":"y","colour":"red","client_id":"other"}"#)
            #expect(response.status == .created)
            #expect(try await client.send(.GET, "/api/teams").data.count == 1, "client_id in a body never names another tenant")
        }
    }

    @Test func healthReportsTheDatabase() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.GET, "/health", authorized: false)
            #expect(response.status == .ok)
            #expect(response.data["status"] == .string("ok"))
            #expect(response.data["database"] == .string(TestDatabase.isPostgres ? "postgresql" : "sqlite"))
        }
    }

    @Test func metricsCountRequestsByRoute() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            _ = try await client.send(.GET, "/api/teams")
            let response = try await client.send(.GET, "/metrics", authorized: false)
            #expect(response.status == .ok)
            #expect(response.text.contains(#"switchboard_http_requests_total{method="GET",route="/api/teams",status="200"} 1"#))
            #expect(response.text.contains("switchboard_http_request_duration_seconds_bucket"))
            #expect(response.text.contains("switchboard_calls_queued"))
        }
    }

    /// Every route the app registers is in docs/openapi.yaml, with its method.
    @Test func openAPIDocumentsEveryRoute() async throws {
        try await withSwitchboard { app in
            let text = try await APIClient.make(app).send(.GET, "/openapi.yaml", authorized: false).text
            var documented: Set<String> = []
            var currentPath = ""
            for line in text.split(separator: "\n") {
                if line.hasPrefix("  /"), line.hasSuffix(":") {
                    currentPath = String(line.dropFirst(2).dropLast())
                } else if line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"),
                          ["get:", "post:", "put:", "patch:", "delete:"].contains(line.trimmingCharacters(in: .whitespaces)) {
                    documented.insert("\(line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()) \(currentPath)")
                }
                if !line.hasPrefix(" ") && !line.hasPrefix("paths:") { if line.hasPrefix("components:") { break } }
            }
            for route in app.routes.all {
                let path = "/" + route.path.map { component -> String in
                    if case .parameter(let name) = component { return "{\(name)}" }
                    return component.description
                }.joined(separator: "/")
                #expect(documented.contains("\(route.method.rawValue) \(path)"), "\(route.method.rawValue) \(path) is not in docs/openapi.yaml")
            }
        }
    }

    @Test func openAPIDocumentIsServed() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.GET, "/openapi.yaml", authorized: false)
            #expect(response.status == .ok)
            #expect(response.text.hasPrefix("openapi: 3.1"))
            for path in ["/api/teams/{team_id}/members/{member_id}/agents/{agent_id}", "/api/calls/{call_id}/complete",
                         "/api/routing/route", "/api/settings", "/api/agents/{agent_id}"] {
                #expect(response.text.contains("  \(path):"), "\(path) is documented")
            }
        }
    }
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test func productionRefusesMissingOrWeakSecrets() throws {
        let key = Data(repeating: 1, count: 32).base64EncodedString()
        #expect(throws: ConfigurationError.self) {
            try SwitchboardConfiguration.fromEnvironment(["SWITCHBOARD_ENV": "production", "SWITCHBOARD_ENCRYPTION_KEY": key])
        }
        do {
            _ = try SwitchboardConfiguration.fromEnvironment(["SWITCHBOARD_ENV": "production", "SWITCHBOARD_JWT_SECRET": "short", "SWITCHBOARD_ENCRYPTION_KEY": key])
            Issue.record("a short secret was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("SWITCHBOARD_JWT_SECRET"))
        }
        do {
            _ = try SwitchboardConfiguration.fromEnvironment([
                "SWITCHBOARD_ENV": "production", "SWITCHBOARD_JWT_SECRET": String(repeating: "s", count: 32),
                "SWITCHBOARD_ENCRYPTION_KEY": "dG9vIHNob3J0",
            ])
            Issue.record("a short key was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("SWITCHBOARD_ENCRYPTION_KEY"))
        }
        let config = try SwitchboardConfiguration.fromEnvironment([
            "SWITCHBOARD_ENV": "production", "SWITCHBOARD_JWT_SECRET": String(repeating: "s", count: 32),
            "SWITCHBOARD_ENCRYPTION_KEY": key, "DATABASE_URL": "postgres://u:p@localhost:5432/db",
            "SWITCHBOARD_CORS_ORIGINS": "https://a.example, https://b.example", "SWITCHBOARD_AGGREGATION_INTERVAL": "15",
        ])
        #expect(config.database == .postgres(url: "postgres://u:p@localhost:5432/db"))
        #expect(config.database.displayName.contains("***"))
        #expect(config.corsOrigins == ["https://a.example", "https://b.example"])
        #expect(config.aggregationIntervalSeconds == 15)
    }

    @Test func developmentGeneratesAndKeepsSecrets() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-config-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = ["SWITCHBOARD_SQLITE_PATH": directory.appendingPathComponent("db.sqlite").path]
        let first = try SwitchboardConfiguration.fromEnvironment(environment)
        let second = try SwitchboardConfiguration.fromEnvironment(environment)
        #expect(first.mode == .development)
        #expect(first.jwtSecret.count >= 32)
        #expect(first.encryptionKey.count == 32)
        #expect(first.jwtSecret == second.jwtSecret, "tokens survive restarts")
        #expect(first.encryptionKey == second.encryptionKey)
        let file = try #require(first.generatedSecretsFile)
        let permissions = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
    }

    @Test func badValuesNameTheirVariable() {
        for (name, value) in [("SWITCHBOARD_AGGREGATION_INTERVAL", "soon"), ("DATABASE_URL", "mysql://x"), ("SWITCHBOARD_ENV", "staging")] {
            do {
                _ = try SwitchboardConfiguration.fromEnvironment([name: value, "SWITCHBOARD_SQLITE_PATH": "/tmp/sb-\(UUID()).sqlite"])
                Issue.record("\(name)=\(value) was accepted")
            } catch {
                #expect("\(error)".contains(name))
            }
        }
    }
}

@Suite("Rate limiting")
struct RateLimitTests {
    @Test func bucketRefillsOverTime() {
        let limiter = RateLimiter(limit: RateLimit(requestsPerSecond: 2, burst: 3))
        let start = ContinuousClock.now
        for _ in 0..<3 { #expect(limiter.retryAfter(for: "a", now: start) == nil) }
        #expect(limiter.retryAfter(for: "a", now: start) == 1)
        #expect(limiter.retryAfter(for: "b", now: start) == nil, "tenants have their own buckets")
        #expect(limiter.retryAfter(for: "a", now: start + .milliseconds(600)) == nil, "0.6 s refills one token at 2/s")
        #expect(limiter.retryAfter(for: "a", now: start + .milliseconds(600)) == 1)
    }

    @Test func tenantsOverTheirLimitGet429WithRetryAfter() async throws {
        let config = SwitchboardConfiguration(
            mode: .development,
            database: .sqlite(path: FileManager.default.temporaryDirectory.appendingPathComponent("rl-\(UUID()).sqlite").path),
            jwtSecret: TestDatabase.jwtSecret, encryptionKey: TestDatabase.encryptionKey,
            rateLimit: RateLimit(requestsPerSecond: 0.05, burst: 3)
        )
        let app = try await Application.make(.testing)
        do {
            try await configure(app, config)
            try await app.autoMigrate()
            let busy = try await APIClient.make(app), calm = try await APIClient.make(app)
            for _ in 0..<3 { #expect(try await busy.send(.GET, "/api/teams").status == .ok) }
            let limited = try await busy.send(.GET, "/api/teams")
            #expect(limited.status == .tooManyRequests)
            // One token every 20 s: whatever time the first three took on a busy machine, the wait is whole seconds
            // and at most 20.
            let retryAfter = limited.headers.first(name: "Retry-After").flatMap(Int.init)
            #expect(retryAfter.map { (1...20).contains($0) } == true)
            #expect(limited.json["success"] == .bool(false))
            #expect(try await calm.send(.GET, "/api/teams").status == .ok)
        } catch {
            try await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }

    @Test func limitIsConfigurable() throws {
        #expect(try RateLimit.parse("50/100") == RateLimit(requestsPerSecond: 50, burst: 100))
        #expect(try RateLimit.parse("10") == RateLimit(requestsPerSecond: 10, burst: 20))
        #expect(try RateLimit.parse("off") == nil)
        #expect(throws: ConfigurationError.self) { try RateLimit.parse("fast") }
        #expect(try SwitchboardConfiguration.fromEnvironment(["SWITCHBOARD_RATE_LIMIT": "off",
            "SWITCHBOARD_JWT_SECRET": String(repeating: "x", count: 32),
            "SWITCHBOARD_ENCRYPTION_KEY": Data(repeating: 1, count: 32).base64EncodedString()]).rateLimit == nil)
    }
}

@Suite("Database failures")
struct DatabaseFailureTests {
    /// A broken database answers 503 with a generic message: no SQL, no driver text, no stack trace.
    @Test func databaseErrorsAre503WithoutDetails() async throws {
        try await withSwitchboard(isolated: true) { app in
            let client = try await APIClient.make(app)
            _ = try await client.createTeam()
            try await (app.db as! any SQLDatabase).raw("DROP TABLE team_agent_assignments").run()
            let response = try await client.send(.GET, "/api/teams")
            #expect(response.status == .serviceUnavailable)
            #expect(response.json == .object(["success": .bool(false), "error": .string("the database is unavailable; try again shortly")]))
            #expect(!response.text.lowercased().contains("table"))
            #expect(!response.text.lowercased().contains("select"))
        }
    }
}
