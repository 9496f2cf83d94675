import FluentKit
import SQLKit

/// The agent state log indexed by when each row ended instead of when it began. A presence change closes the agent's
/// open row (`ended_at` null), and the metrics read the rows that ended after a range began or are still open: through
/// the index by start, both walked every row the agent ever had (12 ms a change for an agent with 10,000 rows on
/// SQLite). The old index goes, so a presence change still writes two indexes.
struct AddStateLogEndIndex: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.drop(index: "idx_agent_state_log_agent").run()
        try await sql.create(index: "idx_agent_state_log_agent_end").on(AgentStateLog.schema)
            .column("client_id").column("agent_id").column("ended_at").run()
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.drop(index: "idx_agent_state_log_agent_end").run()
        try await sql.create(index: "idx_agent_state_log_agent").on(AgentStateLog.schema)
            .column("client_id").column("agent_id").column("started_at").run()
    }
}
