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
}
