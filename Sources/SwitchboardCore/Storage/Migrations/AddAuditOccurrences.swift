import FluentKit

/// Denials are written aggregated: one row stands for `occurrences` denied requests (see `DenialLog`).
struct AddAuditOccurrences: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(AuditLogEntry.schema)
            .field("occurrences", .int, .required, .sql(.default(1)))
            .update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AuditLogEntry.schema).deleteField("occurrences").update()
    }
}
