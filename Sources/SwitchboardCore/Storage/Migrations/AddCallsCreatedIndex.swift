import FluentKit
import SQLKit

/// Exports page through a tenant's calls by (created_at, id) and the listing sorts by them. New calls land at the
/// end of their tenant's range and later changes never touch these columns, so the index costs a call little.
struct AddCallsCreatedIndex: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await (database as! any SQLDatabase).create(index: "idx_calls_client_created")
            .on(Call.schema).column("client_id").column("created_at").column("id").run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).drop(index: "idx_calls_client_created").run()
    }
}
