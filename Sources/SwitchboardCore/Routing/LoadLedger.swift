import FluentKit
import Foundation
import SQLKit

/// Agents' live load, kept in the database so that several processes agree and a crash loses nothing.
/// Every change is one conditional statement; none reads and then writes.
struct LoadLedger: Sendable {
    let clientId: String

    /// Takes one unit of the agent's capacity, and of its channel's, if it is active and neither is full. False
    /// when another transaction got there first.
    func claim(_ agentId: UUID, channel: CallChannel, on db: any Database) async throws -> Bool {
        let load = SQLIdentifier("current_load")
        let channelLoad = SQLIdentifier(channel.loadColumn), channelCapacity = SQLIdentifier(channel.capacityColumn)
        let row = try await (db as! any SQLDatabase).update(SectorAgent.schema)
            .set(load, to: SQLBinaryExpression(load, .add, SQLLiteral.numeric("1")))
            .set(channelLoad, to: SQLBinaryExpression(channelLoad, .add, SQLLiteral.numeric("1")))
            .where("id", .equal, agentId)
            .where("client_id", .equal, clientId)
            .where("status", .equal, ActiveStatus.active.rawValue)
            .where(load, .lessThan, SQLIdentifier("max_concurrent"))
            .where { $0.where(channelCapacity, .is, SQLLiteral.null).orWhere(channelLoad, .lessThan, channelCapacity) }
            .returning("current_load")
            .first()
        return row != nil
    }

    /// Gives back one unit of the total and of the channel; never below zero.
    func release(_ agentId: UUID, channel: CallChannel, on db: any Database) async throws {
        let load = SQLIdentifier("current_load"), channelLoad = SQLIdentifier(channel.loadColumn)
        try await (db as! any SQLDatabase).update(SectorAgent.schema)
            .set(load, to: SQLRaw("CASE WHEN current_load > 0 THEN current_load - 1 ELSE 0 END"))
            .set(channelLoad, to: SQLRaw("CASE WHEN \(channel.loadColumn) > 0 THEN \(channel.loadColumn) - 1 ELSE 0 END"))
            .where("id", .equal, agentId)
            .where("client_id", .equal, clientId)
            .run()
    }

    struct Correction: Sendable {
        let agentId: UUID
        let currentLoad: Int
        let channelLoads: ChannelNumbers
    }

    private static let activeCalls = SQLRaw(
        "(SELECT COUNT(*) FROM calls WHERE calls.agent_id = sector_agents.id AND calls.status = \(CallStatus.active.sqlLiteral))")

    private static func activeCalls(of channel: CallChannel) -> SQLRaw {
        SQLRaw("(SELECT COUNT(*) FROM calls WHERE calls.agent_id = sector_agents.id AND calls.status = \(CallStatus.active.sqlLiteral) "
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

    /// Sets every agent's load (total and per channel) to its number of active calls and returns the agents that
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
