import FluentKit
import SQLKit

struct CreateAuditLog: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(AuditLogEntry.schema)
            .id()
            .field("client_id", .string, .required)
            .field("actor", .string, .required)
            .field("action", .string, .required)
            .field("entity_type", .string, .required)
            .field("entity_id", .string, .required)
            .field("outcome", .string, .required)
            .field("created_at", .datetime)
            .create()
        try await (database as! any SQLDatabase).create(index: "idx_audit_log_client_created")
            .on(AuditLogEntry.schema).column("client_id").column("created_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AuditLogEntry.schema).delete()
    }
}
