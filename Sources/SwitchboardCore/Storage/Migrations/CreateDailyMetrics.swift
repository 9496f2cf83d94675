import FluentKit
import SQLKit

/// `team_performance` and `agent_metrics_v2` share their shape: one row per (tenant, subject, day).
struct CreateDailyMetrics: AsyncMigration {
    private static let tables: [(table: String, subject: String)] = [
        (TeamPerformance.schema, "team_id"),
        (AgentDailyMetrics.schema, "agent_id"),
    ]

    func prepare(on database: any Database) async throws {
        for (table, subject) in Self.tables {
            try await database.schema(table)
                .id()
                .field("client_id", .string, .required)
                .field(FieldKey(stringLiteral: subject), .uuid, .required)
                .field("date", .string, .required)
                .field("calls_handled", .int, .required)
                .field("calls_successful", .int, .required)
                .field("calls_failed", .int, .required)
                .field("calls_resolved", .int, .required)
                .field("avg_satisfaction", .double)
                .field("satisfaction_count", .int, .required)
                .field("avg_handling_time", .double, .required)
                .field("success_rate", .double, .required)
                .field("resolution_rate", .double, .required)
                .field("updated_at", .datetime, .required)
                .unique(on: "client_id", FieldKey(stringLiteral: subject), "date", name: "uq_\(table)_subject_day")
                .create()
            try await (database as! any SQLDatabase).create(index: "idx_\(table)_client_date")
                .on(table).column("client_id").column("date").run()
        }
    }

    func revert(on database: any Database) async throws {
        for (table, _) in Self.tables.reversed() {
            try await database.schema(table).delete()
        }
    }
}
