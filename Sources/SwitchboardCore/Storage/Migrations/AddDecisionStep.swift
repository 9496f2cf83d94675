import FluentKit

/// The relaxation step at which a decision was made (`routing.relaxation`'s index) and how long the call had waited.
/// NULL for decisions logged before, and for recommendations, which route no call.
struct AddDecisionStep: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(RoutingDecisionRecord.schema).field("step", .int).update()
        try await database.schema(RoutingDecisionRecord.schema).field("waited_seconds", .double).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(RoutingDecisionRecord.schema).deleteField("waited_seconds").update()
        try await database.schema(RoutingDecisionRecord.schema).deleteField("step").update()
    }
}
