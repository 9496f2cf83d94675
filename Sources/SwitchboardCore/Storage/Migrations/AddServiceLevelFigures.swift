import FluentKit
import SQLKit

/// The service level's figures: how many calls were answered and abandoned and how long the answered ones waited
/// (by whole second), as columns of the agent and team daily rows, and as rows of `service_level_daily` for the
/// tenant's whole day (which also holds calls without a team).
///
/// Cancelled calls now end their wait in the daily figures, so the aggregator claims them too, through an index
/// that holds only cancelled calls (the call path never writes it). Forgetting the watermark makes the next run a
/// full recount, which fills the new columns and rows for the calls already stored.
struct AddServiceLevelFigures: AsyncMigration {
    private static let dailyTables = [AgentDailyMetrics.schema, TeamPerformance.schema]

    func prepare(on database: any Database) async throws {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for table in Self.dailyTables {
            try await database.schema(table).field("answered", .int, .required, .sql(.default(0))).update()
            try await database.schema(table).field("abandoned", .int, .required, .sql(.default(0))).update()
            try await database.schema(table).field("total_wait_seconds", .double, .required, .sql(.default(0))).update()
            try await database.schema(table).field("wait_histogram", .string, .required, .sql(.default("{}"))).update()
        }
        try await database.schema(ServiceLevelRollup.table)
            .id()
            .field("client_id", .string, .required)
            .field("date", .string, .required)
            .field("answered", .int, .required)
            .field("abandoned", .int, .required)
            .field("total_wait_seconds", .double, .required)
            .field("wait_histogram", .string, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "client_id", "date", name: "uq_service_level_daily_day")
            .create()
        let sql = database as! any SQLDatabase
        try await sql.raw("CREATE INDEX idx_calls_cancelled_at ON calls (cancelled_at) WHERE cancelled_at IS NOT NULL").run()
        try await sql.delete(from: "aggregator_state").where("name", .equal, PerformanceAggregator.stateName).run()
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.drop(index: "idx_calls_cancelled_at").run()
        try await database.schema(ServiceLevelRollup.table).delete()
        for table in Self.dailyTables {
            for column in ["answered", "abandoned", "total_wait_seconds", "wait_histogram"] {
                try await database.schema(table).deleteField(FieldKey(stringLiteral: column)).update()
            }
        }
        try await sql.delete(from: "aggregator_state").where("name", .equal, PerformanceAggregator.stateName).run()
    }
}
