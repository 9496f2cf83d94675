import Foundation

/// An event decided by a write, not yet numbered: its sequence is given by the transaction that stores it.
struct PendingEvent: Sendable {
    let id: UUID
    let type: EventType
    /// The payload, already JSON (an object).
    let data: String

    init(_ type: EventType, data: String) {
        id = .timeOrdered()
        self.type = type
        self.data = data
    }

    init<T: Encodable>(_ type: EventType, encoding payload: T) {
        self.init(type, data: (try? EventPayload.encoder.encode(payload)).map { String(decoding: $0, as: UTF8.self) } ?? "{}")
    }
}

/// An event as the outbox holds it, and as subscribers and webhooks receive it.
struct StoredEvent: Sendable, Equatable {
    let id: UUID
    let type: String
    let clientId: String
    let occurredAt: Date
    let sequence: Int64
    let data: String

    /// `{"client_id":…,"data":{…},"id":…,"occurred_at":…,"sequence":…,"type":…}`: the payload is stored as JSON
    /// and written as it is, never decoded and encoded again.
    var json: String {
        var json = "{\"client_id\":"
        DecisionJSON.appendString(clientId, to: &json)
        json += ",\"data\":" + data + ",\"id\":\"\(id.text)\",\"occurred_at\":"
        FastJSON.appendDate(occurredAt, to: &json)
        json += ",\"sequence\":\(sequence),\"type\":"
        DecisionJSON.appendString(type, to: &json)
        json += "}"
        return json
    }
}

/// The payloads of the events the call writer emits thousands of times a second, written by hand; the rest use
/// `PendingEvent(_:encoding:)`.
enum EventPayload {
    static let encoder = WireJSON.encoder()

    static func created(_ call: CallRow) -> PendingEvent {
        var json = ""
        CallDTO(call).appendJSON(to: &json)
        return PendingEvent(.callCreated, data: json)
    }

    /// With its place as it queued (1: next) and its estimated wait (null when nobody who may take it is routable).
    static func queued(_ call: CallRow, place: Int, estimatedWait: Int?) -> PendingEvent {
        var json = "{\"call_id\":\"\(call.id.text)\",\"channel\":\"\(call.channel.rawValue)\","
            + "\"estimated_wait_seconds\":\(estimatedWait.map(String.init) ?? "null"),\"preferred_agent_id\":"
        // The agent the call waits for (its preferred one, while its window is open), else null.
        FastJSON.append(call.reservedAgent(at: call.updatedAt ?? call.createdAt), to: &json)
        json += ",\"priority\":\(call.priority),\"queue_position\":\(place),\"sector\":"
        DecisionJSON.appendString(call.sector, to: &json)
        json += ",\"team_id\":"
        FastJSON.append(call.teamId, to: &json)
        json += "}"
        return PendingEvent(.callQueued, data: json)
    }

    /// How every event of a call reaching its agent starts: the agent, the call, and `callback`, the number to
    /// ring back when the call is a callback (else null), so that the agent's side knows at once.
    private static func reachingAgent(_ call: CallRow) -> String {
        var json = "{\"agent_id\":"
        FastJSON.append(call.agentId, to: &json)
        json += ",\"call_id\":\"\(call.id.text)\",\"callback\":"
        FastJSON.appendCallback(call.callbackPhone, to: &json)
        return json
    }

    static func assigned(_ call: CallRow, _ decision: RoutingDecision, trigger: String) -> PendingEvent {
        var json = reachingAgent(call)
        json += ",\"score\":"
        if let score = decision.chosen?.score { FastJSON.appendNumber(score, to: &json) } else { json += "null" }
        json += ",\"strategy\":\"\(decision.strategy.rawValue)\",\"trigger\":\"\(trigger)\"}"
        return PendingEvent(.callAssigned, data: json)
    }

    /// A routed call as it went to its agent: `call.offered`, or `call.assigned` when assigned at once.
    static func placed(_ call: CallRow, _ decision: RoutingDecision, trigger: String) -> PendingEvent {
        call.status == .offered ? offered(call, decision, trigger: trigger) : assigned(call, decision, trigger: trigger)
    }

    /// An accepted offer: `call.assigned` with trigger `offer` (strategy and score were the offer's).
    static func acceptedOffer(_ call: CallRow) -> PendingEvent {
        var json = reachingAgent(call)
        json += ",\"score\":null,\"strategy\":null,\"trigger\":\"offer\"}"
        return PendingEvent(.callAssigned, data: json)
    }

    /// A routed call offered to its agent until `expires_at` (tenants with `routing.offer_timeout_seconds`).
    static func offered(_ call: CallRow, _ decision: RoutingDecision, trigger: String) -> PendingEvent {
        var json = reachingAgent(call)
        json += ",\"expires_at\":"
        FastJSON.append(call.offerExpiresAt, to: &json)
        json += ",\"score\":"
        if let score = decision.chosen?.score { FastJSON.appendNumber(score, to: &json) } else { json += "null" }
        json += ",\"strategy\":\"\(decision.strategy.rawValue)\",\"trigger\":\"\(trigger)\"}"
        return PendingEvent(.callOffered, data: json)
    }

    struct OfferDeclined: Encodable {
        let callId: UUID
        let agentId: UUID
        @NullWhenAbsent var reason: String?
    }

    /// The agent rejected the offer (with its reason, if it gave one) or let it run out: the call waits again.
    static func offerDeclined(_ callId: UUID, by agentId: UUID, expired: Bool, reason: String?) -> PendingEvent {
        PendingEvent(expired ? .callOfferExpired : .callOfferRejected,
                     encoding: OfferDeclined(callId: callId, agentId: agentId, reason: reason))
    }

    static func completed(_ call: CallRow) -> PendingEvent {
        var json = "{\"agent_id\":"
        FastJSON.append(call.agentId, to: &json)
        json += ",\"call_id\":\"\(call.id.text)\",\"handling_time_seconds\":"
        if let seconds = call.handlingTimeSeconds { FastJSON.appendNumber(seconds, to: &json) } else { json += "null" }
        json += ",\"outcome\":"
        FastJSON.append(call.outcome?.rawValue, to: &json)
        json += ",\"resolved\":" + (call.resolved.map { $0 ? "true" : "false" } ?? "null")
        json += ",\"satisfaction\":" + (call.satisfaction.map(String.init) ?? "null") + "}"
        return PendingEvent(.callCompleted, data: json)
    }

    static func cancelled(_ call: CallRow, previous: CallStatus) -> PendingEvent {
        var json = "{\"agent_id\":"
        FastJSON.append(call.agentId, to: &json)
        json += ",\"call_id\":\"\(call.id.text)\",\"previous_status\":\"\(previous.rawValue)\"}"
        return PendingEvent(.callCancelled, data: json)
    }

    static func loadChanged(_ state: LiveState) -> PendingEvent {
        var json = "{\"agent_id\":\"\(state.agentId.text)\",\"channel_loads\":{"
        json += CallChannel.allCases.map { "\"\($0.rawValue)\":\(state.channelLoads[$0])" }.joined(separator: ",")
        json += "},\"current_load\":\(state.load),\"max_concurrent\":\(state.maxConcurrent)}"
        return PendingEvent(.agentLoadChanged, data: json)
    }

    static func queueDepth(_ queued: Int) -> PendingEvent {
        PendingEvent(.queueDepthChanged, data: "{\"queued\":\(queued)}")
    }

    struct AgentChange: Encodable {
        let agentId: UUID
        let change: String
    }

    struct TeamChange: Encodable {
        let teamId: UUID
        let change: String
        var memberId: UUID? = nil
        var agentId: UUID? = nil
    }

    struct PresenceChange: Encodable {
        let agentId: UUID
        let presence: AgentPresence
        @NullWhenAbsent var reason: String?
        let previousPresence: AgentPresence
    }

    static func presenceChanged(_ agentId: UUID, to presence: AgentPresence, reason: String?, from previous: AgentPresence)
        -> PendingEvent {
        PendingEvent(.agentPresenceChanged, encoding: PresenceChange(agentId: agentId, presence: presence, reason: reason,
                                                                      previousPresence: previous))
    }

    struct WrapUpStarted: Encodable {
        let agentId: UUID
        let callId: UUID
        let channel: CallChannel
        let until: Date
    }

    struct WrapUpEnded: Encodable {
        let agentId: UUID
        let callId: UUID
        let channel: CallChannel
        let early: Bool
    }

    static func wrapUpStarted(_ call: CallRow, agent agentId: UUID, until: Date) -> PendingEvent {
        PendingEvent(.agentWrapUpStarted, encoding: WrapUpStarted(agentId: agentId, callId: call.id, channel: call.channel, until: until))
    }

    static func wrapUpEnded(_ call: CallRow, agent agentId: UUID, early: Bool) -> PendingEvent {
        PendingEvent(.agentWrapUpEnded, encoding: WrapUpEnded(agentId: agentId, callId: call.id, channel: call.channel, early: early))
    }

    static func agent(_ agentId: UUID, _ change: String) -> PendingEvent {
        PendingEvent(.agentUpdated, encoding: AgentChange(agentId: agentId, change: change))
    }

    static func team(_ teamId: UUID, _ change: String, member: UUID? = nil, agent: UUID? = nil) -> PendingEvent {
        PendingEvent(.teamUpdated, encoding: TeamChange(teamId: teamId, change: change, memberId: member, agentId: agent))
    }
}
