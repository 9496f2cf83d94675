import Foundation

/// Every event the product emits: the one list behind the outbox, the WebSocket stream, webhooks and the
/// documentation (docs/openapi.yaml's `EventType` names the same values; a test compares them).
enum EventType: String, CaseIterable, Codable, Sendable {
    /// `data`: the call as `GET /api/calls/:id` shows it.
    case callCreated = "call.created"
    /// `data`: `call_id`, `team_id`, `sector`, `channel`: no agent could take it; it waits.
    case callQueued = "call.queued"
    /// `data`: `call_id`, `agent_id`, `strategy`, `score`, `trigger` (`call`, `queue` or `widen`).
    case callAssigned = "call.assigned"
    /// `data`: `call_id`, `agent_id`, `expires_at`, `strategy`, `score`, `trigger`: the call waits for the agent to
    /// accept (`routing.offer_timeout_seconds`); on accept `call.assigned` follows with trigger `offer`.
    case callOffered = "call.offered"
    /// `data`: `call_id`, `agent_id`, `reason` (null when none was given): the call went back to the queue.
    case callOfferRejected = "call.offer_rejected"
    /// `data`: `call_id`, `agent_id`, `reason` (null): the offer ran out; the call went back to the queue.
    case callOfferExpired = "call.offer_expired"
    /// `data`: `call_id`, `agent_id`, `outcome`, `resolved`, `satisfaction`, `handling_time_seconds`.
    case callCompleted = "call.completed"
    /// `data`: `call_id`, `agent_id` (null if it was waiting), `previous_status`.
    case callCancelled = "call.cancelled"
    /// `data`: `call_id`, `channel`, `agent_id` (null while it waits), `from`, `body`, `received_at`: a message of an
    /// SMS or WhatsApp conversation (a Twilio channel) reached its call.
    case callMessageReceived = "call.message_received"
    /// `data`: `agent_id`, `current_load`, `max_concurrent`, `channel_loads`, as committed.
    case agentLoadChanged = "agent.load_changed"
    /// `data`: `queued`, the tenant's waiting calls after the change.
    case queueDepthChanged = "queue.depth_changed"
    /// `data`: `agent_id`, `change` (`created`, `updated`, `deactivated`).
    case agentUpdated = "agent.updated"
    /// `data`: `agent_id`, `presence`, `reason` (null unless away), `previous_presence`.
    case agentPresenceChanged = "agent.presence_changed"
    /// `data`: `agent_id`, `call_id`, `channel`, `until`: the call's slot stays taken for after-call work.
    case agentWrapUpStarted = "agent.wrap_up_started"
    /// `data`: `agent_id`, `call_id`, `channel`, `early` (ended by the agent or a manager before its time).
    case agentWrapUpEnded = "agent.wrap_up_ended"
    /// `data`: `team_id`, `change` (`created`, `updated`, `member_created`, `member_updated`, `member_deleted`,
    /// `agent_assigned`, `agent_unassigned`), and `member_id`/`agent_id` where they apply.
    case teamUpdated = "team.updated"
    /// `data`: `keys`, the settings that changed.
    case settingsUpdated = "settings.updated"
    /// `data`: `mode` (`full` or `incremental`), `groups` (the tenant's daily rows recomputed), `agents_refreshed`.
    case aggregationCompleted = "aggregation.completed"

    /// What a subscription names: a type (`call.created`), a family (`call.*`) or everything (`*`).
    static func isValidPattern(_ pattern: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") {
            let family = pattern.dropLast(2)
            return allCases.contains { $0.rawValue.hasPrefix(family + ".") }
        }
        return EventType(rawValue: pattern) != nil
    }

    func matches(_ pattern: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") { return rawValue.hasPrefix(pattern.dropLast(1)) }
        return rawValue == pattern
    }
}

/// A set of patterns; empty means every type.
struct EventFilter: Sendable, Equatable {
    let patterns: [String]

    static let everything = EventFilter(patterns: [])

    /// Nil when a pattern names no event type (the caller answers with the list of valid ones).
    init?(validating patterns: [String]) {
        guard patterns.allSatisfy(EventType.isValidPattern) else { return nil }
        self.patterns = patterns
    }

    private init(patterns: [String]) { self.patterns = patterns }

    func admits(_ type: String) -> Bool {
        guard !patterns.isEmpty else { return true }
        guard let type = EventType(rawValue: type) else { return false }
        return patterns.contains { type.matches($0) }
    }
}
