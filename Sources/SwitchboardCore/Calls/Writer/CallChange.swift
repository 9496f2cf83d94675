import Foundation


/// A change to a call's state or an agent's load, waiting for the next group commit. Every such change is a case
/// here and a method of `CallWriter` in `Changes/`; nothing else writes calls' states or agents' loads.
enum CallChange: Sendable {
    case create(NewCall)
    case complete(UUID, CompleteCallInput.Validated)
    case cancel(UUID)
    /// A waiting call whose `routing.relaxation` step widened by `asOf`: routed again in its wider pool (the
    /// sweeper's, whose clock decides how long the call has waited).
    case widen(UUID, asOf: Date)
    /// Agents created or changed (status, capacity, sector, capabilities, teams; one or a bulk import), already
    /// committed in the catalogue: each takes the waiting calls it now can, through the queue hand-off.
    case agentsChanged([UUID])
    /// An agent's presence (its reason already checked against the tenant's list). A change is a row of the state
    /// log and an event; leaving `available` keeps the calls in progress; coming back takes waiting calls.
    case presence(UUID, AgentPresence, reason: String?)
    /// The agent takes the call offered to it (`routing.offer_timeout_seconds`).
    case accept(UUID)
    /// The agent declines the call offered to it: back to the queue, on to another agent.
    case reject(UUID, reason: String?)
    /// Offers the offer timer found run out by `asOf`: each still open goes back to the queue as its agent's miss.
    case expireOffers([UUID], asOf: Date)
    /// Wrap-ups the wrap-up timer found due by `asOf`: each still open gives its slot back.
    case endDueWrapUps([UUID], asOf: Date)
    /// The agent is ready: its open wrap-ups end now (refused when the tenant's wrap-up is mandatory).
    case endWrapUpsEarly(UUID)
    /// A phone call's talk ended (its provider measured `seconds`): the call waits for its agent's disposition,
    /// in the agent's wrap-up, and is completed with the default one if none comes by its end.
    /// `agent`: the agent whose talk it was (a report about an earlier agent of the call changes nothing).
    case talkEnded(UUID, agent: UUID?, seconds: Double)
    /// The agent's phone did not answer (or was busy, or failed): the call goes back to the queue and on to
    /// another agent; `missed` counts it as the agent's missed offer.
    case dialFailed(UUID, agent: UUID?, missed: Bool, reason: String)

    /// The change's name, for logs.
    var kind: String {
        switch self {
        case .create: "create"
        case .complete: "complete"
        case .cancel: "cancel"
        case .widen: "widen"
        case .agentsChanged: "agentsChanged"
        case .presence: "presence"
        case .accept: "accept"
        case .reject: "reject"
        case .expireOffers: "expireOffers"
        case .endDueWrapUps: "endDueWrapUps"
        case .endWrapUpsEarly: "endWrapUpsEarly"
        case .talkEnded: "talkEnded"
        case .dialFailed: "dialFailed"
        }
    }

    /// The agent a change of one agent is answered with (`ChangeAnswer.agent`).
    var answeredAgent: UUID? {
        switch self {
        case .presence(let agentId, _, _), .endWrapUpsEarly(let agentId): agentId
        default: nil
        }
    }

    /// Whether applying the change reads calls as the previous batch left them.
    var readsCalls: Bool {
        if case .create(let new) = self { return new.idempotencyKey != nil }
        return true
    }
}

/// What the writer answers a change with.
enum ChangeAnswer: Sendable {
    case call(CallChangeResult)
    /// The waiting calls a change of agents handed to them, oldest first.
    case handedOut([UUID])
    /// A change of one agent (`CallChange.answeredAgent`): the agent as the batch left it, and the waiting calls it took.
    case agent(AgentDTO, handedOut: [UUID])
}

struct NewCall: Sendable {
    let route: RouteRequest
    /// Nil: the tenant's default channel.
    let channel: CallChannel?
    let externalRef: String?
    let idempotencyKey: String?
    var priority = CallLimits.defaultPriority
    var callbackPhone: String? = nil
    var customerRef: String? = nil
    /// The agent the call prefers (named, or the customer's last), and how long it waits for that agent if busy.
    var preferredAgentId: UUID? = nil
    var preferredWaitSeconds = 0

    /// Whether `earlier` is what this request would have made: a replay under the same Idempotency-Key must
    /// ask for the same call (as payment APIs do), or the client has a bug that silently loses a call.
    func asksFor(_ earlier: CallRow) -> Bool {
        earlier.teamId == route.teamId
            && (route.teamId != nil || earlier.sector == route.sector)
            && Set(earlier.capabilities) == Set(route.capabilities)
            && Set(earlier.requiredCapabilities) == Set(route.requiredCapabilities)
            && earlier.requiredLevels == route.requiredLevels
            && (channel == nil || channel == earlier.channel)
            && earlier.externalRef == externalRef
            && earlier.priority == priority
            && earlier.callbackPhone == callbackPhone
            && earlier.customerRef == customerRef
            && earlier.preferredAgentId == preferredAgentId
    }
}

struct CallChangeResult: Sendable {
    let call: CallDTO
    /// True when an `Idempotency-Key` matched an earlier call, which is returned instead of a new one.
    let replayed: Bool
}

/// A tenant's `Idempotency-Key`: keys are unique per tenant, not across tenants.
struct IdempotencyKey: Hashable {
    let clientId: String
    let key: String
}
