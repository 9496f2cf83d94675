import Foundation
import SQLKit


extension CallWriter {
    /// Agents created or changed in the catalogue (committed before this batch, and the book reloaded since) take
    /// the waiting calls they now can, each through the queue hand-off, in the order given.
    func agentsChanged(_ agentIds: [UUID], by tenant: Tenant, _ work: inout BatchWork, on db: any SQLDatabase) async throws
        -> [UUID] {
        var handedOut: [UUID] = []
        for agentId in agentIds {
            handedOut += try await handoff.offer(capacityOf: agentId, of: tenant.clientId, &work, on: db)
        }
        return handedOut
    }
}
