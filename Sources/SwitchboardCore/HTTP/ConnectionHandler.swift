import Logging
import NIOConcurrencyHelpers
import Synchronization
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Vapor

/// One connection: collects each request, hands it to Vapor's responder, writes the answer.
final class ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    struct Quiesce {}

    private enum Phase {
        /// Waiting for a request head; the timer runs from the connection's start or the last answer.
        case waitingForHead
        /// The body so far; the first chunk is kept as it came (most bodies are one chunk), later ones appended.
        case readingBody(HTTPRequestHead, ByteBuffer?)
        case responding
        /// An answer was sent before the body was read; the rest of the connection is discarded.
        case closing
    }

    private let application: Application
    private let responder: any Responder
    private let timeouts: SwitchboardServer.Timeouts
    private let inFlight: SwitchboardServer.InFlight
    private let refusals: Counter
    private let isShuttingDown: @Sendable () -> Bool
    private var phase = Phase.waitingForHead
    private var timer: Scheduled<Void>?
    private var quiescing = false

    init(application: Application, responder: any Responder, timeouts: SwitchboardServer.Timeouts,
         inFlight: SwitchboardServer.InFlight, refusals: Counter, isShuttingDown: @escaping @Sendable () -> Bool) {
        self.application = application
        self.responder = responder
        self.inFlight = inFlight
        self.refusals = refusals
        self.timeouts = timeouts
        self.isShuttingDown = isShuttingDown
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(timeouts.head, context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(timeouts.head, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Quiesce {
            quiescing = true
            if case .waitingForHead = phase { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), phase) {
        case (.head(let head), .waitingForHead):
            if let refusal = refusal(of: head) {
                phase = .closing
                timer?.cancel()
                write(refusal, body: refusal.body.buffer, version: head.version, keepAlive: false, head: false, context: context)
                return
            }
            if head.headers[.expect].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                                      promise: nil)
            }
            phase = .readingBody(head, nil)
            arm(timeouts.body, context: context)
        case (.body(var chunk), .readingBody(let head, var body)):
            let limit = BodyLimit.forTarget(head.uri)
            guard (body?.readableBytes ?? 0) + chunk.readableBytes <= limit else {
                phase = .closing
                timer?.cancel()
                let refusal = Self.error(.payloadTooLarge, "request body too large (limit \(BodyLimit.describe(limit)))")
                write(refusal, body: refusal.body.buffer, version: head.version, keepAlive: false, head: false, context: context)
                return
            }
            guard body != nil else {
                phase = .readingBody(head, chunk)
                return
            }
            phase = .readingBody(head, nil)  // so that `body` is uniquely owned and appended in place
            body!.writeBuffer(&chunk)
            phase = .readingBody(head, body)
        case (.end, .readingBody(let head, let body)):
            timer?.cancel()
            let keepAlive = head.isKeepAlive && !quiescing && !isShuttingDown()
            phase = .responding
            let exempt = head.uri == "/health" || head.uri == "/metrics"
            guard exempt || inFlight.enter() else {
                refusals.increment()
                let busy = Self.error(.serviceUnavailable, "the server is at capacity; retry in a second")
                busy.headers.replaceOrAdd(name: .retryAfter, value: "1")
                write(busy, body: busy.body.buffer, version: head.version, keepAlive: keepAlive, head: head.method == .HEAD,
                      context: context)
                return
            }
            respond(to: head, body: body, keepAlive: keepAlive, counted: !exempt, context: context)
        case (_, .closing):
            break  // the rest of a request that was already refused
        default:
            // Parts out of order cannot come from NIO's decoder; end the connection rather than guess.
            context.close(promise: nil)
        }
    }

    /// A request refused from its head alone, before Vapor routes it: a URL over its limits, a declared body over
    /// the largest limit, or an expectation we cannot meet (RFC 9110 §10.1.1).
    private func refusal(of head: HTTPRequestHead) -> Response? {
        if let tooLong = BodyLimit.uriRefusal(head.uri) {
            return Self.error(.uriTooLong, tooLong.message)
        }
        let limit = BodyLimit.forTarget(head.uri)
        if let declared = head.headers.first(name: .contentLength), let length = Int(declared), length > limit {
            return Self.error(.payloadTooLarge, "request body too large (limit \(BodyLimit.describe(limit)))")
        }
        if let expectation = head.headers.first(name: .expect), expectation.lowercased() != "100-continue" {
            return Self.error(.expectationFailed, "only 'Expect: 100-continue' is supported")
        }
        return nil
    }

    private func respond(to head: HTTPRequestHead, body: ByteBuffer?, keepAlive: Bool, counted: Bool,
                         context: ChannelHandlerContext) {
        let request = Request(
            application: application, method: head.method, url: URI(path: head.uri), version: head.version,
            headersNoUpdate: head.headers,
            collectedBody: body ?? (head.headers.contains(name: .contentLength) ? context.channel.allocator.buffer(capacity: 0) : nil),
            remoteAddress: context.channel.remoteAddress, logger: application.logger,
            byteBufferAllocator: context.channel.allocator, on: context.eventLoop
        )
        request.storage[RequestTargetKey.self] = head.uri
        if head.headers.contains(name: .upgrade) { request.storage[ConnectionChannelKey.self] = context.channel }
        let isHead = head.method == .HEAD
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        responder.respond(to: request)
            .flatMap { response in
                // A `StreamedBody` is sent as it is produced (below); Vapor's streamed bodies (files) are collected;
                // every other kind is already a buffer.
                if response.storage[StreamedBodyKey.self] != nil, !isHead {
                    return request.eventLoop.makeSucceededFuture((response, ByteBuffer?.none))
                }
                if let buffer = response.body.buffer { return request.eventLoop.makeSucceededFuture((response, Optional(buffer))) }
                if response.body.count == 0 { return request.eventLoop.makeSucceededFuture((response, ByteBuffer?.none)) }
                return response.body.collect(on: request.eventLoop).map { (response, $0) }
            }
            .whenComplete { result in
                let (handler, context) = loopBound.value
                if case .success(let (response, _)) = result, response.status == .switchingProtocols,
                   let upgrader = response.upgrader {
                    if counted { handler.inFlight.leave() }
                    handler.upgrade(request, head: head, to: upgrader, response: response, context: context)
                    return
                }
                if case .success(let (response, _)) = result, let streamed = response.storage[StreamedBodyKey.self], !isHead {
                    handler.stream(response, streamed, version: head.version, keepAlive: keepAlive, counted: counted,
                                   context: context)
                    return
                }
                if counted { handler.inFlight.leave() }
                switch result {
                case .success(let (response, collected)):
                    handler.write(response, body: collected, version: head.version, keepAlive: keepAlive, head: isHead,
                                  context: context)
                case .failure(let error):
                    handler.application.logger.error("responder failed", metadata: ["error": "\(String(reflecting: error))"])
                    let failure = Self.error(.internalServerError, "internal error")
                    handler.write(failure, body: failure.body.buffer, version: head.version, keepAlive: false, head: isHead,
                                  context: context)
                }
            }
    }

    private func write(_ response: Response, body: ByteBuffer?, version: HTTPVersion, keepAlive: Bool, head: Bool,
                       context: ChannelHandlerContext) {
        var headers = response.headers
        let payload = body
        let bodyless = response.status == .noContent || response.status == .notModified
            || response.status.code < 200
        if !bodyless {
            headers.replaceOrAdd(name: .contentLength, value: String(payload?.readableBytes ?? 0))
        } else {
            headers.remove(name: .contentLength)
        }
        headers.remove(name: .transferEncoding)
        headers.replaceOrAdd(name: .connection, value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))),
                      promise: nil)
        if !head && !bodyless, let payload, payload.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
        }
        finishResponse(keepAlive: keepAlive, context: context)
    }

    /// Sends a `StreamedBody`: the head at once (chunked on HTTP/1.1; on 1.0 the body ends with the connection),
    /// then each piece once the previous one reached the socket. A producer that fails after the head was sent can
    /// no longer change the status: the connection is closed without the final chunk, which clients report as a
    /// truncated body rather than take as complete.
    private func stream(_ response: Response, _ streamed: StreamedBody, version: HTTPVersion, keepAlive: Bool,
                        counted: Bool, context: ChannelHandlerContext) {
        let chunked = version.major > 1 || (version.major == 1 && version.minor >= 1)
        let keepAlive = keepAlive && chunked
        var headers = response.headers
        headers.remove(name: .contentLength)
        if chunked { headers.replaceOrAdd(name: .transferEncoding, value: "chunked") }
        headers.replaceOrAdd(name: .connection, value: keepAlive ? "keep-alive" : "close")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))),
                              promise: nil)
        let channel = context.channel
        let eventLoop = context.eventLoop
        let loopBound = NIOLoopBound((self, context), eventLoop: eventLoop)
        let logger = application.logger
        Task {
            let failure: (any Error)?
            do {
                try await streamed.produce { buffer in
                    guard buffer.readableBytes > 0 else { return }
                    try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer))).get()
                }
                failure = nil
            } catch {
                failure = error
            }
            eventLoop.execute {
                let (handler, context) = loopBound.value
                if counted { handler.inFlight.leave() }
                if let failure {
                    if channel.isActive {
                        logger.error("streamed response failed", metadata: ["error": "\(String(reflecting: failure))"])
                    }
                    handler.phase = .closing
                    handler.timer?.cancel()
                    context.close(promise: nil)
                } else {
                    handler.finishResponse(keepAlive: keepAlive, context: context)
                }
            }
        }
    }

    /// Hands the connection to another protocol (the event stream's WebSocket): answers 101 with the upgrader's
    /// headers, takes every HTTP handler (this one included) out of the pipeline, then lets the upgrader install
    /// its own. A request the upgrader refuses (no `Sec-WebSocket-Key`, say) is answered 400 and closed.
    private func upgrade(_ request: Request, head: HTTPRequestHead, to upgrader: any Upgrader, response: Response,
                         context: ChannelHandlerContext) {
        timer?.cancel()
        phase = .closing
        let protocolUpgrader = upgrader.applyUpgrade(req: request, res: response)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        protocolUpgrader.buildUpgradeResponse(channel: context.channel, upgradeRequest: head, initialResponseHeaders: [:])
            .whenComplete { result in
                let (handler, context) = loopBound.value
                guard case .success(let headers) = result else {
                    let refusal = Self.error(.badRequest, "not a valid WebSocket upgrade request")
                    handler.write(refusal, body: refusal.body.buffer, version: head.version, keepAlive: false, head: false,
                                  context: context)
                    return
                }
                context.writeAndFlush(handler.wrapOutboundOut(.head(HTTPResponseHead(
                    version: head.version, status: .switchingProtocols, headers: headers))), promise: nil)
                let pipeline = context.pipeline.syncOperations
                var removals: [EventLoopFuture<Void>] = []
                if let encoder = try? pipeline.handler(type: HTTPResponseEncoder.self) { removals.append(pipeline.removeHandler(encoder)) }
                if let decoder = try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
                    removals.append(pipeline.removeHandler(decoder))
                }
                if let pipelining = try? pipeline.handler(type: HTTPServerPipelineHandler.self) {
                    removals.append(pipeline.removeHandler(pipelining))
                }
                if let errors = try? pipeline.handler(type: HTTPServerProtocolErrorHandler.self) {
                    removals.append(pipeline.removeHandler(errors))
                }
                if let validator = try? pipeline.handler(type: NIOHTTPResponseHeadersValidator.self) {
                    removals.append(pipeline.removeHandler(validator))
                }
                removals.append(pipeline.removeHandler(handler))
                EventLoopFuture.andAllComplete(removals, on: context.eventLoop)
                    .flatMap { protocolUpgrader.upgrade(context: loopBound.value.1, upgradeRequest: head) }
                    .whenFailure { _ in loopBound.value.1.close(promise: nil) }
            }
    }

    /// Ends the answer in progress and readies the connection for the next request, or closes it.
    private func finishResponse(keepAlive: Bool, context: ChannelHandlerContext) {
        // The next state is set before `.end` is written: NIO's pipelining handler hands over a request that
        // was already waiting as soon as it sees the end of this answer, before the write completes.
        let closing = !keepAlive || quiescing
        if closing {
            phase = .closing
            timer?.cancel()
        } else {
            phase = .waitingForHead
            arm(timeouts.idle, context: context)
        }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if closing { loopBound.value.close(promise: nil) }
        }
    }

    /// Closes the connection unless the phase moves on before `timeout`.
    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.close(promise: nil)
        }
    }

    private static func error(_ status: HTTPResponseStatus, _ message: String) -> Response {
        let body = (try? WireJSON.encoder().encode(ErrorBody(error: message))) ?? Data()
        var headers = HTTPHeaders()
        headers.contentType = .json
        return Response(status: status, headers: headers, body: .init(data: body))
    }
}
