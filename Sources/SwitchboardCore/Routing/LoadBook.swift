import FluentKit
import Foundation
import SQLKit
import NIOConcurrencyHelpers
import Vapor

enum PoolKey: Hashable, Sendable {
    case team(UUID)
    case sector(String)
}

/// Where an agent sits in one of the book's pools.
struct PoolPosition: Sendable {
    let key: PoolKey
    let index: Int
}

/// One agent as the load book sees it: whether it can take a call, and where its copies in the pools are.
struct BookAgent: Sendable {
    let sector: String
    /// Active and available: it may be offered calls.
    var isActive: Bool
    var load: Int
    var maxConcurrent: Int
    var channelLoads: ChannelNumbers = .zero
    var channelCapacity: ChannelNumbers = .unlimited
    /// Teams with an active member this agent is assigned to: their queued calls may go to it.
    var teams: [UUID]
    var positions: [PoolPosition]
    /// Its own after-call work (nil: the tenant's).
    var wrapUpSeconds: Int? = nil

    var hasRoom: Bool { isActive && load < maxConcurrent }

    /// Room in the total and in the channel's own limit.
    func hasRoom(for channel: CallChannel) -> Bool { hasRoom && channelLoads[channel] < channelCapacity[channel] }

    /// The channels that still have room (all of them when the total has).
    var channelsWithRoom: [CallChannel] { CallChannel.allCases.filter(hasRoom(for:)) }

    var channelsFull: UInt8 { ChannelNumbers.full(loads: channelLoads, capacity: channelCapacity) }
}

/// A tenant's agent as read from the database to build its book.
struct BookAgentRow: Sendable {
    let id: UUID
    let sector: String
    /// `status` active: the agent sits in its sector's pool (offered calls only while also available).
    let isActive: Bool
    let priority: Int
    let capabilities: [String]
    /// Skill levels below the top (`SkillLevel`).
    var capabilityLevels: [String: Int] = [:]
    let maxConcurrent: Int
    let load: Int
    let successRate: Double
    let avgHandlingTime: Double
    var channelCapacity: ChannelNumbers = .unlimited
    var channelLoads: ChannelNumbers = .zero
    /// Presence `available`.
    var isAvailable = true
    var wrapUpSeconds: Int? = nil
    /// When its last call or after-call work ended (never: when it was created).
    var idleSince = Date(timeIntervalSince1970: 0)
}

struct DataVersions: Equatable, Sendable {
    let catalogue: Int
    let live: Int
}

/// Every tenant's `TenantBook`, loaded on first use and kept current by the call writer. The database is the
/// record; this is the index. Any write to agents, teams, members, assignments or settings drops the tenant's
/// book (here and, over PostgreSQL, in every process), and the next decision reloads it; an aggregation updates
/// the agents' 7-day values in place instead (`applyAggregation`).
final class LoadBook: Sendable {
    private struct Slot {
        var book: TenantBook?
        /// Bumped by every change, so that a load racing with a change never installs a stale book.
        var generation = 0
        var hits = 0
        var misses = 0
        /// Bumped when the tenant's catalogue (agents, teams, members, assignments, settings, metrics) changes.
        var catalogueVersion = 0
        /// Bumped when committed loads change (this process's batches, or another's notifications).
        var liveVersion = 0
    }

    private let slots = NIOLockedValueBox<[String: Slot]>([:])
    /// Names this book in the loads it announces to other processes, so it can skip its own.
    let origin = UUID().text
    /// Tells other processes (PostgreSQL NOTIFY); nil on SQLite, where one process is assumed.
    private let broadcast = NIOLockedValueBox<(@Sendable (String) async -> Void)?>(nil)

    func broadcastInvalidations(with broadcast: @escaping @Sendable (String) async -> Void) {
        self.broadcast.withLockedValue { $0 = broadcast }
    }

    /// Runs `body` on the tenant's book, loading it first if needed. `body` runs under the book's lock: keep it
    /// to in-memory work. `reloadingIfOlderThanTTL` also reloads a book older than the tenant's
    /// `routing.cache_ttl_seconds` (a bound on drift from changes made behind the service's back); the call writer
    /// asks for it once per tenant at the start of a batch, never in the middle of one, where a reload would
    /// forget the claims the batch has booked so far.
    func withBook<T>(
        _ clientId: String, store: Store, on db: (any SQLDatabase)? = nil, reloadingIfOlderThanTTL: Bool = false,
        _ body: (inout TenantBook) throws -> T
    ) async throws -> T {
        var mayReload = reloadingIfOlderThanTTL
        while true {
            let attempt: Result<T, any Error>? = slots.withLockedValue { slots in
                guard let book = slots[clientId]?.book else { return nil }
                if mayReload && ContinuousClock.now - book.loadedAt >= .seconds(book.policy.cacheTTLSeconds) { return nil }
                slots[clientId]!.hits += 1
                slots[clientId]!.generation += 1
                return Result { try body(&slots[clientId]!.book!) }
            }
            if let attempt { return try attempt.get() }
            try await load(clientId, store: store, on: db)
            mayReload = false  // a book just read is used even when the TTL is zero
        }
    }

    /// The tenant's book as it is now, without loading it (for tests and diagnostics).
    func peek(_ clientId: String) -> TenantBook? {
        slots.withLockedValue { $0[clientId]?.book }
    }

    /// Reads the tenant's book from the database and installs it unless something changed meanwhile.
    private func load(_ clientId: String, store: Store, on db: (any SQLDatabase)?) async throws {
        let generation = slots.withLockedValue { slots in
            slots[clientId, default: Slot()].misses += 1
            return slots[clientId]!.generation
        }
        // On SQLite the read takes the write gate (unless the caller holds it, passing its transaction), so no
        // batch is half-way between booking its claims and committing them: the book is exact there.
        let book: TenantBook
        if let db {
            book = try await read(clientId, store: store, on: db)
        } else if store.isPostgres {
            book = try await read(clientId, store: store, on: store.sql)
        } else {
            book = try await store.write { db in try await self.read(clientId, store: store, on: db as! any SQLDatabase) }
        }
        slots.withLockedValue { slots in
            if slots[clientId]?.generation == generation {
                slots[clientId]!.book = book
            }
        }
    }

    /// Repeatable per tenant once seeded (tests); from the system's generator otherwise.
    private let seed = NIOLockedValueBox<UInt64?>(nil)

    func seedRandomness(_ value: UInt64?) {
        seed.withLockedValue { $0 = value }
    }

    private func generator(for clientId: String) -> SeededGenerator {
        seed.withLockedValue { $0 }.map { SeededGenerator(seed: SeededGenerator.seed($0, for: clientId)) } ?? SeededGenerator()
    }

    func read(_ clientId: String, store: Store, on db: any SQLDatabase) async throws -> TenantBook {
        let policy = try await RoutingPolicy.load(for: clientId, on: db)
        let catalogue = try await BookCatalogue.read(clientId, withHistory: policy.strategy == .learning, on: db)
        var queued: Int?
        if !store.isPostgres {
            queued = try await TenantScope(clientId: clientId).queuedCallCount(on: db)
        }
        return TenantBook(policy: policy, agents: catalogue.agents, teams: catalogue.teams, assignments: catalogue.assignments,
                          queuedCalls: queued, successHistory: catalogue.successHistory,
                          capabilityHistory: catalogue.capabilityHistory, generator: generator(for: clientId))
    }
    /// Applies values committed elsewhere, if the tenant's book is loaded; unknown agents are ignored.
    func applyCommitted(_ clientId: String, _ states: [LiveState]) {
        slots.withLockedValue { slots in
            slots[clientId, default: Slot()].liveVersion += 1
            guard slots[clientId]?.book != nil else { return }
            slots[clientId]!.generation += 1
            for state in states { slots[clientId]!.book!.setLiveState(state) }
        }
    }

    /// Outcomes of calls a batch completed, once it committed: under the learning strategy each moves its agent's
    /// estimate in the loaded book. A book loaded after the commit and before this already counted them from the
    /// stored calls; that window is a few microseconds wide and costs one outcome counted twice until the next load.
    func learnOutcomes(_ clientId: String, _ outcomes: [KnownOutcome]) {
        slots.withLockedValue { slots in
            guard slots[clientId]?.book?.policy.strategy == .learning else { return }
            slots[clientId]!.generation += 1
            for outcome in outcomes {
                slots[clientId]!.book!.learnOutcome(of: outcome.agentId, successful: outcome.successful, asked: outcome.asked)
            }
        }
    }

    /// Gives back (or re-books) what a rolled-back batch booked, if the book is still the one it booked in.
    func adjust(_ clientId: String, _ agentId: UUID, by delta: Int, channel: CallChannel?) {
        slots.withLockedValue { slots in
            guard slots[clientId]?.book != nil else { return }
            slots[clientId]!.generation += 1
            slots[clientId]!.book!.adjustLoad(of: agentId, by: delta, channel: channel)
        }
    }

    func policy(of clientId: String) -> RoutingPolicy? {
        slots.withLockedValue { $0[clientId]?.book?.policy }
    }

    /// After an aggregation that wrote new daily rows for the tenant: the agents' new 7-day values go into the
    /// loaded book in place (reloading a 100,000-agent book takes most of a second, and aggregation runs every
    /// minute), and the tenant's read models are marked stale (team pages show the daily rows). Other processes
    /// over PostgreSQL are told to drop their books, as for any catalogue change.
    func applyAggregation(_ clientId: String, history: [(agentId: UUID, successRate: Double, avgHandlingTime: Double)]) async {
        slots.withLockedValue { slots in
            slots[clientId, default: Slot()].catalogueVersion += 1
            guard let book = slots[clientId]?.book else { return }
            slots[clientId]!.generation += 1
            // Learning estimates come from 30 days of calls and the sector's rate: the next decision reloads them.
            guard book.policy.strategy == .formula else {
                slots[clientId]!.book = nil
                return
            }
            for value in history {
                slots[clientId]!.book!.setHistory(of: value.agentId, successRate: value.successRate,
                                                 avgHandlingTime: value.avgHandlingTime)
            }
        }
        await broadcast.withLockedValue { $0 }?(clientId)
    }

    /// Drops the tenant's book here and in every other process that listens.
    func invalidate(_ clientId: String) async {
        invalidateHere(clientId)
        await broadcast.withLockedValue { $0 }?(clientId)
    }

    func invalidate(_ clientIds: some Sequence<String> & Sendable) async {
        for clientId in clientIds { await invalidate(clientId) }
    }

    /// For invalidations that arrive from other processes, and after a failed write.
    func invalidateHere(_ clientId: String) {
        slots.withLockedValue { slots in
            slots[clientId, default: Slot()].book = nil
            slots[clientId]!.generation += 1
            slots[clientId]!.catalogueVersion += 1
        }
    }

    /// For read models that depend on the tenant's data: equal versions, unchanged data.
    func versions(of clientId: String) -> DataVersions {
        slots.withLockedValue { slots in
            let slot = slots[clientId] ?? Slot()
            return DataVersions(catalogue: slot.catalogueVersion, live: slot.liveVersion)
        }
    }

    /// After a lost connection to other processes: their changes meanwhile are unknown.
    func invalidateEverythingHere() {
        slots.withLockedValue { slots in
            for clientId in slots.keys {
                slots[clientId]!.book = nil
                slots[clientId]!.generation += 1
                slots[clientId]!.catalogueVersion += 1
                slots[clientId]!.liveVersion += 1
            }
        }
    }

    struct Snapshot: Content {
        let cachedPools: Int
        let oldestPoolAgeSeconds: Double?
        let cacheHits: Int
        let cacheMisses: Int
    }

    /// The tenant's own figures only.
    func snapshot(clientId: String) -> Snapshot {
        slots.withLockedValue { slots in
            let slot = slots[clientId] ?? Slot()
            let age = slot.book.map { ContinuousClock.now - $0.loadedAt }
            return Snapshot(
                cachedPools: slot.book?.poolCount ?? 0,
                oldestPoolAgeSeconds: age.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 },
                cacheHits: slot.hits,
                cacheMisses: slot.misses
            )
        }
    }
}

extension Application {
    private struct LoadBookKey: StorageKey { typealias Value = LoadBook }

    var loadBook: LoadBook {
        if let book = storage[LoadBookKey.self] { return book }
        let book = LoadBook()
        storage[LoadBookKey.self] = book
        return book
    }
}
