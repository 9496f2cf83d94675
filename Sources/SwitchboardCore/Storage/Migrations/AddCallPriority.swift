import FluentKit
import SQLKit

/// Call priority (1–10, default 5): the queue hands out the highest effective priority first (see `QueueOrder`).
/// NULL reads as the default: Fluent writes NULL for a model whose optional field was left unset (the demo's and
/// tests' hand-built calls), and a NOT NULL column would refuse them. `idx_calls_queued_priority` answers "does this tenant have a waiting call of another priority than the
/// default" from the few such rows, so a queue of default calls keeps its index order.
struct AddCallPriority: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Call.schema).field("priority", .int, .sql(.default(5))).update()
        try await (database as! any SQLDatabase).raw("""
            CREATE INDEX idx_calls_queued_priority ON calls (client_id) WHERE status = 'queued' AND priority <> 5
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("DROP INDEX idx_calls_queued_priority").run()
        try await database.schema(Call.schema).deleteField("priority").update()
    }
}
