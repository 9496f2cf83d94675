import FluentKit
import SQLKit

struct CreateRoutingDecisions: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(RoutingDecisionRecord.schema)
            .id()
            .field("client_id", .string, .required)
            .field("call_id", .uuid)
            .field("trigger", .string, .required)
            .field("request", .string, .required)
            .field("strategy", .string, .required)
            .field("agent_id", .uuid)
            .field("score", .double)
            .field("candidate_count", .int, .required)
            .field("candidates", .string, .required)
            .field("created_at", .datetime, .required)
            .create()
        let sql = database as! any SQLDatabase
        try await sql.create(index: "idx_routing_decisions_client_created")
            .on(RoutingDecisionRecord.schema).column("client_id").column("created_at").run()
        try await sql.create(index: "idx_routing_decisions_client_call")
            .on(RoutingDecisionRecord.schema).column("client_id").column("call_id").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(RoutingDecisionRecord.schema).delete()
    }
}
