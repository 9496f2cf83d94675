import NIOConcurrencyHelpers
import Vapor

/// Serves the dashboard from `Public/`, and Chart.js from Debian's `libjs-chart.js` at `/vendor/chart.js/…`.
/// API paths skip the file lookups entirely.
///
/// Only plain paths reach the file system: a path whose decoded form holds a control character (`%00`
/// would end the C string early and serve another file under this one's type), a backslash or a `..`
/// segment is a 404, and so is any failure to read a file (`/index.html/x` asks for a file under a file):
/// the client learns nothing of the server's directories, and neither does the log.
struct DashboardFilesMiddleware: Middleware {
    static let vendorPrefix = "/vendor/chart.js/"
    static let systemJavaScript = "/usr/share/javascript/"

    private let publicFiles: FileMiddleware
    private let vendorFiles: FileMiddleware

    init(publicDirectory: String) {
        publicFiles = FileMiddleware(publicDirectory: publicDirectory, defaultFile: "index.html")
        vendorFiles = FileMiddleware(publicDirectory: Self.systemJavaScript)
    }

    /// API requests go on from the event loop; only a page's request waits for the file system (in a task).
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        let path = request.targetPath
        if path.hasPrefix("/api/") || request.method != .GET && request.method != .HEAD {
            return next.respond(to: request)
        }
        let rest = AsyncBasicResponder { try await next.respond(to: $0).get() }
        return request.eventLoop.makeFutureWithTask { try await serve(request, path: path, chainingTo: rest) }
    }

    private func serve(_ request: Request, path: Substring, chainingTo next: any AsyncResponder) async throws -> Response {
        guard Self.isPlain(path) else { throw AppError(.notFound, "not found") }
        let files: FileMiddleware
        if path.hasPrefix(Self.vendorPrefix) {
            request.url.path = "/chart.js/" + path.dropFirst(Self.vendorPrefix.count)
            files = vendorFiles
        } else {
            files = publicFiles
        }
        let passedOn = PassedOn(next)
        do {
            return try await files.respond(to: request, chainingTo: passedOn)
        } catch where !passedOn.wasCalled {
            throw AppError(.notFound, "not found")
        }
    }

    static func isPlain(_ path: Substring) -> Bool {
        guard let decoded = path.removingPercentEncoding else { return false }
        return !decoded.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }
            && !decoded.split(separator: "/").contains("..")
    }

    /// The rest of the chain, remembering whether the file middleware handed the request on (no such file).
    private final class PassedOn: AsyncResponder {
        private let next: any AsyncResponder
        private let called = NIOLockedValueBox(false)

        init(_ next: any AsyncResponder) { self.next = next }

        var wasCalled: Bool { called.withLockedValue { $0 } }

        func respond(to request: Request) async throws -> Response {
            called.withLockedValue { $0 = true }
            return try await next.respond(to: request)
        }
    }
}
