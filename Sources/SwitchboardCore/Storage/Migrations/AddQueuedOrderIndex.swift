import FluentKit
import SQLKit

/// The waiting calls of a tenant in the queue's default order (oldest first, then the smaller id), for the queue
/// hand-off. Without it SQLite read the queue through `idx_calls_client_created`, which holds the order but every
/// call the tenant ever had: each hand-off walked the tenant's whole history before its first waiting call.
struct AddQueuedOrderIndex: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("""
            CREATE INDEX idx_calls_queued_order ON calls (client_id, created_at, id) WHERE status = 'queued'
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("DROP INDEX idx_calls_queued_order").run()
    }
}
