import FluentKit
import SQLKit

struct CreateSectorAgents: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(SectorAgent.schema)
            .id()
            .field("client_id", .string, .required)
            .field("name", .string, .required)
            .field("sector", .string, .required)
            .field("status", .string, .required)
            .field("priority", .int, .required)
            .field("capabilities", .array(of: .string), .required)
            .field("max_concurrent", .int, .required)
            .field("current_load", .int, .required, .sql(.default(0)))
            .field("success_rate", .double, .required)
            .field("avg_handling_time", .double, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .create()
        try await (database as! any SQLDatabase).create(index: "idx_agents_client_sector_status")
            .on(SectorAgent.schema).column("client_id").column("sector").column("status").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SectorAgent.schema).delete()
    }
}
