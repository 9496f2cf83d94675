import Foundation
import NIOConcurrencyHelpers
import Vapor

/// Tokens whose signature and claims were verified, until they expire. A client sends the same token on every
/// request; verifying it once (HMAC and JSON decoding behind an actor hop in jwt-kit) instead of every time is a
/// large share of a cheap read. Only successful verifications are kept, expiry is checked on every use, and the
/// table is bounded (cleared when full, tokens of at most 2 KiB) so that a flood of distinct tokens costs at most
/// about 20 MB. A speed-up only: whether a request is throttled never depends on it (see `TenantAuthMiddleware`).
final class VerifiedTokens: Sendable {
    private struct Entry {
        let tenant: Tenant
        let expiresAt: Date
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    static let capacity = 10_000
    /// Ours are about 250 bytes; a longer one is verified each time rather than kept.
    static let maxTokenLength = 2_048

    func tenant(for token: String, now: Date = Date()) -> Tenant? {
        entry(for: token, now: now)?.tenant
    }

    func entry(for token: String, now: Date = Date()) -> (tenant: Tenant, expiresAt: Date)? {
        entries.withLockedValue { entries in
            guard let entry = entries[token] else { return nil }
            guard entry.expiresAt > now else {
                entries[token] = nil
                return nil
            }
            return (entry.tenant, entry.expiresAt)
        }
    }

    func remember(_ token: String, as tenant: Tenant, until expiresAt: Date) {
        guard token.utf8.count <= Self.maxTokenLength else { return }
        entries.withLockedValue { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(tenant: tenant, expiresAt: expiresAt)
        }
    }
}

extension Application {
    private struct VerifiedTokensKey: StorageKey { typealias Value = VerifiedTokens }

    var verifiedTokens: VerifiedTokens {
        if let tokens = storage[VerifiedTokensKey.self] { return tokens }
        let tokens = VerifiedTokens()
        storage[VerifiedTokensKey.self] = tokens
        return tokens
    }
}
