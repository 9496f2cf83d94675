import FluentKit
import SQLKit

/// Agents who are people: each has a presence (`available`, every existing agent's; `away` with a reason;
/// `offline`) and the time its state last changed, and every presence change is a row of the agent state log
/// (state, reason, from, until), which starts with each existing agent available since it was created.
struct AddAgentPresence: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(SectorAgent.schema)
            .field("presence", .string, .required, .sql(.default(AgentPresence.available.rawValue))).update()
        try await database.schema(SectorAgent.schema).field("presence_reason", .string).update()
        try await database.schema(SectorAgent.schema).field("state_since", .datetime).update()
        let sql = database as! any SQLDatabase
        try await sql.update(SectorAgent.schema).set("state_since", to: SQLColumn("created_at")).run()

        try await database.schema(AgentStateLog.schema)
            .id()
            .field("client_id", .string, .required)
            .field("agent_id", .uuid, .required)
            .field("state", .string, .required)
            .field("reason", .string)
            .field("started_at", .datetime, .required)
            .field("ended_at", .datetime)
            .create()
        try await sql.create(index: "idx_agent_state_log_agent").on(AgentStateLog.schema)
            .column("client_id").column("agent_id").column("started_at").run()
        try await sql.raw("""
            INSERT INTO agent_state_log (id, client_id, agent_id, state, reason, started_at, ended_at)
            SELECT id, client_id, id, 'available', NULL, created_at, NULL FROM sector_agents
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AgentStateLog.schema).delete()
        for field in ["state_since", "presence_reason", "presence"] {
            try await database.schema(SectorAgent.schema).deleteField(.string(field)).update()
        }
    }
}
