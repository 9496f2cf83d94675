import ConsoleKit
import Foundation
import PostgresNIO
import SQLKit
import Vapor

extension Application {
    /// What `switchboard serve` does before Vapor's own serve command listens: migrate, reconcile
    /// loads, end the offers and wrap-ups that came due while no process ran, and print the URL, the database and
    /// (in development) a ready admin token.
    public func prepareToServe(arguments: [String]) async throws {
        try await prepareDatabase()
        await endWhatCameDueWhileDown()
        await aggregator.willStart()
        backgroundServices.add(aggregator.service, named: "performance aggregator")
        backgroundServices.add(queueSweeper.service, named: "queue sweeper")
        backgroundServices.add(wrapUpTimer.service, named: "wrap-up timer")
        backgroundServices.add(offerTimer.service, named: "offer timer")
        backgroundServices.add(webhookDeliverer, named: "webhook deliverer")
        func option(_ name: String) -> String? {
            guard let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count else { return nil }
            return arguments[index + 1]
        }
        let host = option("hostname") ?? http.server.configuration.hostname
        let port = option("port") ?? String(http.server.configuration.port)
        let url = "http://\(host):\(port)"
        let config = switchboardConfiguration
        var lines = [
            "Switchboard \(SystemController.version) (\(config.mode.rawValue) mode)",
            "  URL:       \(url)",
            "  Database:  \(config.database.displayName)",
        ]
        if config.mode == .development {
            let lifetime = min(86_400, config.maxTokenLifetimeSeconds)
            let token = try await TokenIssuer.issue(on: self, clientId: "demo", role: .admin, subject: "dev-admin",
                                                    ttlSeconds: lifetime)
            if let file = config.generatedSecretsFile {
                lines.append("  Secrets:   generated for development, kept in \(file)")
                lines.append("             (set SWITCHBOARD_JWT_SECRET and SWITCHBOARD_ENCRYPTION_KEY for production)")
            }
            lines.append("  Admin token for tenant 'demo' (valid \(lifetime / 3600 > 0 ? "\(lifetime / 3600) h" : "\(lifetime / 60) min")):")
            lines.append("    \(token)")
            lines.append("  Dashboard: \(url)/#token=\(token)")
        }
        if let publicURL = config.publicURL {
            lines.append("  Public:    \(publicURL) (Twilio webhooks are signed over it)")
        } else {
            let twilio = try await store().sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "count")
                .from(ChannelRecord.schema).where("status", .equal, ActiveStatus.active.rawValue)
                .where(SQLFunction("LOWER", args: SQLIdentifier("config")), .like, SQLBind(#"%"provider":"twilio"%"#))
                .first()?.decode(column: "count", as: Int.self) ?? 0
            if twilio > 0 {
                lines.append("  Warning:   \(twilio) active Twilio channel(s), but SWITCHBOARD_PUBLIC_URL is unset: their webhooks "
                    + "answer 404 until it is set to the address Twilio reaches this service at")
            }
        }
        print(lines.joined(separator: "\n"))
    }
}

/// `switchboard migrate`: runs pending migrations without asking, then exits.
struct MigrateOnlyCommand: AsyncCommand {
    struct Signature: CommandSignature {}
    var help: String { "Runs pending database migrations." }

    func run(using context: CommandContext, signature: Signature) async throws {
        try await context.application.prepareDatabase()
        context.console.print("Database is up to date (\(context.application.switchboardConfiguration.database.displayName)).")
    }
}

/// `switchboard token --client-id ID --role admin|manager|viewer|agent [--agent-id ID] [--ttl SECONDS] [--sub ID]`.
struct TokenCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "client-id", help: "The tenant (1 to 64 of A-Z a-z 0-9 . _ - : @).")
        var clientId: String?
        @Option(name: "role", help: "admin, manager, viewer or agent (with --agent-id).")
        var role: String?
        @Option(name: "agent-id", help: "With --role agent: the agent the token acts as (an agent of the tenant).")
        var agentId: String?
        @Option(name: "ttl", help: "Lifetime in seconds (default and most: SWITCHBOARD_MAX_TOKEN_LIFETIME, 86400).")
        var ttl: Int?
        @Option(name: "sub", help: "The user id recorded in audit logs (default cli).")
        var sub: String?
    }

    var help: String { "Prints a signed bearer token for the configured secret." }

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let clientId = signature.clientId, TenantClaims.isValidClientId(clientId) else {
            throw ConfigurationError("--client-id is required (1 to 64 of A-Z a-z 0-9 . _ - : @)")
        }
        let subject = signature.sub ?? "cli"
        guard TenantClaims.isValidSubject(subject) else {
            throw ConfigurationError("--sub must be 1 to 128 of A-Z a-z 0-9 . _ - : @ + |")
        }
        guard let rawRole = signature.role, let role = Role(rawValue: rawRole) else {
            throw ConfigurationError("--role must be admin, manager, viewer or agent")
        }
        let agentId = signature.agentId.flatMap(UUID.init(text:))
        guard (role == .agent) == (signature.agentId != nil), signature.agentId == nil || agentId != nil else {
            throw ConfigurationError("--agent-id ID (an agent's UUID) goes with --role agent, and only with it")
        }
        let maxLifetime = context.application.switchboardConfiguration.maxTokenLifetimeSeconds
        let ttl = signature.ttl ?? maxLifetime
        guard (1...maxLifetime).contains(ttl) else {
            throw ConfigurationError("--ttl must be 1 to \(maxLifetime) seconds (the server refuses longer-lived tokens; see SWITCHBOARD_MAX_TOKEN_LIFETIME)")
        }
        let token = try await TokenIssuer.issue(
            on: context.application, clientId: clientId, role: role, subject: subject, ttlSeconds: ttl, agentId: agentId)
        context.console.print(token)
    }
}

/// `switchboard backup --to FILE`: an online copy of the SQLite database (see `SQLiteBackup`).
struct BackupCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "to", help: "The backup file to write (it must not exist yet).")
        var to: String?
    }

    var help: String { "Copies the SQLite database while the server runs, and checks the copy by opening it." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        guard case .sqlite(let source) = app.switchboardConfiguration.database else {
            throw ConfigurationError(
                "backup copies an SQLite database; this server uses PostgreSQL: back it up with pg_dump, "
                    + "for example pg_dump --format=custom --file=switchboard.dump \"$DATABASE_URL\"")
        }
        guard let destination = signature.to, !destination.isEmpty else { throw ConfigurationError("--to FILE is required") }
        guard FileManager.default.fileExists(atPath: source) else {
            throw ConfigurationError("there is no database at \(source) (set SWITCHBOARD_SQLITE_PATH to the server's)")
        }
        let started = ContinuousClock.now
        let summary = try await SQLiteBackup.copy(app.store().db as! any SQLDatabase, to: destination,
                                                  eventLoop: app.eventLoopGroup.any(), logger: app.logger)
        let elapsed = ContinuousClock.now - started
        let rows = summary.rowCounts.map { "\($0.rows) \($0.table)" }.joined(separator: ", ")
        context.console.print("Backed up \(source) to \(destination): \(rows); "
            + String(format: "%.1f MB in %.2f s; the copy passed SQLite's integrity check.",
                     Double(summary.bytes) / 1_048_576,
                     Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
    }
}

/// `switchboard rotate-encryption-key --old BASE64 --new BASE64`.
struct RotateEncryptionKeyCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "old", help: "The current key (base64 of 32 bytes).")
        var old: String?
        @Option(name: "new", help: "The new key (base64 of 32 bytes).")
        var new: String?
    }

    var help: String { "Re-encrypts every channel's credentials under a new key, all or nothing." }

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let oldText = signature.old, let newText = signature.new else {
            throw ConfigurationError("both --old and --new are required")
        }
        let old = try SwitchboardConfiguration.parseEncryptionKey(oldText, variable: "--old")
        let new = try SwitchboardConfiguration.parseEncryptionKey(newText, variable: "--new")
        let app = context.application
        try await app.prepareDatabase()
        let count = try await EncryptionKeyRotation.rotate(in: app.store(), from: old, to: new)
        context.console.print("Re-encrypted \(count) sealed value(s) (channel credentials, webhook secrets). Restart the server with SWITCHBOARD_ENCRYPTION_KEY set to the new key.")
    }
}

/// What went wrong at start-up, in one line for the operator: no driver dump, no stack.
public func describeFailure(_ error: any Error, config: SwitchboardConfiguration) -> String {
    if let error = error as? PSQLError {
        switch error.code {
        case .connectionError, .serverClosedConnection, .uncleanShutdown:
            let cause = error.underlying.map { " (\($0))" } ?? ""
            return "cannot connect to \(config.database.displayName)\(cause); check DATABASE_URL and that the server is up"
        default:
            return "the database refused: \(error.serverInfo?[.message] ?? "\(error.code)")"
        }
    }
    if let error = error as? any DebuggableError { return error.reason }
    return "\(error)"
}
