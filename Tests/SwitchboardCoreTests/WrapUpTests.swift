import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// After-call work: a completed call keeps its agent's slot for the tenant's (or the agent's own) wrap-up time;
/// the timer, run here with its own clock, or the agent being ready ends it, and the slot goes to the queue.
@Suite struct WrapUpTests {
    private func sql(_ app: Application) -> any SQLDatabase { app.db as! any SQLDatabase }

    @Test func aCompletedCallKeepsItsSlotUntilTheWrapUpEnds() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"calls.wrap_up_seconds":30}"#).status == .ok)
            let agent = try await admin.createAgent(maxConcurrent: 1)
            let first = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)

            let completed = try await admin.complete(first)
            #expect(completed.status == .ok && completed.data["status"] == .string("completed"))
            let until = try #require(completed.data["wrap_up_until"].stringValue)
            #expect(completed.data["wrap_up_ended_at"] == .null)
            var state = try await admin.agent(agent)
            #expect(state["state"] == .string("wrap_up") && state["current_load"] == .number(1), "\(state)")
            #expect(state["wrap_up_until"] == .string(until) && state["channel_loads"]["voice"] == .number(1))

            // The slot is taken: the next call waits; routing's dry run finds nobody.
            let waiting = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(waiting.data["status"] == .string("queued"))
            let waitingId = try #require(waiting.data["id"].uuid)

            // Not due yet: nothing changes.
            #expect(try await app.wrapUpTimer.handleDue(now: Date().addingTimeInterval(5), only: admin.clientId) == 0)
            #expect(try await admin.agent(agent)["state"] == .string("wrap_up"))

            // Due: the slot is given back and handed to the waiting call in the same change.
            #expect(try await app.wrapUpTimer.handleDue(now: Date().addingTimeInterval(31), only: admin.clientId) == 1)
            state = try await admin.agent(agent)
            #expect(state["state"] == .string("on_call") && state["current_load"] == .number(1) && state["wrap_up_until"] == .null,
                    "\(state)")
            let handed = try await admin.send(.GET, "/api/calls/\(waitingId)").data
            #expect(handed["status"] == .string("active") && handed["agent_id"] == .string(agent.uuidString))
            let ended = try await admin.send(.GET, "/api/calls/\(first)").data
            #expect(ended["wrap_up_ended_at"].stringValue != nil && ended["wrap_up_until"] == .string(until))

            // A second pass finds nothing; the events tell the story.
            #expect(try await app.wrapUpTimer.handleDue(now: Date().addingTimeInterval(31), only: admin.clientId) == 0)
            let types = try await sql(app).raw("""
                SELECT type FROM events WHERE client_id = \(bind: admin.clientId) AND type LIKE 'agent.wrap_up%' ORDER BY sequence
                """).all().map { try $0.decode(column: "type", as: String.self) }
            #expect(types == ["agent.wrap_up_started", "agent.wrap_up_ended"])
        }
    }

    @Test func anAgentEndsItsWrapUpEarlyUnlessItIsMandatory() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let manager = try await admin.as(.manager)
            let agent = try await admin.createAgent(maxConcurrent: 2)
            // The agent's own time wins over the tenant's (0 here).
            let own = try await admin.send(.PUT, "/api/agents/\(agent)", json: #"{"wrap_up_seconds":120}"#)
            #expect(own.status == .ok && own.data["wrap_up_seconds"] == .number(120))
            let call = try #require(try await admin.createCall(#"{"sector":"billing","channel":"webchat"}"#).data["id"].uuid)
            _ = try await admin.complete(call)
            #expect(try await admin.agent(agent)["state"] == .string("wrap_up"))

            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"calls.wrap_up_mode":"mandatory"}"#).status == .ok)
            let refused = try await manager.send(.POST, "/api/agents/\(agent)/wrap-up/end")
            #expect(refused.status == .conflict && refused.error?.contains("calls.wrap_up_mode") == true, "\(refused.text)")
            #expect(try await admin.agent(agent)["current_load"] == .number(1))

            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"calls.wrap_up_mode":"optional"}"#).status == .ok)
            let ready = try await manager.send(.POST, "/api/agents/\(agent)/wrap-up/end")
            #expect(ready.status == .ok && ready.data["state"] == .string("available") && ready.data["current_load"] == .number(0),
                    "\(ready.text)")
            #expect(ready.data["channel_loads"]["webchat"] == .number(0) && ready.data["wrap_up_until"] == .null)
            // Ready again: nothing to end, the agent as it is.
            #expect(try await manager.send(.POST, "/api/agents/\(agent)/wrap-up/end").status == .ok)
            // The timer later finds the ended wrap-up already over.
            #expect(try await app.wrapUpTimer.handleDue(now: Date().addingTimeInterval(200), only: admin.clientId) == 0)
            let early = try await sql(app).raw("""
                SELECT data FROM events WHERE client_id = \(bind: admin.clientId) AND type = 'agent.wrap_up_ended'
                """).all().map { try $0.decode(column: "data", as: String.self) }
            #expect(early.count == 1 && early[0].contains(#""early":true"#))

            // Clearing the agent's own time: the tenant's 0 applies, a completion frees the slot at once.
            let cleared = try await admin.send(.PUT, "/api/agents/\(agent)", json: #"{"wrap_up_seconds":null}"#)
            #expect(cleared.status == .ok && cleared.data["wrap_up_seconds"] == .null, "\(cleared.text)")
            let next = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let done = try await admin.complete(next)
            #expect(done.data["wrap_up_until"] == .null)
            #expect(try await admin.agent(agent)["state"] == .string("available"))

            // Who may: not a viewer; another tenant's agent is not found.
            let viewer = try await admin.as(.viewer)
            #expect(try await viewer.send(.POST, "/api/agents/\(agent)/wrap-up/end").status == .forbidden)
            let stranger = try await APIClient.make(app)
            #expect(try await stranger.send(.POST, "/api/agents/\(agent)/wrap-up/end").status == .notFound)
        }
    }

    /// Handling time is talk plus after-call work: a call is counted once its wrap-up is over (the timer's, or the
    /// agent's early end), by the incremental run and by a full recount alike.
    @Test func handlingTimeCountsTheWrapUpOnceItIsOver() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"calls.wrap_up_seconds":30}"#).status == .ok)
            let agent = try await admin.createAgent(maxConcurrent: 1)
            func day() async throws -> JSONValue {
                try await admin.send(.GET, "/api/agents/\(agent)/metrics").data["totals"]
            }
            let first = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await admin.complete(first, seconds: 120).status == .ok)
            _ = try await aggregate(app)
            #expect(try await day()["calls_handled"] == .number(0), "not counted while its wrap-up is open")

            // The wrap-up falls due (moved a minute back rather than waited for) and the timer ends it.
            try await sql(app).raw("""
                UPDATE calls SET completed_at = completed_at - \(unsafeRaw: TestDatabase.isPostgres ? "INTERVAL '60 seconds'" : "60"),
                    wrap_up_until = wrap_up_until - \(unsafeRaw: TestDatabase.isPostgres ? "INTERVAL '60 seconds'" : "60")
                WHERE id = \(bind: first)
                """).run()
            let stored = try #require(try await sql(app).raw("""
                SELECT completed_at, wrap_up_until FROM calls WHERE id = \(bind: first)
                """).first())
            let planned = try stored.decode(column: "wrap_up_until", as: Date.self)
                .timeIntervalSince(try stored.decode(column: "completed_at", as: Date.self))
            #expect(planned >= 30 && planned <= 31)
            #expect(try await app.wrapUpTimer.handleDue(now: Date(), only: admin.clientId) == 1)
            _ = try await aggregate(app)
            var totals = try await day()
            #expect(totals["calls_handled"] == .number(1))
            #expect(abs((totals["avg_handling_time"].numberValue ?? 0) - (120 + planned)) < 0.01, "\(totals)")
            #expect(abs((totals["avg_wrap_up_time"].numberValue ?? 0) - planned) < 0.01, "\(totals)")

            // Ended early: only the time it took.
            let second = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await admin.complete(second, seconds: 60).status == .ok)
            #expect(try await admin.send(.POST, "/api/agents/\(agent)/wrap-up/end").status == .ok)
            _ = try await aggregate(app)
            totals = try await day()
            #expect(totals["calls_handled"] == .number(2))
            let early = (totals["avg_wrap_up_time"].numberValue ?? 0) * 2 - planned
            #expect(early >= 0 && early < 5, "\(totals)")
            #expect(abs((totals["avg_handling_time"].numberValue ?? 0) * 2 - (120 + planned + 60 + early)) < 0.01)

            // A full recount agrees.
            try await sql(app).raw("DELETE FROM aggregator_state").run()
            let incremental = totals
            _ = try await aggregate(app)
            totals = try await day()
            for key in ["calls_handled", "avg_handling_time", "avg_wrap_up_time"] {
                #expect(abs((totals[key].numberValue ?? -1) - (incremental[key].numberValue ?? -2)) < 0.01, "\(key): \(totals)")
            }
        }
    }

    @Test func badWrapUpTimesAreRefused() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            for body in [#"{"calls.wrap_up_seconds":3601}"#, #"{"calls.wrap_up_seconds":-1}"#, #"{"calls.wrap_up_seconds":"30"}"#,
                         #"{"calls.wrap_up_mode":"sometimes"}"#] {
                let response = try await admin.send(.PUT, "/api/settings", json: body)
                #expect(response.status == .badRequest, "\(body)")
            }
            let agent = try await admin.createAgent()
            let bad = try await admin.send(.PUT, "/api/agents/\(agent)", json: #"{"wrap_up_seconds":4000,"name":"Renamed"}"#)
            #expect(bad.status == .badRequest && bad.error?.contains("wrap_up_seconds") == true)
            #expect(try await admin.agent(agent)["name"] == .string("Agent"))  // nothing half-written
            let created = try await admin.send(.POST, "/api/agents", json: #"{"name":"W","sector":"billing","wrap_up_seconds":-5}"#)
            #expect(created.status == .badRequest)
        }
    }

    /// A crash while wrap-ups were open: the stored end survives, start-up reconciliation counts the open ones as
    /// taken (not as free), and the timer's first pass ends those that came due while the process was down.
    @Test func openWrapUpsSurviveReconciliationAndEndWhenDue() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"calls.wrap_up_seconds":60}"#).status == .ok)
            let agent = try await admin.createAgent(maxConcurrent: 3)
            for _ in 0..<2 {
                let call = try #require(try await admin.createCall(#"{"sector":"billing","channel":"webchat"}"#).data["id"].uuid)
                _ = try await admin.complete(call)
            }
            _ = try await admin.createCall(#"{"sector":"billing"}"#)
            // A crash left the load wrong; reconciliation counts one call in progress and two wrap-ups.
            try await sql(app).update(SectorAgent.schema).set("current_load", to: 0).set("channel_load_webchat", to: 0)
                .where("id", .equal, agent).run()
            // (On a shared PostgreSQL another test's reconciliation may be the one that fixes it: the row is what counts.)
            _ = try await LoadReconciliation.reconcileAll(in: app.store())
            await app.loadBook.invalidate(admin.clientId)
            let fixed = try await admin.agent(agent)
            #expect(fixed["current_load"] == .number(3) && fixed["channel_loads"]["webchat"] == .number(2), "\(fixed)")

            #expect(try await app.wrapUpTimer.handleDue(now: Date().addingTimeInterval(61), only: admin.clientId) == 2)
            let state = try await admin.agent(agent)
            #expect(state["current_load"] == .number(1) && state["channel_loads"]["webchat"] == .number(0))
            #expect(state["state"] == .string("on_call") && state["wrap_up_until"] == .null, "\(state)")
        }
    }
}
