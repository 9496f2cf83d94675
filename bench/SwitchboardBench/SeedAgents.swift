import FluentKit
import Foundation
import SQLKit
import Vapor
@testable import SwitchboardCore

/// Inserts N active agents in one sector for one tenant straight into the configured database (for the RSS
/// measurement), using the server's own configuration from the environment.
enum SeedAgents {
    static func run(count: Int, clientId: String) async throws {
        let config = try SwitchboardConfiguration.fromEnvironment()
        var env = Environment.production
        env.arguments = ["seed-agents"]
        let app = try await Application.make(env)
        app.logger.logLevel = .warning
        do {
            try await configure(app, config)
            try await app.autoMigrate()
            let capabilities = ["french", "spanish", "vip", "refunds", "german", "hardware"]
            for start in stride(from: 0, to: count, by: 10_000) {
                try await app.store().write { db in
                    let sql = db as! any SQLDatabase
                    for batch in stride(from: start, to: min(start + 10_000, count), by: 500) {
                        var insert = sql.insert(into: SectorAgent.schema).columns(
                            "id", "client_id", "name", "sector", "status", "priority", "capabilities", "max_concurrent",
                            "current_load", "success_rate", "avg_handling_time", "created_at", "updated_at")
                        for index in batch..<min(batch + 500, count) {
                            insert = insert.values([
                                SQLBind(UUID()), SQLBind(clientId), SQLBind("Agent \(index)"), SQLBind("billing"), SQLBind("active"),
                                SQLBind(index % 10 + 1), SQLBind([capabilities[index % 6], capabilities[(index / 6) % 6]]),
                                SQLBind(10), SQLBind(0), SQLBind(Double(index % 100) / 100), SQLBind(Double(60 + index % 400)),
                                SQLBind(Date()), SQLBind(Date()),
                            ])
                        }
                        try await insert.run()
                    }
                }
            }
            print("seeded \(count) agents for \(clientId)")
        } catch {
            try await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}
