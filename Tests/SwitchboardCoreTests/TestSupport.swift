import FluentKit
import FluentPostgresDriver
import SQLKit
import Foundation
import JWT
import NIOConcurrencyHelpers
import NIOCore
import Testing
import VaporTesting
@testable import SwitchboardCore

/// The database every test runs on: a fresh SQLite file per test, or the PostgreSQL named by
/// SWITCHBOARD_TEST_DATABASE_URL (shared; tests stay apart by using their own random tenants).
enum TestDatabase {
    static var postgresURL: String? {
        ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var isPostgres: Bool { postgresURL != nil }

    static let jwtSecret = "test-secret-that-is-long-enough-for-hs256-0123456789"
    static let encryptionKey = [UInt8](repeating: 7, count: 32)
}

/// PostgreSQL is shared by concurrently running tests, so it is migrated once per process.
actor MigrationOnce {
    static let shared = MigrationOnce()
    private var migration: Task<Void, any Error>?

    /// The first caller's app migrates; everyone (including callers that arrive while it runs) awaits that.
    func run(_ app: Application) async throws {
        if migration == nil {
            migration = Task { try await app.autoMigrate() }
        }
        try await migration!.value
    }
}

/// Builds the real application on a test database, runs `body`, and always shuts down.
/// `isolated` gives the test a PostgreSQL database of its own, for tests of operations that span every
/// tenant (key rotation) and would disturb tests running beside them.
func withSwitchboard(
    sqlitePath: String? = nil,
    isolated: Bool = false,
    configuring adjust: (inout SwitchboardConfiguration) -> Void = { _ in },
    _ body: (Application) async throws -> Void
) async throws {
    let temporaryFile = sqlitePath ?? FileManager.default.temporaryDirectory
        .appendingPathComponent("switchboard-test-\(UUID().uuidString).sqlite").path
    var isolatedDatabase: String? = nil
    var database: SwitchboardConfiguration.DatabaseChoice = .sqlite(path: temporaryFile)
    if let url = TestDatabase.postgresURL {
        database = .postgres(url: url)
        if isolated {
            let name = "sb_isolated_\(UUID().uuidString.prefix(8).lowercased())"
            try await PostgresAdmin.run("CREATE DATABASE \(name)", on: url)
            isolatedDatabase = name
            database = .postgres(url: PostgresAdmin.url(url, database: name))
        }
    }
    var config = SwitchboardConfiguration(
        mode: .development, database: database, jwtSecret: TestDatabase.jwtSecret,
        encryptionKey: TestDatabase.encryptionKey
    )
    // The suite runs dozens of servers' worth of tests at once on a shared PostgreSQL; a commit's confirmation can
    // take seconds there, which in production would mean the database is gone (the outage test checks the
    // production value with the real binary).
    config.commitConfirmationTimeout = .seconds(20)
    adjust(&config)
    let app = try await Application.make(.testing)
    app.logger.logLevel = .warning
    func cleanUp() async throws {
        try await app.asyncShutdown()
        removeSQLiteFiles(temporaryFile, keep: sqlitePath != nil)
        if let isolatedDatabase, let url = TestDatabase.postgresURL {
            try await PostgresAdmin.run("DROP DATABASE IF EXISTS \(isolatedDatabase)", on: url)
        }
    }
    do {
        try await configure(app, config)
        if TestDatabase.isPostgres && !isolated {
            try await MigrationOnce.shared.run(app)
        } else {
            try await app.autoMigrate()
        }
        // Booted as `serve` boots it: the background services (event poll, denial log, WAL checkpoint, cluster
        // notifications) run; the serve-only ones (aggregator, sweeper, deliverer) are driven by the tests.
        try await app.asyncBoot()
        try await body(app)
    } catch {
        try await cleanUp()
        throw error
    }
    try await cleanUp()
}

/// Statements outside any test database (creating and dropping isolated ones).
enum PostgresAdmin {
    static func run(_ statement: String, on url: String) async throws {
        let app = try await Application.make(.testing)
        app.logger.logLevel = .error
        do {
            app.databases.use(try .postgres(url: url), as: .psql)
            try await (app.db as! any SQLDatabase).raw("\(unsafeRaw: statement)").run()
        } catch {
            try await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }

    static func url(_ url: String, database: String) -> String {
        var components = URLComponents(string: url)!
        components.path = "/" + database
        return components.string!
    }
}

private func removeSQLiteFiles(_ path: String, keep: Bool) {
    guard !keep else { return }
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

func uniqueTenant(_ label: String = "t") -> String {
    "\(label)-\(UUID().uuidString.prefix(13))"
}

/// A caller with a token for one tenant and role.
struct APIClient: Sendable {
    let app: Application
    let clientId: String
    let role: Role
    let token: String

    static func make(_ app: Application, clientId: String = uniqueTenant(), role: Role = .admin, subject: String = "tester") async throws -> APIClient {
        let token = try await TokenIssuer.issue(on: app, clientId: clientId, role: role, subject: subject)
        return APIClient(app: app, clientId: clientId, role: role, token: token)
    }

    func `as`(_ role: Role) async throws -> APIClient {
        try await APIClient.make(app, clientId: clientId, role: role)
    }

    @discardableResult
    func send(
        _ method: HTTPMethod, _ path: String, json: String? = nil, headers extra: [(String, String)] = [],
        body text: String? = nil, authorized: Bool = true
    ) async throws -> APIResponse {
        var headers = HTTPHeaders()
        if authorized { headers.bearerAuthorization = BearerAuthorization(token: token) }
        var body: ByteBuffer? = text.map { ByteBuffer(string: $0) }
        if let json {
            headers.contentType = .json
            body = ByteBuffer(string: json)
        }
        for (name, value) in extra { headers.replaceOrAdd(name: name, value: value) }
        let response = try await app.testing().sendRequest(method, path, headers: headers, body: body)
        return APIResponse(status: response.status, headers: response.headers, text: response.body.string)
    }
}

struct APIResponse: Sendable {
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    let text: String

    var json: JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null
    }

    var data: JSONValue { json["data"] }
    var error: String? { json["error"].stringValue }
    var isSuccessEnvelope: Bool { json["success"] == .bool(true) }
}

extension JSONValue {
    subscript(key: String) -> JSONValue {
        objectValue?[key] ?? .null
    }

    subscript(index: Int) -> JSONValue {
        guard let array = arrayValue, array.indices.contains(index) else { return .null }
        return array[index]
    }

    var uuid: UUID? { stringValue.flatMap(UUID.init(uuidString:)) }
    /// An ISO 8601 time, with or without fractions of a second.
    var date: Date? {
        guard let text = stringValue else { return nil }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
    var count: Int { arrayValue?.count ?? objectValue?.count ?? 0 }
    var boolValue: Bool? { if case .bool(let value) = self { value } else { nil } }
}

/// Builders for the data most tests need.
extension APIClient {
    func createTeam(_ name: String = "Team \(UUID().uuidString.prefix(6))", sector: String = "billing") async throws -> UUID {
        let response = try await send(.POST, "/api/teams", json: #"{"name":"\#(name)","sector":"\#(sector)"}"#)
        try #require(response.status == .created, "create team: \(response.text)")
        return try #require(response.data["id"].uuid)
    }

    func createAgent(
        _ name: String = "Agent", sector: String = "billing", priority: Int = 5, maxConcurrent: Int = 10,
        successRate: Double = 0.5, avgHandlingTime: Double = 180, capabilities: [String] = [], status: String = "active"
    ) async throws -> UUID {
        let caps = capabilities.map { "\"\($0)\"" }.joined(separator: ",")
        let response = try await send(.POST, "/api/agents", json: """
            {"name":"\(name)","sector":"\(sector)","priority":\(priority),"max_concurrent":\(maxConcurrent),
             "success_rate":\(successRate),"avg_handling_time":\(avgHandlingTime),"capabilities":[\(caps)],"status":"\(status)"}
            """)
        try #require(response.status == .created, "create agent: \(response.text)")
        return try #require(response.data["id"].uuid)
    }

    func addMember(to teamId: UUID, email: String = "m\(UUID().uuidString.prefix(6))@example.com", role: String = "member") async throws -> UUID {
        let response = try await send(.POST, "/api/teams/\(teamId)/members", json: #"{"email":"\#(email)","name":"Member","role":"\#(role)"}"#)
        try #require(response.status == .created || response.status == .ok, "add member: \(response.text)")
        return try #require(response.data["id"].uuid)
    }

    func assign(_ agentIds: [UUID], to memberId: UUID, in teamId: UUID) async throws {
        let ids = agentIds.map { "\"\($0)\"" }.joined(separator: ",")
        let response = try await send(.POST, "/api/teams/\(teamId)/members/\(memberId)/agents", json: #"{"agent_ids":[\#(ids)]}"#)
        try #require(response.status == .ok, "assign: \(response.text)")
    }

    func agent(_ id: UUID) async throws -> JSONValue {
        try await send(.GET, "/api/agents/\(id)").data
    }

    func createCall(_ json: String, idempotencyKey: String? = nil) async throws -> APIResponse {
        try await send(.POST, "/api/calls", json: json, headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
    }

    func complete(_ callId: UUID, outcome: String = "successful", resolved: Bool = true, satisfaction: Int? = 5, seconds: Double = 120) async throws -> APIResponse {
        let rating = satisfaction.map { ",\"satisfaction\":\($0)" } ?? ""
        return try await send(.POST, "/api/calls/\(callId)/complete",
                              json: #"{"outcome":"\#(outcome)","resolved":\#(resolved),"handling_time_seconds":\#(seconds)\#(rating)}"#)
    }
}

extension Application {
    /// Starts the service's own server on a port the kernel picks, and returns it. (A port found free beforehand
    /// may be taken, by another test's outgoing connection, before the server binds it.)
    func listenOnAnyPort() async throws -> Int {
        try await server.start(address: .hostname("127.0.0.1", port: 0))
        return try #require(switchboardServer.localAddress?.port)
    }
}

/// A TCP port nobody listens on right now, for a receiver of our own or a port meant to refuse connections.
func freePort() throws -> Int {
    let socket = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).wait()
    defer { try? socket.close().wait() }
    return try #require(socket.localAddress?.port)
}

/// Tries `attempt` until it gives a value or `seconds` pass, pausing `pause` between tries: the one way tests wait
/// for what a loaded machine may take a while to do. Nil if it never did. The default window is long because only a
/// failing test waits it out, and while every suite starts at once the test process may run nothing else for 10 s.
func eventually<T>(within seconds: Double = 30, every pause: Duration = .milliseconds(20),
                   _ attempt: () async throws -> T?) async throws -> T? {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1_000))
    while true {
        if let value = try await attempt() { return value }
        guard ContinuousClock.now < deadline else { return nil }
        try await Task.sleep(for: pause)
    }
}

/// Whether `condition` came to hold within `seconds` (see `eventually`).
func holdsEventually(within seconds: Double = 30, every pause: Duration = .milliseconds(20),
                     _ condition: () async throws -> Bool) async throws -> Bool {
    try await eventually(within: seconds, every: pause) { try await condition() ? true : nil } ?? false
}

/// What `body` returned or threw, so that clean-up after it always runs before the test looks at the outcome.
func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// A database that counts the statements run through it, for tests of how many a read takes.
final class StatementCounter: SQLDatabase {
    private let base: any SQLDatabase
    private let count = NIOLockedValueBox(0)
    var statements: Int { count.withLockedValue { $0 } }

    init(_ base: any SQLDatabase) { self.base = base }

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        count.withLockedValue { $0 += 1 }
        return base.execute(sql: query, onRow)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        count.withLockedValue { $0 += 1 }
        try await base.execute(sql: query, onRow)
    }
}

/// The database's plan of each statement, as one string each: SQLite's `EXPLAIN QUERY PLAN` details or PostgreSQL's
/// `EXPLAIN` lines. PostgreSQL is asked with sequential scans off, as its planner reads a test's small tables whole.
func queryPlans(_ app: Application, of statements: @escaping @Sendable (any SQLDatabase) -> [any SQLExpression])
    async throws -> [String] {
    let postgres = app.store().isPostgres
    return try await app.db.transaction { db in
        let sql = db as! any SQLDatabase
        if postgres { try await sql.raw("SET LOCAL enable_seqscan = off").run() }
        var plans: [String] = []
        for statement in statements(sql) {
            plans.append(try await sql.raw("\(unsafeRaw: postgres ? "EXPLAIN" : "EXPLAIN QUERY PLAN") \(statement)").all()
                .map { try $0.decode(column: postgres ? "QUERY PLAN" : "detail", as: String.self) }.joined(separator: "\n"))
        }
        return plans
    }
}
