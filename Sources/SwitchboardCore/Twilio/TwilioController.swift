import Foundation
import SQLKit
import Vapor

/// `POST /hooks/twilio/:channel_id/{voice,wait,status,messaging}`: a Twilio number's webhooks, answered with TwiML.
/// No token: each request is proved by Twilio's signature, keyed by the channel's own auth token, before anything
/// else is read. A request that fails it spends from its address's unauthenticated budget; a signed one never does
/// (Twilio posts from few addresses, and every waiting caller polls). Every request to a known channel is kept in
/// the channel's request log (`GET /api/channels/:id/requests`) with its result.
struct TwilioController: Sendable {
    static let maxBody: ByteCount = "64kb"

    private enum Hook: String {
        case voice, wait, status, messaging

        var channelTypes: Set<CallChannel> { self == .messaging ? [.sms, .whatsapp] : [.voice] }
    }

    func routes(_ app: Application) {
        let hooks = app.grouped("hooks", "twilio", ":channel_id")
        hooks.on(.POST, "voice", body: .collect(maxSize: Self.maxBody), use: voice)
        hooks.on(.POST, "wait", body: .collect(maxSize: Self.maxBody), use: wait)
        hooks.on(.POST, "status", body: .collect(maxSize: Self.maxBody), use: status)
        hooks.on(.POST, "messaging", body: .collect(maxSize: Self.maxBody), use: messaging)
    }

    /// A call comes in: made a call of the channel's team or sector, and answered with what happens to it.
    @Sendable func voice(req: Request) async throws -> Response {
        try await answer(req, .voice) { bridge, form in
            try await bridge.incomingCall(callSid: try Self.required("CallSid", in: form), from: form["From"])
        }
    }

    /// A waiting caller's regular look at the queue: held again, or dialled to the agent that freed.
    @Sendable func wait(req: Request) async throws -> Response {
        try await answer(req, .wait) { bridge, _ in
            guard let callId = try? req.query.get(UUID.self, at: "call") else { throw AppError.badRequest("call is required") }
            return try await bridge.waiting(callId)
        }
    }

    /// The call's status changes, the `<Dial>`'s result, and the agent's phone answering.
    @Sendable func status(req: Request) async throws -> Response {
        try await answer(req, .status) { bridge, form in
            let report = TwilioBridge.StatusReport(
                callId: try? req.query.get(UUID.self, at: "call"), agentId: try? req.query.get(UUID.self, at: "agent"),
                callSid: form["CallSid"], parentCallSid: form["ParentCallSid"], callStatus: form["CallStatus"],
                dialCallStatus: form["DialCallStatus"], dialCallDuration: form["DialCallDuration"].flatMap(Double.init))
            return try await bridge.statusChanged(report)
        }
    }

    /// A text (SMS or WhatsApp) arrives: it opens or joins the sender's conversation.
    @Sendable func messaging(req: Request) async throws -> Response {
        try await answer(req, .messaging) { bridge, form in
            try await bridge.incomingMessage(sid: try Self.required("MessageSid", in: form),
                                             from: try Self.required("From", in: form), body: form["Body"] ?? "")
        }
    }

    private static func required(_ name: String, in form: [String: String]) throws -> String {
        guard let value = form[name], !value.isEmpty else { throw AppError.badRequest("\(name) is required") }
        return value
    }

    /// Finds the channel, checks the signature, then lets `body` act for the channel's tenant.
    private func answer(_ req: Request, _ hook: Hook, _ body: (TwilioBridge, [String: String]) async throws -> TwiML)
        async throws -> Response {
        guard let channelId = req.pathParameter("channel_id").flatMap(UUID.init(text:)),
              let publicURL = req.application.switchboardConfiguration.publicURL,
              let channel = try await TwilioBridge.Channel.unsealed(channelId, in: req), hook.channelTypes.contains(channel.type)
        else {
            try TenantAuthMiddleware.spendUnauthenticatedAttempt(req)
            return Response(status: .notFound)
        }
        func logged(_ response: Response, _ result: String) async -> Response {
            let entry = ChannelRequestLog.Entry(receivedAt: Date(), hook: hook.rawValue, status: Int(response.status.code), result: result)
            do {
                try await ChannelRequestLog.record(entry, channelId: channelId, clientId: channel.clientId, on: req.store.sql)
            } catch {
                req.logger.warning("the channel's request log was not written: \(String(reflecting: error))")
            }
            return response
        }
        let form: [String: String]
        do {
            guard req.headers.contentType == .urlEncodedForm else { throw AppError.badRequest("expected a form body") }
            form = try req.content.decode([String: String].self, as: .urlEncodedForm)
        } catch {
            try TenantAuthMiddleware.spendUnauthenticatedAttempt(req)
            return await logged(Response(status: .badRequest), "not a form body")
        }
        let url = TwilioHooks.signedURL(publicURL: publicURL, path: req.url.path, query: req.url.query)
        guard TwilioSignature.isValid(req.headers.first(name: TwilioSignature.header), url: url,
                                      parameters: form.map { ($0.key, $0.value) }, authToken: channel.credentials.authToken)
        else {
            try TenantAuthMiddleware.spendUnauthenticatedAttempt(req)
            return await logged(Response(status: .forbidden),
                                "signature refused: check that SWITCHBOARD_PUBLIC_URL is the address in Twilio's console, and the auth token")
        }
        let bridge = TwilioBridge(channel: channel, store: req.store, writer: req.application.callWriter,
                                  hooks: TwilioHooks(publicURL: publicURL, channelId: channelId), logger: req.logger)
        let twiml: TwiML
        do {
            twiml = try await body(bridge, form)
        } catch let error as AppError {
            _ = await logged(Response(status: error.status), error.message)
            throw error
        }
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "xml", parameters: ["charset": "utf-8"])
        return await logged(Response(status: .ok, headers: headers, body: .init(string: twiml.xml)), twiml.summary)
    }
}
