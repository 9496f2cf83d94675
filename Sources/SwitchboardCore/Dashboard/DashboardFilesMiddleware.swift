import Vapor

/// Serves the dashboard from `Public/`, and Chart.js from Debian's `libjs-chart.js` at `/vendor/chart.js/…`.
/// API paths skip the file lookups entirely.
struct DashboardFilesMiddleware: AsyncMiddleware {
    static let vendorPrefix = "/vendor/chart.js/"
    static let systemJavaScript = "/usr/share/javascript/"

    private let publicFiles: FileMiddleware
    private let vendorFiles: FileMiddleware

    init(publicDirectory: String) {
        publicFiles = FileMiddleware(publicDirectory: publicDirectory, defaultFile: "index.html")
        vendorFiles = FileMiddleware(publicDirectory: Self.systemJavaScript)
    }

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let path = request.url.path
        if path.hasPrefix("/api/") || request.method != .GET && request.method != .HEAD {
            return try await next.respond(to: request)
        }
        if path.hasPrefix(Self.vendorPrefix) {
            request.url.path = "/chart.js/" + path.dropFirst(Self.vendorPrefix.count)
            return try await vendorFiles.respond(to: request, chainingTo: next)
        }
        return try await publicFiles.respond(to: request, chainingTo: next)
    }
}
