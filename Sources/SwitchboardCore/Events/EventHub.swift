import Foundation
import Logging
import NIOConcurrencyHelpers
import Prometheus
import SQLKit
import Synchronization
import Vapor

/// Wakes this process's event-stream subscribers when their tenant has new events, and reads those events once
/// for all of them.
///
/// Each tenant with a subscriber here has a `TenantFeed`: on each signal it reads the tenant's new events once (one
/// read however many sockets listen), keeps the latest `TenantFeed.capacity` of them, and then wakes the
/// subscribers, who take what they have not sent from it. A subscriber further behind than the feed keeps (one
/// resuming from an old position, or slow) reads the outbox itself until it is within reach again, so order,
/// resumption and gaps still need nothing shared but the outbox. What the hub knows is each tenant's newest
/// number, learnt from the call writer after a commit, from PostgreSQL's notifications (other processes, and this
/// one's other writers), and from a poll of `event_sequences` for the tenants someone here listens to (every
/// 100 ms on SQLite, where nothing else tells of writes outside the call writer; every second on PostgreSQL,
/// against a notification lost with a dropped connection). Telling the hub never waits: routing does not slow
/// down for any subscriber.
final class EventHub: Sendable {
    final class Subscriber: Sendable {
        let clientId: String
        /// Which token opened it (a digest, not the token), for the per-token bound.
        let tokenDigest: String
        /// The last number this subscriber has passed (sent, or skipped by its filter).
        let position: Synchronization.Atomic<Int64>
        private let wakeUp: AsyncStream<Void>.Continuation
        let wakes: AsyncStream<Void>
        /// When this subscriber was first seen more than `lagLimit` behind (nil: it is not).
        private let behindSince = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        private let close: @Sendable (EventStreamSession.CloseReason) -> Void

        init(clientId: String, tokenDigest: String = "", position: Int64,
             close: @escaping @Sendable (EventStreamSession.CloseReason) -> Void) {
            self.clientId = clientId
            self.tokenDigest = tokenDigest
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

    /// Why a stream was not admitted.
    enum Refusal: Error, Equatable {
        case tooManyForTenant(Int)
        case tooManyForToken(Int)

        var message: String {
            switch self {
            case .tooManyForTenant(let limit): "this tenant already has \(limit) event streams open, the most this server allows"
            case .tooManyForToken(let limit): "this token already has \(limit) event streams open, the most this server allows; close one first"
            }
        }
    }

    struct Limits: Sendable {
        var perTenant: Int
        var perToken: Int
        static let unlimited = Limits(perTenant: .max, perToken: .max)
    }

    private struct Tenant {
        var subscribers: [ObjectIdentifier: Subscriber] = [:]
        var feed: TenantFeed?
    }

    private struct State {
        var tenants: [String: Tenant] = [:]
        var newest: [String: Int64] = [:]
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
    let limits: Limits
    private let state = NIOLockedValueBox(State())
    private let metrics: SwitchboardMetrics

    private let polling: Polling?

    init(metrics: SwitchboardMetrics, polling: Polling?, limits: Limits = .unlimited, lagLimit: Int64 = 5_000,
         lagGrace: Duration = .seconds(5)) {
        self.metrics = metrics
        self.polling = polling
        self.limits = limits
        self.lagLimit = lagLimit
        self.lagGrace = lagGrace
    }

    /// Whether one more stream of this tenant and token would be admitted now (asked before an upgrade, so that a
    /// header-authenticated client gets a plain 429; `add` decides).
    func admits(clientId: String, tokenDigest: String) -> Refusal? {
        state.withLockedValue { state in Self.refusal(of: clientId, tokenDigest, in: state, limits: limits) }
    }

    private static func refusal(of clientId: String, _ tokenDigest: String, in state: State, limits: Limits) -> Refusal? {
        let subscribers = state.tenants[clientId]?.subscribers.values
        guard (subscribers?.count ?? 0) < limits.perTenant else { return .tooManyForTenant(limits.perTenant) }
        guard (subscribers?.count(where: { $0.tokenDigest == tokenDigest }) ?? 0) < limits.perToken else {
            return .tooManyForToken(limits.perToken)
        }
        return nil
    }

    /// Registers a subscriber, unless its tenant or token has as many as the limits allow; the poll starts with
    /// the first one, a tenant's feed with its first (reading from `newest`, the tenant's newest number then).
    func add(_ subscriber: Subscriber, newest: Int64? = nil) throws(Refusal) {
        let admitted: Result<TenantFeed?, Refusal> = state.withLockedValue { state in
            if let refusal = Self.refusal(of: subscriber.clientId, subscriber.tokenDigest, in: state, limits: limits) {
                return .failure(refusal)
            }
            var tenant = state.tenants[subscriber.clientId] ?? Tenant()
            tenant.subscribers[ObjectIdentifier(subscriber)] = subscriber
            if tenant.feed == nil, let polling {
                tenant.feed = TenantFeed(clientId: subscriber.clientId, readUpTo: newest ?? subscriber.position.load(ordering: .relaxed),
                                         database: polling.database, logger: polling.logger,
                                         reads: metrics.counter("switchboard_event_stream_outbox_reads_total", [("reader", "feed")]))
            }
            state.tenants[subscriber.clientId] = tenant
            return .success(tenant.feed)
        }
        let feed = try admitted.get()
        metrics.gauge("switchboard_event_stream_clients").increment()
        feed?.refresh { [weak self] in self?.wakeAll(subscriber.clientId) }
    }

    /// At shutdown: no more polling, and every subscriber is told the server is going away.
    func stop() async {
        let (subscribers, feeds) = state.withLockedValue { state in
            state.stopped = true
            return (state.tenants.values.flatMap(\.subscribers.values), state.tenants.values.compactMap(\.feed))
        }
        for feed in feeds { feed.stop() }
        for subscriber in subscribers { subscriber.shutDown() }
    }

    func remove(_ subscriber: Subscriber) {
        let (removed, emptiedFeed): (Bool, TenantFeed?) = state.withLockedValue { state in
            guard var tenant = state.tenants[subscriber.clientId],
                  tenant.subscribers.removeValue(forKey: ObjectIdentifier(subscriber)) != nil
            else { return (false, nil) }
            if tenant.subscribers.isEmpty {
                state.tenants[subscriber.clientId] = nil
                return (true, tenant.feed)
            }
            state.tenants[subscriber.clientId] = tenant
            return (true, nil)
        }
        emptiedFeed?.stop()
        subscriber.finish()
        if removed { metrics.gauge("switchboard_event_stream_clients").decrement() }
    }

    var subscribedTenants: [String] {
        state.withLockedValue { state in Array(state.tenants.keys) }
    }

    /// The events after `position` from the tenant's feed, or nil when the feed does not reach back that far (or
    /// there is none): the caller then reads the outbox.
    func recentEvents(of clientId: String, after position: Int64, limit: Int) -> [FeedEvent]? {
        state.withLockedValue { $0.tenants[clientId]?.feed }?.events(after: position, limit: limit)
    }

    /// The tenant has events up to `newest` (nil: some, number unknown). Subscribers too far behind for too long
    /// are closed at once; the others are woken once the feed has read the new events.
    func signal(_ clientId: String, upTo newest: Int64? = nil) {
        let (subscribers, feed): ([Subscriber], TenantFeed?) = state.withLockedValue { state in
            if let newest, newest > state.newest[clientId] ?? 0 { state.newest[clientId] = newest }
            let tenant = state.tenants[clientId]
            return (tenant.map { Array($0.subscribers.values) } ?? [], tenant?.feed)
        }
        guard !subscribers.isEmpty else { return }
        if let newest {
            for subscriber in subscribers
            where subscriber.isStalled(lag: newest - subscriber.position.load(ordering: .relaxed), limit: lagLimit, grace: lagGrace) {
                subscriber.tooSlow()
            }
        }
        guard let feed else { return wakeAll(clientId) }
        feed.refresh { [weak self] in self?.wakeAll(clientId) }
    }

    private func wakeAll(_ clientId: String) {
        let subscribers = state.withLockedValue { state in state.tenants[clientId].map { Array($0.subscribers.values) } ?? [] }
        for subscriber in subscribers { subscriber.wake() }
    }

    /// PostgreSQL notification payload `<client_id> <sequence>`.
    func signal(notification payload: String) {
        guard let space = payload.lastIndex(of: " "), let newest = Int64(payload[payload.index(after: space)...]) else { return }
        signal(String(payload[..<space]), upTo: newest)
    }

    /// Reads, for every tenant with subscribers, whether another writer (another process, or a write outside the
    /// call writer) appended events: polled while the process runs (`pollingService`), at the polling interval.
    func pollOnce() async {
        guard let polling, !state.withLockedValue({ $0.stopped }) else { return }
        let tenants = subscribedTenants
        guard !tenants.isEmpty else { return }
        do {
            // Only what a feed has not read yet: a poll that finds nothing new costs no read of the outbox.
            let read = state.withLockedValue { state in state.tenants.compactMapValues { $0.feed?.readUpTo } }
            for (clientId, newest) in try await EventOutbox.lastSequences(of: tenants, on: polling.database())
            where newest > read[clientId] ?? -1 {
                signal(clientId, upTo: newest)
            }
        } catch {
            polling.logger.debug("event poll failed", metadata: ["error": "\(error)"])
        }
    }

    /// The poll as a background service; at shutdown every subscriber is told the server is going away.
    var pollingService: PeriodicService? {
        guard let polling else { return nil }
        return PeriodicService(interval: polling.interval, pass: { [self] in await pollOnce() }, finally: { [self] in await stop() })
    }
}

/// An event as a stream sends it: its number, its type for the subscriber's filter, and its JSON, made once.
struct FeedEvent: Sendable {
    let sequence: Int64
    let type: String
    let json: String

    init(_ event: StoredEvent) {
        sequence = event.sequence
        type = event.type
        json = event.json
    }
}

/// One tenant's latest events in this process, read once per signal for all of its subscribers.
final class TenantFeed: Sendable {
    /// Events kept: a subscriber this far behind reads the outbox itself (and is closed if it stays behind).
    static let capacity = 2_000
    static let page = 500

    private struct State {
        /// Contiguous: every event of the tenant numbered in (`keptAfter`, `readUpTo`].
        var recent: [FeedEvent] = []
        var keptAfter: Int64
        var readUpTo: Int64
        var reading = false
        var readAgain = false
        var stopped = false
    }

    let clientId: String
    private let state: NIOLockedValueBox<State>
    private let database: @Sendable () -> any SQLDatabase
    private let logger: Logger
    private let reads: Counter

    init(clientId: String, readUpTo: Int64, database: @escaping @Sendable () -> any SQLDatabase, logger: Logger, reads: Counter) {
        self.clientId = clientId
        state = NIOLockedValueBox(State(keptAfter: readUpTo, readUpTo: readUpTo))
        self.database = database
        self.logger = logger
        self.reads = reads
    }

    func stop() { state.withLockedValue { $0.stopped = true } }

    var readUpTo: Int64 { state.withLockedValue { $0.readUpTo } }

    /// Reads what is new, once, however many ask at the same time (a signal during a read makes one more read),
    /// then calls `then`.
    func refresh(then: @escaping @Sendable () -> Void) {
        let start = state.withLockedValue { state -> Bool in
            guard !state.stopped else { return false }
            if state.reading {
                state.readAgain = true
                return false
            }
            state.reading = true
            return true
        }
        guard start else { return }
        Task {
            repeat {
                state.withLockedValue { $0.readAgain = false }
                await readNew()
                then()
            } while state.withLockedValue({ state in
                if state.readAgain && !state.stopped { return true }
                state.reading = false
                return false
            })
        }
    }

    private func readNew() async {
        while !state.withLockedValue({ $0.stopped }) {
            let after = state.withLockedValue { $0.readUpTo }
            let events: [StoredEvent]
            reads.increment()
            do {
                events = try await EventOutbox.events(of: clientId, after: after, limit: Self.page, on: database())
            } catch {
                logger.debug("event feed read failed", metadata: ["client_id": "\(clientId)", "error": "\(error)"])
                return
            }
            let fed = events.map(FeedEvent.init)
            state.withLockedValue { state in
                guard state.readUpTo == after, let last = fed.last else { return }
                state.recent.append(contentsOf: fed)
                state.readUpTo = last.sequence
                if state.recent.count > Self.capacity {
                    let dropped = state.recent.count - Self.capacity
                    state.keptAfter = state.recent[dropped - 1].sequence
                    state.recent.removeFirst(dropped)
                }
            }
            if events.count < Self.page { return }
        }
    }

    /// The kept events after `position`, oldest first, at most `limit`; nil when `position` is older than what is
    /// kept.
    func events(after position: Int64, limit: Int) -> [FeedEvent]? {
        state.withLockedValue { state in
            guard position >= state.keptAfter else { return nil }
            let start = state.recent.partitioningIndex { $0.sequence > position }
            return Array(state.recent[start..<min(start + limit, state.recent.count)])
        }
    }
}

extension Array {
    /// The first index whose element satisfies `belongs`, for a predicate false then true along the array.
    fileprivate func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
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

