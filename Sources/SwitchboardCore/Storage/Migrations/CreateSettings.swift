import FluentKit
import SQLKit

struct CreateSettings: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Setting.schema)
            .id()
            .field("client_id", .string, .required)
            .field("key", .string, .required)
            .field("value", .string, .required)
            .field("updated_by", .string, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "client_id", "key", name: "uq_settings_client_key")
            .create()
        try await database.schema(SettingAudit.schema)
            .id()
            .field("client_id", .string, .required)
            .field("key", .string, .required)
            .field("old_value", .string, .required)
            .field("new_value", .string, .required)
            .field("changed_by", .string, .required)
            .field("changed_at", .datetime, .required)
            .create()
        try await (database as! any SQLDatabase).create(index: "idx_settings_audit_client_changed")
            .on(SettingAudit.schema).column("client_id").column("changed_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SettingAudit.schema).delete()
        try await database.schema(Setting.schema).delete()
    }
}
