import FluentKit
import SQLKit

/// After-call work: an agent may have its own wrap-up time (else the tenant's `calls.wrap_up_seconds`), a completed
/// call keeps its agent's slot until its wrap-up ends (`wrap_up_until`, the planned end, survives restarts;
/// `wrap_up_ended_at` when it did end), and the agent row knows the latest end of its open wrap-ups, from which its
/// `wrap_up` state is read.
struct AddWrapUp: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(SectorAgent.schema).field("wrap_up_seconds", .int).update()
        try await database.schema(SectorAgent.schema).field("wrap_up_until", .datetime).update()
        try await database.schema(Call.schema).field("wrap_up_until", .datetime).update()
        try await database.schema(Call.schema).field("wrap_up_ended_at", .datetime).update()
        // The wrap-up timer's question, "which wrap-ups are due", reads only the open ones.
        try await (database as! any SQLDatabase).raw("""
            CREATE INDEX idx_calls_open_wrap_up ON calls (wrap_up_until)
            WHERE wrap_up_until IS NOT NULL AND wrap_up_ended_at IS NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("DROP INDEX idx_calls_open_wrap_up").run()
        try await database.schema(Call.schema).deleteField("wrap_up_ended_at").update()
        try await database.schema(Call.schema).deleteField("wrap_up_until").update()
        try await database.schema(SectorAgent.schema).deleteField("wrap_up_until").update()
        try await database.schema(SectorAgent.schema).deleteField("wrap_up_seconds").update()
    }
}
