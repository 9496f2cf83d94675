import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// Call priority with aging: the queue hands out the highest effective priority (priority, plus one for every
/// `routing.priority_aging_seconds` waited), then the oldest; the queue listing and a waiting call show their
/// effective priority and place. On both databases.
@Suite struct PriorityQueueTests {
    private func sql(_ app: Application) -> any SQLDatabase { app.db as! any SQLDatabase }

    /// A hand-off reads the queue through an index of waiting calls, never through `idx_calls_client_created`, which
    /// holds the queue's order but every call the tenant ever had (SQLite chose it, and each hand-off walked the
    /// tenant's history before its first waiting call).
    @Test(arguments: [false, true], [false, true])
    func theQueueIsReadThroughAnIndexOfWaitingCalls(fromACursor: Bool, byTeam: Bool) async throws {
        try await withSwitchboard { app in
            let postgres = app.store().isPostgres
            let queue = QueueHandoff.WaitingCalls(
                clientId: "plan", agentId: UUID(), sector: "billing", teams: byTeam ? [UUID()] : [],
                channels: CallChannel.allCases, excluding: [], order: QueueOrder(agingSeconds: 0, now: Date()), mixedPriorities: false, postgres: postgres)
            let plan = try await queryPlans(app) { sql in [queue.page(after: fromACursor ? UUID() : nil, limit: 8, on: sql).select] }[0]
            #expect(!plan.contains("idx_calls_client_created") && plan.contains("idx_calls_"), "\(plan)")
        }
    }

    /// Random arrivals (priorities, and ages set in the database at half-steps of the aging time, so that no age
    /// sits on a step's edge): the places shown and the order one agent takes them in are the model's.
    @Test(arguments: [UInt64(3), 17, 2026])
    func callsAreHandedOutByEffectivePriorityThenAge(seed: UInt64) async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.priority_aging_seconds":60}"#).status == .ok)
            let agent = try await admin.createAgent(maxConcurrent: 1)
            var active = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            var generator = SeededGenerator(seed: seed)
            var arrivals: [(id: UUID, priority: Int)] = []
            for _ in 0..<12 {
                let priority = Int.random(in: 1...10, using: &generator)
                let created = try await admin.createCall(#"{"sector":"billing","priority":\#(priority)}"#)
                #expect(created.status == .created && created.data["status"] == .string("queued") && created.data["priority"] == .number(Double(priority)))
                arrivals.append((try #require(created.data["id"].uuid), priority))
            }
            // The ages are set once every call exists, just before the listing: a loaded machine may take many
            // seconds to create twelve calls, and the half-step margin must cover only what follows.
            let now = Date()
            var waiting: [(id: UUID, priority: Int, steps: Int, createdAt: Date)] = []
            for (index, arrival) in arrivals.enumerated() {
                let steps = Int.random(in: 0...5, using: &generator)
                let createdAt = now.addingTimeInterval(-Double(steps * 60 + 30) - Double(index) / 1000)
                try await sql(app).update(Call.schema).set("created_at", to: SQLBind(createdAt)).where("id", .equal, arrival.id).run()
                waiting.append((arrival.id, arrival.priority, steps, createdAt))
            }
            let expected = waiting.sorted { a, b in
                a.priority + a.steps != b.priority + b.steps ? a.priority + a.steps > b.priority + b.steps : a.createdAt < b.createdAt
            }

            let listed = try await admin.send(.GET, "/api/routing/queue").data.arrayValue ?? []
            #expect(listed.map { $0["call_id"].uuid } == expected.map(\.id), "the listing is in the queue's order")
            #expect(listed.map { $0["queue_position"] } == (1...12).map { .number(Double($0)) })
            #expect(listed.map { $0["effective_priority"] } == expected.map { .number(Double($0.priority + $0.steps)) })
            let third = try await admin.send(.GET, "/api/calls/\(expected[2].id)").data
            #expect(third["queue_position"] == .number(3) && third["effective_priority"] == .number(Double(expected[2].priority + expected[2].steps)))

            for next in expected {
                #expect(try await admin.complete(active).status == .ok)
                let taken = try await admin.send(.GET, "/api/calls/\(next.id)").data
                #expect(taken["status"] == .string("active") && taken["agent_id"] == .string(agent.uuidString),
                        "\(next) should be next: \(taken)")
                #expect(taken["queue_position"] == .null && taken["effective_priority"] == .null)
                // The decision log keeps the priority it was handed out at, and what its wait had raised it to.
                let logged = try await admin.send(.GET, "/api/routing/decisions?call_id=\(next.id)").data.arrayValue ?? []
                let decision = logged.first { $0["trigger"] == .string("queue") }
                let handedOut = decision?["request"]
                // Its steps when the loop began, or more on a machine slow enough for the loop to outlast half a
                // step: the effective priority is the one its wait then gave it.
                let stepsThen = Int((decision?["waited_seconds"].numberValue ?? 0) / 60)
                #expect(stepsThen >= next.steps)
                #expect(handedOut?["priority"] == .number(Double(next.priority)) && handedOut?["effective_priority"] == .number(Double(next.priority + stepsThen)),
                        "\(String(describing: decision))")
                active = next.id
            }
        }
    }

    /// With aging off, priority alone then age: an old call of priority 2 waits behind a new one of priority 9.
    @Test func withoutAgingPriorityWinsOverAge() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.priority_aging_seconds":0}"#).status == .ok)
            _ = try await admin.createAgent(maxConcurrent: 1)
            let active = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let old = try #require(try await admin.createCall(#"{"sector":"billing","priority":2}"#).data["id"].uuid)
            try await sql(app).update(Call.schema).set("created_at", to: SQLBind(Date().addingTimeInterval(-3600)))
                .where("id", .equal, old).run()
            let urgent = try #require(try await admin.createCall(#"{"sector":"billing","priority":9}"#).data["id"].uuid)
            #expect(try await admin.send(.GET, "/api/calls/\(old)").data["effective_priority"] == .number(2))
            let queuedEvents = try await sql(app).raw("""
                SELECT data FROM events WHERE client_id = \(bind: admin.clientId) AND type = 'call.queued'
                """).all().map { try $0.decode(column: "data", as: String.self) }
            #expect(queuedEvents.contains { $0.contains(urgent.uuidString) && $0.contains(#""priority":9"#) }, "\(queuedEvents)")
            #expect(try await admin.complete(active).status == .ok)
            #expect(try await admin.send(.GET, "/api/calls/\(urgent)").data["status"] == .string("active"))
            #expect(try await admin.send(.GET, "/api/calls/\(old)").data["queue_position"] == .number(1))
        }
    }

    @Test func badPrioritiesAreRefusedAndNothingIsWritten() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            _ = try await admin.createAgent()
            for body in [#"{"sector":"billing","priority":0}"#, #"{"sector":"billing","priority":11}"#,
                         #"{"sector":"billing","priority":2.5}"#, #"{"sector":"billing","priority":"high"}"#] {
                let refused = try await admin.createCall(body)
                #expect(refused.status == .badRequest && refused.error?.contains("priority") == true, "\(body): \(refused.text)")
            }
            #expect(try await admin.send(.GET, "/api/calls").data.arrayValue?.isEmpty == true)
            for value in ["-1", "86401", "\"soon\""] {
                let refused = try await admin.send(.PUT, "/api/settings", json: #"{"routing.priority_aging_seconds":\#(value)}"#)
                #expect(refused.status == .badRequest && refused.error?.contains("routing.priority_aging_seconds") == true)
            }
            // A replay under one Idempotency-Key must ask for the same priority.
            #expect(try await admin.createCall(#"{"sector":"billing","priority":7}"#, idempotencyKey: "p-1").status == .created)
            #expect(try await admin.createCall(#"{"sector":"billing","priority":7}"#, idempotencyKey: "p-1").status == .ok)
            #expect(try await admin.createCall(#"{"sector":"billing","priority":3}"#, idempotencyKey: "p-1").status == .unprocessableEntity)
            // The what-if simulator takes the aging time as a proposal, checked as the setting is.
            let today = Day(containing: Date()).description
            let proposal = try await admin.send(.POST, "/api/routing/simulate",
                                                json: #"{"from":"\#(today)","to":"\#(today)","policy":{"priority_aging_seconds":30}}"#)
            #expect(proposal.status == .ok, "\(proposal.text)")
            let badProposal = try await admin.send(.POST, "/api/routing/simulate",
                                                   json: #"{"from":"\#(today)","to":"\#(today)","policy":{"priority_aging_seconds":-5}}"#)
            #expect(badProposal.status == .badRequest && badProposal.error?.contains("priority_aging_seconds") == true)
        }
    }
}
