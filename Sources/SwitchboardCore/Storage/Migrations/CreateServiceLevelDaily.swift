import FluentKit
import SQLKit

/// `service_level_daily`: one row per (tenant, subject, day) with the waits behind the service level. Subjects
/// are the tenant itself (every call, with a team or not), a team, or an agent (the calls it answered); abandoned
/// calls have no agent, so these are rows of their own rather than columns of the agent and team rows.
///
/// Cancelled calls now end their wait in the daily figures, so the aggregator claims them too, through an index
/// that holds only cancelled calls (the call path never writes it). Forgetting the watermark makes the next run a
/// full recount, which fills these rows for the calls already stored.
struct CreateServiceLevelDaily: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(ServiceLevelRollup.table)
            .id()
            .field("client_id", .string, .required)
            .field("subject_kind", .string, .required)
            .field("subject_id", .uuid, .required)
            .field("date", .string, .required)
            .field("answered", .int, .required)
            .field("abandoned", .int, .required)
            .field("total_wait_seconds", .double, .required)
            .field("wait_histogram", .string, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "client_id", "subject_kind", "date", "subject_id", name: "uq_service_level_daily_subject_day")
            .create()
        let sql = database as! any SQLDatabase
        try await sql.raw("CREATE INDEX idx_calls_cancelled_at ON calls (cancelled_at) WHERE cancelled_at IS NOT NULL").run()
        try await sql.delete(from: "aggregator_state").where("name", .equal, PerformanceAggregator.stateName).run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).drop(index: "idx_calls_cancelled_at").run()
        try await database.schema(ServiceLevelRollup.table).delete()
        try await (database as! any SQLDatabase).delete(from: "aggregator_state")
            .where("name", .equal, PerformanceAggregator.stateName).run()
    }
}
