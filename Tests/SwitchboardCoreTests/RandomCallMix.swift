import Foundation
import SQLKit
import Testing
import Vapor
@testable import SwitchboardCore

/// Rounds of seeded random calls created in parallel, then completed at random; after every step each active call
/// is checked with `check` (its agent meets what the call required). Shared by the requirement and level tests.
func runRandomCallMix(_ a: APIClient, on app: Application, generator: inout SeededGenerator, rounds: Int = 4,
                      callsPerRound: Int, body: (inout SeededGenerator) -> String,
                      check: (_ call: JSONValue, _ agentId: UUID) throws -> Void) async throws {
    func checkActive() async throws {
        for call in try await a.send(.GET, "/api/calls?status=active&limit=500").data.arrayValue ?? [] {
            try check(call, try #require(call["agent_id"].uuid))
        }
    }
    let sql = app.db as! any SQLDatabase
    for _ in 0..<rounds {
        let bodies = (0..<callsPerRound).map { _ in body(&generator) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for body in bodies { group.addTask { _ = try await a.createCall(body) } }
            try await group.waitForAll()
        }
        try await checkActive()
        let active = try await sql.select().column("id").from(Call.schema).where("client_id", .equal, a.clientId)
            .where("status", .equal, "active").all().map { try $0.decode(column: "id", as: UUID.self) }
        for call in active where Bool.random(using: &generator) { #expect(try await a.complete(call).status == .ok) }
        try await checkActive()
    }
}
