import Foundation
import SQLKit
import Vapor

/// `/health`, `/metrics` and `/openapi.yaml`: the unauthenticated operational surface.
struct SystemController: RouteCollection {
    static let version = "0.1.0"

    func boot(routes: any RoutesBuilder) throws {
        routes.get("health", use: health)
        routes.get("metrics", use: metrics)
        routes.get("openapi.yaml", use: openAPI)
    }

    struct Health: Content {
        let status: String
        let database: String
        let version: String
    }

    @Sendable
    func health(req: Request) async throws -> Response {
        let kind = req.store.isPostgres ? "postgresql" : "sqlite"
        do {
            _ = try await req.store.sql.raw("SELECT 1 AS ok").first()
        } catch {
            req.logger.error("health check: database unreachable", metadata: ["error": "\(error)"])
            throw AppError(.serviceUnavailable, "database unreachable")
        }
        return try await Envelope(data: Health(status: "ok", database: kind, version: Self.version))
            .encodeResponse(for: req)
    }

    /// Gauges that are state in the database are read at scrape time, so every process reports the same truth.
    @Sendable
    func metrics(req: Request) async throws -> Response {
        let queued = try await req.store.sql.raw("SELECT COUNT(*) AS queued FROM calls WHERE status = \(unsafeRaw: CallStatus.queued.sqlLiteral)").first()
        req.application.metrics.gauge("switchboard_calls_queued").set(Double(try queued?.decode(column: "queued", as: Int.self) ?? 0))
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "plain", parameters: ["version": "0.0.4"])
        return Response(status: .ok, headers: headers, body: .init(string: req.application.metrics.exposition()))
    }

    @Sendable
    func openAPI(req: Request) async throws -> Response {
        let path = req.application.directory.workingDirectory + "docs/openapi.yaml"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AppError.notFound("OpenAPI document")
        }
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "application", subType: "yaml")
        return Response(status: .ok, headers: headers, body: .init(string: text))
    }
}
