import FluentKit
import Foundation
import SQLKit

/// Every decision that assigned (or failed to assign) a call, with its candidates' breakdowns.
enum RoutingDecisionLog {
    struct RequestRecord: Codable, Sendable {
        let teamId: UUID?
        let sector: String
        let capabilities: [String]
        /// Left out by decisions logged before required capabilities existed, and when there are none.
        var requiredCapabilities: [String]?
        /// Minimum levels asked, when any were.
        var requiredLevels: [String: Int]?
        /// A call's priority and effective priority when it was routed; left out by decisions about no call
        /// (`POST /api/routing/route`) and by those logged before priorities existed.
        var priority: Int?
        var effectivePriority: Int?
        /// The agent the call preferred (named, or its customer's last), when it did.
        var preferredAgentId: UUID?
    }
}

struct RoutingDecisionDTO: Encodable, Sendable {
    let id: UUID
    let callId: UUID?
    let trigger: String
    let strategy: String
    let agentId: UUID?
    let score: Double?
    let request: RoutingDecisionLog.RequestRecord
    let eligibleCount: Int
    let candidates: [ScoredCandidate]
    let createdAt: Date
    /// The `routing.relaxation` step the call was at when it was routed (null for older decisions).
    let step: Int?
    /// How long the call had waited by then.
    let waitedSeconds: Double?
    /// A decision after an offer was rejected or ran out: that agent, and the reason it gave.
    let declinedAgentId: UUID?
    let declinedReason: String?

    init(_ record: RoutingDecisionRecord) throws {
        let decoder = WireJSON.decoder()
        id = record.id!
        callId = record.callId
        trigger = record.trigger
        strategy = record.strategy
        agentId = record.agentId
        score = record.score
        request = try decoder.decode(RoutingDecisionLog.RequestRecord.self, from: Data(record.request.utf8))
        eligibleCount = record.candidateCount
        candidates = try DecisionJSON.candidates(from: record.candidates)
        createdAt = record.createdAt
        step = record.step
        waitedSeconds = record.waitedSeconds
        declinedAgentId = record.declinedAgentId
        declinedReason = record.declinedReason
    }

    private enum CodingKeys: String, CodingKey {
        case id, callId, trigger, strategy, agentId, score, request, eligibleCount, candidates, createdAt, step, waitedSeconds, declinedAgentId, declinedReason
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(callId, forKey: .callId)
        try container.encode(trigger, forKey: .trigger)
        try container.encode(strategy, forKey: .strategy)
        try container.encode(agentId, forKey: .agentId)
        try container.encode(score, forKey: .score)
        try container.encode(request, forKey: .request)
        try container.encode(eligibleCount, forKey: .eligibleCount)
        try container.encode(candidates, forKey: .candidates)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(step, forKey: .step)
        try container.encode(waitedSeconds, forKey: .waitedSeconds)
        try container.encode(declinedAgentId, forKey: .declinedAgentId)
        try container.encode(declinedReason, forKey: .declinedReason)
    }
}
