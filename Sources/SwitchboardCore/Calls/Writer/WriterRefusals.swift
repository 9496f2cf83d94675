import Foundation


/// A claim the database refused: the agent was full (or inactive) when the batch's loads were written.
struct LostClaims: Error {
    struct Agent: Sendable, Hashable {
        let clientId: String
        let agentId: UUID
    }

    let agents: [Agent]
}


/// PostgreSQL refused a batch's claim or call change as a whole (see `runAsOneStatement`).
struct BatchRefused: Error {}

struct CallChangedMeanwhile: Error {}
