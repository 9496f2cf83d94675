import Foundation
import SQLKit
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Testing
import Vapor
import VaporTesting
@testable import SwitchboardCore

/// A WebSocket client of `/api/events/stream` that keeps every message it receives.
final class StreamProbe: Sendable {
    private let received = NIOLockedValueBox<[JSONValue]>([])
    private let socket = NIOLockedValueBox<WebSocket?>(nil)

    static func connect(port: Int, query: String = "", bearer: String? = nil, firstMessage: String? = nil,
                        on group: any EventLoopGroup) async throws -> StreamProbe {
        let probe = StreamProbe()
        var headers = HTTPHeaders()
        if let bearer { headers.bearerAuthorization = BearerAuthorization(token: bearer) }
        try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/api/events/stream\(query)", headers: headers, on: group) { ws in
            probe.socket.withLockedValue { $0 = ws }
            ws.onText { _, text in
                if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) {
                    probe.received.withLockedValue { $0.append(value) }
                }
            }
            if let firstMessage { ws.send(firstMessage) }
        }.get()
        return probe
    }

    var messages: [JSONValue] { received.withLockedValue { $0 } }
    var events: [JSONValue] { messages.filter { $0["type"].stringValue?.contains(".") == true } }
    var closeCode: WebSocketErrorCode? { socket.withLockedValue { $0 }?.closeCode }
    /// False until the upgrade handed over the socket (`connect` may return just before that).
    var isClosed: Bool { socket.withLockedValue { $0 }?.isClosed ?? false }

    func send(_ text: String) { socket.withLockedValue { $0 }?.send(text) }

    func close() async { try? await socket.withLockedValue { $0 }?.close() }

    /// Waits until `condition` holds for what was received (or the socket closed), up to `seconds`.
    @discardableResult
    func wait(seconds: Double = 10, until condition: @escaping ([JSONValue]) -> Bool) async throws -> [JSONValue] {
        try await eventually(within: seconds) { () -> [JSONValue]? in
            let now = messages
            return condition(now) ? now : nil
        } ?? messages
    }

    func waitForClose(seconds: Double = 10) async throws {
        _ = try await holdsEventually(within: seconds) { isClosed }
    }
}

private func sequences(_ events: [JSONValue]) -> [Int] {
    events.compactMap { $0["sequence"].numberValue.map { Int($0) } }
}

@Suite struct EventStreamTests {
    @Test func twoTenantsSeeOnlyTheirOwnEventsInSequenceOrder() async throws {
        try await withSwitchboard { app in
            let port = try await app.listenOnAnyPort()
            let first = try await APIClient.make(app), second = try await APIClient.make(app)
            // One by header, one by first message (as browsers must).
            let a = try await StreamProbe.connect(port: port, bearer: first.token, on: app.eventLoopGroup)
            let b = try await StreamProbe.connect(port: port, firstMessage: #"{"token": "\#(second.token)"}"#, on: app.eventLoopGroup)
            try await a.wait { $0.contains { $0["type"] == .string("ready") } }
            try await b.wait { $0.contains { $0["type"] == .string("ready") } }
            for client in [first, second] {
                _ = try await client.createAgent(maxConcurrent: 1)
                for _ in 0..<3 { #expect(try await client.createCall(#"{"sector": "billing"}"#).status == .created) }
            }
            for (probe, client) in [(a, first), (b, second)] {
                let events = try await probe.wait { messages in
                    messages.filter { $0["type"] == .string("call.created") }.count == 3
                        && messages.contains { $0["type"] == .string("queue.depth_changed") && $0["data"]["queued"] == .number(2) }
                }.filter { $0["type"].stringValue?.contains(".") == true }
                #expect(events.allSatisfy { $0["client_id"] == .string(client.clientId) })
                let numbers = sequences(events)
                #expect(numbers == Array(1...numbers.count), "contiguous, in order: \(numbers)")
                let types = events.compactMap { $0["type"].stringValue }
                #expect(types.first == "agent.updated")
                #expect(types.filter { $0 == "call.assigned" }.count == 1)
                #expect(types.filter { $0 == "call.queued" }.count == 2)
                #expect(types.contains("agent.load_changed"))
                let created = events.first { $0["type"] == .string("call.created") }
                #expect(created?["data"]["sector"] == .string("billing"))
                #expect(created?["id"].stringValue?.count == 36)
            }
            await a.close()
            await b.close()
            await app.server.shutdown()
        }
    }

    @Test func aFilterAndAResumeReplayWhatWasMissed() async throws {
        try await withSwitchboard { app in
            let port = try await app.listenOnAnyPort()
            let client = try await APIClient.make(app)
            let agent = try await client.createAgent(maxConcurrent: 5)
            let calls = try await StreamProbe.connect(
                port: port, firstMessage: #"{"token": "\#(client.token)", "subscribe": ["call.*"]}"#, on: app.eventLoopGroup)
            try await calls.wait { $0.contains { $0["type"] == .string("ready") } }
            _ = try await client.createCall(#"{"sector": "billing"}"#)
            let seen = try await calls.wait { $0.contains { $0["type"] == .string("call.assigned") } }.filter {
                $0["type"].stringValue?.contains(".") == true
            }
            #expect(seen.allSatisfy { $0["type"].stringValue?.hasPrefix("call.") == true }, "only call events: \(seen)")
            let last = sequences(seen).max() ?? 0
            await calls.close()

            // Missed while away: a second call and an agent change.
            _ = try await client.createCall(#"{"sector": "billing"}"#)
            _ = try await client.send(.PUT, "/api/agents/\(agent)", json: #"{"priority": 9}"#)
            let resumed = try await StreamProbe.connect(port: port, query: "?since=\(last)", bearer: client.token, on: app.eventLoopGroup)
            let replayed = try await resumed.wait { $0.contains { $0["type"] == .string("agent.updated") } }
                .filter { $0["type"].stringValue?.contains(".") == true }
            let numbers = sequences(replayed)
            #expect(numbers.first == last + 1 && numbers == Array((last + 1)...(last + numbers.count)), "\(numbers)")
            #expect(replayed.contains { $0["type"] == .string("call.created") })
            #expect(replayed.contains { $0["type"] == .string("agent.updated") && $0["data"]["agent_id"] == .string(agent.uuidString) })
            await resumed.close()

            // Events older than the retention window are gone: a client asking for them is told to resync.
            // (Only this tenant's: the PostgreSQL test database is shared with tests running beside this one.)
            try await app.store().sql.raw("DELETE FROM events WHERE client_id = \(bind: client.clientId)").run()
            _ = try await client.createCall(#"{"sector": "billing"}"#)
            let stale = try await StreamProbe.connect(port: port, query: "?since=1", bearer: client.token, on: app.eventLoopGroup)
            let control = try await stale.wait { $0.contains { $0["type"] == .string("ready") } }
            #expect(control.first?["type"] == .string("resync"))
            #expect(control.contains { $0["type"] == .string("ready") && ($0["sequence"].numberValue ?? 0) > Double(last) })
            await stale.close()
            await app.server.shutdown()
        }
    }

    @Test func badExpiredAndMissingTokensAreRefused() async throws {
        try await withSwitchboard { app in
            let port = try await app.listenOnAnyPort()
            let client = try await APIClient.make(app)
            // A bad header is refused before the upgrade.
            await #expect(throws: (any Error).self) {
                _ = try await StreamProbe.connect(port: port, bearer: "not-a-token", on: app.eventLoopGroup)
            }
            let plain = try await client.send(.GET, "/api/events/stream")
            #expect(plain.status == .upgradeRequired)

            let bad = try await StreamProbe.connect(port: port, firstMessage: #"{"token": "nope"}"#, on: app.eventLoopGroup)
            try await bad.waitForClose()
            #expect(bad.closeCode == .unknown(4001))
            #expect(!bad.messages.contains { $0["type"] == .string("ready") })

            let expired = try await TokenIssuer.issue(on: app, clientId: client.clientId, role: .viewer, ttlSeconds: -60)
            let late = try await StreamProbe.connect(port: port, firstMessage: #"{"token": "\#(expired)"}"#, on: app.eventLoopGroup)
            try await late.waitForClose()
            #expect(late.closeCode == .unknown(4002))

            // A token that expires while connected closes the stream. It must still be valid when the stream
            // opens: a machine too loaded for that (the upgrade is refused, 401) tries a longer-lived token.
            var opened: StreamProbe?
            for lifetime in [3, 8, 20] where opened == nil {
                let brief = try await TokenIssuer.issue(on: app, clientId: client.clientId, role: .viewer, ttlSeconds: lifetime)
                opened = try? await StreamProbe.connect(port: port, bearer: brief, on: app.eventLoopGroup)
            }
            let short = try #require(opened)
            try await short.wait { $0.contains { $0["type"] == .string("ready") } }
            try await short.waitForClose(seconds: 25)
            #expect(short.closeCode == .unknown(4002))

            // A filter naming no event type is refused as a bad message, with the list of types.
            let unknown = try await StreamProbe.connect(
                port: port, firstMessage: #"{"token": "\#(client.token)", "subscribe": ["call.nope"]}"#, on: app.eventLoopGroup)
            try await unknown.waitForClose()
            #expect(unknown.closeCode == .unknown(4000))
            #expect(unknown.messages.contains { $0["type"] == .string("error") && $0["message"].stringValue?.contains("call.created") == true })

            // Nothing within the authentication window.
            let silent = try await StreamProbe.connect(port: port, on: app.eventLoopGroup)
            try await silent.waitForClose(seconds: 10)
            #expect(silent.closeCode == .unknown(4001))
            await app.server.shutdown()
        }
    }

    /// The documented list of event types is the server's list.
    @Test func everyEventTypeIsDocumented() async throws {
        try await withSwitchboard { app in
            let text = try await APIClient.make(app).send(.GET, "/openapi.yaml", authorized: false).text
            let section = try #require(text.range(of: "    EventType:\n"))
            let rest = text[section.upperBound...]
            let start = try #require(rest.range(of: "enum: ["))
            let end = try #require(rest[start.upperBound...].firstIndex(of: "]"))
            let documented = rest[start.upperBound..<end].split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            #expect(documented == EventType.allCases.map(\.rawValue))
        }
    }

    /// A shutdown tells live streams the server is going away, at once, rather than waiting out its grace.
    @Test func shutdownClosesStreamsWithGoingAway() async throws {
        try await withSwitchboard { app in
            let port = try await app.listenOnAnyPort()
            let client = try await APIClient.make(app)
            let probe = try await StreamProbe.connect(port: port, bearer: client.token, on: app.eventLoopGroup)
            try await probe.wait { $0.contains { $0["type"] == .string("ready") } }
            let started = ContinuousClock.now
            await app.stopServing()
            try await probe.waitForClose(seconds: 5)
            #expect(probe.isClosed)
            #expect(probe.closeCode == .goingAway)
            #expect(ContinuousClock.now - started < .seconds(5), "not the 10-second grace")
        }
    }

    @Test func patternsAndTheWireForm() throws {
        #expect(EventType.isValidPattern("*") && EventType.isValidPattern("call.*") && EventType.isValidPattern("queue.depth_changed"))
        #expect(!EventType.isValidPattern("calls.*") && !EventType.isValidPattern("call") && !EventType.isValidPattern("ping"))
        let calls = try #require(EventFilter(validating: ["call.*", "agent.load_changed"]))
        #expect(calls.admits("call.created") && calls.admits("call.cancelled") && calls.admits("agent.load_changed"))
        #expect(!calls.admits("agent.updated") && !calls.admits("queue.depth_changed"))
        #expect(EventFilter.everything.admits("settings.updated"))
        #expect(EventFilter(validating: ["call.nope"]) == nil)

        let event = StoredEvent(id: UUID(), type: "queue.depth_changed", clientId: "acme \"east\"",
                                occurredAt: Date(timeIntervalSince1970: 1_764_000_000), sequence: 42, data: #"{"queued":3}"#)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(event.json.utf8))
        #expect(decoded["client_id"] == .string("acme \"east\""))
        #expect(decoded["sequence"] == .number(42) && decoded["data"]["queued"] == .number(3))
        #expect(decoded["occurred_at"] == .string("2025-11-24T16:00:00Z"))
        #expect(decoded["id"].uuid == event.id && decoded["type"] == .string("queue.depth_changed"))
    }
}
