import Vapor

/// `/api/webhooks`: admins only (a webhook sends the tenant's data to a URL of their choosing).
struct WebhooksController: Sendable {
    func routes(_ admin: any RoutesBuilder) {
        let webhooks = admin.grouped("webhooks")
        webhooks.get(use: list)
        webhooks.post(use: create)
        webhooks.get(":webhook_id", use: get)
        webhooks.patch(":webhook_id", use: update)
        webhooks.delete(":webhook_id", use: delete)
        webhooks.post(":webhook_id", "rotate-secret", use: rotate)
        webhooks.post(":webhook_id", "test", use: test)
        webhooks.get(":webhook_id", "deliveries", use: deliveries)
        webhooks.post(":webhook_id", "deliveries", ":delivery_id", "redeliver", use: redeliver)
    }

    private func service(_ req: Request) throws -> WebhookService {
        let configuration = req.application.switchboardConfiguration
        return WebhookService(store: req.store, tenant: try req.tenant, cipher: CredentialCipher(keyBytes: configuration.encryptionKey),
                              configuration: configuration, deliverer: req.application.webhookDeliverer)
    }

    @Sendable func list(req: Request) async throws -> Envelope<[WebhookDTO]> {
        let page = try QueryParameters(req).page()
        let result = try await service(req).list(page: page)
        return Envelope(data: result.webhooks, meta: page.meta(total: result.total))
    }

    @Sendable func create(req: Request) async throws -> Envelope<WebhookDTO> {
        .created(try await service(req).create(try await req.decodeBody(WebhookInput.self)))
    }

    @Sendable func get(req: Request) async throws -> Envelope<WebhookDTO> {
        Envelope(data: try await service(req).get(try req.idParameter("webhook_id")))
    }

    @Sendable func update(req: Request) async throws -> Envelope<WebhookDTO> {
        let id = try req.idParameter("webhook_id")
        return Envelope(data: try await service(req).update(id, with: try await req.decodeBody(WebhookInput.self)))
    }

    @Sendable func delete(req: Request) async throws -> Envelope<DeletedDTO> {
        let id = try req.idParameter("webhook_id")
        try await service(req).delete(id)
        return Envelope(data: DeletedDTO(id: id, deleted: true))
    }

    @Sendable func rotate(req: Request) async throws -> Envelope<WebhookDTO> {
        Envelope(data: try await service(req).rotateSecret(try req.idParameter("webhook_id")))
    }

    @Sendable func test(req: Request) async throws -> Envelope<WebhookDeliveryDTO> {
        Envelope(data: try await service(req).test(try req.idParameter("webhook_id")))
    }

    @Sendable func deliveries(req: Request) async throws -> Envelope<[WebhookDeliveryDTO]> {
        let query = QueryParameters(req)
        let page = try query.page()
        let result = try await service(req).deliveries(of: try req.idParameter("webhook_id"),
                                                       status: try query.oneOf("status", as: DeliveryStatus.self), page: page)
        return Envelope(data: result.deliveries, meta: page.meta(total: result.total))
    }

    @Sendable func redeliver(req: Request) async throws -> Envelope<WebhookDeliveryDTO> {
        Envelope(data: try await service(req).redeliver(try req.idParameter("delivery_id"), of: try req.idParameter("webhook_id")))
    }
}
