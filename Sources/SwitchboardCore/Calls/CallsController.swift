import Vapor

struct CallsController: Sendable {
    func routes(_ routes: any RoutesBuilder) {
        let calls = routes.grouped("calls")
        calls.get(use: list)
        calls.get("export", use: export)
        calls.get(":call_id", use: get)
        calls.post(use: create)
        calls.post(":call_id", "complete", use: complete)
        calls.post(":call_id", "cancel", use: cancel)
        calls.post(":call_id", "accept", use: accept)
        calls.post(":call_id", "reject", use: reject)
    }

    private func service(_ req: Request) throws -> CallService {
        CallService(store: req.store, tenant: try req.tenant, writer: req.application.callWriter)
    }

    @Sendable func create(req: Request) async throws -> Envelope<CallDTO> {
        let input = try await req.decodeBody(CreateCallInput.self)
        let result = try await service(req).create(input, idempotencyKey: req.headers.first(name: "Idempotency-Key"))
        var headers = HTTPHeaders()
        if result.replayed { headers.add(name: "Idempotent-Replayed", value: "true") }
        return Envelope(status: result.replayed ? .ok : .created, data: result.call, headers: headers)
    }

    @Sendable func complete(req: Request) async throws -> Envelope<CallDTO> {
        let callId = try req.idParameter("call_id")
        let input = try await req.decodeBody(CompleteCallInput.self).validated()
        return Envelope(data: try await service(req).complete(callId, with: input))
    }

    @Sendable func cancel(req: Request) async throws -> Envelope<CallDTO> {
        Envelope(data: try await service(req).cancel(try req.idParameter("call_id")))
    }

    /// The agent takes the call offered to it (its own token, or a manager's).
    @Sendable func accept(req: Request) async throws -> Envelope<CallDTO> {
        Envelope(data: try await service(req).accept(try req.idParameter("call_id")))
    }

    /// The agent declines the call offered to it; the body (`{"reason": "…"}`) is optional.
    @Sendable func reject(req: Request) async throws -> Envelope<CallDTO> {
        let callId = try req.idParameter("call_id")
        let hasBody = (req.body.data?.readableBytes ?? 0) > 0
        let input = hasBody ? try await req.decodeBody(RejectOfferInput.self) : RejectOfferInput()
        return Envelope(data: try await service(req).reject(callId, reason: try input.validatedReason()))
    }

    @Sendable func get(req: Request) async throws -> Envelope<CallDTO> {
        Envelope(data: try await service(req).get(try req.idParameter("call_id")))
    }

    @Sendable func list(req: Request) async throws -> Envelope<[CallDTO]> {
        let query = QueryParameters(req)
        let page = try query.page()
        let filter = try listFilter(query)
        let result = try await service(req).list(filter, page: page)
        return Envelope(data: result.calls, meta: page.meta(total: result.total))
    }

    @Sendable func export(req: Request) async throws -> Response {
        let query = QueryParameters(req)
        let format = try ExportFormat.negotiate(accept: req.headers.first(name: .accept), format: try query.string("format", maxLength: 10))
        let export = CallExport(store: req.store, scope: try req.tenant.scope, filter: try listFilter(query), format: format)
        return .streamed(headers: format.headers(filename: "calls"), export.produce)
    }

    private func listFilter(_ query: QueryParameters) throws -> CallService.ListFilter {
        let filter = CallService.ListFilter(
            status: try query.oneOf("status", as: CallStatus.self),
            agentId: try query.uuid("agent_id"),
            teamId: try query.uuid("team_id"),
            from: try query.day("from"),
            to: try query.day("to")
        )
        if let from = filter.from, let to = filter.to, from > to {
            throw AppError.badRequest("from must not be after to")
        }
        return filter
    }
}
