import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import NIOCore
import SQLKit
import Vapor

/// SQLite (a file, created on first start) by default; PostgreSQL when DATABASE_URL is set.
enum DatabaseSelection {
    static func configure(_ app: Application, for choice: SwitchboardConfiguration.DatabaseChoice) async throws {
        switch choice {
        case .sqlite(let path):
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            app.databases.use(.sqlite(.file(path), connectionPoolTimeout: .seconds(30)), as: .sqlite)
            app.storeSettings.writeGate = WriteGate()
            try await tuneSQLiteConnections(app)
            app.storeSettings.inline = try InlineSQLite(path: path, eventLoop: app.eventLoopGroup.any(), logger: app.logger)
            app.lifecycle.use(InlineSQLiteLifecycle())
            app.backgroundServices.add(WALCheckpointer.service(on: app.db as! any SQLDatabase, logger: app.logger),
                                       named: "WAL checkpoint")
        case .postgres(let url):
            var configuration = try SQLPostgresConfiguration(url: url)
            configuration.searchPath = nil
            app.databases.use(
                .postgres(configuration: configuration, maxConnectionsPerEventLoop: 8, connectionPoolTimeout: .seconds(30)),
                as: .psql
            )
        }
    }

    /// WAL lets readers run beside the writer; NORMAL sync is durable across process crashes (not power loss)
    /// and avoids an fsync per commit. A 64 MiB page cache, memory-mapped reads and in-memory temporary
    /// B-trees keep roll-ups over large call tables off the disk. These settings are per connection, and the
    /// SQLite pool keeps one connection per event loop, so they are set through each loop's connection.
    private static func tuneSQLiteConnections(_ app: Application) async throws {
        for eventLoop in app.eventLoopGroup.makeIterator() {
            let db = app.databases.database(logger: app.logger, on: eventLoop)! as! any SQLDatabase
            for pragma in ["journal_mode = WAL", "synchronous = NORMAL", "cache_size = -65536",
                           "mmap_size = 268435456", "temp_store = MEMORY"] {
                try await db.raw("PRAGMA \(unsafeRaw: pragma)").run()
            }
        }
    }
}

/// Closes the call writer's connection with the application.
struct InlineSQLiteLifecycle: LifecycleHandler {
    func shutdownAsync(_ application: Application) async {
        if let gate = application.writeGate, let inline = application.inlineSQLite {
            // Not while a batch is being written.
            _ = try? await gate.serialize { inline.close() }
        }
    }
}

/// Copies the WAL back into the database file from sqlite-nio's thread pool, five times a second, so the call writer
/// (which runs inline on an event loop) never pays for a checkpoint after its commit: 25 % more calls a second and
/// a steadier p99 in `bench/run-load.sh` (docs/PERFORMANCE.md). PASSIVE: it never waits for or blocks the writer or
/// readers; SQLite restarts the WAL from its beginning once a checkpoint has caught up.
enum WALCheckpointer {
    static let interval = Duration.milliseconds(200)

    static func service(on sql: any SQLDatabase, logger: Logger) -> PeriodicService {
        PeriodicService(interval: interval, logger: logger,
                        failure: "WAL checkpoint failed; the writer's connection checkpoints as a backstop") {
            try await sql.raw("PRAGMA wal_checkpoint(PASSIVE)").run()
        }
    }
}
