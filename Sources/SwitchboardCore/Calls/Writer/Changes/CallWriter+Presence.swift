import Foundation
import SQLKit


extension CallWriter {
    /// An agent's presence. The calls it has stay with it; the change is written with the batch's loads (the
    /// claims of the same batch see it), logged in the state log and sent as an event; an agent that comes back
    /// `available` takes the waiting calls it may, through the queue hand-off; one that leaves it has its pending
    /// offers withdrawn (`withdrawOffers`). Setting the presence it already has changes nothing.
    func setPresence(of agentId: UUID, to presence: AgentPresence, reason: String?, by tenant: Tenant,
                     _ work: inout BatchWork, on db: any SQLDatabase) async throws -> [UUID] {
        let clientId = tenant.clientId
        let stored = try await work.storedPresence(of: agentId, for: tenant, on: db, probingWith: store.db)
        // Earlier changes of this batch come first.
        let previous = work.presence[agentId] ?? (stored.presence, stored.reason)
        guard previous.presence != presence || previous.reason != reason else { return [] }
        work.presence[agentId] = (presence, reason)
        work.plan.changedPresence(of: agentId, in: clientId, to: presence, reason: reason)
        try await book.withBook(clientId, store: store, on: db) { book in
            book.setRoutable(agentId, stored.isActive && presence == .available)
        }
        work.logPresence(agentId, of: clientId, presence, reason: reason)
        work.emit(EventPayload.presenceChanged(agentId, to: presence, reason: reason, from: previous.presence), for: clientId)
        work.audit(tenant, "agent.presence", agentId, entity: "agent")
        guard presence == .available else {
            try await withdrawOffers(of: agentId, becoming: presence, by: tenant, &work, on: db)
            return []
        }
        return try await handoff.offer(capacityOf: agentId, of: clientId, &work, on: db)
    }
}
