import Foundation
import Vapor

enum PoolKey: Hashable, Sendable {
    case team(UUID)
    case sector(String)
}

/// Per-tenant cache of candidate pools. Entries expire after the tenant's TTL and every write to agents,
/// teams, members or assignments drops the tenant's entries, so the very next route sees the change.
/// Live load is never taken from here (see `AgentRouter`).
actor RoutingPoolCache {
    private struct Entry {
        let pool: CandidatePool
        let loadedAt: ContinuousClock.Instant
    }

    private var entries: [String: [PoolKey: Entry]] = [:]
    /// Bumped on invalidation so that a load racing with a write does not store a stale pool.
    private var generations: [String: Int] = [:]
    private(set) var hits = 0
    private(set) var misses = 0
    /// Tells other processes (PostgreSQL NOTIFY); nil on SQLite, where one process is assumed.
    private var broadcast: (@Sendable (String) async -> Void)?

    func broadcastInvalidations(with broadcast: @escaping @Sendable (String) async -> Void) {
        self.broadcast = broadcast
    }

    func pool(
        _ key: PoolKey, clientId: String, ttl: Duration,
        load: @Sendable () async throws -> CandidatePool
    ) async throws -> CandidatePool {
        let now = ContinuousClock.now
        if let entry = entries[clientId]?[key], now - entry.loadedAt < ttl {
            hits += 1
            return entry.pool
        }
        misses += 1
        let generation = generations[clientId, default: 0]
        let pool = try await load()
        if ttl > .zero, generations[clientId, default: 0] == generation {
            entries[clientId, default: [:]][key] = Entry(pool: pool, loadedAt: ContinuousClock.now)
        }
        return pool
    }

    /// Drops the tenant's pools here and in every other process that listens.
    func invalidate(_ clientId: String) async {
        invalidateHere(clientId)
        await broadcast?(clientId)
    }

    func invalidate(_ clientIds: some Sequence<String> & Sendable) async {
        for clientId in clientIds { await invalidate(clientId) }
    }

    /// For invalidations that arrive from other processes.
    func invalidateHere(_ clientId: String) {
        entries[clientId] = nil
        generations[clientId, default: 0] += 1
    }

    struct Snapshot: Content {
        let cachedPools: Int
        let oldestPoolAgeSeconds: Double?
        let cacheHits: Int
        let cacheMisses: Int
    }

    func snapshot(clientId: String) -> Snapshot {
        let now = ContinuousClock.now
        let tenantEntries = entries[clientId] ?? [:]
        let oldest = tenantEntries.values.map { now - $0.loadedAt }.max()
        return Snapshot(
            cachedPools: tenantEntries.count,
            oldestPoolAgeSeconds: oldest.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 },
            cacheHits: hits,
            cacheMisses: misses
        )
    }
}

extension Application {
    private struct RoutingPoolsKey: StorageKey { typealias Value = RoutingPoolCache }

    var routingPools: RoutingPoolCache {
        if let cache = storage[RoutingPoolsKey.self] { return cache }
        let cache = RoutingPoolCache()
        storage[RoutingPoolsKey.self] = cache
        return cache
    }
}
