import FluentKit
import SQLKit

struct CreateCalls: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Call.schema)
            .id()
            .field("client_id", .string, .required)
            .field("team_id", .uuid, .references(Team.schema, "id"))
            .field("agent_id", .uuid, .references(SectorAgent.schema, "id"))
            .field("sector", .string, .required)
            .field("capabilities", .array(of: .string), .required)
            .field("channel", .string, .required)
            .field("external_ref", .string)
            .field("idempotency_key", .string)
            .field("status", .string, .required)
            .field("outcome", .string)
            .field("resolved", .bool)
            .field("satisfaction", .int)
            .field("handling_time_seconds", .double)
            .field("created_at", .datetime, .required)
            .field("assigned_at", .datetime)
            .field("completed_at", .datetime)
            .field("call_day", .string, .required)
            .field("cancelled_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "client_id", "idempotency_key", name: "uq_calls_client_idempotency_key")
            .create()
        let sql = database as! any SQLDatabase
        try await sql.create(index: "idx_calls_client_status_created")
            .on(Call.schema).column("client_id").column("status").column("created_at").run()
        try await sql.create(index: "idx_calls_agent_status")
            .on(Call.schema).column("agent_id").column("status").run()
        // Queue depth (scraped with /metrics) and start-up load reconciliation look across tenants by status.
        try await sql.create(index: "idx_calls_status")
            .on(Call.schema).column("status").run()
        try await sql.create(index: "idx_calls_completed_at")
            .on(Call.schema).column("completed_at").run()
        // The aggregator recomputes (agent, day) and (team, day) groups.
        try await sql.create(index: "idx_calls_day_agent")
            .on(Call.schema).column("call_day").column("agent_id").run()
        try await sql.create(index: "idx_calls_day_team")
            .on(Call.schema).column("call_day").column("team_id").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Call.schema).delete()
    }
}
