import FluentKit
import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

@Suite("Routing pools and the call lifecycle")
struct RoutingAndCallsTests {
    @Test func teamPoolFirstThenSectorFallback() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam(sector: "billing")
            let member = try await client.addMember(to: team)
            let teamAgent = try await client.createAgent("Team", maxConcurrent: 1, successRate: 0.2)
            let star = try await client.createAgent("Star", successRate: 1.0)
            try await client.assign([teamAgent], to: member, in: team)

            let route = try await client.send(.POST, "/api/routing/route", json: #"{"team_id":"\#(team)"}"#)
            #expect(route.data["strategy"] == .string("team"))
            #expect(route.data["agent_id"].uuid == teamAgent, "the team's own agent wins over a better sector agent")
            #expect(route.data["breakdown"]["success_rate"]["value"] == .number(0.2))

            let first = try await client.createCall(#"{"team_id":"\#(team)"}"#)
            #expect(first.data["agent_id"].uuid == teamAgent)
            #expect(first.data["sector"] == .string("billing"))
            let second = try await client.createCall(#"{"team_id":"\#(team)"}"#)
            #expect(second.data["agent_id"].uuid == star, "team agent is full, so the sector pool takes over")
            let decision = try await client.send(.GET, "/api/routing/decisions?call_id=\(second.data["id"].stringValue!)")
            #expect(decision.data[0]["strategy"] == .string("sector"))

            let bySector = try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
            #expect(bySector.data["strategy"] == .string("sector"))
            #expect(bySector.data["agent_id"].uuid == star)
        }
    }

    @Test func inactiveAgentsAndMembersAreExcluded() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let team = try await client.createTeam()
            let member = try await client.addMember(to: team)
            let agent = try await client.createAgent(successRate: 1)
            try await client.assign([agent], to: member, in: team)
            let fallback = try await client.createAgent(successRate: 0.1)

            _ = try await client.send(.PUT, "/api/teams/\(team)/members/\(member)", json: #"{"status":"inactive"}"#)
            let route = try await client.send(.POST, "/api/routing/route", json: #"{"team_id":"\#(team)"}"#)
            #expect(route.data["strategy"] == .string("sector"), "an inactive member's agents leave the team pool")

            _ = try await client.send(.DELETE, "/api/agents/\(agent)")
            let afterDelete = try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
            #expect(afterDelete.data["agent_id"].uuid == fallback, "a deactivated agent is never chosen")
            #expect(afterDelete.data["eligible_count"] == .number(1))
        }
    }

    @Test func routeValidationAndNoAgent() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let missing = try await client.send(.POST, "/api/routing/route", json: #"{"capabilities":["x"]}"#)
            #expect(missing.status == .badRequest)
            #expect(missing.error?.contains("team_id or sector") == true)
            let none = try await client.send(.POST, "/api/routing/route", json: #"{"sector":"nobody"}"#)
            #expect(none.status == .ok)
            #expect(none.data["agent_id"] == .null)
            #expect(none.data["strategy"] == .string("none"))
            #expect(try await client.send(.POST, "/api/calls", json: #"{"sector":"x","channel":"fax"}"#).status == .badRequest)
        }
    }

    @Test func capabilitiesEarnTheBonus() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            _ = try await client.createAgent("Plain", successRate: 0.6)
            let french = try await client.createAgent("French", successRate: 0.5, capabilities: ["french"])
            let route = try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing","capabilities":["French"]}"#)
            #expect(route.data["agent_id"].uuid == french)
            #expect(route.data["breakdown"]["capabilities"]["contribution"] == .number(5))
            #expect(route.data["candidates"].count == 2)
        }
    }

    @Test func dryRunWritesNothing() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let agent = try await client.createAgent()
            _ = try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
            #expect(try await client.agent(agent)["current_load"] == .number(0))
            #expect(try await client.send(.GET, "/api/routing/decisions").data.count == 0)
        }
    }

    @Test func callLifecycleAdjustsLoadAndLogsTheDecision() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let agent = try await client.createAgent()
            let created = try await client.createCall(#"{"sector":"billing","channel":"whatsapp","external_ref":"ext-1"}"#)
            #expect(created.status == .created)
            #expect(created.data["status"] == .string("active"))
            #expect(created.data["channel"] == .string("whatsapp"))
            let callId = try #require(created.data["id"].uuid)
            #expect(try await client.agent(agent)["current_load"] == .number(1))

            let decisions = try await client.send(.GET, "/api/routing/decisions?call_id=\(callId)")
            #expect(decisions.data.count == 1)
            #expect(decisions.data[0]["agent_id"].uuid == agent)
            #expect(decisions.data[0]["candidates"][0]["breakdown"]["priority"]["value"] == .number(0.5))

            let bad = try await client.send(.POST, "/api/calls/\(callId)/complete", json: #"{"outcome":"successful","resolved":true,"handling_time_seconds":10,"satisfaction":6}"#)
            #expect(bad.status == .badRequest)
            #expect(bad.error?.contains("satisfaction") == true)

            let completed = try await client.complete(callId)
            #expect(completed.status == .ok)
            #expect(completed.data["status"] == .string("completed"))
            #expect(completed.data["outcome"] == .string("successful"))
            #expect(try await client.agent(agent)["current_load"] == .number(0))

            let again = try await client.complete(callId)
            #expect(again.status == .conflict)
            #expect(try await client.agent(agent)["current_load"] == .number(0), "completing twice changes nothing")
            #expect(try await client.send(.POST, "/api/calls/\(callId)/cancel").status == .conflict)

            let list = try await client.send(.GET, "/api/calls?status=completed&agent_id=\(agent)")
            #expect(list.data.count == 1)
            #expect(try await client.send(.GET, "/api/calls?status=active").data.count == 0)
            #expect(try await client.send(.GET, "/api/calls?status=weird").status == .badRequest)
        }
    }

    @Test func queuedCallsGoOldestFirstToTheFreedAgent() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let agent = try await client.createAgent(maxConcurrent: 1)
            let active = try #require(try await client.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let firstQueued = try await client.createCall(#"{"sector":"billing"}"#)
            #expect(firstQueued.status == .created)
            #expect(firstQueued.data["status"] == .string("queued"))
            #expect(firstQueued.data["agent_id"] == .null)
            let secondQueued = try await client.createCall(#"{"sector":"billing"}"#)
            let oldest = try #require(firstQueued.data["id"].uuid)
            let younger = try #require(secondQueued.data["id"].uuid)
            #expect(try await client.send(.POST, "/api/calls/\(oldest)/complete",
                                          json: #"{"outcome":"successful","resolved":true,"handling_time_seconds":1}"#).status == .conflict,
                    "a queued call cannot be completed")

            _ = try await client.complete(active)
            let handed = try await client.send(.GET, "/api/calls/\(oldest)")
            #expect(handed.data["status"] == .string("active"))
            #expect(handed.data["agent_id"].uuid == agent)
            #expect(try await client.send(.GET, "/api/calls/\(younger)").data["status"] == .string("queued"))
            #expect(try await client.agent(agent)["current_load"] == .number(1))
            let log = try await client.send(.GET, "/api/routing/decisions?call_id=\(oldest)")
            #expect(log.data.arrayValue?.contains { $0["strategy"] == .string("queue") } == true)

            // Cancelling the active call releases the agent to the next queued call.
            _ = try await client.send(.POST, "/api/calls/\(oldest)/cancel")
            #expect(try await client.send(.GET, "/api/calls/\(younger)").data["status"] == .string("active"))
            // Cancelling a queued call needs no agent.
            let queuedAgain = try #require(try await client.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let cancelled = try await client.send(.POST, "/api/calls/\(queuedAgain)/cancel")
            #expect(cancelled.data["status"] == .string("cancelled"))
            #expect(try await client.agent(agent)["current_load"] == .number(1))
        }
    }

    @Test func raisingCapacityServesTheQueue() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let agent = try await client.createAgent(maxConcurrent: 1)
            _ = try await client.createCall(#"{"sector":"billing"}"#)
            let queued = try #require(try await client.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            _ = try await client.send(.PUT, "/api/agents/\(agent)", json: #"{"max_concurrent":2}"#)
            #expect(try await client.send(.GET, "/api/calls/\(queued)").data["status"] == .string("active"))
            #expect(try await client.agent(agent)["current_load"] == .number(2))
        }
    }

    @Test func idempotencyKeyReturnsTheFirstCall() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let agent = try await client.createAgent()
            let first = try await client.createCall(#"{"sector":"billing"}"#, idempotencyKey: "order-42")
            let second = try await client.createCall(#"{"sector":"billing"}"#, idempotencyKey: "order-42")
            #expect(first.status == .created)
            #expect(second.status == .ok)
            #expect(second.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(first.data["id"] == second.data["id"])
            #expect(try await client.send(.GET, "/api/calls").data.count == 1)
            #expect(try await client.agent(agent)["current_load"] == .number(1))

            // The same key in another tenant is another call.
            let other = try await APIClient.make(app)
            _ = try await other.createAgent()
            let theirs = try await other.createCall(#"{"sector":"billing"}"#, idempotencyKey: "order-42")
            #expect(theirs.status == .created)
            #expect(theirs.data["id"] != first.data["id"])
        }
    }

    @Test func concurrentCallsNeverOverfillAgents() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            var agents: [UUID] = []
            for index in 0..<5 { agents.append(try await client.createAgent("A\(index)", maxConcurrent: 3)) }
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponseStatus, String?).self) { group in
                for index in 0..<120 {
                    group.addTask {
                        let response = try await client.createCall(#"{"sector":"billing"}"#, idempotencyKey: index % 40 == 0 ? "dup" : nil)
                        return (response.status, response.data["status"].stringValue)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.0 == .created || $0.0 == .ok }, "\(statuses.map(\.0))")
            let calls = try await TenantScope(clientId: client.clientId).query(Call.self, on: app.db).all()
            #expect(calls.count == 118, "120 requests, three of them sharing one idempotency key")
            #expect(calls.filter { $0.status == .active }.count == 15)
            #expect(calls.filter { $0.status == .queued }.count == 103)
            for agent in agents {
                let load = try await client.agent(agent)["current_load"].intValue
                let active = calls.filter { $0.agentId == agent && $0.status == .active }.count
                #expect(load == 3)
                #expect(active == 3)
            }
        }
    }

    @Test func startupReconcilesCorruptedLoads() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let busy = try await client.createAgent(maxConcurrent: 5)
            let idle = try await client.createAgent(maxConcurrent: 5)
            for _ in 0..<2 { _ = try await client.createCall(#"{"sector":"billing","capabilities":[]}"#) }
            let sql = app.db as! any SQLDatabase
            try await sql.update("sector_agents").set("current_load", to: 4).where("client_id", .equal, client.clientId).run()
            // Reconciliation covers every tenant: over a PostgreSQL shared with other tests, another test's run may
            // fix these agents first, so what counts is the loads afterwards.
            _ = try await LoadReconciliation.reconcileAll(in: app.store())
            let loads = [try await client.agent(busy)["current_load"].intValue ?? -1, try await client.agent(idle)["current_load"].intValue ?? -1]
            let active = try await TenantScope(clientId: client.clientId).query(Call.self, on: app.db).filter(\.$status == .active).all()
            #expect(loads.reduce(0, +) == active.count)
            #expect(try await client.agent(busy)["current_load"].intValue == active.filter { $0.agentId == busy }.count)
            #expect(try await LoadReconciliation.reconcileAll(in: app.store()).filter { $0.agentId == busy || $0.agentId == idle }.isEmpty)
        }
    }

    @Test func poolCacheSeesWritesAtOnce() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let first = try await client.createAgent(successRate: 0.5)
            #expect(try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#).data["agent_id"].uuid == first)
            let better = try await client.createAgent(successRate: 0.9)
            #expect(try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#).data["agent_id"].uuid == better)
            _ = try await client.send(.PUT, "/api/agents/\(better)", json: #"{"success_rate":0.1}"#)
            #expect(try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#).data["agent_id"].uuid == first)
            let health = try await client.send(.GET, "/api/routing/health")
            #expect(health.status == .ok)
            #expect(health.data["cache_ttl_seconds"] == .number(300))
            #expect(health.data["cache"]["cached_pools"] == .number(1))
        }
    }

    /// The contract's tie-break after load and priority: the agent idle longest (since its last call or wrap-up
    /// ended; one that never had a call, since it was created), then the smaller id. It holds from the database too,
    /// as a fresh book reads it.
    @Test func tiesGoToTheAgentIdleLongest() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let (smaller, larger) = try await Self.twoEqualAgents(client, app)
            #expect(try await Self.routed(client) == larger, "created earlier, so idle longer than the smaller id")

            let call = try await client.createCall(#"{"sector":"billing"}"#).data
            #expect(call["agent_id"].uuid == larger)
            try #require(try await client.complete(try #require(call["id"].uuid)).status == .ok)
            #expect(try await Self.routed(client) == smaller, "the other has just finished a call")
            await app.loadBook.invalidate(client.clientId)
            #expect(try await Self.routed(client) == smaller, "as the database keeps it")

            let next = try await client.createCall(#"{"sector":"billing"}"#).data
            #expect(next["agent_id"].uuid == smaller, "\(next)")
            try #require(try await client.complete(try #require(next["id"].uuid)).status == .ok)
            #expect(try await Self.routed(client) == larger, "its call ended before the other's")
        }
    }

    /// Over PostgreSQL the idle time travels with the loads: a call ended through one process changes the tie on
    /// another at once (its book is not reloaded).
    @Test(.enabled(if: TestDatabase.isPostgres, "loads travel between processes through PostgreSQL"))
    func idleTimeReachesOtherProcesses() async throws {
        try await withSwitchboard { first in
            try await withSwitchboard { second in
                let viaFirst = try await APIClient.make(first)
                let viaSecond = APIClient(app: second, clientId: viaFirst.clientId, role: .admin, token: viaFirst.token)
                let (smaller, larger) = try await Self.twoEqualAgents(viaFirst, first)
                let loaded = try await holdsEventually(every: .milliseconds(50)) { try await Self.routed(viaSecond) == larger }
                try #require(loaded, "the second process reads the agents' creation times")
                let call = try await viaFirst.createCall(#"{"sector":"billing"}"#).data
                try #require(try await viaFirst.complete(try #require(call["id"].uuid)).status == .ok)
                let seen = try await holdsEventually(every: .milliseconds(50)) { try await Self.routed(viaSecond) == smaller }
                #expect(seen, "the end of the call reached the other process's book")
            }
        }
    }

    /// Two agents equal in everything the formula sees; the one with the larger id was created an hour earlier.
    private static func twoEqualAgents(_ client: APIClient, _ app: Application) async throws -> (smaller: UUID, larger: UUID) {
        let ids = [try await client.createAgent("One"), try await client.createAgent("Two")].sorted { $0.uuidString < $1.uuidString }
        try await (app.db as! any SQLDatabase).update(SectorAgent.schema)
            .set("created_at", to: SQLBind(Date().addingTimeInterval(-3600))).where("id", .equal, ids[1]).run()
        await app.loadBook.invalidate(client.clientId)
        return (ids[0], ids[1])
    }

    private static func routed(_ client: APIClient) async throws -> UUID? {
        try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#).data["agent_id"].uuid
    }

    @Test(.enabled(if: TestDatabase.isPostgres, "invalidations travel between processes through PostgreSQL"))
    func otherProcessesSeeChangesAtOnce() async throws {
        try await withSwitchboard { first in
            try await withSwitchboard { second in
                let viaFirst = try await APIClient.make(first)
                let viaSecond = APIClient(app: second, clientId: viaFirst.clientId, role: .admin, token: viaFirst.token)
                _ = try await viaFirst.createAgent("Old", successRate: 0.2)
                // The second process caches the pool (TTL 300 s by default).
                let before = try await viaSecond.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
                #expect(before.status == .ok)
                let star = try await viaFirst.createAgent("Star", successRate: 1.0)
                let seen = try await holdsEventually(every: .milliseconds(50)) {
                    try await viaSecond.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#).data["agent_id"].uuid == star
                }
                #expect(seen, "the change reached the other process well within the cache TTL")
            }
        }
    }
}
