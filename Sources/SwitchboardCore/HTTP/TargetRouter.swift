@preconcurrency import RoutingKit
import Vapor

/// Vapor's default responder, routing on the request target as it arrived: Vapor's reads the path through
/// Foundation's `URLComponents` (`url.path`, then a search-and-replace of `%3B`) and builds a metrics label on every
/// request for a metrics system this service does not install (its own metrics are `RequestMetricsMiddleware`'s);
/// the two were about 3 % of a request's CPU. A path it cannot be sure Foundation leaves as it is (a `%`, a `;`, a
/// dot segment, a leading `//`, any byte outside RFC 3986's path characters) is read through `url.path`, as Vapor's.
struct TargetRouter: Responder {
    private struct CachedRoute {
        let route: Route
        let responder: any Responder
    }

    private let router: TrieRouter<CachedRoute>
    private let notFound: any Responder

    init(routes: Routes, middleware: [any Middleware]) {
        let router = TrieRouter(CachedRoute.self, options: routes.caseInsensitive ? [.caseInsensitive] : [])
        for route in routes.all {
            let path = route.path.filter { component in
                if case .constant(let text) = component { return !text.isEmpty }
                return true
            }
            router.register(CachedRoute(route: route, responder: middleware.makeResponder(chainingTo: route.responder)),
                            at: [.constant(route.method.rawValue)] + path)
        }
        self.router = router
        notFound = middleware.makeResponder(chainingTo: RouteNotFoundResponder())
    }

    func respond(to request: Request) -> EventLoopFuture<Response> {
        guard let cached = route(for: request) else { return notFound.respond(to: request) }
        request.route = cached.route
        return cached.responder.respond(to: request)
    }

    private func route(for request: Request) -> CachedRoute? {
        let components = (Self.plainPath(request) ?? Substring(request.url.path)).split(separator: "/").map(String.init)
        // A HEAD request takes a HEAD route if there is one, else the GET route.
        if request.method == .HEAD,
           let route = router.route(path: [HTTPMethod.HEAD.rawValue] + components, parameters: &request.parameters) {
            return route
        }
        let method = request.method == .HEAD ? HTTPMethod.GET : request.method
        return router.route(path: [method.rawValue] + components, parameters: &request.parameters)
    }

    /// The target's path when it is one `url.path` answers unchanged: it starts with a single `/` and holds only
    /// letters, digits, `/` and the path characters `-._~!$&'()*+,=:@`, with no segment starting with a dot.
    static func plainPath(_ request: Request) -> Substring? {
        guard let target = request.storage[RequestTargetKey.self] else { return nil }
        return plainPath(ofTarget: target)
    }

    static func plainPath(ofTarget target: String) -> Substring? {
        let path = target[..<(target.utf8.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? target.endIndex)]
        var previous: UInt8 = 0
        for byte in path.utf8 {
            guard isPathCharacter(byte), !(previous == UInt8(ascii: "/") && (byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".")))
            else { return nil }
            previous = byte
        }
        guard path.utf8.first == UInt8(ascii: "/") else { return nil }
        return path
    }

    private static func isPathCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "/-._~!$&'()*+,=:@".utf8.contains(byte)
        }
    }
}

private struct RouteNotFoundResponder: Responder {
    func respond(to request: Request) -> EventLoopFuture<Response> {
        request.eventLoop.makeFailedFuture(Abort(.notFound))
    }
}
