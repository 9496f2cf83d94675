import Vapor

struct ChannelsController: Sendable {
    func readRoutes(_ routes: any RoutesBuilder) {
        let channels = routes.grouped("channels")
        channels.get(use: list)
        channels.get(":channel_id", use: get)
        channels.get(":channel_id", "requests", use: requests)
    }

    func adminRoutes(_ routes: any RoutesBuilder) {
        let channels = routes.grouped("channels")
        channels.post(use: create)
        channels.put(":channel_id", use: update)
        channels.delete(":channel_id", use: delete)
        channels.post(":channel_id", "test", use: test)
    }

    private func service(_ req: Request) throws -> ChannelService {
        let configuration = req.application.switchboardConfiguration
        return ChannelService(store: req.store, tenant: try req.tenant, cipher: CredentialCipher(keyBytes: configuration.encryptionKey),
                              publicURL: configuration.publicURL)
    }

    @Sendable func list(req: Request) async throws -> Envelope<[ChannelDTO]> {
        let query = QueryParameters(req)
        let page = try query.page()
        let result = try await service(req).list(type: try query.oneOf("type", as: CallChannel.self), page: page)
        return Envelope(data: result.channels, meta: page.meta(total: result.total))
    }

    @Sendable func get(req: Request) async throws -> Envelope<ChannelDTO> {
        Envelope(data: try await service(req).get(try req.idParameter("channel_id")))
    }

    /// A Twilio channel's last webhook requests and their results (`limit`, default and at most 50).
    @Sendable func requests(req: Request) async throws -> Envelope<[ChannelRequestLog.Entry]> {
        let limit = try QueryParameters(req).page().limit
        return Envelope(data: try await service(req).requests(of: try req.idParameter("channel_id"),
                                                              limit: min(limit, ChannelRequestLog.kept)))
    }

    @Sendable func create(req: Request) async throws -> Envelope<ChannelDTO> {
        .created(try await service(req).create(try await req.decodeBody(ChannelInput.self, literalKeys: true)))
    }

    @Sendable func update(req: Request) async throws -> Envelope<ChannelDTO> {
        let id = try req.idParameter("channel_id")
        return Envelope(data: try await service(req).update(id, with: try await req.decodeBody(ChannelInput.self, literalKeys: true)))
    }

    @Sendable func delete(req: Request) async throws -> Envelope<DeletedDTO> {
        let id = try req.idParameter("channel_id")
        try await service(req).delete(id)
        return Envelope(data: DeletedDTO(id: id, deleted: true))
    }

    @Sendable func test(req: Request) async throws -> Envelope<ChannelTestDTO> {
        Envelope(data: try await service(req).test(try req.idParameter("channel_id")))
    }
}
