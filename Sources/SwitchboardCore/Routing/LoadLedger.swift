import FluentKit
import Foundation
import SQLKit

/// Agents' live load, kept in the database so that several processes agree and a crash loses nothing.
/// Every change is one conditional statement; none reads and then writes.
struct LoadLedger: Sendable {
    let clientId: String

    /// Takes one unit of the agent's capacity if it is active and not full. False when another
    /// transaction got there first.
    func claim(_ agentId: UUID, on db: any Database) async throws -> Bool {
        let load = SQLIdentifier("current_load")
        let row = try await (db as! any SQLDatabase).update(SectorAgent.schema)
            .set(load, to: SQLBinaryExpression(load, .add, SQLLiteral.numeric("1")))
            .where("id", .equal, agentId)
            .where("client_id", .equal, clientId)
            .where("status", .equal, ActiveStatus.active.rawValue)
            .where(load, .lessThan, SQLIdentifier("max_concurrent"))
            .returning("current_load")
            .first()
        return row != nil
    }

    /// Gives back one unit; never below zero.
    func release(_ agentId: UUID, on db: any Database) async throws {
        let load = SQLIdentifier("current_load")
        try await (db as! any SQLDatabase).update(SectorAgent.schema)
            .set(load, to: SQLBinaryExpression(load, .subtract, SQLLiteral.numeric("1")))
            .where("id", .equal, agentId)
            .where("client_id", .equal, clientId)
            .where(load, .greaterThan, SQLLiteral.numeric("0"))
            .run()
    }

    struct Correction: Sendable {
        let agentId: UUID
        let currentLoad: Int
    }

    /// Sets every agent's load to its number of active calls and returns the agents that were wrong.
    ///
    /// SQLite (one process, writes serialised by the gate): one statement. PostgreSQL, where other processes may
    /// be claiming and releasing meanwhile: each suspect agent is fixed in its own transaction that first locks
    /// the agent's row, the same row every claim and release locks, so the count cannot miss a claim that is
    /// committing, and no table lock can deadlock with a call being written.
    static func reconcileAll(in store: Store) async throws -> [Correction] {
        let activeCalls = SQLRaw("(SELECT COUNT(*) FROM calls WHERE calls.agent_id = sector_agents.id AND calls.status = 'active')")
        guard store.isPostgres else {
            return try await store.write { tx in
                try await (tx as! any SQLDatabase).update(SectorAgent.schema)
                    .set("current_load", to: activeCalls)
                    .where(SQLIdentifier("current_load"), .notEqual, activeCalls)
                    .returning("id", "current_load")
                    .all()
                    .map { Correction(agentId: try $0.decode("id"), currentLoad: try $0.decode("current_load")) }
            }
        }
        let suspects = try await store.sql.select().column("id").from(SectorAgent.schema)
            .where(SQLIdentifier("current_load"), .notEqual, activeCalls).all()
            .map { try $0.decode(column: "id", as: UUID.self) }
        var corrections: [Correction] = []
        for agentId in suspects {
            let fixed = try await store.write { tx in
                let sql = tx as! any SQLDatabase
                try await sql.raw("SELECT id FROM sector_agents WHERE id = \(bind: agentId) FOR UPDATE").run()
                return try await sql.update(SectorAgent.schema)
                    .set("current_load", to: activeCalls)
                    .where("id", .equal, agentId)
                    .where(SQLIdentifier("current_load"), .notEqual, activeCalls)
                    .returning("id", "current_load")
                    .first()
                    .map { Correction(agentId: try $0.decode("id"), currentLoad: try $0.decode("current_load")) }
            }
            if let fixed { corrections.append(fixed) }
        }
        return corrections
    }
}
