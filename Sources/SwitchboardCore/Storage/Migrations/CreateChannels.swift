import FluentKit
import SQLKit

struct CreateChannels: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(ChannelRecord.schema)
            .id()
            .field("client_id", .string, .required)
            .field("type", .string, .required)
            .field("name", .string, .required)
            .field("status", .string, .required)
            .field("config", .string, .required)
            .field("credentials_sealed", .string)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "client_id", "name", name: "uq_channels_client_name")
            .create()
        try await (database as! any SQLDatabase).create(index: "idx_channels_client_type")
            .on(ChannelRecord.schema).column("client_id").column("type").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(ChannelRecord.schema).delete()
    }
}
