import Foundation


/// One routing decision, ready for the decision log.
struct DecisionRow: Sendable {
    let clientId: String
    let values: [any Encodable & Sendable]

    static let columns = ["id", "call_id", "trigger", "request", "strategy", "agent_id", "score", "candidate_count",
                          "candidates", "created_at", "step", "waited_seconds", "declined_agent_id", "declined_reason"]

    /// A decision about a call: what it asked for, and its priority and effective priority as they were then
    /// (`agingSeconds`: the tenant's `routing.priority_aging_seconds`). `declined`: the agent whose rejected or
    /// missed offer led to this decision, and why.
    init(_ decision: RoutingDecision, trigger: String, call: CallRow, agingSeconds: Int, stage: (step: Int, waited: Double),
         declined: (agentId: UUID, reason: String?)? = nil, at: Date) {
        let effective = QueueOrder(agingSeconds: agingSeconds, now: at).effectivePriority(priority: call.priority, createdAt: call.createdAt)
        self.init(decision, trigger: trigger, callId: call.id, capabilities: call.capabilities,
                  requiredCapabilities: call.requiredCapabilities, requiredLevels: call.requiredLevels,
                  priority: (call.priority, effective),
                  preferredAgentId: call.preferredAgentId, stage: stage, declined: declined, clientId: call.clientId, at: at)
    }

    init(_ decision: RoutingDecision, trigger: String, callId: UUID?, capabilities: [String], requiredCapabilities: [String] = [],
         requiredLevels: [String: Int] = [:], priority: (priority: Int, effective: Int)? = nil, preferredAgentId: UUID? = nil,
         stage: (step: Int, waited: Double)? = nil, declined: (agentId: UUID, reason: String?)? = nil, clientId: String, at: Date) {
        self.clientId = clientId
        values = [
            UUID.timeOrdered(), callId, trigger,
            DecisionJSON.request(teamId: decision.teamId, sector: decision.sector, capabilities: capabilities,
                                 requiredCapabilities: requiredCapabilities, requiredLevels: requiredLevels, priority: priority,
                                 preferredAgentId: preferredAgentId),
            decision.strategy.rawValue, decision.chosen?.agentId, decision.chosen?.score, decision.ranking.eligibleCount,
            DecisionJSON.candidates(decision.ranking.top), at, stage?.step, stage?.waited, declined?.agentId, declined?.reason,
        ]
    }
}
