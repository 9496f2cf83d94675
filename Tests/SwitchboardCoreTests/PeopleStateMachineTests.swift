import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// A property test of people on the floor: random sequences of presence changes, arrivals, accepts, rejects,
/// time-outs, completions, cancellations and ends of wrap-up, with the timers run on an injected clock (no sleeping).
/// After every step: each agent's load, in total and per channel, equals its offered, active and wrapping-up calls;
/// every open offer is to an available agent; no call is lost or duplicated.
@Suite struct PeopleStateMachineTests {
    private struct Floor {
        let app: Application
        let admin: APIClient
        var agents: [UUID] = []
        var created: [UUID] = []
        var clockOffset: TimeInterval = 0
        var rng: SeededGenerator

        var now: Date { Date().addingTimeInterval(clockOffset) }
        var sql: any SQLDatabase { app.db as! any SQLDatabase }

        mutating func pick<T>(_ items: [T]) -> T? {
            items.isEmpty ? nil : items[Int.random(in: 0..<items.count, using: &rng)]
        }

        func calls(_ status: CallStatus) async throws -> [UUID] {
            try await sql.raw("""
                SELECT id FROM calls WHERE client_id = \(bind: admin.clientId) AND status = \(bind: status.rawValue)
                """).all().map { try $0.decode(column: "id", as: UUID.self) }
        }
    }

    @Test func everyStepKeepsLoadsOffersAndCallsExact() async throws {
        try await withSwitchboard { app in
            var walked: [String] = []
            for seed: UInt64 in [11, 29, 47] { walked += try await walk(seed: seed, in: app) }
            // Together the seeds walk through every kind of step.
            #expect(["create", "accept", "reject", "complete", "cancel", "presence", "ready", "clock"].allSatisfy { kind in
                walked.contains { $0.hasPrefix(kind) }
            }, "\(walked)")
        }
    }

    /// One walk of 90 random steps in a tenant of its own; returns what it did.
    private func walk(seed: UInt64, in app: Application) async throws -> [String] {
        let admin = try await APIClient.make(app)
        let set = try await admin.send(.PUT, "/api/settings", json: """
            {"routing.offer_timeout_seconds": 20, "calls.wrap_up_seconds": 30, "routing.max_missed_offers": 2}
            """)
        #expect(set.status == .ok)
        var floor = Floor(app: app, admin: admin, rng: SeededGenerator(seed: seed))
        for index in 0..<4 {
            let agent = try await admin.send(.POST, "/api/agents", json: """
                {"name": "Agent \(index)", "sector": "billing", "max_concurrent": 2, "channel_capacity": {"voice": 1}}
                """)
            floor.agents.append(try #require(agent.data["id"].uuid))
        }
        let manager = try await admin.as(.manager)
        var log: [String] = []
        for step in 0..<90 {
            let roll = Int.random(in: 0..<100, using: &floor.rng)
            switch roll {
            case 0..<25:
                let channel = Bool.random(using: &floor.rng) ? "voice" : "webchat"
                let response = try await admin.createCall(#"{"sector":"billing","channel":"\#(channel)"}"#)
                #expect(response.status == .created, "\(response.text)")
                if let id = response.data["id"].uuid { floor.created.append(id) }
                log.append("create \(channel) → \(response.data["status"].stringValue ?? "?")")
            case 25..<40:
                guard let call = floor.pick(try await floor.calls(.offered)) else { continue }
                let response = try await manager.send(.POST, "/api/calls/\(call)/accept")
                #expect(response.status == .ok, "\(response.text)")
                log.append("accept")
            case 40..<48:
                guard let call = floor.pick(try await floor.calls(.offered)) else { continue }
                let response = try await manager.send(.POST, "/api/calls/\(call)/reject", json: #"{"reason":"busy"}"#)
                #expect(response.status == .ok, "\(response.text)")
                log.append("reject → \(response.data["status"].stringValue ?? "?")")
            case 48..<62:
                guard let call = floor.pick(try await floor.calls(.active)) else { continue }
                let response = try await admin.complete(call)
                #expect(response.status == .ok, "\(response.text)")
                log.append("complete")
            case 62..<67:
                let open = try await floor.calls(.queued) + floor.calls(.offered) + floor.calls(.active)
                guard let call = floor.pick(open) else { continue }
                let response = try await manager.send(.POST, "/api/calls/\(call)/cancel")
                #expect(response.status == .ok, "\(response.text)")
                log.append("cancel")
            case 67..<77:
                guard let agent = floor.pick(floor.agents) else { continue }
                let presence = floor.pick([#"{"presence":"available"}"#, #"{"presence":"available"}"#,
                                           #"{"presence":"away","reason":"break"}"#, #"{"presence":"offline"}"#])!
                let response = try await manager.send(.PUT, "/api/agents/\(agent)/presence", json: presence)
                #expect(response.status == .ok, "\(response.text)")
                log.append("presence \(presence)")
            case 77..<82:
                guard let agent = floor.pick(floor.agents) else { continue }
                let response = try await manager.send(.POST, "/api/agents/\(agent)/wrap-up/end")
                #expect(response.status == .ok, "\(response.text)")
                log.append("ready")
            default:
                floor.clockOffset += Double(Int.random(in: 3...25, using: &floor.rng))
                let expired = try await app.offerTimer.handleDue(now: floor.now, only: admin.clientId)
                let ended = try await app.wrapUpTimer.handleDue(now: floor.now, only: admin.clientId)
                log.append("clock +\(Int(floor.clockOffset)) s: \(expired) offers ran out, \(ended) wrap-ups ended")
            }
            let problems = try await invariants(floor)
            #expect(problems.isEmpty, "seed \(seed), step \(step) (\(log.suffix(4).joined(separator: "; "))): \(problems)")
            if !problems.isEmpty { break }
        }
        return log
    }

    private func invariants(_ floor: Floor) async throws -> [String] {
        var problems: [String] = []
        let clientId = floor.admin.clientId
        let holding = try await floor.sql.raw("""
            SELECT agent_id, channel, COUNT(*) AS calls FROM calls
            WHERE client_id = \(bind: clientId) AND agent_id IS NOT NULL
              AND (status IN ('offered', 'active') OR (status = 'completed' AND wrap_up_until IS NOT NULL AND wrap_up_ended_at IS NULL))
            GROUP BY agent_id, channel
            """).all()
        var expected: [UUID: [String: Int]] = [:]
        for row in holding {
            expected[try row.decode("agent_id"), default: [:]][try row.decode("channel")] = try row.decode(column: "calls", as: Int.self)
        }
        let agents = try await floor.sql.raw("""
            SELECT id, presence, current_load, channel_load_voice, channel_load_webchat FROM sector_agents
            WHERE client_id = \(bind: clientId)
            """).all()
        var presence: [UUID: String] = [:]
        for row in agents {
            let id: UUID = try row.decode("id")
            presence[id] = try row.decode("presence")
            let byChannel = expected[id] ?? [:]
            let load: Int = try row.decode("current_load")
            if load != byChannel.values.reduce(0, +) { problems.append("agent \(id): load \(load), calls \(byChannel)") }
            for channel in ["voice", "webchat"] {
                let channelLoad: Int = try row.decode("channel_load_\(channel)")
                if channelLoad != byChannel[channel, default: 0] {
                    problems.append("agent \(id): \(channel) load \(channelLoad), calls \(byChannel[channel, default: 0])")
                }
            }
        }
        for row in try await floor.sql.raw("""
            SELECT id, agent_id FROM calls WHERE client_id = \(bind: clientId) AND status = 'offered'
            """).all() {
            let agentId: UUID = try row.decode("agent_id")
            if presence[agentId] != "available" { problems.append("call offered to \(agentId), which is \(presence[agentId] ?? "?")") }
        }
        let stored = try await floor.sql.raw("SELECT id FROM calls WHERE client_id = \(bind: clientId)").all()
            .map { try $0.decode(column: "id", as: UUID.self) }
        if stored.count != floor.created.count || Set(stored) != Set(floor.created) {
            problems.append("calls stored \(stored.count), created \(floor.created.count)")
        }
        return problems
    }
}
