import FluentKit
import SQLKit

/// `GET /api/calls?agent_id=` and `?team_id=` (and their exports) read one agent's or one team's calls, newest
/// first. Without these SQLite read them through `idx_calls_client_created`, walking every call the tenant ever
/// had to find one agent's. Partial: queued calls have no agent yet, and calls routed by sector have no team.
struct AddCallsAgentTeamIndexes: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw("""
            CREATE INDEX idx_calls_agent_created ON calls (client_id, agent_id, created_at, id) WHERE agent_id IS NOT NULL
            """).run()
        try await sql.raw("""
            CREATE INDEX idx_calls_team_created ON calls (client_id, team_id, created_at, id) WHERE team_id IS NOT NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw("DROP INDEX idx_calls_team_created").run()
        try await sql.raw("DROP INDEX idx_calls_agent_created").run()
    }
}
