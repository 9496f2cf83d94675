import FluentKit
import SQLKit

/// `sector_agents.external_id`: the agent's id in the customer's own systems (HR, the phone system), by which a
/// bulk import creates or updates it. Unique within a tenant; agents without one are unaffected.
struct AddAgentExternalId: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(SectorAgent.schema).field("external_id", .string).update()
        try await (database as! any SQLDatabase).create(index: "uq_sector_agents_external_id")
            .unique().on(SectorAgent.schema).column("client_id").column("external_id").run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).drop(index: "uq_sector_agents_external_id").run()
        try await database.schema(SectorAgent.schema).deleteField("external_id").update()
    }
}
