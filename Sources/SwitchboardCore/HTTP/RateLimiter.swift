import Foundation
import NIOConcurrencyHelpers
import Vapor

/// Token buckets by key (a tenant, or a client address): each key may send `burst` requests at once and
/// `requestsPerSecond` on average. A lock rather than an actor, because every API request passes through here.
/// The table is bounded: past `capacity` keys, the buckets that have refilled (indistinguishable from new ones)
/// are forgotten.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updatedAt: ContinuousClock.Instant
    }

    let limit: RateLimit
    let capacity: Int
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    init(limit: RateLimit, capacity: Int = 100_000) {
        self.limit = limit
        self.capacity = capacity
    }

    /// Nil when the request may go ahead; otherwise the whole seconds until a token is available.
    func retryAfter(for key: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLockedValue { buckets in
            if buckets[key] == nil && buckets.count >= capacity {
                let refill = Duration.seconds(Double(limit.burst) / limit.requestsPerSecond)
                buckets = buckets.filter { now - $0.value.updatedAt < refill }
            }
            var bucket = buckets[key] ?? Bucket(tokens: Double(limit.burst), updatedAt: now)
            let elapsed = now - bucket.updatedAt
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(Double(limit.burst), bucket.tokens + seconds * limit.requestsPerSecond)
            bucket.updatedAt = now
            defer { buckets[key] = bucket }
            guard bucket.tokens >= 1 else {
                return max(1, Int(((1 - bucket.tokens) / limit.requestsPerSecond).rounded(.up)))
            }
            bucket.tokens -= 1
            return nil
        }
    }

    /// Gives back a token spent for a request that turned out to deserve none (a WebSocket that authenticated).
    func refund(_ key: String) {
        buckets.withLockedValue { buckets in
            guard var bucket = buckets[key] else { return }
            bucket.tokens = min(Double(limit.burst), bucket.tokens + 1)
            buckets[key] = bucket
        }
    }
}

/// 429 with `Retry-After` once a tenant has spent its bucket. Runs after authentication, so it counts per tenant.
struct RateLimitMiddleware: RequestCheck {
    let limiter: RateLimiter

    func check(_ request: Request) throws {
        if let seconds = limiter.retryAfter(for: try request.tenant.clientId) {
            var error = AppError(.tooManyRequests, "too many requests for this tenant; retry in \(seconds) s")
            error.retryAfterSeconds = seconds
            throw error
        }
    }
}

extension Application {
    private struct UnauthenticatedLimiterKey: StorageKey { typealias Value = RateLimiter }

    /// Token buckets per client address for requests that have not (yet) proved a tenant; nil when turned off.
    var unauthenticatedLimiter: RateLimiter? {
        get { storage[UnauthenticatedLimiterKey.self] }
        set { storage[UnauthenticatedLimiterKey.self] = newValue }
    }
}
