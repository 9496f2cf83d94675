import FluentKit
import Foundation
import SQLKit

/// Agents' live loads are kept in the database (so that several processes agree and a crash loses nothing) and
/// changed only by the call writer's conditional statements. At start-up, before the writer runs, they are set
/// from the calls that hold capacity (after-call work included), in case a crash left them wrong.
enum LoadReconciliation {
    struct Correction: Sendable {
        let agentId: UUID
        let currentLoad: Int
        let channelLoads: ChannelNumbers
    }

    /// Calls that hold their agent's slot: those in progress, and completed ones whose after-call work is open.
    private static let holding = "(calls.status IN \(CallStatus.sqlList(CallStatus.holdingCapacity)) OR (calls.status = "
        + "'\(CallStatus.completed.rawValue)' AND calls.wrap_up_until IS NOT NULL AND calls.wrap_up_ended_at IS NULL))"

    private static let activeCalls = SQLRaw(
        "(SELECT COUNT(*) FROM calls WHERE calls.agent_id = sector_agents.id AND \(holding))")

    private static func activeCalls(of channel: CallChannel) -> SQLRaw {
        SQLRaw("(SELECT COUNT(*) FROM calls WHERE calls.agent_id = sector_agents.id AND \(holding) "
            + "AND calls.channel = '\(channel.rawValue)')")
    }

    /// An agent whose total or any channel's load differs from its active calls.
    private static var wrong: SQLGroupExpression {
        SQLGroupExpression(SQLList([SQLBinaryExpression(SQLIdentifier("current_load"), .notEqual, activeCalls)]
            + CallChannel.allCases.map { SQLBinaryExpression(SQLIdentifier($0.loadColumn), .notEqual, activeCalls(of: $0)) },
            separator: SQLRaw(" OR ")))
    }

    private static func correcting(_ update: SQLUpdateBuilder) -> SQLReturningResultBuilder<SQLUpdateBuilder> {
        var update = update.set("current_load", to: activeCalls)
        for channel in CallChannel.allCases { update = update.set(SQLIdentifier(channel.loadColumn), to: activeCalls(of: channel)) }
        return update.where(wrong).returning((["id", "current_load"] + ChannelNumbers.loadColumns).map { SQLColumn($0) })
    }

    private static func correction(_ row: any SQLRow) throws -> Correction {
        Correction(agentId: try row.decode("id"), currentLoad: try row.decode("current_load"),
                   channelLoads: try ChannelNumbers(loadsFrom: row))
    }

    /// Sets every agent's load (total and per channel) to its number of calls holding capacity and returns the agents that
    /// were wrong.
    ///
    /// SQLite (one process, writes serialised by the gate): one statement. PostgreSQL, where other processes may
    /// be claiming and releasing meanwhile: each suspect agent is fixed in its own transaction that first locks
    /// the agent's row, the same row every claim and release locks, so the count cannot miss a claim that is
    /// committing, and no table lock can deadlock with a call being written.
    static func reconcileAll(in store: Store) async throws -> [Correction] {
        guard store.isPostgres else {
            return try await store.write { tx in
                try await correcting((tx as! any SQLDatabase).update(SectorAgent.schema)).all().map(correction)
            }
        }
        let suspects = try await store.sql.select().column("id").from(SectorAgent.schema)
            .where(wrong).all()
            .map { try $0.decode(column: "id", as: UUID.self) }
        var corrections: [Correction] = []
        for agentId in suspects {
            let fixed = try await store.write { tx in
                let sql = tx as! any SQLDatabase
                try await sql.raw("SELECT id FROM sector_agents WHERE id = \(bind: agentId) FOR UPDATE").run()
                return try await correcting(sql.update(SectorAgent.schema).where("id", .equal, agentId)).first().map(correction)
            }
            if let fixed { corrections.append(fixed) }
        }
        return corrections
    }
}
