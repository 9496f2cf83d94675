import FluentKit
import SQLKit

/// Handling time becomes talk plus after-call work (AHT as every contact-centre suite defines it), with the
/// after-call part also on its own (`avg_wrap_up_time`) in the agent and team daily rows. A call is counted once
/// its wrap-up is over; `idx_calls_wrap_up_ended` lets each incremental run find the wrap-ups that ended since the
/// last. Forgetting the watermark makes the next run a full recount, so every stored day follows the new rule.
struct AddWrapUpToDailyRows: AsyncMigration {
    func prepare(on database: any Database) async throws {
        for table in [AgentDailyMetrics.schema, TeamPerformance.schema] {
            try await database.schema(table).field("avg_wrap_up_time", .double, .required, .sql(.default(0))).update()
        }
        let sql = database as! any SQLDatabase
        try await sql.raw("""
            CREATE INDEX idx_calls_wrap_up_ended ON calls (wrap_up_ended_at) WHERE wrap_up_ended_at IS NOT NULL
            """).run()
        try await sql.delete(from: "aggregator_state").where("name", .equal, PerformanceAggregator.stateName).run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("DROP INDEX idx_calls_wrap_up_ended").run()
        for table in [AgentDailyMetrics.schema, TeamPerformance.schema] {
            try await database.schema(table).deleteField("avg_wrap_up_time").update()
        }
    }
}
