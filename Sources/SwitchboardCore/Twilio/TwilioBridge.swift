import Foundation
import Logging
import SQLKit
import Vapor

/// What a Twilio channel's webhooks do, for the channel's tenant: calls made, dialled, held, handed on and ended
/// through the same call writer as every other change (so routing, offers, wrap-up, events and the decision log
/// are exactly the API's), answered as TwiML by `VoiceScript`.
struct TwilioBridge: Sendable {
    /// A channel that takes Twilio's webhooks: active, Twilio's, with credentials that unseal.
    struct Channel: Sendable {
        let id: UUID
        let clientId: String
        let type: CallChannel
        let teamId: UUID?
        let sector: String?
        let credentials: TwilioCredentials

        /// Nil for an unknown channel, another provider's, an inactive one, or one without (readable) Twilio
        /// credentials: all the same 404 to the caller, who has not proved anything yet. The one read of a tenant's
        /// table by id alone, outside `TenantScope`: the hook's address names the channel, the channel names its
        /// tenant, and nothing else is read until the signature, keyed by this channel's token, proves the request.
        static func unsealed(_ id: UUID, in req: Request) async throws -> Channel? {
            guard let row = try await req.store.sql.select()
                .columns("client_id", "type", "status", "config", "credentials_sealed", "team_id", "sector")
                .from(ChannelRecord.schema).where("id", .equal, id).first(),
                  let type = CallChannel(rawValue: try row.decode(column: "type", as: String.self)),
                  try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue,
                  let config = (try? JSONValue(canonicalText: try row.decode(column: "config", as: String.self)))?.objectValue,
                  ChannelConfigSchema.isTwilio(config, type: type),
                  let sealed = try row.decode(column: "credentials_sealed", as: String?.self)
            else { return nil }
            let clientId = try row.decode(column: "client_id", as: String.self)
            let cipher = CredentialCipher(keyBytes: req.application.switchboardConfiguration.encryptionKey)
            guard let unsealed = try? cipher.open(sealed, clientId: clientId, channelId: id),
                  let credentials = try? TwilioCredentials(validating: unsealed)
            else { return nil }
            return Channel(id: id, clientId: clientId, type: type, teamId: try row.decode(column: "team_id", as: UUID?.self),
                           sector: try row.decode(column: "sector", as: String?.self), credentials: credentials)
        }
    }

    /// One status request's parameters that matter (Twilio's names).
    struct StatusReport: Sendable {
        /// From the query of the addresses this bridge gave Twilio (`TwilioHooks.status(of:agent:)`).
        var callId: UUID?
        var agentId: UUID?
        var callSid: String?
        /// Present on the agent's leg of a `<Dial>`.
        var parentCallSid: String?
        var callStatus: String?
        var dialCallStatus: String?
        var dialCallDuration: Double?
    }

    let channel: Channel
    let store: Store
    let writer: CallWriter
    let hooks: TwilioHooks
    let logger: Logger

    private var tenant: Tenant { Tenant(clientId: channel.clientId, userId: "twilio-\(channel.id.text.lowercased())", role: .admin) }
    private var calls: CallService { CallService(store: store, tenant: tenant, writer: writer) }

    /// Said to a sender whose conversation the tenant's overflow refused.
    static let refusedMessage = "Sorry, nobody can answer your message right now. Please try again later."

    /// Twilio's final statuses of a call leg.
    static let endedStatuses: Set<String> = ["completed", "canceled", "failed", "busy", "no-answer"]

    /// A caller rings the number: a call (`external_ref` = CallSid, `customer_ref` = the caller's number) routed to
    /// the channel's team or sector. Twilio retrying the same CallSid replays the same call.
    func incomingCall(callSid: String, from: String?) async throws -> TwiML {
        let input = CreateCallInput(teamId: channel.teamId, sector: channel.sector, channel: CallChannel.voice.rawValue,
                                    externalRef: String(callSid.prefix(CallLimits.externalRef)),
                                    customerRef: from.flatMap { $0.isEmpty ? nil : String($0.prefix(CallLimits.customerRef)) })
        let result: CallChangeResult
        do {
            result = try await calls.create(input, idempotencyKey: Self.idempotencyKey(callSid))
        } catch let error as AppError where error.status == .conflict {
            // The tenant's overflow is `reject` and nobody is free.
            return try await script().refused()
        }
        return try await answer(for: result.call, greet: !result.replayed)
    }

    /// A text (SMS or WhatsApp) arrives: the first from a number opens a conversation (a call of the channel's type,
    /// `customer_ref` = From, routed as usual); later ones attach to it until it is completed or cancelled. Each is
    /// stored once (a retried MessageSid changes nothing) with its `call.message_received` event.
    func incomingMessage(sid: String, from: String, body: String) async throws -> TwiML {
        let settings = try await SettingsService.effectiveSettings(scope: tenant.scope, on: store.sql)
        let acknowledgement = settings["twilio.messaging.ack_message"]?.stringValue ?? ""
        let answer = TwiML(acknowledgement.isEmpty ? [] : [.message(acknowledgement)])
        if try await CallMessages.exists(sid: sid, scope: tenant.scope, on: store.sql) { return answer }
        let customer = String(from.prefix(CallLimits.customerRef))
        let call: CallDTO
        if let open = try await openConversation(with: customer) {
            call = open
        } else {
            let input = CreateCallInput(teamId: channel.teamId, sector: channel.sector, channel: channel.type.rawValue,
                                        externalRef: String(sid.prefix(CallLimits.externalRef)), customerRef: customer)
            do {
                call = try await calls.create(input, idempotencyKey: Self.idempotencyKey(sid)).call
            } catch let error as AppError where error.status == .conflict {
                // The tenant's overflow is `reject`: the message is not taken, and the sender told so.
                return TwiML([.message(Self.refusedMessage)])
            }
        }
        let message = CallMessageDTO(from: customer, body: String(body.prefix(CallMessages.maxBody)), receivedAt: Date())
        let clientId = channel.clientId
        try await store.write { db in
            try await CallMessages.record(message, sid: sid, on: call, clientId: clientId, on: db as! any SQLDatabase)
        }
        return answer
    }

    /// The sender's conversation on this channel's type that is still open, the newest.
    private func openConversation(with customer: String) async throws -> CallDTO? {
        let open = CallStatus.waiting + CallStatus.holdingCapacity
        guard let id = try await tenant.scope.select(from: Call.schema, on: store.sql).column("id")
            .where("customer_ref", .equal, customer).where("channel", .equal, channel.type.rawValue)
            .where("status", .in, open.map(\.rawValue))
            .orderBy("created_at", .descending).limit(1).first()?.decode(column: "id", as: UUID.self)
        else { return nil }
        return try await calls.get(id)
    }

    /// The waiting caller's next look at the queue.
    func waiting(_ callId: UUID) async throws -> TwiML {
        guard let call = try? await calls.get(callId) else { return TwiML([.hangup]) }
        return try await answer(for: call, greet: false)
    }

    /// The call's own status, the `<Dial>`'s result, or the agent's leg answering.
    func statusChanged(_ report: StatusReport) async throws -> TwiML {
        guard let callId = try await callId(of: report), let call = try? await calls.get(callId) else { return TwiML() }
        if let dialStatus = report.dialCallStatus {
            switch dialStatus {
            case "completed", "answered":
                let change = CallChange.talkEnded(callId, agent: report.agentId, seconds: max(0, report.dialCallDuration ?? 0))
                _ = try await writer.submit(change, by: tenant)
                return TwiML([.hangup])
            case "no-answer", "busy", "failed", "canceled":
                let change = CallChange.dialFailed(callId, agent: report.agentId, missed: dialStatus != "canceled",
                                                   reason: "the agent's phone: \(dialStatus)")
                return try await answer(for: try await writer.submit(change, by: tenant).call, greet: false)
            default:
                return TwiML()
            }
        }
        if report.parentCallSid != nil {
            // The agent's leg: answering the phone is accepting the offer.
            if report.callStatus == "in-progress", call.status == .offered, report.agentId == nil || report.agentId == call.agentId {
                do { _ = try await calls.accept(callId) } catch let error as AppError { logger.info("answered, not accepted: \(error.message)") }
            }
            return TwiML()
        }
        guard let status = report.callStatus, Self.endedStatuses.contains(status) else { return TwiML() }
        // The caller hung up: a call still waiting (or only ringing its agent) is cancelled; a talk in progress
        // ended now (the `<Dial>`'s own result, when it comes, changes nothing more).
        do {
            switch call.status {
            case .queued, .offered:
                _ = try await calls.cancel(callId)
            case .active where call.talkEndedAt == nil:
                let talked = Date().timeIntervalSince(call.assignedAt ?? call.createdAt)
                _ = try await writer.submit(.talkEnded(callId, agent: call.agentId, seconds: max(0, talked)), by: tenant)
            default:
                break
            }
        } catch let error as AppError where error.status == .conflict {
            logger.info("caller hung up; the call had already moved on: \(error.message)")
        }
        return TwiML()
    }

    /// What the caller hears next for `call`: an assigned call is dialled to its agent (one the bridge cannot dial,
    /// having no contact, passes the call on), a waiting one is held with its place in the queue.
    private func answer(for call: CallDTO, greet: Bool) async throws -> TwiML {
        let script = try await script()
        var call = call
        // Each pass either answers or moves the call off an agent that cannot be dialled.
        for _ in 0..<10 {
            // An offered call rings its agent; an active one is dialled again only while its talk has not ended.
            let ringsItsAgent = call.status == .offered || (call.status == .active && call.talkEndedAt == nil)
            if ringsItsAgent, let agentId = call.agentId {
                guard let contact = try await contact(of: agentId) else {
                    let change = CallChange.dialFailed(call.id, agent: agentId, missed: false,
                                                       reason: "the agent has no phone contact")
                    call = try await writer.submit(change, by: tenant).call
                    continue
                }
                return script.answer(for: call, contact: contact, ringSeconds: try await ringSeconds(for: call), greet: greet)
            }
            if call.status == .queued, call.queuePosition == nil {
                call = try await calls.get(call.id)
                if call.status != .queued { continue }
            }
            return script.answer(for: call, contact: nil, ringSeconds: VoiceScript.defaultRingSeconds, greet: greet)
        }
        return script.answer(for: try await calls.get(call.id), contact: nil, ringSeconds: VoiceScript.defaultRingSeconds,
                             greet: greet)
    }

    /// With offers, the phone rings as long as the offer has left (at least 5 s); without, 30 s.
    private func ringSeconds(for call: CallDTO) async throws -> Int {
        guard call.status == .offered, let expires = call.offerExpiresAt else { return VoiceScript.defaultRingSeconds }
        return max(5, Int(expires.timeIntervalSinceNow.rounded(.down)))
    }

    private func contact(of agentId: UUID) async throws -> AgentContact.Target? {
        let stored = try await tenant.scope.select(from: SectorAgent.schema, on: store.sql).column("contact")
            .where("id", .equal, agentId).first()?.decode(column: "contact", as: String?.self)
        return AgentContact.read(stored)?.target
    }

    private func script() async throws -> VoiceScript {
        let settings = try await SettingsService.effectiveSettings(scope: tenant.scope, on: store.sql)
        return VoiceScript(texts: VoiceScript.Texts(settings: settings), hooks: hooks)
    }

    /// The call a status request is about: named in its query, else the caller's CallSid (the status callback
    /// configured in Twilio's console), found by the Idempotency-Key the call was made with.
    private func callId(of report: StatusReport) async throws -> UUID? {
        if let callId = report.callId { return callId }
        guard let sid = report.parentCallSid ?? report.callSid else { return nil }
        return try await tenant.scope.select(from: Call.schema, on: store.sql).column("id")
            .where("idempotency_key", .equal, Self.idempotencyKey(sid)).first()?
            .decode(column: "id", as: UUID.self)
    }

    static func idempotencyKey(_ callSid: String) -> String { "twilio:" + callSid.prefix(CallLimits.idempotencyKey - 7) }
}
