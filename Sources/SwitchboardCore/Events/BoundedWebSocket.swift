import NIOCore
import NIOHTTP1
import NIOWebSocket
import Vapor
import WebSocketKit

/// The event stream's WebSocket upgrade, with what Vapor's own leaves unbounded bounded.
///
/// Vapor's upgrader limits one frame (`maxFrameSize`) but lets a message grow from any number of continuation
/// frames: one socket could make the server hold gigabytes. Here a message may be `maxMessageSize` bytes in at most
/// `maxFragments` frames; beyond either, the socket is closed with 1009 (message too big) and its connection cut
/// soon after whatever the peer does.
struct BoundedWebSocketUpgrader: Upgrader, Sendable {
    /// What a client sends is a token or a filter: a few KiB is plenty.
    static let maxMessageSize = 8 * 1024
    static let maxFragments = 16

    let onUpgrade: @Sendable (WebSocket) -> Void

    func applyUpgrade(req: Request, res: Response) -> any HTTPServerProtocolUpgrader {
        NIOWebSocketServerUpgrader(
            maxFrameSize: Self.maxMessageSize, automaticErrorHandling: false,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture([:]) },
            upgradePipelineHandler: { channel, _ in
                var configuration = WebSocket.Configuration()
                configuration.maxAccumulatedFrameSize = Self.maxMessageSize
                configuration.maxAccumulatedFrameCount = Self.maxFragments
                return WebSocket.server(on: channel, config: configuration) { socket in
                    // Runs on the channel's event loop, once WebSocketKit's handlers are in place.
                    let pipeline = channel.pipeline.syncOperations
                    if let aggregator = try? pipeline.handler(type: NIOWebSocketFrameAggregator.self) {
                        let discard = DiscardingInput()
                        try? pipeline.addHandler(discard, position: .first)
                        try? pipeline.addHandler(OversizedMessageHandler(discard: discard), position: .after(aggregator))
                    }
                    onUpgrade(socket)
                }
            })
    }
}

/// Between NIO's frame aggregator and WebSocketKit's handler: turns the aggregator's "too large" and "too many
/// fragments" into the error WebSocketKit closes with 1009, then has the rest of the peer's bytes thrown away
/// unread (no frame is decoded or kept) and cuts the connection a quarter of a second later. Reading on, rather than stopping,
/// lets the close frame reach a peer that is still sending: a socket closed with unread bytes is reset, and a
/// reset loses what the peer had not read yet.
private final class OversizedMessageHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let discard: DiscardingInput

    init(discard: DiscardingInput) {
        self.discard = discard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let aggregation = error as? NIOWebSocketFrameAggregator.Error else {
            return context.fireErrorCaught(error)
        }
        switch aggregation {
        case .accumulatedFrameSizeIsTooLarge, .tooManyFragments, .nonFinalFragmentSizeIsTooSmall:
            context.fireErrorCaught(NIOWebSocketError.invalidFrameLength)
        default:
            context.fireErrorCaught(error)
        }
        discard.isDiscarding = true
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .milliseconds(250)) { channel.close(promise: nil) }
    }
}

/// First in the pipeline: passes the connection's bytes on until told to throw them away.
private final class DiscardingInput: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    var isDiscarding = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isDiscarding else { return }
        context.fireChannelRead(data)
    }
}
