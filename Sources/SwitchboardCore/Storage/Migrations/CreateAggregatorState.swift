import FluentKit

/// Process-independent aggregator state: the watermark of the last run, shared by every server process.
struct CreateAggregatorState: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("aggregator_state")
            .field("name", .string, .identifier(auto: false))
            .field("watermark", .datetime)
            .field("updated_at", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("aggregator_state").delete()
    }
}
