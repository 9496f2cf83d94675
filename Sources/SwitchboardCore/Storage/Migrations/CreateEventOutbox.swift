import FluentKit
import SQLKit

/// The outbox's two tables. `position` orders the whole table (for pruning); `(client_id, sequence)` is what
/// readers use.
struct CreateEventOutbox: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        let postgres = sql.dialect.name == "postgresql"
        try await sql.raw("""
            CREATE TABLE events (
                position \(unsafeRaw: postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY"),
                client_id TEXT NOT NULL,
                sequence BIGINT NOT NULL,
                id \(unsafeRaw: postgres ? "UUID" : "BLOB") NOT NULL,
                type TEXT NOT NULL,
                occurred_at \(unsafeRaw: postgres ? "TIMESTAMPTZ" : "REAL") NOT NULL,
                data TEXT NOT NULL)
            """).run()
        try await sql.raw("CREATE UNIQUE INDEX uq_events_client_sequence ON events (client_id, sequence)").run()
        try await sql.raw("""
            CREATE TABLE event_sequences (client_id TEXT PRIMARY KEY, last_sequence BIGINT NOT NULL)
            """).run()
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw("DROP TABLE event_sequences").run()
        try await sql.raw("DROP TABLE events").run()
    }
}
