import FluentKit
import SQLKit

/// Per-channel capacity: for each call channel, the agent's limit (`channel_capacity_<channel>`, NULL for none,
/// which every existing agent keeps) and its live calls of that channel (`channel_load_<channel>`, counted from
/// the active calls here and kept from then on by the same conditional statements as `current_load`).
struct AddChannelCapacity: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for channel in CallChannel.allCases {
            try await database.schema(SectorAgent.schema).field(.string(channel.capacityColumn), .int).update()
            try await database.schema(SectorAgent.schema)
                .field(.string(channel.loadColumn), .int, .required, .sql(.default(0))).update()
        }
        let sql = database as! any SQLDatabase
        for channel in CallChannel.allCases {
            try await sql.update(SectorAgent.schema)
                .set(SQLIdentifier(channel.loadColumn), to: SQLRaw("""
                    (SELECT COUNT(*) FROM calls WHERE calls.agent_id = sector_agents.id AND calls.status = 'active' \
                    AND calls.channel = '\(channel.rawValue)')
                    """))
                .run()
        }
    }

    func revert(on database: any Database) async throws {
        for channel in CallChannel.allCases {
            try await database.schema(SectorAgent.schema).deleteField(.string(channel.loadColumn)).update()
            try await database.schema(SectorAgent.schema).deleteField(.string(channel.capacityColumn)).update()
        }
    }
}
