import FluentKit
import NIOConcurrencyHelpers
import FluentSQL
import PostgresNIO
import SQLKit
import Vapor

/// The database as the services see it: reads anywhere, writes through `write`, which runs one
/// transaction and, on SQLite, takes the process-wide write gate first.
///
/// Why the gate: SQLite allows one writer; two pooled connections that both open deferred transactions
/// can deadlock on lock upgrade (SQLITE_BUSY at once, which no busy handler can fix). Serialising writers
/// in-process avoids that, and with WAL readers are never blocked.
struct Store: Sendable {
    let db: any Database
    let writeGate: WriteGate?
    /// SQLite only: the call writer's own connection (see `InlineSQLite`).
    var inline: InlineSQLite? = nil
    /// PostgreSQL: how long a statement's commit may take to be confirmed (`committingOnOneConnection`). The
    /// confirmation is a `SELECT 1` behind the statement on the same connection; it takes milliseconds, even under
    /// load, unless the database is gone.
    var commitConfirmationTimeout: TimeAmount

    var sql: any SQLDatabase { db as! any SQLDatabase }
    var isPostgres: Bool { writeGate == nil }

    func write<T: Sendable>(_ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        guard let writeGate else { return try await retryingConflicts { try await db.transaction(body) } }
        return try await writeGate.serialize { try await db.transaction(body) }
    }

    /// A transaction for the call writer, spoken in SQLKit: on SQLite on the inline connection under the write
    /// gate (no thread hand-offs), on PostgreSQL through the pool like `write`.
    func writeSQL<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        guard let writeGate, let inline else { return try await write { db in try await body(db as! any SQLDatabase) } }
        return try await writeGate.serialize { try await inline.transaction(body) }
    }

    /// PostgreSQL, for statements that commit on their own (no BEGIN): runs `body` on one connection of the pool
    /// and returns its result, then tells `committed` once that connection has finished everything `body` sent.
    /// PostgresNIO hands back a statement's rows when PostgreSQL reports the command complete, which is before the
    /// statement's implicit transaction commits (on the protocol's Sync); a request answered at that moment could
    /// be followed by a read, on another connection, that does not see the change yet (seen as a queued call
    /// skipped under load). A second query on the same connection is sent only after the first has finished, its
    /// commit included: its answer is the commit's confirmation (or its error), while the caller goes on.
    func committingOnOneConnection<T: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> T,
        committed: @escaping @Sendable ((any Error)?) -> Void
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (written: CheckedContinuation<T, any Error>) in
            db.withConnection { connection in
                connection.eventLoop.makeFutureWithTask {
                    let sql = connection as! any SQLDatabase
                    let result: T
                    do {
                        result = try await body(sql)
                    } catch {
                        written.resume(throwing: error)
                        return
                    }
                    written.resume(returning: result)
                    // When PostgreSQL is stopped at that very moment, the confirmation has been seen never to come
                    // back (nor fail): the answer is then that the change is unconfirmed, rather than a writer
                    // waiting for ever on it.
                    let outcome = CommitOutcome(committed)
                    let timer = connection.eventLoop.scheduleTask(in: commitConfirmationTimeout) {
                        outcome.report(AppError(.serviceUnavailable, """
                            the database did not confirm this change in time; it may or may not have been saved \
                            (retry with the same Idempotency-Key to find out)
                            """))
                    }
                    do {
                        _ = try await sql.raw("SELECT 1").all()
                        outcome.report(nil)
                    } catch {
                        outcome.report(error)
                    }
                    timer.cancel()
                }
            }.whenFailure { error in
                // No connection could be had: `body` never ran.
                written.resume(throwing: error)
            }
        }
    }

    /// PostgreSQL aborts one of two transactions that wait on each other's rows (a deadlock, 40P01) or that
    /// cannot be serialised (40001); the transaction rolled back completely, so running it again is safe.
    private func retryingConflicts<T>(_ attempt: () async throws -> T) async throws -> T {
        for retry in 1...Self.conflictRetries {
            do {
                return try await attempt()
            } catch let error as PSQLError where ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "") {
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(10 * retry))))
            }
        }
        return try await attempt()
    }

    private static let conflictRetries = 3
}

/// A commit's confirmation, reported once: by the confirming query or by the timeout, whichever comes first.
private final class CommitOutcome: Sendable {
    private let reported = NIOLockedValueBox(false)
    private let committed: @Sendable ((any Error)?) -> Void

    init(_ committed: @escaping @Sendable ((any Error)?) -> Void) { self.committed = committed }

    func report(_ error: (any Error)?) {
        let first = reported.withLockedValue { reported in
            defer { reported = true }
            return !reported
        }
        if first { committed(error) }
    }
}

/// An async mutex (FIFO) for SQLite writers.
actor WriteGate {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func serialize<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        do {
            let result = try await body()
            release()
            return result
        } catch {
            release()
            throw error
        }
    }

    private func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            held = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}

extension Request {
    var store: Store { application.store(on: db) }
}

extension Application {
    /// What every store of this application shares, under one storage key: a store is made for every request.
    struct StoreSettings: Sendable {
        /// SQLite only: the process-wide write gate and the call writer's own connection.
        var writeGate: WriteGate?
        var inline: InlineSQLite?
        /// The configuration's `commitConfirmationTimeout`.
        var commitConfirmationTimeout: TimeAmount
    }

    private struct StoreSettingsKey: StorageKey { typealias Value = StoreSettings }

    /// Set by `configure` before the database is chosen.
    var storeSettings: StoreSettings {
        get { storage[StoreSettingsKey.self]! }
        set { storage[StoreSettingsKey.self] = newValue }
    }

    /// Present when the database is SQLite.
    var writeGate: WriteGate? { storeSettings.writeGate }

    /// Present when the database is SQLite.
    var inlineSQLite: InlineSQLite? { storeSettings.inline }

    func store(on db: (any Database)? = nil) -> Store {
        let settings = storeSettings
        return Store(db: db ?? self.db, writeGate: settings.writeGate, inline: settings.inline,
                     commitConfirmationTimeout: settings.commitConfirmationTimeout)
    }
}

extension SQLRow {
    func decode<T: Decodable>(_ column: String) throws -> T {
        try decode(column: column, as: T.self)
    }
}
