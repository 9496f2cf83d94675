import FluentKit
import Foundation
import SQLKit

/// `agent_capability_metrics`: per tenant, agent, capability and day, the completed calls that asked for the
/// capability and how many succeeded. The learning router's estimate per capability reads them (issue 25, §3).
/// Filled at once from the calls the aggregator already counted, so an upgraded database learns from its history.
struct AddCapabilityMetrics: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(CapabilityRollup.schema)
            .id()
            .field("client_id", .string, .required)
            .field("agent_id", .uuid, .required)
            .field("capability", .string, .required)
            .field("date", .string, .required)
            .field("calls_handled", .int, .required)
            .field("calls_successful", .int, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "client_id", "agent_id", "capability", "date", name: "uq_agent_capability_metrics_day")
            .create()
        try await (database as! any SQLDatabase).create(index: "idx_agent_capability_metrics_client_date")
            .on(CapabilityRollup.schema).column("client_id").column("date").run()
        let sql = database as! any SQLDatabase
        try await CapabilityRollup.upsert(try await CapabilityRollup.recountCounted(on: sql), at: Date(), on: sql)
    }

    func revert(on database: any Database) async throws {
        try await database.schema(CapabilityRollup.schema).delete()
    }
}
