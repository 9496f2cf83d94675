import Foundation


/// What a batch booked in memory, so that a rollback can give it back and a commit can confirm it.
final class BatchPlan: @unchecked Sendable {
    // Used by one writer task at a time.
    /// The load book's name in load notifications.
    let origin: String
    init(origin: String) { self.origin = origin }

    /// Net change per agent and channel (every booking names its call's channel; the total is their sum).
    private var deltas: [LostClaims.Agent: ChannelNumbers] = [:]
    /// Loads as the batch's conditional update returned them.
    private var committedLoads: [String: [LiveState]] = [:]
    /// Presence changes, the last per agent, written with the loads (one update of each agent's row).
    private(set) var presence: [LostClaims.Agent: PresenceChange] = [:]
    /// Wrap-ups started or ended, per agent, written with the loads (its `wrap_up_until`).
    private(set) var wrapUps: [LostClaims.Agent: WrapUpMark] = [:]
    /// Offers missed in a row, per agent: how many this batch adds, or a reset (an accepted offer, or the agent
    /// set away for them), written with the loads (its `missed_offers`).
    private(set) var missedOffers: [LostClaims.Agent: MissedOffers] = [:]
    /// Agents whose call or after-call work this batch ended, and when (their `last_call_ended_at`).
    private(set) var callsEnded: [LostClaims.Agent: Date] = [:]
    /// Outcomes of the calls completed, per tenant: the learning router learns from each once committed.
    private(set) var outcomes: [String: [KnownOutcome]] = [:]
    /// Offers the batch made, and how many of the offers it ended ended each way (for the writer's counters).
    private(set) var offersMade = 0
    private(set) var offersEnded: [OfferLog.Outcome: Int] = [:]
    /// SQLite: each tenant's newest event number once the batch commits.
    private(set) var eventHeads: [String: Int64] = [:]

    /// The batch's conditional update returned this load.
    func noteCommitted(_ state: LiveState, of clientId: String) {
        committedLoads[clientId, default: []].append(state)
    }

    /// The batch numbered the tenant's events up to `newest`.
    func noteEventHead(_ newest: Int64, of clientId: String) {
        eventHeads[clientId] = newest
    }

    /// Agents a change of the batch booked a unit on, even where another released one (a net change of zero): the
    /// database checks that each is still active and available.
    private(set) var claimed: Set<LostClaims.Agent> = []

    func booked(_ agentId: UUID, of clientId: String, delta: Int, channel: CallChannel) {
        let agent = LostClaims.Agent(clientId: clientId, agentId: agentId)
        deltas[agent, default: .zero][channel] += delta
        if delta > 0 { claimed.insert(agent) }
    }

    /// Whether the batch's row for the agent is a claim, checked by the database.
    func claims(_ agent: LostClaims.Agent, _ delta: ChannelNumbers) -> Bool { delta.claims || claimed.contains(agent) }

    struct PresenceChange {
        let presence: AgentPresence
        let reason: String?
    }

    func changedPresence(of agentId: UUID, in clientId: String, to presence: AgentPresence, reason: String?) {
        self.presence[LostClaims.Agent(clientId: clientId, agentId: agentId)] = PresenceChange(presence: presence, reason: reason)
    }

    /// What a batch did to an agent's open wrap-ups: started one that ends at `until` (the agent's
    /// `wrap_up_until` becomes the later of the two), or ended those that end by `through` (the agent has none
    /// open once its `wrap_up_until` is no later).
    enum WrapUpMark: Equatable {
        case started(until: Date)
        case ended(through: Date)
    }

    func wrapUpStarted(of agentId: UUID, in clientId: String, until: Date) {
        let agent = LostClaims.Agent(clientId: clientId, agentId: agentId)
        if case .started(let earlier) = wrapUps[agent], earlier > until { return }
        wrapUps[agent] = .started(until: until)
    }

    func wrapUpEnded(of agentId: UUID, in clientId: String, through: Date) {
        let agent = LostClaims.Agent(clientId: clientId, agentId: agentId)
        switch wrapUps[agent] {
        case .started: return  // a wrap-up this batch started is still open
        case .ended(let earlier) where earlier > through: return
        default: wrapUps[agent] = .ended(through: through)
        }
    }

    enum MissedOffers: Equatable {
        case add(Int)
        case reset
    }

    func missedOffer(by agentId: UUID, in clientId: String) {
        let agent = LostClaims.Agent(clientId: clientId, agentId: agentId)
        if case .add(let count) = missedOffers[agent] { missedOffers[agent] = .add(count + 1) } else {
            missedOffers[agent] = missedOffers[agent] == .reset ? .reset : .add(1)
        }
    }

    func resetMissedOffers(of agentId: UUID, in clientId: String) {
        missedOffers[LostClaims.Agent(clientId: clientId, agentId: agentId)] = .reset
    }

    /// What this batch added to the agent's missed offers (nil: nothing, or a reset).
    func missedOffersAdded(by agentId: UUID, in clientId: String) -> Int? {
        if case .add(let count) = missedOffers[LostClaims.Agent(clientId: clientId, agentId: agentId)] { return count }
        return nil
    }

    func noteOffers(made: Int, ended outcomes: [OfferLog.Outcome]) {
        offersMade = made
        offersEnded = Dictionary(outcomes.map { ($0, 1) }, uniquingKeysWith: +)
    }

    func outcomeKnown(of call: CallRow, in clientId: String) {
        guard let agentId = call.agentId, let outcome = call.outcome else { return }
        outcomes[clientId, default: []].append(KnownOutcome(
            agentId: agentId, successful: outcome == .successful,
            asked: CapabilityLearning.asked(capabilities: call.capabilities, required: call.requirement.capabilities)))
    }

    func callEnded(by agentId: UUID, in clientId: String, at date: Date) {
        callsEnded[LostClaims.Agent(clientId: clientId, agentId: agentId)] = date
    }

    var bookedAgents: [LostClaims.Agent] { deltas.filter { $0.value != .zero }.map(\.key) }

    /// What this batch booked for the agent so far (not yet in the database).
    func delta(of agentId: UUID, in clientId: String) -> ChannelNumbers {
        deltas[LostClaims.Agent(clientId: clientId, agentId: agentId)] ?? .zero
    }

    /// Agents whose row the batch's load statement changes: a net change of load, a presence change, a wrap-up,
    /// missed offers added, a call ended, or several (with their missed offers reset, if they were).
    var netDeltas: [(agent: LostClaims.Agent, delta: ChannelNumbers)] {
        let changed = Set(deltas.filter { $0.value != .zero }.keys).union(presence.keys).union(wrapUps.keys)
            .union(missedOffers.keys).union(callsEnded.keys).subtracting(onlyMissedOffersReset)
        return changed.map { ($0, deltas[$0] ?? .zero) }.sorted { $0.agent.agentId < $1.agent.agentId }
    }

    /// Agents the batch changes in nothing but resetting their missed offers (an accepted offer): reset by a
    /// statement of their own that touches only counts above zero, so that an accept neither rewrites the agent's
    /// row nor announces a load that did not change.
    var onlyMissedOffersReset: Set<LostClaims.Agent> {
        Set(missedOffers.filter { agent, missed in
            missed == .reset && (deltas[agent] ?? .zero) == .zero && presence[agent] == nil && wrapUps[agent] == nil
                && callsEnded[agent] == nil && !claimed.contains(agent)
        }.keys)
    }

    func rolledBack(in book: LoadBook) {
        for (agent, delta) in deltas {
            for channel in CallChannel.allCases where delta[channel] != 0 {
                book.adjust(agent.clientId, agent.agentId, by: -delta[channel], channel: channel)
            }
        }
        // Whether a presence change made an agent routable in the book is undone by reading the book again.
        for clientId in Set(presence.keys.map(\.clientId)) { book.invalidateHere(clientId) }
        presence = [:]
        wrapUps = [:]
        missedOffers = [:]
        callsEnded = [:]
        outcomes = [:]
        offersMade = 0
        offersEnded = [:]
        deltas = [:]
        claimed = []
        committedLoads = [:]
        eventHeads = [:]
    }

    func committed(in book: LoadBook) {
        for (clientId, states) in committedLoads {
            book.applyCommitted(clientId, states.map { state in
                var state = state
                state.idleSince = callsEnded[LostClaims.Agent(clientId: clientId, agentId: state.agentId)]
                return state
            })
        }
        for (clientId, known) in outcomes { book.learnOutcomes(clientId, known) }
        outcomes = [:]
        claimed = []
        presence = [:]
        wrapUps = [:]
        missedOffers = [:]
        callsEnded = [:]
        offersMade = 0
        offersEnded = [:]
        deltas = [:]
        committedLoads = [:]
        eventHeads = [:]
    }
}
