import FluentKit
import SQLKit

/// Preferred agents and sticky customers (issue 25, §6): who the caller is (`customer_ref`), the agent a call
/// prefers and until when it waits for that agent. Two small partial indexes: a customer's last good call, read
/// for each sticky call, and the calls waiting for a given agent, read when that agent frees a slot.
struct AddPreferredAgent: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // One column a statement: SQLite adds one column per ALTER TABLE.
        try await database.schema(Call.schema).field("customer_ref", .string).update()
        try await database.schema(Call.schema).field("preferred_agent_id", .uuid).update()
        try await database.schema(Call.schema).field("preferred_until", .datetime).update()
        let sql = database as! any SQLDatabase
        try await sql.raw("""
            CREATE INDEX idx_calls_customer_last_good ON calls (client_id, customer_ref, completed_at)
            WHERE customer_ref IS NOT NULL AND status = 'completed' AND outcome = 'successful'
            """).run()
        try await sql.raw("""
            CREATE INDEX idx_calls_queued_preferred ON calls (client_id, preferred_agent_id, created_at)
            WHERE status = 'queued' AND preferred_agent_id IS NOT NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw("DROP INDEX idx_calls_queued_preferred").run()
        try await sql.raw("DROP INDEX idx_calls_customer_last_good").run()
        for column in ["preferred_until", "preferred_agent_id", "customer_ref"] {
            try await database.schema(Call.schema).deleteField(.key(.string(column))).update()
        }
    }
}
