import Vapor

/// How large a request may be. Every write in the API but the bulk ones is a small JSON object and takes `standard`
/// (Vapor's collection limit, and `RouteBodyLimitMiddleware` from the declared length). `bulk` is the most the
/// server reads for any request before routing, and what the bulk routes (paths ending in `/bulk`, declared with
/// `.collect(maxSize:)`) accept.
enum BodyLimit {
    static let standard = 16 * 1024
    static let bulk = 1024 * 1024
    static let maxURLLength = 8 * 1024
    /// The path alone (before `?`): the longest API path is about 100 bytes, and routing a long one is costly.
    static let maxPathLength = 1024

    /// The 414 for a request target over either limit, or nil.
    static func uriRefusal(_ target: String) -> AppError? {
        let bytes = target.utf8
        let pathLength = bytes.firstIndex(of: UInt8(ascii: "?")).map { bytes.distance(from: bytes.startIndex, to: $0) } ?? bytes.count
        guard bytes.count > maxURLLength || pathLength > maxPathLength else { return nil }
        return AppError(.uriTooLong, "the URL is too long (limits: \(maxPathLength) bytes of path, \(describe(maxURLLength)) in all)")
    }

    /// The limit of the route a request target names, known from its path before routing: the server stops
    /// reading there, whether the body is declared with `Content-Length` or sent in chunks.
    static func forTarget(_ target: String) -> Int {
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
        return path.hasSuffix("/bulk") || path.hasSuffix("/bulk/") ? bulk : standard
    }

    static func describe(_ bytes: Int) -> String {
        bytes >= 1024 * 1024 ? "\(bytes / (1024 * 1024)) MiB" : "\(bytes / 1024) KiB"
    }
}

/// Refuses what is too large before any work: a URL over its limits (414), and a declared body over the largest
/// limit of any route (413); it runs before routing, so `RouteBodyLimitMiddleware` applies the route's own.
struct RequestLimitsMiddleware: RequestCheck {
    func check(_ request: Request) throws {
        if let refusal = BodyLimit.uriRefusal(request.target) { throw refusal }
        try Self.checkDeclaredLength(of: request, limit: BodyLimit.bulk)
    }

    static func checkDeclaredLength(of request: Request, limit: Int) throws {
        guard let declared = request.headers.first(name: .contentLength) else { return }
        guard let length = Int(declared), length >= 0 else {
            throw AppError.badRequest("Content-Length must be a whole number of bytes")
        }
        guard length <= limit else {
            throw AppError(.payloadTooLarge, "request body too large (limit \(BodyLimit.describe(limit)))")
        }
    }
}

/// The per-route check, once routing has chosen the route: first in the API's middleware, before authentication.
struct RouteBodyLimitMiddleware: RequestCheck {
    func check(_ request: Request) throws {
        let isBulk = request.route?.path.last == .constant("bulk")
        let limit = isBulk ? BodyLimit.bulk : BodyLimit.standard
        try RequestLimitsMiddleware.checkDeclaredLength(of: request, limit: limit)
        // What was received counts, however it was framed (chunks declare no length).
        if let received = request.body.data?.readableBytes, received > limit {
            throw AppError(.payloadTooLarge, "request body too large (limit \(BodyLimit.describe(limit)))")
        }
    }
}
