import Vapor

/// The application's responder (Vapor's default one, rebuilt for the two costs it had on every request): routes on
/// the request target as it arrived, and keeps path parameters as they came. Vapor's reads the path through
/// Foundation's `URLComponents` (`url.path`, then a search-and-replace of `%3B`), percent-decodes every parameter
/// through Foundation's `removingPercentEncoding` whether or not it holds a `%`, and builds a metrics label on every
/// request for a metrics system this service does not install (its own metrics are `RequestMetricsMiddleware`'s);
/// together about 7 % of an accept's CPU. A path it cannot be sure Foundation leaves as it is (a `%`, a `;`, a dot
/// segment, a leading `//`, any byte outside RFC 3986's path characters) is read through `url.path`, as Vapor's.
///
/// Path parameters are read with `Request.pathParameter(_:)` (Vapor's `parameters` stay empty). The router holds
/// what the service's routes use: constant segments and named parameters, the constants tried first, as
/// RoutingKit's `TrieRouter` does; a route with `*` or `**` is refused when the router is built.
struct TargetRouter: Responder {
    private struct CachedRoute {
        let route: Route
        let responder: any Responder
    }

    private final class Node: @unchecked Sendable {
        var constants: [String: Node] = [:]
        var parameter: (name: String, node: Node)?
        var output: CachedRoute?

        func child(_ constant: String) -> Node {
            if let node = constants[constant] { return node }
            let node = Node()
            constants[constant] = node
            return node
        }

        /// One parameter per position; a later route naming it differently renames it, as RoutingKit does.
        func parameterChild(named name: String) -> Node {
            let node = parameter?.node ?? Node()
            parameter = (name, node)
            return node
        }
    }

    private let root = Node()
    private let caseInsensitive: Bool
    private let notFound: any Responder

    init(routes: Routes, middleware: [any Middleware]) {
        caseInsensitive = routes.caseInsensitive
        notFound = middleware.makeResponder(chainingTo: RouteNotFoundResponder())
        for route in routes.all {
            var node = root.child(route.method.rawValue)
            for component in route.path {
                switch component {
                case .constant(let text) where text.isEmpty: continue
                case .constant(let text): node = node.child(caseInsensitive ? text.lowercased() : text)
                case .parameter(let name): node = node.parameterChild(named: name)
                case .anything, .catchall:
                    preconditionFailure("TargetRouter holds constants and named parameters only: \(route.description)")
                }
            }
            node.output = CachedRoute(route: route, responder: middleware.makeResponder(chainingTo: route.responder))
        }
    }

    func respond(to request: Request) -> EventLoopFuture<Response> {
        let plain = Self.plainPath(request)
        let segments = (plain ?? Substring(request.url.path)).split(separator: "/")
        // A HEAD request takes a HEAD route if there is one, else the GET route.
        var found = request.method == .HEAD ? match(HTTPMethod.HEAD.rawValue, segments) : nil
        if found == nil { found = match(request.method == .HEAD ? HTTPMethod.GET.rawValue : request.method.rawValue, segments) }
        guard let (cached, values) = found else { return notFound.respond(to: request) }
        request.route = cached.route
        if !values.isEmpty {
            // A plain path holds no `%`; any other value is decoded as Vapor decodes its parameters.
            request.storage[PathParametersKey.self] = plain != nil ? values
                : values.map { ($0.name, $0.value.removingPercentEncoding ?? $0.value) }
        }
        return cached.responder.respond(to: request)
    }

    private func match(_ method: String, _ segments: [Substring]) -> (CachedRoute, [(name: String, value: String)])? {
        guard var node = root.constants[method] else { return nil }
        var values: [(name: String, value: String)] = []
        for segment in segments {
            let text = String(segment)
            if let constant = node.constants[caseInsensitive ? text.lowercased() : text] {
                node = constant
            } else if let parameter = node.parameter {
                values.append((parameter.name, text))
                node = parameter.node
            } else {
                return nil
            }
        }
        return node.output.map { ($0, values) }
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

private struct PathParametersKey: StorageKey { typealias Value = [(name: String, value: String)] }

extension Request {
    /// A path parameter of the matched route (`:call_id`), percent-decoded.
    func pathParameter(_ name: String) -> String? {
        storage[PathParametersKey.self]?.last { $0.name == name }?.value
    }
}

private struct RouteNotFoundResponder: Responder {
    func respond(to request: Request) -> EventLoopFuture<Response> {
        request.eventLoop.makeFailedFuture(Abort(.notFound))
    }
}
