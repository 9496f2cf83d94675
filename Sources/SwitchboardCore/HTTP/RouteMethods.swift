import Vapor

/// The methods the routing table has for each path, so that a request with an unsupported method on a real
/// path is answered 405 with `Allow` (RFC 9110 §15.5.6), not a 404 that says the resource does not exist.
struct RouteMethods: Sendable {
    private let routes: [(method: HTTPMethod, path: [PathComponent])]

    init(_ routes: [Route]) {
        self.routes = routes.map { ($0.method, $0.path) }
    }

    /// The methods allowed on `path` (with HEAD wherever GET is), sorted; empty when no route has the path.
    func allowed(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods = Set<String>()
        for route in routes where Self.matches(route.path, segments) {
            methods.insert(route.method.rawValue)
            if route.method == .GET { methods.insert(HTTPMethod.HEAD.rawValue) }
        }
        return methods.sorted()
    }

    private static func matches(_ pattern: [PathComponent], _ segments: [Substring]) -> Bool {
        for (index, component) in pattern.enumerated() {
            if case .catchall = component { return segments.count > index }
            guard index < segments.count else { return false }
            switch component {
            case .constant(let text): if segments[index] != text { return false }
            case .parameter, .anything, .catchall: continue
            }
        }
        return pattern.count == segments.count
    }
}

extension Application {
    private struct RouteMethodsKey: StorageKey { typealias Value = RouteMethods }

    var routeMethods: RouteMethods? {
        get { storage[RouteMethodsKey.self] }
        set { storage[RouteMethodsKey.self] = newValue }
    }
}
