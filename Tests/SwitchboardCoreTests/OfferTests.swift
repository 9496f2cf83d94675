import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// Offers that must be accepted: with `routing.offer_timeout_seconds`, a routed call is offered to its agent
/// (holding its slot) until accepted, rejected or run out (the offer timer, run here with its own clock); a
/// declined call keeps its place and never goes back to an agent that declined it.
@Suite struct OfferTests {
    private func sql(_ app: Application) -> any SQLDatabase { app.db as! any SQLDatabase }

    private func offersOn(_ admin: APIClient, seconds: Int = 20, maxMissed: Int = 3) async throws {
        let response = try await admin.send(.PUT, "/api/settings",
                                            json: #"{"routing.offer_timeout_seconds":\#(seconds),"routing.max_missed_offers":\#(maxMissed)}"#)
        #expect(response.status == .ok, "\(response.text)")
    }

    private func desk(_ app: Application, _ admin: APIClient, _ agent: UUID) async throws -> APIClient {
        let token = try await TokenIssuer.issue(on: app, clientId: admin.clientId, role: .agent, subject: "desk", agentId: agent)
        return APIClient(app: app, clientId: admin.clientId, role: .agent, token: token)
    }

    private func eventTypes(_ app: Application, _ clientId: String) async throws -> [String] {
        try await sql(app).raw("SELECT type FROM events WHERE client_id = \(bind: clientId) ORDER BY sequence").all()
            .map { try $0.decode(column: "type", as: String.self) }
    }

    @Test func anOfferHoldsTheSlotUntilAcceptedOnce() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            try await offersOn(admin)
            let agent = try await admin.createAgent(maxConcurrent: 1)
            let created = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(created.data["status"] == .string("offered") && created.data["agent_id"] == .string(agent.uuidString))
            #expect(created.data["offer_expires_at"].stringValue != nil && created.data["assigned_at"] == .null)
            let callId = try #require(created.data["id"].uuid)
            #expect(try await admin.agent(agent)["current_load"] == .number(1))
            // The slot is held: the next call waits.
            #expect(try await admin.createCall(#"{"sector":"billing"}"#).data["status"] == .string("queued"))
            #expect(try await admin.send(.GET, "/api/calls?status=offered").data.arrayValue?.count == 1)

            let own = try await desk(app, admin, agent)
            let accepted = try await own.send(.POST, "/api/calls/\(callId)/accept")
            #expect(accepted.status == .ok && accepted.data["status"] == .string("active"), "\(accepted.text)")
            #expect(accepted.data["assigned_at"].stringValue != nil && accepted.data["offer_expires_at"] == .null)
            let again = try await own.send(.POST, "/api/calls/\(callId)/accept")
            #expect(again.status == .ok && again.data["status"] == .string("active"))
            // The timer later finds nothing to expire; the load is the one call.
            #expect(try await app.offerTimer.handleDue(now: Date().addingTimeInterval(60), only: admin.clientId) == 0)
            #expect(try await admin.agent(agent)["current_load"] == .number(1))
            let types = try await eventTypes(app, admin.clientId)
            #expect(types.contains("call.offered") && types.filter { $0 == "call.assigned" }.count == 1)
            let assigned = try await sql(app).raw("""
                SELECT data FROM events WHERE client_id = \(bind: admin.clientId) AND type = 'call.assigned'
                """).first()?.decode(column: "data", as: String.self)
            #expect(assigned?.contains(#""trigger":"offer""#) == true)
        }
    }

    @Test func aRejectedCallKeepsItsPlaceAndNeverReturnsToWhoDeclinedIt() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            try await offersOn(admin)
            let first = try await admin.createAgent("First", priority: 10, maxConcurrent: 1)
            let created = try await admin.createCall(#"{"sector":"billing"}"#)
            let callId = try #require(created.data["id"].uuid)
            #expect(created.data["agent_id"] == .string(first.uuidString))
            let second = try await admin.createAgent("Second", priority: 1, maxConcurrent: 1)

            let rejected = try await (try await desk(app, admin, first)).send(.POST, "/api/calls/\(callId)/reject",
                                                                               json: #"{"reason":"wrong language"}"#)
            #expect(rejected.status == .ok, "\(rejected.text)")
            #expect(rejected.data["status"] == .string("offered") && rejected.data["agent_id"] == .string(second.uuidString))
            #expect(rejected.data["created_at"] == created.data["created_at"], "the arrival time is kept")
            #expect(try await admin.agent(first)["current_load"] == .number(0))

            // The second declines too (a manager on its behalf, no reason): nobody else may take it, so it waits,
            // and the first agent's free slot does not take it back.
            let manager = try await admin.as(.manager)
            let waiting = try await manager.send(.POST, "/api/calls/\(callId)/reject")
            #expect(waiting.status == .ok && waiting.data["status"] == .string("queued") && waiting.data["agent_id"] == .null)
            #expect(try await admin.agent(first)["current_load"] == .number(0))
            #expect(try await app.queueSweeper.sweep(now: Date().addingTimeInterval(600), only: admin.clientId) == 0)
            // A new call goes to the free first agent as usual.
            let next = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(next.data["agent_id"] == .string(first.uuidString))

            let decisions = try await admin.send(.GET, "/api/routing/decisions?call_id=\(callId)").data.arrayValue ?? []
            let declined = decisions.filter { $0["trigger"] == .string("offer_rejected") }
            #expect(declined.count == 2)
            #expect(declined.contains { $0["declined_agent_id"] == .string(first.uuidString) && $0["declined_reason"] == .string("wrong language") })
            let types = try await eventTypes(app, admin.clientId)
            #expect(types.filter { $0 == "call.offer_rejected" }.count == 2)

            // No open offer any more: accept and reject are 409s, a bad reason is a 400.
            #expect(try await manager.send(.POST, "/api/calls/\(callId)/accept").status == .conflict)
            #expect(try await manager.send(.POST, "/api/calls/\(callId)/reject").status == .conflict)
            let long = String(repeating: "x", count: 201)
            let nextId = try #require(next.data["id"].uuid)
            #expect(try await manager.send(.POST, "/api/calls/\(nextId)/reject", json: #"{"reason":"\#(long)"}"#).status == .badRequest)
            #expect(try await admin.send(.GET, "/api/calls/\(nextId)").data["status"] == .string("offered"))

            // Prometheus counts them: three offers made, two rejected, none accepted yet.
            let metrics = try await admin.send(.GET, "/metrics", authorized: false).text
            #expect(metrics.contains("switchboard_offers_made_total 3"), "\(metrics)")
            #expect(metrics.contains(#"switchboard_offers_ended_total{outcome="rejected"} 2"#))
            #expect(metrics.contains(#"switchboard_offers_ended_total{outcome="accepted"} 0"#))
        }
    }

    /// A restart: offers and wrap-ups whose time passed while no process ran are ended before the first request is
    /// answered, in as many passes as that takes.
    @Test func whatCameDueWhileDownEndsBeforeServing() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            // Times no loaded machine reaches before the first look (a suite run has taken a minute over this test).
            try await offersOn(admin, seconds: 300, maxMissed: 0)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"calls.wrap_up_seconds":300}"#).status == .ok)
            let agent = try await admin.createAgent(maxConcurrent: 4)
            var calls: [UUID] = []
            for _ in 0..<3 {
                calls.append(try #require(try await admin.createCall(#"{"sector":"billing","channel":"webchat"}"#).data["id"].uuid))
            }
            #expect(try await (try await desk(app, admin, agent)).send(.POST, "/api/calls/\(calls[0])/accept").status == .ok)
            #expect(try await admin.complete(calls[0]).status == .ok)
            #expect(await app.endWhatCameDueWhileDown(only: admin.clientId, batch: 1) == ["wrap-up timer": 0, "offer timer": 0])

            // An hour later, one call a pass: the wrap-up and both offers end.
            let ended = await app.endWhatCameDueWhileDown(now: Date().addingTimeInterval(3_600), only: admin.clientId, batch: 1)
            #expect(ended == ["wrap-up timer": 1, "offer timer": 2], "\(ended)")
            let state = try await admin.agent(agent)
            #expect(state["current_load"] == .number(0) && state["wrap_up_until"] == .null, "\(state)")
            for call in calls.dropFirst() {
                #expect(try await admin.send(.GET, "/api/calls/\(call)").data["status"] == .string("queued"))
            }
        }
    }

    @Test func missedOffersReturnToTheQueueAndSendTheAgentAway() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            try await offersOn(admin, seconds: 10, maxMissed: 2)
            let agent = try await admin.createAgent(maxConcurrent: 2)
            let one = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await app.offerTimer.handleDue(now: Date().addingTimeInterval(5), only: admin.clientId) == 0)
            #expect(try await app.offerTimer.handleDue(now: Date().addingTimeInterval(12), only: admin.clientId) == 1)
            var state = try await admin.agent(agent)
            #expect(state["current_load"] == .number(0) && state["presence"] == .string("available"))
            #expect(try await admin.send(.GET, "/api/calls/\(one)").data["status"] == .string("queued"))

            // The accept that comes after the time ran out loses, with a clear message.
            let late = try await (try await desk(app, admin, agent)).send(.POST, "/api/calls/\(one)/accept")
            #expect(late.status == .conflict && late.error?.contains("no longer yours") == true, "\(late.text)")

            // A second miss in a row: the agent is set away (the system's reason) and its other offer withdrawn.
            _ = try await admin.createCall(#"{"sector":"billing"}"#)
            let two = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await admin.agent(agent)["current_load"] == .number(2))
            try await sql(app).raw("UPDATE calls SET offer_expires_at = \(bind: Date().addingTimeInterval(100)) WHERE id = \(bind: two)").run()
            #expect(try await app.offerTimer.handleDue(now: Date().addingTimeInterval(12), only: admin.clientId) == 1)
            state = try await admin.agent(agent)
            #expect(state["presence"] == .string("away") && state["presence_reason"] == .string("missed_offers"), "\(state)")
            #expect(state["current_load"] == .number(0))
            #expect(try await admin.send(.GET, "/api/calls/\(two)").data["status"] == .string("queued"))
            let types = try await eventTypes(app, admin.clientId)
            #expect(types.filter { $0 == "call.offer_expired" }.count == 2 && types.contains("call.offer_rejected"))

            // Back available (the count starts again), it is offered the waiting calls it did not miss.
            let back = try await admin.send(.PUT, "/api/agents/\(agent)/presence", json: #"{"presence":"available"}"#)
            #expect(back.data["current_load"] == .number(1), "\(back.text)")
            #expect(try await admin.send(.GET, "/api/calls/\(two)").data["status"] == .string("offered"))
            #expect(try await admin.send(.GET, "/api/calls/\(one)").data["status"] == .string("queued"))
        }
    }

    @Test func anAcceptStartsTheMissedCountAgainAndAnnouncesNoLoad() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            try await offersOn(admin, seconds: 10, maxMissed: 2)
            let agent = try await admin.createAgent(maxConcurrent: 1)
            func missedOffers() async throws -> Int {
                try await sql(app).raw("SELECT missed_offers FROM sector_agents WHERE id = \(bind: agent)").first()!
                    .decode(column: "missed_offers", as: Int.self)
            }
            // One miss: the call goes back to the queue, where it waits (never again for this agent).
            let missed = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await app.offerTimer.handleDue(now: Date().addingTimeInterval(12), only: admin.clientId) == 1)
            #expect(try await missedOffers() == 1)
            #expect(try await admin.send(.GET, "/api/calls/\(missed)").data["status"] == .string("queued"))

            // The next call is offered to it; accepting it resets the count in a batch that changes no load, so
            // no load event is written for it.
            let call = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let before = try await eventTypes(app, admin.clientId).count
            let accepted = try await (try await desk(app, admin, agent)).send(.POST, "/api/calls/\(call)/accept")
            #expect(accepted.status == .ok && accepted.data["status"] == .string("active"), "\(accepted.text)")
            #expect(try await missedOffers() == 0)
            #expect(Array(try await eventTypes(app, admin.clientId).dropFirst(before)) == ["call.assigned"])
            #expect(try await admin.agent(agent)["presence"] == .string("available"))
        }
    }

    @Test func anOfferThatRunsOutGoesOnToTheNextAgent() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            try await offersOn(admin, seconds: 10)
            let first = try await admin.createAgent("First", priority: 10, maxConcurrent: 1)
            let second = try await admin.createAgent("Second", priority: 1, maxConcurrent: 1)
            let call = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await admin.send(.GET, "/api/calls/\(call)").data["agent_id"] == .string(first.uuidString))
            let tenant = Tenant(clientId: admin.clientId, userId: "offer-test", role: .admin)
            let placed = try await app.callWriter.handOut(.expireOffers([call], asOf: Date().addingTimeInterval(12)), by: tenant)
            #expect(placed == [call], "the writer says which calls went on to another agent")
            let moved = try await admin.send(.GET, "/api/calls/\(call)").data
            #expect(moved["status"] == .string("offered") && moved["agent_id"] == .string(second.uuidString), "\(moved)")
        }
    }

    /// Offers ended in one batch: each call's offer is ended in the offer log once, with its outcome, and the offers
    /// the batch made in their place stay open.
    @Test func offersEndedTogetherAreLoggedOnceEach() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            try await offersOn(admin, seconds: 10)
            let first = try await admin.createAgent("First", priority: 10, maxConcurrent: 3)
            let second = try await admin.createAgent("Second", priority: 1, maxConcurrent: 3)
            var calls: [UUID] = []
            for _ in 0..<3 { calls.append(try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)) }
            let tenant = Tenant(clientId: admin.clientId, userId: "offer-test", role: .admin)
            let placed = try await app.callWriter.handOut(.expireOffers(calls, asOf: Date().addingTimeInterval(12)), by: tenant)
            #expect(Set(placed) == Set(calls))
            let rows = try await sql(app).raw("""
                SELECT call_id, agent_id, outcome, resolved_at FROM call_offers WHERE client_id = \(bind: admin.clientId)
                """).all().map { row in
                    (call: try row.decode(column: "call_id", as: UUID.self), agent: try row.decode(column: "agent_id", as: UUID.self),
                     outcome: try row.decode(column: "outcome", as: String?.self), resolved: try row.decode(column: "resolved_at", as: Date?.self))
                }
            for call in calls {
                let offers = rows.filter { $0.call == call }
                #expect(offers.count == 2, "\(offers)")
                #expect(offers.contains { $0.agent == first && $0.outcome == "expired" && $0.resolved != nil }, "\(offers)")
                #expect(offers.contains { $0.agent == second && $0.outcome == nil && $0.resolved == nil }, "\(offers)")
            }
        }
    }

    /// Ending an offer reads the call's rows of the offer log through `idx_call_offers_call`, never the tenant's
    /// whole log through `idx_call_offers_agent` (SQLite chose that one for a statement ending several calls' offers
    /// at once, and every accept cost three times as much).
    @Test func anOfferIsEndedThroughItsCallsRows() async throws {
        try await withSwitchboard { app in
            let plan = try await queryPlans(app) { _ in [OfferLog.resolve(UUID(), of: "plan", .accepted, at: Date())] }[0]
            #expect(plan.contains("idx_call_offers_call") && !plan.contains("idx_call_offers_agent"), "\(plan)")
        }
    }

    @Test func goingAwayWithdrawsAPendingOffer() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            try await offersOn(admin)
            let leaving = try await admin.createAgent("Leaving", priority: 10, maxConcurrent: 1)
            let call = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let staying = try await admin.createAgent("Staying", priority: 1, maxConcurrent: 1)
            let away = try await admin.send(.PUT, "/api/agents/\(leaving)/presence", json: #"{"presence":"away","reason":"break"}"#)
            #expect(away.status == .ok && away.data["current_load"] == .number(0))
            let moved = try await admin.send(.GET, "/api/calls/\(call)").data
            #expect(moved["status"] == .string("offered") && moved["agent_id"] == .string(staying.uuidString))
            // Cancelling an offered call gives the slot back.
            #expect(try await admin.send(.POST, "/api/calls/\(call)/cancel").data["status"] == .string("cancelled"))
            #expect(try await admin.agent(staying)["current_load"] == .number(0))
        }
    }

    @Test func offerSettingsOutOfRangeAreRefused() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            for body in [#"{"routing.offer_timeout_seconds":3}"#, #"{"routing.offer_timeout_seconds":301}"#,
                         #"{"routing.offer_timeout_seconds":-1}"#, #"{"routing.max_missed_offers":-1}"#,
                         #"{"routing.max_missed_offers":101}"#] {
                let response = try await admin.send(.PUT, "/api/settings", json: body)
                #expect(response.status == .badRequest, "\(body): \(response.text)")
            }
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.offer_timeout_seconds":0}"#).status == .ok)
            let agent = try await admin.createAgent()
            _ = agent
            #expect(try await admin.createCall(#"{"sector":"billing"}"#).data["status"] == .string("active"))
        }
    }

    /// The queue hand-off reads waiting calls without those the agent declined (in SQL, on both databases), in
    /// whatever form each call's list of decliners is stored.
    @Test func theQueueIsReadWithoutTheCallsAnAgentDeclined() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            var calls: [UUID] = []
            for _ in 0..<4 { calls.append(try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)) }
            let (first, second, third) = (UUID(), UUID(), UUID())
            let lists: [[UUID]?] = [[first], [second], [second, first], nil]
            for (callId, list) in zip(calls, lists) {
                let call = try #require(try await Call.find(callId, on: app.db))
                call.declinedBy = list?.map(\.uuidString)
                try await call.save(on: app.db)
            }
            func waiting(for agentId: UUID) async throws -> Set<UUID> {
                let filter = QueueHandoff.notDeclined(by: agentId, postgres: app.store().isPostgres)
                return Set(try await sql(app).select().column("id").from(Call.schema)
                    .where("client_id", .equal, admin.clientId).where("status", .equal, "queued").where(filter)
                    .all().map { try $0.decode(column: "id", as: UUID.self) })
            }
            #expect(try await waiting(for: first) == [calls[1], calls[3]])
            #expect(try await waiting(for: second) == [calls[0], calls[3]])
            #expect(try await waiting(for: third) == Set(calls))
        }
    }
}
