import FluentKit
import SQLKit

/// The waiting calls of a tenant's sector, for the place of each call that queues (`CallWriter.queuedPlace`): a
/// count over this small partial index reads only waiting calls, never the table.
struct AddQueuedSectorIndex: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("""
            CREATE INDEX idx_calls_queued_sector ON calls (client_id, sector, created_at) WHERE status = 'queued'
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("DROP INDEX idx_calls_queued_sector").run()
    }
}
