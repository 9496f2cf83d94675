import Foundation
import HTTPTypes
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

/// Switchboard over HTTP: the generated `Client` (every operation of docs/openapi.yaml) with what every caller
/// needs around it: the bearer token on each request, error answers thrown as `SwitchboardError`, envelopes
/// opened (`data(_:)`) and list endpoints walked page by page (`all(pageSize:_:)`).
///
/// ```swift
/// let switchboard = Switchboard(serverURL: URL(string: "http://127.0.0.1:8080")!, token: token)
/// let team = try await switchboard.data { try await $0.createTeam(body: .json(.init(name: "Billing", sector: "billing"))).created.body.json }
/// for try await call in switchboard.all({ try await $0.listCalls(query: .init(limit: $1, offset: $2)).ok.body.json }) { … }
/// ```
public struct Switchboard: Sendable {
    /// Every operation of the document, as generated.
    public let api: Client

    public init(serverURL: URL, token: String, transport: any ClientTransport = AsyncHTTPClientTransport()) {
        api = Client(serverURL: serverURL, transport: transport,
                     middlewares: [BearerTokenMiddleware(token: token), ErrorEnvelopeMiddleware()])
    }

    /// Runs one operation and returns its envelope's `data`; an error answer throws `SwitchboardError`.
    public func data<Envelope: SwitchboardEnvelope>(
        _ operation: (Client) async throws -> Envelope
    ) async throws -> Envelope.Payload {
        try await unwrappingClientErrors { try await operation(api).data }
    }

    /// Every element of a list endpoint, fetched `pageSize` at a time as the sequence is read. `page` gets the
    /// client, the limit and the offset to ask for.
    public func all<Page: SwitchboardPage>(
        pageSize: Int = 100,
        _ page: @escaping @Sendable (Client, _ limit: Int, _ offset: Int) async throws -> Page
    ) -> Pages<Page> {
        Pages(api: api, pageSize: pageSize, fetch: page)
    }
}

/// An error answer of the service: its HTTP status and the envelope's `error` message.
public struct SwitchboardError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String

    public var description: String { "HTTP \(status): \(message)" }
}

/// A response envelope carrying `data` (`{"success": true, "data": …}`).
public protocol SwitchboardEnvelope: Sendable {
    associatedtype Payload: Sendable
    var data: Payload { get }
}

/// A list endpoint's envelope: one page of `data` and the paging figures in `meta`.
public protocol SwitchboardPage: SwitchboardEnvelope where Payload: RandomAccessCollection, Payload.Element: Sendable {
    var meta: Components.Schemas.Meta { get }
}

extension Components.Schemas.HealthEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.TeamEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.TeamDetailEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.MemberEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.MemberListEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.DeletedEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.DailyMetricsListEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.AgentEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.RouteEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.SimulationEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.RoutingHealthEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.CallEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.SettingsEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.SeriesEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.ComparisonEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.TopAgentsEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.AggregatorEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.ChannelEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.ChannelTestEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.WebhookEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.WebhookDeliveryEnvelope: SwitchboardEnvelope {}
extension Components.Schemas.TeamSummaryListEnvelope: SwitchboardPage {}
extension Components.Schemas.AgentListEnvelope: SwitchboardPage {}
extension Components.Schemas.DecisionListEnvelope: SwitchboardPage {}
extension Components.Schemas.QueueListEnvelope: SwitchboardPage {}
extension Components.Schemas.CallListEnvelope: SwitchboardPage {}
extension Components.Schemas.SettingsAuditListEnvelope: SwitchboardPage {}
extension Components.Schemas.ChannelListEnvelope: SwitchboardPage {}
extension Components.Schemas.WebhookListEnvelope: SwitchboardPage {}
extension Components.Schemas.WebhookDeliveryListEnvelope: SwitchboardPage {}

/// The elements of a list endpoint, one page request at a time, until `meta.total` is reached.
public struct Pages<Page: SwitchboardPage>: AsyncSequence, Sendable {
    public typealias Element = Page.Payload.Element

    let api: Client
    let pageSize: Int
    let fetch: @Sendable (Client, Int, Int) async throws -> Page

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pages: Pages
        var buffered: [Element] = []
        var offset = 0
        var finished = false

        public mutating func next() async throws -> Element? {
            while buffered.isEmpty {
                guard !finished else { return nil }
                let (api, pageSize, offset, fetch) = (pages.api, pages.pageSize, offset, pages.fetch)
                let page = try await unwrappingClientErrors { try await fetch(api, pageSize, offset) }
                buffered = Array(page.data.reversed())
                self.offset += page.data.count
                finished = page.data.isEmpty || self.offset >= page.meta.total
            }
            return buffered.popLast()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: self) }
}

/// The generated client wraps whatever a middleware throws in `ClientError`; callers want the service's answer.
func unwrappingClientErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ClientError {
        if let answer = error.underlyingError as? SwitchboardError { throw answer }
        throw error
    }
}

struct BearerTokenMiddleware: ClientMiddleware {
    let token: String

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}

/// Turns every 4xx and 5xx answer into `SwitchboardError` with the envelope's message, so callers never match
/// on each operation's error cases.
struct ErrorEnvelopeMiddleware: ClientMiddleware {
    private struct ErrorBody: Decodable { let error: String }

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard response.status.code >= 400 else { return (response, responseBody) }
        var message = response.status.reasonPhrase
        if let responseBody, let bytes = try? await Data(collecting: responseBody, upTo: 64 * 1024),
           let envelope = try? JSONDecoder().decode(ErrorBody.self, from: bytes) {
            message = envelope.error
        }
        throw SwitchboardError(status: response.status.code, message: message)
    }
}
