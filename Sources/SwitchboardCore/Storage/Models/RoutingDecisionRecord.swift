import FluentKit
import Foundation

/// One routing decision, with the candidates' score breakdowns as JSON text (portable across both databases).
final class RoutingDecisionRecord: Model, TenantOwned, @unchecked Sendable {
    static let schema = "routing_decisions"
    static let entityName = "routing decision"
    static var tenantKey: KeyPath<RoutingDecisionRecord, FieldProperty<RoutingDecisionRecord, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String
    @OptionalField(key: "call_id") var callId: UUID?
    @Field(key: "trigger") var trigger: String
    @Field(key: "request") var request: String
    @Field(key: "strategy") var strategy: String
    @OptionalField(key: "agent_id") var agentId: UUID?
    @OptionalField(key: "score") var score: Double?
    @Field(key: "candidate_count") var candidateCount: Int
    @Field(key: "candidates") var candidates: String
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "step") var step: Int?
    @OptionalField(key: "waited_seconds") var waitedSeconds: Double?
    @OptionalField(key: "declined_agent_id") var declinedAgentId: UUID?
    @OptionalField(key: "declined_reason") var declinedReason: String?

    init() {}
}
