import Vapor

struct SettingsController: Sendable {
    func readRoutes(_ routes: any RoutesBuilder) {
        routes.get("settings", use: get)
        routes.get("settings", "audit", use: audit)
    }

    func adminRoutes(_ routes: any RoutesBuilder) {
        routes.put("settings", use: update)
    }

    private func service(_ req: Request) throws -> SettingsService {
        SettingsService(store: req.store, tenant: try req.tenant, book: req.application.loadBook)
    }

    @Sendable func get(req: Request) async throws -> Response {
        try await SettingsEnvelope(data: try await service(req).all()).encodeResponse(for: req)
    }

    @Sendable func update(req: Request) async throws -> Response {
        let changes = try await req.decodeBody([String: JSONValue].self, literalKeys: true)
        return try await SettingsEnvelope(data: try await service(req).update(changes)).encodeResponse(for: req)
    }

    @Sendable func audit(req: Request) async throws -> Envelope<[SettingAuditDTO]> {
        let query = QueryParameters(req)
        let page = try query.page()
        let result = try await service(req).audit(key: try query.string("key", maxLength: 100), page: page)
        return Envelope(data: result.entries, meta: page.meta(total: result.total))
    }
}

/// Settings keys are the user's own (`routing.weights`, `success_rate`), so they are written as-is,
/// without the snake_case conversion the other envelopes apply.
private struct SettingsEnvelope: AsyncResponseEncodable {
    let data: [String: JSONValue]

    func encodeResponse(for request: Request) async throws -> Response {
        struct Body: Encodable {
            let success = true
            let data: [String: JSONValue]
        }
        var headers = HTTPHeaders()
        headers.contentType = .json
        return Response(status: .ok, headers: headers, body: .init(data: try WireJSON.literalEncoder().encode(Body(data: data))))
    }
}
