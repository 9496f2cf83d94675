import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// Agents who are people: presence decides who is offered calls; calls in progress stay; coming back available
/// takes the waiting calls at once; every change is an event and a row of the state log.
@Suite struct PresenceTests {
    private func presence(_ client: APIClient, _ agent: UUID, _ json: String) async throws -> APIResponse {
        try await client.send(.PUT, "/api/agents/\(agent)/presence", json: json)
    }

    @Test func awayAgentsAreNotOfferedCallsAndTakeTheQueueWhenBack() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let manager = try await admin.as(.manager)
            let agent = try await admin.createAgent(maxConcurrent: 2)
            let fresh = try await admin.agent(agent)
            #expect(fresh["presence"] == .string("available") && fresh["presence_reason"] == .null)
            #expect(fresh["state"] == .string("available") && fresh["state_since"].stringValue != nil)

            // A call in progress stays with an agent who goes away; nothing new reaches it.
            let first = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(first.data["agent_id"] == .string(agent.uuidString))
            #expect(try await admin.agent(agent)["state"] == .string("on_call"))
            let away = try await presence(manager, agent, #"{"presence":"away","reason":"lunch"}"#)
            #expect(away.status == .ok)
            #expect(away.data["presence"] == .string("away") && away.data["presence_reason"] == .string("lunch"))
            #expect(away.data["state"] == .string("away") && away.data["current_load"] == .number(1))
            let waiting = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(waiting.data["status"] == .string("queued"))
            let dryRun = try await admin.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
            #expect(dryRun.data["agent_id"] == .null)

            // Its own call completes normally; the freed room does not take the waiting call while it is away.
            let firstId = try #require(first.data["id"].uuid)
            let completed = try await admin.send(.POST, "/api/calls/\(firstId)/complete",
                                                 json: #"{"outcome":"successful","resolved":true,"handling_time_seconds":60}"#)
            #expect(completed.status == .ok && completed.data["status"] == .string("completed"))
            #expect(try await admin.agent(agent)["current_load"] == .number(0))
            let waitingId = try #require(waiting.data["id"].uuid)
            #expect(try await admin.send(.GET, "/api/calls/\(waitingId)").data["status"] == .string("queued"))

            // Back: the waiting call is handed over in the same change.
            let back = try await presence(manager, agent, #"{"presence":"available"}"#)
            #expect(back.data["presence"] == .string("available") && back.data["presence_reason"] == .null)
            #expect(back.data["current_load"] == .number(1) && back.data["state"] == .string("on_call"), "\(back.text)")
            let handed = try await admin.send(.GET, "/api/calls/\(waitingId)").data
            #expect(handed["status"] == .string("active") && handed["agent_id"] == .string(agent.uuidString))

            // Offline too keeps it out of routing; setting the same presence again changes nothing.
            _ = try await presence(manager, agent, #"{"presence":"offline"}"#)
            let again = try await presence(manager, agent, #"{"presence":"offline"}"#)
            #expect(again.status == .ok && again.data["state"] == .string("offline"))

            // Each change is an event, in order, and a row of the state log, the last one open.
            let sql = app.db as! any SQLDatabase
            let events = try await sql.raw("""
                SELECT data FROM events WHERE client_id = \(bind: admin.clientId) AND type = 'agent.presence_changed'
                ORDER BY sequence
                """).all().map { try $0.decode(column: "data", as: String.self) }
            #expect(events.count == 3)
            #expect(events.first?.contains(#""presence":"away""#) == true && events.first?.contains(#""reason":"lunch""#) == true)
            #expect(events.last?.contains(#""previous_presence":"available""#) == true)
            let log = try await sql.raw("""
                SELECT state, reason, ended_at FROM agent_state_log WHERE client_id = \(bind: admin.clientId)
                AND agent_id = \(bind: agent) ORDER BY started_at, ended_at IS NULL
                """).all()
            #expect(try log.map { try $0.decode(column: "state", as: String.self) } == ["available", "away", "available", "offline"])
            #expect(try log.map { try $0.decode(column: "ended_at", as: Date?.self) == nil } == [false, false, false, true])
            #expect(try log[1].decode(column: "reason", as: String?.self) == "lunch")
        }
    }

    @Test func badPresenceIsRefusedWithTheAllowedValues() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let agent = try await admin.createAgent()
            for (body, words) in [(#"{"presence":"napping"}"#, "available, away, offline"),
                                  (#"{}"#, "presence is required"),
                                  (#"{"presence":"away"}"#, "break, lunch, training, meeting"),
                                  (#"{"presence":"away","reason":"golf"}"#, "break, lunch, training, meeting"),
                                  (#"{"presence":"away","reason":"missed_offers"}"#, "away reasons"),
                                  (#"{"presence":"available","reason":"lunch"}"#, "only for presence 'away'")] {
                let response = try await presence(admin, agent, body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.error?.contains(words) == true, "\(body): \(response.error ?? "")")
            }
            #expect(try await admin.agent(agent)["presence"] == .string("available"))  // nothing half-written
            let viewer = try await admin.as(.viewer)
            #expect(try await presence(viewer, agent, #"{"presence":"offline"}"#).status == .forbidden)
            #expect(try await presence(admin, UUID(), #"{"presence":"offline"}"#).status == .notFound)

            // The tenant's own reasons; the system's reason is not one a tenant may list.
            let set = try await admin.send(.PUT, "/api/settings", json: #"{"agents.away_reasons":["coaching","one-to-one"]}"#)
            #expect(set.status == .ok)
            #expect(try await presence(admin, agent, #"{"presence":"away","reason":"coaching"}"#).status == .ok)
            #expect(try await presence(admin, agent, #"{"presence":"away","reason":"lunch"}"#).status == .badRequest)
            let reserved = try await admin.send(.PUT, "/api/settings", json: #"{"agents.away_reasons":["missed_offers"]}"#)
            #expect(reserved.status == .badRequest)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"agents.away_reasons":[]}"#).status == .badRequest)
        }
    }

    @Test func bulkImportCarriesPresence() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let first = try await admin.send(.POST, "/api/agents/bulk", json: """
                {"agents": [{"external_id": "hr-1", "name": "Ann", "sector": "billing", "presence": "away", "presence_reason": "training"},
                            {"external_id": "hr-2", "name": "Bob", "sector": "billing"}]}
                """)
            #expect(first.status == .ok, "\(first.text)")
            let agents = try await admin.send(.GET, "/api/agents?sector=billing").data
            let byName = Dictionary(uniqueKeysWithValues: (agents.arrayValue ?? []).map { ($0["name"].stringValue ?? "", $0) })
            #expect(byName["Ann"]?["presence"] == .string("away") && byName["Ann"]?["presence_reason"] == .string("training"))
            #expect(byName["Bob"]?["presence"] == .string("available"))
            // A call goes to the one who is there.
            let call = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(call.data["agent_id"] == byName["Bob"]?["id"])

            // An update of presence goes through the writer: an event, a row of the state log.
            let second = try await admin.send(.POST, "/api/agents/bulk", json: """
                {"agents": [{"external_id": "hr-1", "presence": "available"}, {"external_id": "hr-2", "presence": "offline"}]}
                """)
            #expect(second.status == .ok, "\(second.text)")
            let annId = try #require(byName["Ann"]?["id"].uuid), bobId = try #require(byName["Bob"]?["id"].uuid)
            #expect(try await admin.agent(annId)["presence"] == .string("available"))
            #expect(try await admin.agent(bobId)["presence"] == .string("offline"))
            let changes = try await (app.db as! any SQLDatabase).raw("""
                SELECT count(*) AS n FROM events WHERE client_id = \(bind: admin.clientId) AND type = 'agent.presence_changed'
                """).first()?.decode(column: "n", as: Int.self)
            #expect(changes == 2)

            // A reason the tenant does not have refuses the import, naming the row; nothing is written.
            let bad = try await admin.send(.POST, "/api/agents/bulk", json: """
                {"agents": [{"external_id": "hr-3", "name": "Cy", "sector": "billing", "presence": "away", "presence_reason": "golf"}]}
                """)
            #expect(bad.status == .badRequest && bad.text.contains("presence_reason"), "\(bad.text)")
            #expect(try await admin.send(.GET, "/api/agents?sector=billing").data.arrayValue?.count == 2)
        }
    }

    /// Presence changes submitted together, of two tenants: each is answered with its own agent as the batch left it
    /// (read inside the batch, with the offer the queue made it), another tenant's agent is not found, and the
    /// answers read as `GET /api/agents/:id` does.
    @Test func presenceChangesTogetherAreEachAnsweredWithTheirAgent() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let other = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.offer_timeout_seconds":60}"#).status == .ok)
            let tenant = Tenant(clientId: admin.clientId, userId: "writer-test", role: .admin)
            let otherTenant = Tenant(clientId: other.clientId, userId: "writer-test", role: .admin)
            var agents: [UUID] = []
            for index in 0..<24 { agents.append(try await admin.createAgent("Agent \(index)", maxConcurrent: 2)) }
            let stranger = try await other.createAgent(maxConcurrent: 2)
            let writer = app.callWriter
            for agent in agents { try await writer.agentPresence(agent, .away, reason: "lunch", by: tenant) }
            let waiting = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(waiting.data["status"] == .string("queued"))

            let answers = try await withThrowingTaskGroup(of: (UUID, AgentDTO, [UUID]).self) { group in
                for agent in agents {
                    group.addTask {
                        let answer = try await writer.changeAgent(.presence(agent, .available, reason: nil), by: tenant)
                        return (agent, answer.agent, answer.handedOut)
                    }
                }
                group.addTask {
                    let answer = try await writer.changeAgent(.presence(stranger, .offline, reason: nil), by: otherTenant)
                    return (stranger, answer.agent, answer.handedOut)
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == agents.count + 1)
            for (agent, answer, _) in answers {
                #expect(answer.id == agent)
                #expect(answer.presence == (agent == stranger ? .offline : .available) && answer.presenceReason == nil)
            }
            // The one waiting call was offered to exactly one of them, whose answer says so.
            let taken = answers.filter { !$0.2.isEmpty }
            let waitingId = try #require(waiting.data["id"].uuid)
            #expect(taken.count == 1 && taken.first?.2 == [waitingId])
            let offered = try #require(taken.first)
            #expect(offered.1.state == .offered && offered.1.currentLoad == 1, "\(offered.1)")
            // As the API reads it afterwards.
            let shown = try await admin.agent(offered.0)
            #expect(shown["state"] == .string("offered") && shown["current_load"] == .number(1))

            await #expect(throws: AppError.self) {
                try await writer.changeAgent(.presence(stranger, .away, reason: "lunch"), by: tenant)
            }
            #expect(try await other.agent(stranger)["presence"] == .string("offline"))
        }
    }

    /// Through the writer directly: a presence change and a call in one batch, the claim seeing the change.
    @Test func presenceAndCallsInOneBatch() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let tenant = Tenant(clientId: admin.clientId, userId: "writer-test", role: .admin)
            let agent = try await admin.createAgent(maxConcurrent: 5)
            let writer = app.callWriter
            try await writer.agentPresence(agent, .offline, reason: nil, by: tenant)
            let call = CallChange.create(NewCall(route: RouteRequest(teamId: nil, sector: "billing", capabilities: []),
                                                 channel: nil, externalRef: nil, idempotencyKey: nil))
            // Submitted together: whichever order the batch takes them in, loads and presence agree after.
            async let back = writer.agentPresence(agent, .available, reason: nil, by: tenant)
            async let created = writer.submit(call, by: tenant)
            let (handed, result) = try await (back, created)
            let state = try await admin.agent(agent)
            #expect(state["presence"] == .string("available"))
            #expect(state["current_load"] == .number(1))
            #expect(result.call.status == .active || handed == [result.call.id])
        }
    }

    /// A presence change closes the agent's open row, and the metrics read the rows that overlap a range, each through
    /// `idx_agent_state_log_agent_end` (by when a row ended): through the index by start, both walked every row the
    /// agent ever had.
    @Test func theStateLogIsReadByWhenRowsEnded() async throws {
        try await withSwitchboard { app in
            let plans = try await queryPlans(app) { sql in
                [AgentStateLog.close(UUID(), of: "plan", at: Date()),
                 AgentStateLog.overlapping([UUID(), UUID()], of: "plan", from: Date(timeIntervalSinceNow: -86_400),
                                           until: Date(), on: sql).union]
            }
            #expect(plans[0].contains("idx_agent_state_log_agent_end"), "\(plans[0])")
            #expect(plans[1].components(separatedBy: "idx_agent_state_log_agent_end").count == 3, "\(plans[1])")
        }
    }

    /// The rows that overlap a range: begun before it ended, and ended after it began or still open.
    @Test func theRowsThatOverlapARangeAreRead() async throws {
        try await withSwitchboard { app in
            let sql = app.db as! any SQLDatabase
            let (agent, other) = (UUID(), UUID())
            let from = Date(timeIntervalSince1970: 1_800_000_000), until = from.addingTimeInterval(86_400)
            func row(_ agentId: UUID, _ start: TimeInterval, _ end: TimeInterval?, _ clientId: String = "overlap") -> (clientId: String, values: [any Encodable & Sendable]) {
                (clientId, AgentStateLog.Row(agentId: agentId, state: .available, reason: nil, startedAt: from.addingTimeInterval(start),
                                             endedAt: end.map { from.addingTimeInterval($0) }).values)
            }
            let rows = [
                row(agent, -200, -100),         // ended before the range began
                row(agent, -100, 0),            // ended as it began
                row(agent, 0, 60),              // inside
                row(agent, 60, 90_000),         // begun inside, ended after
                row(agent, 90_000, nil),        // open, begun after the range
                row(other, -500, 30),           // begun before, ended inside
                row(other, 30, nil),            // open, begun inside
                row(agent, 0, nil, "elsewhere"),
            ]
            try await TenantScope.insert(into: AgentStateLog.schema, columns: AgentStateLog.columns, rows: rows, on: sql)
            let read = try await AgentStateLog.overlapping([agent, other], of: "overlap", from: from, until: until, on: sql).all()
                .map { "\(try $0.decode(column: "agent_id", as: UUID.self) == agent ? "agent" : "other")"
                    + "@\(Int(try $0.decode(column: "started_at", as: Date.self).timeIntervalSince(from)))" }
            #expect(Set(read) == ["agent@0", "agent@60", "other@-500", "other@30"] && read.count == 4, "\(read)")
        }
    }
}
