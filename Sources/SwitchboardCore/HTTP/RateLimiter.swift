import Foundation
import NIOConcurrencyHelpers
import Vapor

/// Per-tenant token buckets: each tenant may send `burst` requests at once and `requestsPerSecond` on average.
/// A lock rather than an actor, because every API request passes through here.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updatedAt: ContinuousClock.Instant
    }

    let limit: RateLimit
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    init(limit: RateLimit) { self.limit = limit }

    /// Nil when the request may go ahead; otherwise the whole seconds until a token is available.
    func retryAfter(for clientId: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLockedValue { buckets in
            var bucket = buckets[clientId] ?? Bucket(tokens: Double(limit.burst), updatedAt: now)
            let elapsed = now - bucket.updatedAt
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(Double(limit.burst), bucket.tokens + seconds * limit.requestsPerSecond)
            bucket.updatedAt = now
            defer { buckets[clientId] = bucket }
            guard bucket.tokens >= 1 else {
                return max(1, Int(((1 - bucket.tokens) / limit.requestsPerSecond).rounded(.up)))
            }
            bucket.tokens -= 1
            return nil
        }
    }
}

/// 429 with `Retry-After` once a tenant has spent its bucket. Runs after authentication, so it counts per tenant.
struct RateLimitMiddleware: AsyncMiddleware {
    let limiter: RateLimiter

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if let seconds = limiter.retryAfter(for: try request.tenant.clientId) {
            var error = AppError(.tooManyRequests, "too many requests for this tenant; retry in \(seconds) s")
            error.retryAfterSeconds = seconds
            throw error
        }
        return try await next.respond(to: request)
    }
}
