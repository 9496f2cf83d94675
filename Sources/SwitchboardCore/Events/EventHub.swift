import Foundation
import Logging
import NIOConcurrencyHelpers
import SQLKit
import Synchronization
import Vapor

/// Wakes this process's event-stream subscribers when their tenant has new events.
///
/// Subscribers pull: each reads the outbox after the last number it sent, so order, resumption and gaps need no
/// shared buffer, and a slow subscriber holds nothing but its own position. What the hub knows is each tenant's
/// newest number, learnt from the call writer after a commit, from PostgreSQL's notifications (other processes,
/// and this one's other writers), and from a poll of `event_sequences` for the tenants someone here listens to
/// (every 100 ms on SQLite, where nothing else tells of writes outside the call writer; every second on PostgreSQL,
/// against a notification lost with a dropped connection). Telling the hub never waits: routing does not slow down
/// for any subscriber.
final class EventHub: Sendable {
    final class Subscriber: Sendable {
        let clientId: String
        /// The last number this subscriber has passed (sent, or skipped by its filter).
        let position: Synchronization.Atomic<Int64>
        private let wakeUp: AsyncStream<Void>.Continuation
        let wakes: AsyncStream<Void>
        /// When this subscriber was first seen more than `lagLimit` behind (nil: it is not).
        private let behindSince = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        private let close: @Sendable (EventStreamSession.CloseReason) -> Void

        init(clientId: String, position: Int64, close: @escaping @Sendable (EventStreamSession.CloseReason) -> Void) {
            self.clientId = clientId
            self.position = Synchronization.Atomic(position)
            (wakes, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            self.close = close
        }

        func wake() { wakeUp.yield() }
        func finish() { wakeUp.finish() }
        func tooSlow() { close(.tooSlow) }

        /// Notes how far behind the subscriber is; true once it has been more than `limit` behind for `grace`.
        func isStalled(lag: Int64, limit: Int64, grace: Duration, now: ContinuousClock.Instant = .now) -> Bool {
            behindSince.withLockedValue { since in
                guard lag > limit else {
                    since = nil
                    return false
                }
                let start = since ?? now
                since = start
                return now - start >= grace
            }
        }
        func shutDown() { close(.goingAway) }
    }

    private struct State {
        var subscribers: [String: [ObjectIdentifier: Subscriber]] = [:]
        var newest: [String: Int64] = [:]
        var poller: Task<Void, Never>?
        var stopped = false
    }

    /// How the poll reads the outbox, and how often.
    struct Polling: Sendable {
        let interval: Duration
        let database: @Sendable () -> any SQLDatabase
        let logger: Logger
    }

    /// A subscriber more than this many events behind its tenant's newest for `lagGrace` is closed (`4008`): it is
    /// not keeping up. The grace lets a burst (a bulk import writes thousands of events at once) be read.
    let lagLimit: Int64
    let lagGrace: Duration
    private let state = NIOLockedValueBox(State())
    private let metrics: SwitchboardMetrics

    private let polling: Polling?

    init(metrics: SwitchboardMetrics, polling: Polling?, lagLimit: Int64 = 5_000, lagGrace: Duration = .seconds(5)) {
        self.metrics = metrics
        self.polling = polling
        self.lagLimit = lagLimit
        self.lagGrace = lagGrace
    }

    /// Registers a subscriber; the poll starts with the first one.
    func add(_ subscriber: Subscriber) {
        state.withLockedValue { state in
            state.subscribers[subscriber.clientId, default: [:]][ObjectIdentifier(subscriber)] = subscriber
            if state.poller == nil, !state.stopped, let polling {
                state.poller = Task { [weak self] in await self?.poll(polling) }
            }
        }
        metrics.gauge("switchboard_event_stream_clients").increment()
    }

    /// At shutdown: no more polling, and every subscriber is told the server is going away.
    func stop() async {
        let (poller, subscribers) = state.withLockedValue { state in
            state.stopped = true
            defer { state.poller = nil }
            return (state.poller, state.subscribers.values.flatMap(\.values))
        }
        poller?.cancel()
        for subscriber in subscribers { subscriber.shutDown() }
    }

    func remove(_ subscriber: Subscriber) {
        let removed = state.withLockedValue { state in
            state.subscribers[subscriber.clientId]?.removeValue(forKey: ObjectIdentifier(subscriber)) != nil
        }
        subscriber.finish()
        if removed { metrics.gauge("switchboard_event_stream_clients").decrement() }
    }

    var subscribedTenants: [String] {
        state.withLockedValue { state in state.subscribers.filter { !$0.value.isEmpty }.map(\.key) }
    }

    /// The tenant has events up to `newest` (nil: some, number unknown).
    func signal(_ clientId: String, upTo newest: Int64? = nil) {
        let subscribers: [Subscriber] = state.withLockedValue { state in
            if let newest, newest > state.newest[clientId] ?? 0 { state.newest[clientId] = newest }
            return state.subscribers[clientId].map { Array($0.values) } ?? []
        }
        let known = newest ?? 0
        for subscriber in subscribers {
            let lag = newest == nil ? 0 : known - subscriber.position.load(ordering: .relaxed)
            if subscriber.isStalled(lag: lag, limit: lagLimit, grace: lagGrace) {
                subscriber.tooSlow()
            } else {
                subscriber.wake()
            }
        }
    }

    /// PostgreSQL notification payload `<client_id> <sequence>`.
    func signal(notification payload: String) {
        guard let space = payload.lastIndex(of: " "), let newest = Int64(payload[payload.index(after: space)...]) else { return }
        signal(String(payload[..<space]), upTo: newest)
    }

    private func poll(_ polling: Polling) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: polling.interval)
            let tenants = subscribedTenants
            guard !tenants.isEmpty else { continue }
            do {
                for (clientId, newest) in try await EventOutbox.lastSequences(of: tenants, on: polling.database()) {
                    signal(clientId, upTo: newest)
                }
            } catch {
                polling.logger.debug("event poll failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

extension Application {
    private struct EventHubKey: StorageKey { typealias Value = EventHub }

    /// Made by `configure`, before requests arrive.
    var eventHub: EventHub {
        get { storage[EventHubKey.self]! }
        set { storage[EventHubKey.self] = newValue }
    }
}

struct EventHubLifecycle: LifecycleHandler {
    func shutdownAsync(_ application: Application) async {
        await application.eventHub.stop()
    }
}
