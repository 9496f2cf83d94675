import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// Preferred agents and sticky customers (issue 25, §6): a call naming an agent goes to it when it can take the
/// call, waits for it while it is busy (for `routing.preferred_agent_wait_seconds`, nobody else taking it), then
/// routes as usual; with `routing.sticky_customers`, a customer's call prefers the agent who last served them well.
/// On both databases.
@Suite struct PreferredAgentTests {
    /// Two agents of one sector: `other` scores far better, so only a preference sends a call to `preferred`.
    private func twoAgents(_ admin: APIClient) async throws -> (preferred: UUID, other: UUID) {
        let preferred = try await admin.createAgent("Pat", priority: 1, maxConcurrent: 1, successRate: 0.2)
        let other = try await admin.createAgent("Sam", priority: 10, maxConcurrent: 1, successRate: 0.9)
        return (preferred, other)
    }

    @Test func aFreePreferredAgentTakesTheCallOverABetterOne() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let (preferred, other) = try await twoAgents(admin)
            #expect(try await admin.send(.PUT, "/api/agents/\(preferred)", json: #"{"external_id":"crm-7"}"#).status == .ok)
            let plain = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(plain.data["agent_id"] == .string(other.uuidString), "without a preference the better agent takes it")
            #expect(try await admin.complete(try #require(plain.data["id"].uuid)).status == .ok)

            let named = try await admin.createCall(#"{"sector":"billing","preferred_agent_external_id":"crm-7","customer_ref":"+447700900123"}"#)
            #expect(named.status == .created && named.data["agent_id"] == .string(preferred.uuidString), "\(named.text)")
            #expect(named.data["preferred_agent_id"] == .string(preferred.uuidString))
            #expect(named.data["customer_ref"] == .string("+447700900123") && named.data["preferred_until"] == .null)
            let callId = try #require(named.data["id"].uuid)
            let decision = try #require(try await admin.send(.GET, "/api/routing/decisions?call_id=\(callId)").data.arrayValue?.first)
            #expect(decision["strategy"] == .string("preferred") && decision["agent_id"] == .string(preferred.uuidString))
            #expect(decision["request"]["preferred_agent_id"] == .string(preferred.uuidString), "\(decision)")
        }
    }

    /// While the preferred agent is busy the call waits for it, even with another agent free; when it frees, the call
    /// is its own, before calls that waited longer.
    @Test func aCallWaitsForItsBusyPreferredAgentWithinTheWindow() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let (preferred, other) = try await twoAgents(admin)
            let first = try #require(try await admin.createCall(#"{"sector":"billing","preferred_agent_id":"\#(preferred)"}"#).data["id"].uuid)
            let kept = try await admin.createCall(#"{"sector":"billing","preferred_agent_id":"\#(preferred)"}"#)
            #expect(kept.data["status"] == .string("queued"), "\(kept.text)")
            let keptId = try #require(kept.data["id"].uuid)
            let createdAt = try #require(kept.data["created_at"].date)
            let until = try #require(kept.data["preferred_until"].date)
            #expect(abs(until.timeIntervalSince(createdAt) - 20) < 1.5, "the default window is 20 s")

            let listed = try await admin.send(.GET, "/api/routing/queue").data.arrayValue ?? []
            #expect(listed.first?["waiting_for_agent_id"] == .string(preferred.uuidString), "\(listed)")
            // Sam is free, but the sweeper leaves a call kept for Pat alone.
            #expect(try await app.queueSweeper.sweep(now: Date().addingTimeInterval(2), only: admin.clientId) == 0)
            #expect(try await admin.send(.GET, "/api/calls/\(keptId)").data["status"] == .string("queued"))
            let events = try await EventOutbox.events(of: admin.clientId, after: 0, limit: 100, on: app.db as! any SQLDatabase)
            let queued = try #require(events.first { $0.type == EventType.callQueued.rawValue })
            #expect(queued.data.contains(#""preferred_agent_id":"\#(preferred.uuidString)""#), "\(queued.data)")

            // Sam takes an ordinary call and frees: the kept call is not his.
            let ordinary = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await admin.send(.GET, "/api/calls/\(ordinary)").data["agent_id"] == .string(other.uuidString))
            #expect(try await admin.complete(ordinary).status == .ok)
            #expect(try await admin.send(.GET, "/api/calls/\(keptId)").data["status"] == .string("queued"))

            #expect(try await admin.complete(first).status == .ok)
            let taken = try await admin.send(.GET, "/api/calls/\(keptId)").data
            #expect(taken["status"] == .string("active") && taken["agent_id"] == .string(preferred.uuidString), "\(taken)")
            #expect(taken["preferred_until"] == .null, "only a waiting call shows its window")
        }
    }

    /// After the window the call routes as usual (the sweeper's pass), and a window of 0 never waits.
    @Test func afterItsWindowTheCallRoutesAsUsual() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.preferred_agent_wait_seconds":5}"#).status == .ok)
            let (preferred, other) = try await twoAgents(admin)
            _ = try await admin.createCall(#"{"sector":"billing","preferred_agent_id":"\#(preferred)"}"#)
            let kept = try await admin.createCall(#"{"sector":"billing","preferred_agent_id":"\#(preferred)"}"#)
            let keptId = try #require(kept.data["id"].uuid)
            let createdAt = try #require(kept.data["created_at"].date)
            #expect(try await app.queueSweeper.sweep(now: createdAt.addingTimeInterval(3), only: admin.clientId) == 0)
            #expect(try await app.queueSweeper.sweep(now: createdAt.addingTimeInterval(6), only: admin.clientId) == 1)
            let routed = try await admin.send(.GET, "/api/calls/\(keptId)").data
            #expect(routed["status"] == .string("active") && routed["agent_id"] == .string(other.uuidString), "\(routed)")

            #expect(try await admin.complete(keptId).status == .ok)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.preferred_agent_wait_seconds":0}"#).status == .ok)
            let unkept = try await admin.createCall(#"{"sector":"billing","preferred_agent_id":"\#(preferred)"}"#)
            #expect(unkept.data["agent_id"] == .string(other.uuidString) && unkept.data["preferred_until"] == .null, "\(unkept.text)")
        }
    }

    /// A preferred agent that cannot serve the call at all (away, another sector, lacking a required capability)
    /// is passed over at once.
    @Test func aPreferredAgentThatCannotServeIsPassedOver() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let (preferred, other) = try await twoAgents(admin)
            let elsewhere = try await admin.createAgent("Lee", sector: "sales", maxConcurrent: 1)
            for (json, label) in [(#""preferred_agent_id":"\#(elsewhere)""#, "another sector"),
                                  (#""preferred_agent_id":"\#(preferred)","required_capabilities":["french"]"#, "lacks french")] {
                let call = try await admin.createCall(#"{"sector":"billing",\#(json)}"#)
                if label == "lacks french" {
                    #expect(call.data["status"] == .string("queued") && call.data["preferred_until"] == .null, "\(label): \(call.text)")
                } else {
                    #expect(call.data["agent_id"] == .string(other.uuidString), "\(label): \(call.text)")
                    #expect(try await admin.complete(try #require(call.data["id"].uuid)).status == .ok)
                }
            }
            let waiting = try #require(try await admin.send(.GET, "/api/calls?status=queued").data.arrayValue?.first?["id"].uuid)
            #expect(try await admin.send(.POST, "/api/calls/\(waiting)/cancel").status == .ok)
            #expect(try await admin.send(.PUT, "/api/agents/\(preferred)/presence", json: #"{"presence":"away","reason":"lunch"}"#).status == .ok)
            let call = try await admin.createCall(#"{"sector":"billing","preferred_agent_id":"\#(preferred)"}"#)
            #expect(call.data["agent_id"] == .string(other.uuidString) && call.data["preferred_until"] == .null, "\(call.text)")
        }
    }

    /// When the preferred agent rejects the offer, the call no longer waits for it.
    @Test func aRejectedPreferredAgentReleasesTheCall() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.offer_timeout_seconds":30}"#).status == .ok)
            let (preferred, other) = try await twoAgents(admin)
            let offered = try await admin.createCall(#"{"sector":"billing","preferred_agent_id":"\#(preferred)"}"#)
            #expect(offered.data["status"] == .string("offered") && offered.data["agent_id"] == .string(preferred.uuidString))
            let callId = try #require(offered.data["id"].uuid)
            #expect(try await admin.send(.POST, "/api/calls/\(callId)/reject").status == .ok)
            let moved = try await admin.send(.GET, "/api/calls/\(callId)").data
            #expect(moved["status"] == .string("offered") && moved["agent_id"] == .string(other.uuidString), "\(moved)")
        }
    }

    /// With `routing.sticky_customers` on, a customer's call goes to the agent of their last successful call (a
    /// failed one does not count); off, or without a `customer_ref`, the formula decides.
    @Test func stickyCustomersReturnToTheirLastGoodAgent() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let (preferred, other) = try await twoAgents(admin)
            let good = try #require(try await admin.createCall(
                #"{"sector":"billing","preferred_agent_id":"\#(preferred)","customer_ref":"cust-1"}"#).data["id"].uuid)
            #expect(try await admin.complete(good, outcome: "successful").status == .ok)
            let bad = try #require(try await admin.createCall(
                #"{"sector":"billing","preferred_agent_id":"\#(preferred)","customer_ref":"cust-2"}"#).data["id"].uuid)
            #expect(try await admin.complete(bad, outcome: "failed").status == .ok)

            func agentOf(_ json: String) async throws -> JSONValue {
                let call = try await admin.createCall(json)
                let id = try #require(call.data["id"].uuid)
                #expect(try await admin.complete(id).status == .ok)
                return call.data["agent_id"]
            }
            #expect(try await agentOf(#"{"sector":"billing","customer_ref":"cust-1"}"#) == .string(other.uuidString), "off by default")
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.sticky_customers":true}"#).status == .ok)
            // cust-1's last successful call is now Sam's (just above): Sam again; then Pat serves them well once more.
            #expect(try await agentOf(#"{"sector":"billing","customer_ref":"cust-1"}"#) == .string(other.uuidString))
            let again = try #require(try await admin.createCall(
                #"{"sector":"billing","preferred_agent_id":"\#(preferred)","customer_ref":"cust-1"}"#).data["id"].uuid)
            #expect(try await admin.complete(again).status == .ok)
            let sticky = try await admin.createCall(#"{"sector":"billing","customer_ref":"cust-1"}"#)
            #expect(sticky.data["agent_id"] == .string(preferred.uuidString), "\(sticky.text)")
            #expect(sticky.data["preferred_agent_id"] == .string(preferred.uuidString))
            #expect(try await admin.complete(try #require(sticky.data["id"].uuid)).status == .ok)
            #expect(try await agentOf(#"{"sector":"billing","customer_ref":"cust-2"}"#) == .string(other.uuidString), "a failed call does not stick")
            #expect(try await agentOf(#"{"sector":"billing","customer_ref":"cust-9"}"#) == .string(other.uuidString), "a new customer")
            // Another tenant's customer of the same reference is not this one.
            let stranger = try await APIClient.make(app)
            #expect(try await stranger.send(.PUT, "/api/settings", json: #"{"routing.sticky_customers":true}"#).status == .ok)
            let theirs = try await stranger.createAgent("Kim", maxConcurrent: 1)
            let call = try await stranger.createCall(#"{"sector":"billing","customer_ref":"cust-1"}"#)
            #expect(call.data["agent_id"] == .string(theirs.uuidString) && call.data["preferred_agent_id"] == .null, "\(call.text)")
        }
    }

    /// Both names, an unknown or another tenant's agent, a long reference and settings out of range are 400s naming
    /// the field, and nothing is written.
    @Test func badInputIsRefusedAndNothingIsWritten() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let (preferred, _) = try await twoAgents(admin)
            let stranger = try await APIClient.make(app)
            let theirs = try await stranger.createAgent("Kim", maxConcurrent: 1)
            let long = String(repeating: "x", count: 129)
            for (json, field) in [
                (#""preferred_agent_id":"\#(preferred)","preferred_agent_external_id":"crm-1""#, "preferred_agent_id"),
                (#""preferred_agent_id":"\#(UUID())""#, "preferred_agent_id"),
                (#""preferred_agent_id":"\#(theirs)""#, "preferred_agent_id"),
                (#""preferred_agent_external_id":"nobody""#, "preferred_agent_external_id"),
                (#""preferred_agent_external_id":"""#, "preferred_agent_external_id"),
                (#""customer_ref":"\#(long)""#, "customer_ref"),
            ] {
                let refused = try await admin.createCall(#"{"sector":"billing",\#(json)}"#)
                #expect(refused.status == .badRequest && refused.error?.contains(field) == true, "\(json): \(refused.text)")
            }
            #expect(try await admin.send(.GET, "/api/calls").data.arrayValue?.isEmpty == true)
            for (json, field) in [(#"{"routing.preferred_agent_wait_seconds":601}"#, "routing.preferred_agent_wait_seconds"),
                                  (#"{"routing.preferred_agent_wait_seconds":-1}"#, "routing.preferred_agent_wait_seconds"),
                                  (#"{"routing.sticky_customers":"yes"}"#, "routing.sticky_customers")] {
                let refused = try await admin.send(.PUT, "/api/settings", json: json)
                #expect(refused.status == .badRequest && refused.error?.contains(field) == true, "\(json): \(refused.text)")
            }
            let settings = try await admin.send(.GET, "/api/settings").data
            #expect(settings["routing.preferred_agent_wait_seconds"] == .number(20) && settings["routing.sticky_customers"] == .bool(false),
                    "\(settings)")
        }
    }

    /// The simulator keeps a call for its busy preferred agent too, and lets it go after the window.
    @Test func theSimulatorKeepsCallsForTheirPreferredAgent() {
        let (pat, sam) = (UUID(), UUID())
        let catalogue = BookCatalogue(agents: [(pat, 1), (sam, 10)].map { id, priority in
            BookAgentRow(id: id, sector: "billing", isActive: true, priority: priority, capabilities: [], maxConcurrent: 1,
                         load: 0, successRate: 0.5, avgHandlingTime: 180)
        }, teams: [:], assignments: [], successHistory: [:])
        func call(at arrival: Double) -> RoutingSimulation.Call {
            RoutingSimulation.Call(arrival: arrival, teamId: nil, sector: "billing", capabilities: [], handlingSeconds: 10,
                                   preferredAgentId: pat)
        }
        var policy = RoutingPolicy.defaults
        policy.preferredAgentWaitSeconds = 20
        // Pat takes the first at 0 and frees at 10: the second (at 1) waits for Pat although Sam is free.
        let kept = RoutingSimulation.run([call(at: 0), call(at: 1)], catalogue: catalogue, policy: policy, horizonSeconds: 60)
        #expect(kept.callsByAgent == [pat: 2] && kept.byStep[.preferred] == 1 && kept.waitP95 == 9, "\(kept)")
        // With a 5 s window the second goes to Sam when the window ends.
        policy.preferredAgentWaitSeconds = 5
        let released = RoutingSimulation.run([call(at: 0), call(at: 1)], catalogue: catalogue, policy: policy, horizonSeconds: 60)
        #expect(released.callsByAgent == [pat: 1, sam: 1] && released.waitMax == 5, "\(released)")
    }
}
