import FluentKit
import SQLKit

/// Marks each completed call once it is counted in the daily rows, so an incremental aggregation adds only the
/// calls it has not counted (see `DailyRollup.claimUncounted`). Existing rows were counted by recounting, not by
/// marks: forgetting the watermark makes the next run a full recount, which sets the marks it needs.
struct AddCallRollupMark: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Call.schema)
            .field("rolled_up", .bool, .required, .sql(.default(false)))
            .update()
        try await (database as! any SQLDatabase).delete(from: "aggregator_state")
            .where("name", .equal, PerformanceAggregator.stateName).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Call.schema).deleteField("rolled_up").update()
        try await (database as! any SQLDatabase).delete(from: "aggregator_state")
            .where("name", .equal, PerformanceAggregator.stateName).run()
    }
}
