import FluentKit
import SQLKit

/// The completed calls no aggregation has counted yet, per tenant and agent: the learning router adds their
/// outcomes to the daily rows' when it loads a tenant's book (issue 25, §4). The aggregator keeps this small: it
/// marks calls counted every run.
struct AddUncountedIndex: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("""
            CREATE INDEX idx_calls_uncounted ON calls (client_id, agent_id) WHERE \(unsafeRaw: BookCatalogue.uncounted)
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("DROP INDEX idx_calls_uncounted").run()
    }
}
