import FluentKit
import SQLKit

/// When each agent's last call or after-call work ended (`last_call_ended_at`; nil: never, and the agent counts as
/// idle since it was created), for the contract's tie-break of equal scores: the agent idle longest. Agents that
/// already completed calls take the end of their latest one.
struct AddLastCallEnded: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(SectorAgent.schema).field("last_call_ended_at", .datetime).update()
        try await (database as! any SQLDatabase).raw("""
            UPDATE sector_agents SET last_call_ended_at = (
                SELECT MAX(COALESCE(calls.wrap_up_ended_at, calls.wrap_up_until, calls.completed_at)) FROM calls
                WHERE calls.agent_id = sector_agents.id AND calls.status = 'completed')
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SectorAgent.schema).deleteField("last_call_ended_at").update()
    }
}
