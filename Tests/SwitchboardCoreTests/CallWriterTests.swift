import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// The call writer driven directly, without HTTP: each kind of change submitted as itself, and what it leaves in
/// the book and the database.
@Suite struct CallWriterTests {
    private func newCall(sector: String = "billing", key: String? = nil, ref: String? = nil) -> CallChange {
        .create(NewCall(route: RouteRequest(teamId: nil, sector: sector, capabilities: []), channel: nil,
                        externalRef: ref, idempotencyKey: key))
    }

    @Test func eachChangeKindSubmittedDirectly() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let tenant = Tenant(clientId: client.clientId, userId: "writer-test", role: .admin)
            let agent = try await client.createAgent(maxConcurrent: 1)
            let writer = app.callWriter

            // create: the free agent takes it.
            let first = try await writer.submit(newCall(ref: "first"), by: tenant)
            #expect(first.call.status == .active && first.call.agentId == agent && !first.replayed)
            // create: nobody is free, so it waits.
            let second = try await writer.submit(newCall(ref: "second"), by: tenant)
            #expect(second.call.status == .queued && second.call.agentId == nil)
            // create again under one Idempotency-Key: the first answer, replayed.
            let keyed = try await writer.submit(newCall(key: "k-1", ref: "third"), by: tenant)
            let replay = try await writer.submit(newCall(key: "k-1", ref: "third"), by: tenant)
            #expect(replay.replayed && replay.call.id == keyed.call.id)

            // complete: the freed agent takes the oldest waiting call in the same batch.
            let done = try await writer.submit(.complete(first.call.id, .init(outcome: .successful, resolved: true, satisfaction: 5,
                                                                             handlingTimeSeconds: 90)), by: tenant)
            #expect(done.call.status == .completed && done.call.outcome == .successful)
            #expect(try await client.send(.GET, "/api/calls/\(second.call.id)").data["status"] == .string("active"))
            #expect(try await client.agent(agent)["current_load"] == .number(1))

            // cancel: a waiting call leaves the queue; an active one frees its agent, who takes the next.
            let cancelledWaiting = try await writer.submit(.cancel(keyed.call.id), by: tenant)
            #expect(cancelledWaiting.call.status == .cancelled)
            let cancelledActive = try await writer.submit(.cancel(second.call.id), by: tenant)
            #expect(cancelledActive.call.status == .cancelled)
            #expect(try await client.agent(agent)["current_load"] == .number(0))

            // widen: a waiting call routed again (here still nobody of its sector, so it waits on).
            let elsewhere = try await writer.submit(newCall(sector: "claims", ref: "elsewhere"), by: tenant)
            #expect(elsewhere.call.status == .queued)
            let widened = try await writer.submit(.widen(elsewhere.call.id, asOf: Date()), by: tenant)
            #expect(widened.call.status == .queued && widened.call.id == elsewhere.call.id)

            // agentsChanged: an agent that became able to serve (here made active behind the writer's back, as a
            // catalogue change commits before its hand-off) takes the waiting call, through the queue hand-off.
            let claims = try await client.createAgent(sector: "claims", maxConcurrent: 2, status: "inactive")
            try await (app.db as! any SQLDatabase).update(SectorAgent.schema).set("status", to: "active")
                .where("id", .equal, claims).run()
            await app.loadBook.invalidate(client.clientId)
            let handedOut = try await writer.agentsChanged([claims], by: tenant)
            #expect(handedOut == [elsewhere.call.id])
            #expect(try await client.agent(claims)["current_load"] == .number(1))
            #expect(try await writer.agentsChanged([claims], by: tenant).isEmpty)  // nobody is waiting any more
            let decision = try await client.send(.GET, "/api/routing/decisions?call_id=\(elsewhere.call.id)").data
            #expect(decision[0]["strategy"] == .string("queue") && decision[0]["trigger"] == .string("queue"))
            _ = try await writer.submit(.cancel(elsewhere.call.id), by: tenant)

            // A change to a call that is not the tenant's is a 404, as over HTTP.
            let stranger = Tenant(clientId: uniqueTenant(), userId: "other", role: .admin)
            await #expect(throws: AppError.self) { try await writer.submit(.cancel(elsewhere.call.id), by: stranger) }

            // What the writer booked is what the database holds.
            let loads = try await (app.db as! any SQLDatabase).raw("""
                SELECT current_load FROM sector_agents WHERE id = \(bind: agent)
                """).first()?.decode(column: "current_load", as: Int.self)
            #expect(loads == 0)
        }
    }

    /// A batch that changes many agents of one tenant commits as one statement: over PostgreSQL its load
    /// notifications (one per 30 agents) stay under the 8,000-byte payload limit, so it is never split.
    ///
    /// The loads are set by hand, with no calls behind them, so on a PostgreSQL shared with other tests another
    /// app's start-up reconciliation would set them back to zero mid-test (it did, in CI: 140 calls on 42 agents):
    /// the test has a database of its own.
    @Test func aBatchOverManyAgentsCommitsWhole() async throws {
        try await withSwitchboard(isolated: true) { app in
            let client = try await APIClient.make(app)
            let tenant = Tenant(clientId: client.clientId, userId: "writer-test", role: .admin)
            let agents = (0..<150).map { #"{"external_id": "many-\#($0)", "name": "Agent \#($0)", "sector": "billing", "max_concurrent": 100, "channel_capacity": {"voice": 100, "sms": 100, "whatsapp": 100, "email": 100, "webchat": 100}}"# }
            let created = try await client.send(.POST, "/api/agents/bulk", json: #"{"agents": [\#(agents.joined(separator: ","))]}"#)
            try #require(created.status == .ok || created.status == .created, "\(created.text)")
            // Three-digit loads on every channel: the longest notification entries.
            for channel in CallChannel.allCases {
                try await (app.db as! any SQLDatabase).update(SectorAgent.schema)
                    .set(SQLIdentifier(channel.loadColumn), to: SQLLiteral.numeric("99"))
                    .set("current_load", to: SQLLiteral.numeric("99"))
                    .where("client_id", .equal, client.clientId).run()
            }
            await app.loadBook.invalidate(client.clientId)
            let results = try await withThrowingTaskGroup(of: CallChangeResult.self) { group in
                for index in 0..<140 {
                    group.addTask { try await app.callWriter.submit(self.newCall(ref: "many-\(index)"), by: tenant) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.call.status == .active })
            let agentsUsed = Set(results.compactMap(\.call.agentId)).count
            #expect(agentsUsed > 60, "the calls went to \(agentsUsed) agents")
            let metrics = try await client.send(.GET, "/metrics", authorized: false).text
            #expect(metrics.contains("switchboard_call_batches_split_total 0"))
            #expect(!metrics.contains(#"switchboard_call_batch_size_bucket{le="64.0"} 140"#), "no batch of more than 64 changes formed")
        }
    }

    /// Agents' loads change only in the writer's one conditional statement (`LoadStatement`); start-up
    /// reconciliation and migrations aside, no other source assigns them.
    @Test func noTypeOutsideTheWriterUpdatesLoads() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        let allowed: Set<String> = ["Calls/Writer/LoadStatement.swift", "Storage/LoadReconciliation.swift"]
        // Ways a statement can assign a load column: `SET current_load`, `.set("current_load"`, a channel's
        // `channel_load_<name>` column by name, or either column as an `SQLIdentifier` (to assign through a name).
        let assignment = try Regex(#"(?i)(set\s*\(?\s*"?(current_load|channel_load_[a-z]+)\b)|(SQLIdentifier\(\s*("current_load"|[^)]*loadColumn))"#)
        var offenders: [String] = []
        var scanned = 0
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let file as URL in files where file.pathExtension == "swift" {
            let relative = file.path.replacingOccurrences(of: sources.path + "/SwitchboardCore/", with: "")
            scanned += 1
            guard !allowed.contains(relative), !relative.hasPrefix("Storage/Migrations/") else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            if text.contains(assignment) { offenders.append(relative) }
        }
        #expect(scanned > 100)
        #expect(offenders == [], "only the writer changes loads: \(offenders)")
        // The pattern does find the writer's own statement and the reconciliation.
        for file in allowed {
            let text = try String(contentsOf: sources.appendingPathComponent("SwitchboardCore/\(file)"), encoding: .utf8)
            #expect(text.contains(assignment), "\(file) no longer matches; the pattern needs updating")
        }
    }
}
