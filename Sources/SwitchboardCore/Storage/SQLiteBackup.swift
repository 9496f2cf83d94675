import Foundation
import Logging
import NIOCore
import SQLKit

/// `switchboard backup`: a consistent copy of a live SQLite database, written beside its destination, checked by
/// opening it, and only then moved into place, so a FILE that exists is always a whole, readable backup.
///
/// `VACUUM INTO` reads the database in one read transaction: the copy holds exactly what was committed when it
/// began (every call acknowledged before then), while the server keeps writing through the WAL.
enum SQLiteBackup {
    struct Summary: Sendable {
        let bytes: Int
        let rowCounts: [(table: String, rows: Int)]
    }

    static let countedTables = ["teams", "sector_agents", "team_members", "calls", "routing_decisions"]

    static func copy(_ database: any SQLDatabase, to destination: String, eventLoop: any EventLoop,
                     logger: Logger) async throws -> Summary {
        let target = URL(fileURLWithPath: destination).standardizedFileURL.path
        guard !FileManager.default.fileExists(atPath: target) else {
            throw ConfigurationError("\(target) already exists; choose a new file (a backup never overwrites one)")
        }
        let partial = target + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        do {
            try await database.raw("VACUUM INTO \(bind: partial)").run()
            let summary = try await verify(partial, eventLoop: eventLoop, logger: logger)
            try FileManager.default.moveItem(atPath: partial, toPath: target)
            return summary
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    /// Opens the copy as a database of its own: SQLite's integrity check, then the row counts the operator sees.
    private static func verify(_ path: String, eventLoop: any EventLoop, logger: Logger) async throws -> Summary {
        let copy = try InlineSQLite(path: path, eventLoop: eventLoop, logger: logger)
        defer { copy.close() }
        let check = try await copy.raw("PRAGMA integrity_check").all()
        let verdict = try check.first?.decode(column: "integrity_check", as: String.self)
        guard verdict == "ok" else {
            throw ConfigurationError("the copy failed SQLite's integrity check (\(verdict ?? "no answer")); it was removed")
        }
        var counts: [(table: String, rows: Int)] = []
        for table in countedTables {
            let rows = try await copy.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first()?.decode(column: "n", as: Int.self) ?? 0
            counts.append((table, rows))
        }
        let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return Summary(bytes: bytes, rowCounts: counts)
    }
}
