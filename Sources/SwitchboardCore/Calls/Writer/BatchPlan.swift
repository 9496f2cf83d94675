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

    func booked(_ agentId: UUID, of clientId: String, delta: Int, channel: CallChannel) {
        deltas[LostClaims.Agent(clientId: clientId, agentId: agentId), default: .zero][channel] += delta
    }

    struct PresenceChange {
        let presence: AgentPresence
        let reason: String?
    }

    func changedPresence(of agentId: UUID, in clientId: String, to presence: AgentPresence, reason: String?) {
        self.presence[LostClaims.Agent(clientId: clientId, agentId: agentId)] = PresenceChange(presence: presence, reason: reason)
    }

    var bookedAgents: [LostClaims.Agent] { deltas.filter { $0.value != .zero }.map(\.key) }

    /// What this batch booked for the agent so far (not yet in the database).
    func delta(of agentId: UUID, in clientId: String) -> ChannelNumbers {
        deltas[LostClaims.Agent(clientId: clientId, agentId: agentId)] ?? .zero
    }

    /// Agents whose row the batch changes: a net change of load, a presence change, or both.
    var netDeltas: [(agent: LostClaims.Agent, delta: ChannelNumbers)] {
        let changed = Set(deltas.filter { $0.value != .zero }.keys).union(presence.keys)
        return changed.map { ($0, deltas[$0] ?? .zero) }.sorted { ($0.agent.agentId.uuidString) < ($1.agent.agentId.uuidString) }
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
        deltas = [:]
        committedLoads = [:]
        eventHeads = [:]
    }

    func committed(in book: LoadBook) {
        for (clientId, states) in committedLoads { book.applyCommitted(clientId, states) }
        presence = [:]
        deltas = [:]
        committedLoads = [:]
        eventHeads = [:]
    }
}
