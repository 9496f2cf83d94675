import FluentKit
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLiteKit
import SQLKit
import VaporCSQLite

/// One SQLite connection that runs statements on the calling thread, for the call writer's group commit.
///
/// sqlite-nio hands every statement to a thread pool and every result row back to an event loop; a batch of
/// six statements cost some twenty thread wake-ups, which profiles showed as most of a call's CPU
/// (docs/PERFORMANCE.md). Here a whole transaction runs where the writer runs, with prepared statements kept.
/// It is the same SQLite library as sqlite-nio's (its bundled copy, through the same C module), so the file's
/// locks are shared correctly with the pool's connections, and it speaks SQLKit, so the writer's SQL is the
/// same on both databases. Used only under the process's write gate: one transaction at a time.
final class InlineSQLite: SQLDatabase, @unchecked Sendable {
    // @unchecked: the handle and the statement cache are touched only by the holder of the write gate.
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    let logger: Logger
    let eventLoop: any EventLoop
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }
    private let encoder = SQLiteDataEncoder()

    private static let statementCacheSize = 128
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(path: String, eventLoop: any EventLoop, logger: Logger) throws {
        self.logger = logger
        self.eventLoop = eventLoop
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK else {
            let message = handle.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "unknown error"
            sqlite_nio_sqlite3_close(handle)
            throw InlineSQLiteError(message: "cannot open \(path): \(message)")
        }
        sqlite_nio_sqlite3_busy_timeout(handle, 10_000)
        // The pool's connections' pragmas (DatabaseSelection), so commits behave the same whichever connection writes.
        // Checkpoints are not run here after commits (they would stall an event loop for milliseconds) but by
        // `WALCheckpointer` on sqlite-nio's thread pool; this connection checkpoints only as a backstop, should
        // the WAL pass 20,000 pages (80 MB). Its page cache is small on purpose: a commit after a page split
        // sweeps the cache's whole hash table (SQLite's pcache1TruncateUnsafe: 6 % of the server's time under calls
        // with 64 MB of cache, 0.5 % with 4 MB); the pages it then misses are read through the memory map.
        for pragma in ["journal_mode = WAL", "synchronous = NORMAL", "temp_store = MEMORY", "foreign_keys = ON",
                       "cache_size = -4096", "mmap_size = 268435456", "wal_autocheckpoint = 20000"] {
            try run("PRAGMA \(pragma)", [])
        }
    }

    deinit { close() }

    func close() {
        for statement in statements.values { sqlite_nio_sqlite3_finalize(statement) }
        statements = [:]
        if let handle { sqlite_nio_sqlite3_close_v2(handle) }
        handle = nil
    }

    /// BEGIN IMMEDIATE … COMMIT around `body`, or ROLLBACK if it throws.
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try run("BEGIN IMMEDIATE", [])
        do {
            let result = try await body(self)
            try run("COMMIT", [])
            return result
        } catch {
            try? run("ROLLBACK", [])
            throw error
        }
    }

    // MARK: SQLDatabase

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        eventLoop.makeCompletedFuture { try self.executeNow(query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        try executeNow(query, onRow)
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await closure(self)
    }

    private func executeNow(_ query: any SQLExpression, _ onRow: (any SQLRow) -> ()) throws {
        let (sql, binds) = serialize(query)
        try run(sql, try binds.map { try SQLiteColumnValue.encode($0) ?? encoder.encode($0) }, onRow)
    }

    // MARK: C API

    private func run(_ sql: String, _ binds: [SQLiteData], _ onRow: (any SQLRow) -> () = { _ in }) throws {
        guard let handle else { throw InlineSQLiteError(message: "the connection is closed") }
        let statement = try prepared(sql, on: handle)
        defer {
            sqlite_nio_sqlite3_reset(statement)
            sqlite_nio_sqlite3_clear_bindings(statement)
        }
        for (index, bind) in binds.enumerated() {
            let position = Int32(index + 1)
            let result: Int32
            switch bind {
            case .integer(let value): result = sqlite_nio_sqlite3_bind_int64(statement, position, Int64(value))
            case .float(let value): result = sqlite_nio_sqlite3_bind_double(statement, position, value)
            case .text(let value):
                result = sqlite_nio_sqlite3_bind_text64(statement, position, value, UInt64(value.utf8.count), Self.transient,
                                                        UInt8(SQLITE_UTF8))
            case .blob(let value):
                result = value.withUnsafeReadableBytes {
                    sqlite_nio_sqlite3_bind_blob64(statement, position, $0.baseAddress, UInt64($0.count), Self.transient)
                }
            case .null: result = sqlite_nio_sqlite3_bind_null(statement, position)
            }
            guard result == SQLITE_OK else { throw error(handle) }
        }
        var columns: [String]?
        while true {
            switch sqlite_nio_sqlite3_step(statement) {
            case SQLITE_ROW:
                let names = columns ?? (0..<sqlite_nio_sqlite3_column_count(statement)).map {
                    String(cString: sqlite_nio_sqlite3_column_name(statement, $0))
                }
                columns = names
                onRow(InlineSQLiteRow(columns: names, values: try (0..<Int32(names.count)).map { try value(statement, $0) }))
            case SQLITE_DONE:
                return
            default:
                throw error(handle)
            }
        }
    }

    private func prepared(_ sql: String, on handle: OpaquePointer) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        guard sqlite_nio_sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK,
              let statement
        else { throw error(handle) }
        if statements.count >= Self.statementCacheSize {
            for cached in statements.values { sqlite_nio_sqlite3_finalize(cached) }
            statements = [:]
        }
        statements[sql] = statement
        return statement
    }

    private func value(_ statement: OpaquePointer, _ column: Int32) throws -> SQLiteData {
        switch sqlite_nio_sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
        case SQLITE_FLOAT: return .float(sqlite_nio_sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            guard let text = sqlite_nio_sqlite3_column_text(statement, column) else { return .null }
            return .text(String(cString: text))
        case SQLITE_BLOB:
            let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            if let bytes = sqlite_nio_sqlite3_column_blob(statement, column) {
                buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: length))
            }
            return .blob(buffer)
        default: return .null
        }
    }

    private func error(_ handle: OpaquePointer) -> InlineSQLiteError {
        InlineSQLiteError(message: String(cString: sqlite_nio_sqlite3_errmsg(handle)),
                          code: sqlite_nio_sqlite3_extended_errcode(handle))
    }
}

struct InlineSQLiteError: Error, CustomStringConvertible, DatabaseError {
    let message: String
    var code: Int32 = 0

    var description: String { "SQLite: \(message)" }
    var isSyntaxError: Bool { false }
    var isConnectionClosed: Bool { false }
    /// SQLITE_CONSTRAINT and its extended codes.
    var isConstraintFailure: Bool { code & 0xFF == SQLITE_CONSTRAINT }
}

/// A result row of `InlineSQLite`, decoded as sqlite-kit decodes its own.
struct InlineSQLiteRow: SQLRow {
    let columns: [String]
    let values: [SQLiteData]

    var allColumns: [String] { columns }

    func contains(column: String) -> Bool { columns.contains(column) }

    func decodeNil(column: String) throws -> Bool {
        guard let index = columns.firstIndex(of: column) else { return true }
        return values[index] == .null
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let index = columns.firstIndex(of: column) else {
            throw DecodingError.keyNotFound(SQLColumnKey(column), .init(codingPath: [], debugDescription: "no column \(column)"))
        }
        return try decode(at: index, as: D.self)
    }

    /// The value of the column at `index`, read as `decode(column:as:)` reads it.
    func decode<D: Decodable>(at index: Int, as type: D.Type) throws -> D {
        let value = values[index]
        if let decoded = SQLiteColumnValue.decode(value, as: D.self) { return decoded }
        return try Self.decoder.decode(D.self, from: value)
    }

    /// One for every row: `SQLiteDataDecoder()` makes a `JSONDecoder` each time, for every column read.
    private static let decoder = SQLiteDataDecoder()
}

private struct SQLColumnKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
