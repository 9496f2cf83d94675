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
    /// On PostgreSQL the calls table is locked against writers for the moment it takes, so a claim
    /// committing in between cannot be overwritten by a stale count.
    static func reconcileAll(in store: Store) async throws -> [Correction] {
        try await store.write { tx in
            let sql = tx as! any SQLDatabase
            if store.isPostgres {
                try await sql.raw("LOCK TABLE calls IN SHARE ROW EXCLUSIVE MODE").run()
            }
            let activeCalls = SQLRaw("(SELECT COUNT(*) FROM calls WHERE calls.agent_id = sector_agents.id AND calls.status = 'active')")
            let rows = try await sql.update(SectorAgent.schema)
                .set("current_load", to: activeCalls)
                .where(SQLIdentifier("current_load"), .notEqual, activeCalls)
                .returning("id", "current_load")
                .all()
            return try rows.map { Correction(agentId: try $0.decode("id"), currentLoad: try $0.decode("current_load")) }
        }
    }
}
