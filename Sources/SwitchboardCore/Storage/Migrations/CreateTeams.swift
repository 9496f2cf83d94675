import FluentKit
import SQLKit

struct CreateTeams: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Team.schema)
            .id()
            .field("client_id", .string, .required)
            .field("name", .string, .required)
            .field("sector", .string, .required)
            .field("description", .string)
            .field("status", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "client_id", "name", name: "uq_teams_client_name")
            .create()
        try await (database as! any SQLDatabase).create(index: "idx_teams_client_sector_status")
            .on(Team.schema).column("client_id").column("sector").column("status").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Team.schema).delete()
    }
}
