import Logging
import NIOConcurrencyHelpers
import Synchronization
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Vapor

/// The HTTP/1.1 server in front of Vapor's responder.
///
/// Vapor's own server offers no way into a connection's pipeline, and three protections live there: a
/// connection must deliver a complete request head within `headTimeout` (a slowloris client that trickles
/// header bytes is cut off) and its body within `bodyTimeout`; an idle keep-alive connection is closed after
/// `idleTimeout`; and a body is judged by its declared length as soon as the head arrives: too large is a 413
/// before a byte is read, and `Expect: 100-continue` gets its `100 Continue` (or the 413) at once instead of
/// leaving the client to wait. Everything after the head (routing, middleware, handlers) is Vapor's.
public final class SwitchboardServer: Server, Sendable {
    public struct Timeouts: Sendable {
        public var head: TimeAmount = .seconds(10)
        public var body: TimeAmount = .seconds(30)
        public var idle: TimeAmount = .seconds(60)
        /// How long a shutdown waits for requests in progress before it closes their connections.
        public var shutdownGrace: Duration = .seconds(10)
        public init() {}
    }

    /// Requests being answered at once, server-wide. Beyond `limit`, a request is answered 503 with `Retry-After`
    /// at once: under a burst far beyond capacity, the requests that are served keep their latency, instead of
    /// every request waiting behind a queue that grows without bound. `/health` and `/metrics` are never refused.
    final class InFlight: Sendable {
        let limit: Int
        private let count = Atomic<Int>(0)

        init(limit: Int) { self.limit = limit }

        func enter() -> Bool {
            if count.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
            count.wrappingSubtract(1, ordering: .relaxed)
            return false
        }

        func leave() { count.wrappingSubtract(1, ordering: .relaxed) }

        var current: Int { count.load(ordering: .relaxed) }
    }

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
        var stopped = false
    }

    private let application: Application
    private let timeouts: Timeouts
    let inFlight: InFlight
    private let state = NIOLockedValueBox(State())
    private let shutdownPromise: EventLoopPromise<Void>

    public init(application: Application, timeouts: Timeouts = Timeouts(), maxInFlight: Int = 64) {
        self.application = application
        self.timeouts = timeouts
        self.inFlight = InFlight(limit: maxInFlight)
        shutdownPromise = application.eventLoopGroup.any().makePromise()
    }

    public var onShutdown: EventLoopFuture<Void> { shutdownPromise.futureResult }

    deinit {
        // A server that was never started (a command other than serve) still settles its promise.
        if !state.withLockedValue({ $0.stopped }) { shutdownPromise.succeed(()) }
    }

    /// The address the server listens on (useful with port 0).
    public var localAddress: SocketAddress? { state.withLockedValue { $0.serverChannel?.localAddress } }

    public func start(address: BindAddress?) throws {
        try application.eventLoopGroup.any().makeFutureWithTask { try await self.start(address: address) }.wait()
    }

    public func start(address: BindAddress?) async throws {
        let configuration = application.http.server.configuration
        let application = application, timeouts = timeouts, inFlight = inFlight
        let refusals = application.metrics.counter("switchboard_overload_refusals_total")
        // Built once: making the responder builds the whole router.
        let responder = application.responder.current
        let server = WeakServer(self)
        let bootstrap = ServerBootstrap(group: application.eventLoopGroup)
            .serverChannelOption(ChannelOptions.backlog, value: Int32(configuration.backlog))
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(application: application, responder: responder, timeouts: timeouts,
                                          inFlight: inFlight, refusals: refusals,
                                          isShuttingDown: { server.value?.isShuttingDown ?? true }))
                    server.value?.track(channel)
                }
            }
        let channel: any Channel
        switch address {
        case .unixDomainSocket(let path):
            channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
        case .hostname(let hostname, let port):
            channel = try await bootstrap.bind(host: hostname ?? configuration.hostname, port: port ?? configuration.port).get()
        case nil:
            channel = try await bootstrap.bind(host: configuration.hostname, port: configuration.port).get()
        }
        state.withLockedValue { $0.serverChannel = channel }
        if let local = channel.localAddress {
            application.logger.notice("Server started on http://\(local.ipAddress ?? configuration.hostname):\(local.port ?? configuration.port)")
        }
    }

    public func shutdown() {
        try? application.eventLoopGroup.any().makeFutureWithTask { await self.shutdown() }.wait()
    }

    /// Stops accepting, closes idle connections, lets requests in progress finish and answers them with
    /// `Connection: close` (up to `shutdownGrace`), then closes what is left. A second call does nothing.
    public func shutdown() async {
        let (server, connections, first) = state.withLockedValue { state -> ((any Channel)?, [any Channel], Bool) in
            defer {
                state.shuttingDown = true
                state.serverChannel = nil
            }
            return (state.serverChannel, Array(state.connections.values), !state.shuttingDown)
        }
        guard first else { return }
        try? await server?.close()
        for connection in connections {
            connection.eventLoop.execute { connection.pipeline.fireUserInboundEventTriggered(ConnectionHandler.Quiesce()) }
        }
        let deadline = ContinuousClock.now + timeouts.shutdownGrace
        while ContinuousClock.now < deadline, !state.withLockedValue({ $0.connections.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = state.withLockedValue { Array($0.connections.values) }
        if !left.isEmpty {
            application.logger.warning("closing connections still busy after the shutdown grace", metadata: ["count": "\(left.count)"])
        }
        for connection in left { try? await connection.close() }
        state.withLockedValue { $0.stopped = true }
        shutdownPromise.succeed(())
    }

    fileprivate var isShuttingDown: Bool { state.withLockedValue { $0.shuttingDown } }

    fileprivate func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLockedValue { $0.connections[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLockedValue { $0.connections.removeValue(forKey: id) }
        }
    }
}

struct RequestTargetKey: StorageKey { typealias Value = String }

/// The connection of a request that asks to upgrade, so that a WebSocket session can close it outright when a
/// close frame cannot get through (a client that stopped reading).
struct ConnectionChannelKey: StorageKey { typealias Value = any Channel }

extension Request {
    /// The request target as it arrived (`/api/teams?limit=5`). `url.path` goes through Foundation's
    /// `URLComponents` at every use, a cost that grows with the URL; checks that need only the raw text read this.
    var target: String { storage[RequestTargetKey.self] ?? url.string }

    /// The path part of `target`, still percent-encoded, as `url.path` is.
    var targetPath: Substring {
        let target = self.target
        return target[..<(target.utf8.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex)]
    }
}

extension Application {
    private struct ServerKey: StorageKey { typealias Value = SwitchboardServer }

    /// One server per application: Vapor asks its server factory again at every use.
    var switchboardServer: SwitchboardServer {
        get { storage[ServerKey.self]! }
        set { storage[ServerKey.self] = newValue }
    }
}

private struct WeakServer: Sendable {
    weak var value: SwitchboardServer?
    init(_ value: SwitchboardServer) { self.value = value }
}
