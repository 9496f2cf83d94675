import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import Prometheus
import Vapor

/// `GET /api/events/stream`: the tenant's events over a WebSocket.
///
/// The token comes in `Authorization` (checked before the upgrade: a bad one is a plain 401) or, since browsers
/// cannot set headers on a WebSocket, as the first message, `{"token": "…"}`, within 5 seconds. Never in the
/// URL, where proxies and logs keep it.
struct EventStreamController {
    static let authenticationWindow: Duration = .seconds(5)

    func routes(_ app: any RoutesBuilder) {
        app.get("api", "events", "stream", use: stream)
    }

    func stream(_ req: Request) async throws -> Response {
        let since = try QueryParameters(req).string("since", maxLength: 20).map { raw -> Int64 in
            guard let value = Int64(raw), value >= 0 else { throw AppError.badRequest("since must be a whole number ≥ 0") }
            return value
        }
        var proven: (tenant: Tenant, expiresAt: Date, tokenDigest: String)?
        if let token = req.headers.bearerToken {
            let (tenant, expiresAt) = try await TenantAuthMiddleware.verify(token, for: req)
            let digest = EventStreamSession.digest(of: token)
            if let refusal = req.application.eventHub.admits(clientId: tenant.clientId, tokenDigest: digest) {
                throw AppError(.tooManyRequests, refusal.message)
            }
            proven = (tenant, expiresAt, digest)
        } else {
            // A socket waiting for its token costs a connection for 5 s: the address's unauthenticated budget pays.
            try TenantAuthMiddleware.spendUnauthenticatedAttempt(req)
        }
        guard req.headers[.upgrade].contains(where: { $0.lowercased() == "websocket" }) else {
            throw AppError(.upgradeRequired, "this endpoint is a WebSocket: connect with Upgrade: websocket")
        }
        let start = EventStreamSession.Start(proven: proven, since: since)
        let response = Response(status: .switchingProtocols)
        response.upgrader = BoundedWebSocketUpgrader { ws in
            // Handlers are set on the connection's event loop, where this closure runs.
            let session = EventStreamSession(request: req, socket: ws, start: start)
            Task { await session.run() }
        }
        return response
    }
}

/// What a client may send: the token (first message only, unless given as a header), a filter and a position.
struct StreamMessage: Decodable {
    let token: String?
    let subscribe: [String]?
    let since: Int64?
}

/// One connected client.
final class EventStreamSession: Sendable {
    struct Start: Sendable {
        let proven: (tenant: Tenant, expiresAt: Date, tokenDigest: String)?
        let since: Int64?
    }

    /// Every socket is pinged this often and closed when the previous ping went unanswered: a peer that vanished
    /// without closing (a laptop shut, a network gone) frees its place within two intervals.
    static let pingInterval: TimeAmount = .seconds(30)

    /// Which token opened a stream, for the per-token bound, without keeping the token.
    static func digest(of token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    /// Close codes, documented in the README.
    enum CloseReason: UInt16 {
        case goingAway = 1001
        case badMessage = 4000
        case notAuthenticated = 4001
        case tokenExpired = 4002
        case tooSlow = 4008
        case tooMany = 4029

        var label: String {
            switch self {
            case .goingAway: "shutdown"
            case .badMessage: "bad_message"
            case .notAuthenticated: "not_authenticated"
            case .tokenExpired: "token_expired"
            case .tooSlow: "slow"
            case .tooMany: "too_many_streams"
            }
        }
    }

    private let request: Request
    private let socket: WebSocket
    private let start: Start
    private let filter = Mutex(EventFilter.everything)
    /// An agent's token follows only events about its own agent: `"agent_id":"<its id>"` in the event.
    private let ownAgentMark = Mutex<String?>(nil)
    private let closed = Synchronization.Atomic(false)
    private let sent: Counter

    private let messages: AsyncStream<String>

    /// Called on the connection's event loop (WebSocketKit sets handlers there only).
    init(request: Request, socket: WebSocket, start: Start) {
        self.request = request
        self.socket = socket
        self.start = start
        sent = request.application.metrics.counter("switchboard_events_sent_total")
        let (messages, incoming) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(16))
        self.messages = messages
        socket.onText { _, text in incoming.yield(text) }
        socket.pingInterval = Self.pingInterval
        socket.onClose.whenComplete { _ in incoming.finish() }
    }

    func run() async {
        let messages = self.messages

        let tenant: Tenant, expiresAt: Date, tokenDigest: String
        var since = start.since
        if let proven = start.proven {
            (tenant, expiresAt, tokenDigest) = proven
        } else {
            let deadline = Task { [self] in
                try? await Task.sleep(for: EventStreamController.authenticationWindow)
                if !Task.isCancelled { await close(.notAuthenticated, "send {\"token\": \"…\"} as the first message within 5 seconds") }
            }
            var iterator = messages.makeAsyncIterator()
            let first = await iterator.next()
            deadline.cancel()
            guard let first else { return }
            guard let message = try? JSONDecoder().decode(StreamMessage.self, from: Data(first.utf8)), let token = message.token else {
                return await close(.notAuthenticated, "the first message must be {\"token\": \"…\"}")
            }
            do {
                (tenant, expiresAt) = try await TenantAuthMiddleware.verify(token, for: request)
                TenantAuthMiddleware.refundUnauthenticatedAttempt(request)
                tokenDigest = Self.digest(of: token)
            } catch let error as AppError {
                return await close(error.message == "token expired" ? .tokenExpired : .notAuthenticated, error.message)
            } catch {
                return await close(.notAuthenticated, "invalid token")
            }
            if let patterns = message.subscribe, let problem = apply(patterns) { return await close(.badMessage, problem) }
            since = message.since ?? since
        }
        await serve(tenant, expiresAt: expiresAt, tokenDigest: tokenDigest, since: since, messages: messages)
    }

    private func serve(_ tenant: Tenant, expiresAt: Date, tokenDigest: String, since: Int64?, messages: AsyncStream<String>) async {
        let store = request.application.store()
        let hub = request.application.eventHub
        ownAgentMark.withLock { $0 = tenant.agentId.map { "\"agent_id\":\"\($0.text)\"" } }
        var position: Int64
        let newest: Int64
        do {
            let bounds = try await EventOutbox.bounds(of: tenant.clientId, on: store.sql)
            newest = bounds.last
            position = bounds.last
            if let since {
                let kept = since >= bounds.last || (bounds.oldest.map { $0 <= since + 1 } ?? false)
                if since <= bounds.last && kept {
                    position = since
                } else {
                    await sendControl(["type": .string("resync"), "sequence": .number(Double(bounds.last)),
                                       "oldest_sequence": bounds.oldest.map { .number(Double($0)) } ?? .null,
                                       "message": .string(since > bounds.last
                                           ? "since is ahead of this tenant's newest event; reload and resume from sequence"
                                           : "events after since are no longer kept; reload and resume from sequence")])
                }
            }
        } catch {
            return await close(.goingAway, "events are unavailable")
        }
        let lagLimit = hub.lagLimit
        let subscriber = EventHub.Subscriber(clientId: tenant.clientId, tokenDigest: tokenDigest, position: position) { [weak self] reason in
            Task {
                await self?.close(reason, reason == .tooSlow ? "this client stayed more than \(lagLimit) events behind" : nil)
            }
        }
        do {
            try hub.add(subscriber, newest: newest)
        } catch {
            return await close(.tooMany, error.message)
        }
        defer { hub.remove(subscriber) }
        await sendControl(["type": .string("ready"), "client_id": .string(tenant.clientId),
                           "sequence": .number(Double(position)), "subscribe": .array(filter.withLock { $0.patterns }.map { .string($0) })])

        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                let left = expiresAt.timeIntervalSinceNow
                try? await Task.sleep(for: .seconds(max(0, left)))
                if !Task.isCancelled { await close(.tokenExpired, "token expired") }
            }
            group.addTask { [self] in
                for await text in messages { await handle(text) }
            }
            group.addTask { [self] in
                await pump(subscriber, on: store, hub: hub)
            }
            // Whichever ends first (the socket closed, the token expired, the pump failed) ends the session.
            await group.next()
            group.cancelAll()
            if !socket.isClosed { await close(.goingAway, nil) }
        }
    }

    /// Sends the tenant's events after the subscriber's position, each time the hub wakes it: from the tenant's
    /// feed (read once for every subscriber), or from the outbox while this one is further behind than the feed.
    private func pump(_ subscriber: EventHub.Subscriber, on store: Store, hub: EventHub) async {
        subscriber.wake()
        for await _ in subscriber.wakes {
            while !Task.isCancelled {
                let after = subscriber.position.load(ordering: .relaxed)
                let events: [FeedEvent]
                if let recent = hub.recentEvents(of: subscriber.clientId, after: after, limit: 500) {
                    events = recent
                } else if let stored = try? await EventOutbox.events(of: subscriber.clientId, after: after, limit: 500, on: store.sql) {
                    request.application.metrics.counter("switchboard_event_stream_outbox_reads_total", [("reader", "subscriber")]).increment()
                    events = stored.map(FeedEvent.init)
                } else {
                    return
                }
                let filter = self.filter.withLock { $0 }
                let ownAgentMark = self.ownAgentMark.withLock { $0 }
                for event in events {
                    if filter.admits(event.type), ownAgentMark.map({ event.json.contains($0) }) ?? true {
                        do { try await socket.send(event.json) } catch { return }
                        sent.increment()
                    }
                    subscriber.position.store(event.sequence, ordering: .relaxed)
                }
                if events.count < 500 { break }
            }
        }
    }

    private func handle(_ text: String) async {
        guard let message = try? JSONDecoder().decode(StreamMessage.self, from: Data(text.utf8)), let patterns = message.subscribe else {
            return await sendControl(["type": .string("error"),
                                      "message": .string("expected {\"subscribe\": [\"call.*\", …]}")])
        }
        if let problem = apply(patterns) {
            await sendControl(["type": .string("error"), "message": .string(problem)])
        } else {
            await sendControl(["type": .string("subscribed"), "subscribe": .array(patterns.map { .string($0) })])
        }
    }

    /// Replaces the filter; nil, or what is wrong with a bad one (the filter is then unchanged).
    private func apply(_ patterns: [String]) -> String? {
        guard patterns.count <= 50, let filter = EventFilter(validating: patterns) else {
            return "subscribe lists at most 50 event types or families (call.*): "
                + EventType.allCases.map(\.rawValue).joined(separator: ", ")
        }
        self.filter.withLock { $0 = filter }
        return nil
    }

    private func sendControl(_ fields: [String: JSONValue]) async {
        guard let data = try? WireJSON.literalEncoder().encode(fields) else { return }
        try? await socket.send(String(decoding: data, as: UTF8.self))
    }

    private func close(_ reason: CloseReason, _ message: String?) async {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        if reason != .goingAway || message != nil {
            request.application.metrics.counter("switchboard_event_stream_closed_total", [("reason", reason.label)]).increment()
        }
        // The message and the close frame are queued in that order, without waiting for either to be written: a
        // client that stopped reading lets neither through, and its connection is cut two seconds later whatever
        // happens.
        if let message, let data = try? WireJSON.literalEncoder().encode(["type": "error", "message": message]) {
            socket.send(String(decoding: data, as: UTF8.self), promise: nil)
        }
        let closing = socket.eventLoop.makePromise(of: Void.self)
        socket.close(code: .unknown(reason.rawValue), promise: closing)
        let channel = request.storage[ConnectionChannelKey.self]
        channel?.eventLoop.scheduleTask(in: .seconds(2)) { channel?.close(promise: nil) }
        try? await closing.futureResult.get()
    }
}
