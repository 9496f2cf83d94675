import Foundation
import NIOConcurrencyHelpers
import Vapor

/// The busiest reads' answers, encoded once and served until the tenant's data changes: the load book's versions
/// say when (every catalogue write and every aggregation invalidates the tenant's book; every committed batch of
/// calls moves its loads), here and, over PostgreSQL, in every process through the same notifications.
final class ReadCache: Sendable {
    enum Dependency: Sendable {
        /// Teams, members, assignments, agents' attributes, settings, daily metrics.
        case catalogue
        /// All of those and agents' live loads.
        case catalogueAndLoads
    }

    private struct Entry {
        let body: ByteBuffer
        let versions: DataVersions
        let dependency: Dependency

        func isFresh(at current: DataVersions) -> Bool {
            switch dependency {
            case .catalogue: versions.catalogue == current.catalogue
            case .catalogueAndLoads: versions == current
            }
        }
    }

    private let book: LoadBook
    private let entries = NIOLockedValueBox<[String: [String: Entry]]>([:])
    /// Keys come from query strings, so the cache is bounded: a tenant past this many answers starts again.
    static let maxEntriesPerTenant = 512
    static let maxTenants = 10_000

    init(book: LoadBook) {
        self.book = book
    }

    /// The cached answer for `key`, or `compute`'s, stored with the versions read before computing (so a change
    /// that lands while computing makes the next read compute again). Errors are never cached.
    func response(
        clientId: String, key: String, dependency: Dependency, compute: () async throws -> ByteBuffer
    ) async throws -> Response {
        let versions = book.versions(of: clientId)
        let cached = entries.withLockedValue { entries in entries[clientId]?[key] }
        if let cached, cached.isFresh(at: versions) {
            return Self.jsonResponse(cached.body)
        }
        let body = try await compute()
        entries.withLockedValue { entries in
            if entries[clientId] == nil && entries.count >= Self.maxTenants { entries.removeAll() }
            if entries[clientId, default: [:]].count >= Self.maxEntriesPerTenant { entries[clientId] = [:] }
            entries[clientId, default: [:]][key] = Entry(body: body, versions: versions, dependency: dependency)
        }
        return Self.jsonResponse(body)
    }

    private static func jsonResponse(_ body: ByteBuffer) -> Response {
        var headers = HTTPHeaders()
        headers.contentType = .json
        return Response(status: .ok, headers: headers, body: .init(buffer: body))
    }
}

extension Envelope {
    /// The encoded body alone, for `ReadCache`.
    func encodedBody() throws -> ByteBuffer {
        ByteBuffer(data: try encodedData())
    }
}

extension Application {
    private struct ReadCacheKey: StorageKey { typealias Value = ReadCache }

    var readCache: ReadCache {
        if let cache = storage[ReadCacheKey.self] { return cache }
        let cache = ReadCache(book: loadBook)
        storage[ReadCacheKey.self] = cache
        return cache
    }
}
