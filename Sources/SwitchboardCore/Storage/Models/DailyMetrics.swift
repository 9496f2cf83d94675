import FluentKit
import Foundation

/// One team's figures for one day, written by the aggregator.
final class TeamPerformance: Model, TenantOwned, @unchecked Sendable {
    static let schema = "team_performance"
    static let entityName = "team performance"
    static var tenantKey: KeyPath<TeamPerformance, FieldProperty<TeamPerformance, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String
    @Field(key: "team_id") var teamId: UUID
    @Field(key: "date") var date: String

    @Field(key: "calls_handled") var callsHandled: Int
    @Field(key: "calls_successful") var callsSuccessful: Int
    @Field(key: "calls_failed") var callsFailed: Int
    @Field(key: "calls_resolved") var callsResolved: Int
    @OptionalField(key: "avg_satisfaction") var avgSatisfaction: Double?
    @Field(key: "satisfaction_count") var satisfactionCount: Int
    /// Talk plus after-call work, per handled call.
    @Field(key: "avg_handling_time") var avgHandlingTime: Double
    /// The after-call part of `avg_handling_time`.
    @Field(key: "avg_wrap_up_time") var avgWrapUpTime: Double
    @Field(key: "success_rate") var successRate: Double
    @Field(key: "resolution_rate") var resolutionRate: Double

    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}

/// One agent's figures for one day, written by the aggregator.
final class AgentDailyMetrics: Model, TenantOwned, @unchecked Sendable {
    static let schema = "agent_metrics_v2"
    static let entityName = "agent metrics"
    static var tenantKey: KeyPath<AgentDailyMetrics, FieldProperty<AgentDailyMetrics, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String
    @Field(key: "agent_id") var agentId: UUID
    @Field(key: "date") var date: String

    @Field(key: "calls_handled") var callsHandled: Int
    @Field(key: "calls_successful") var callsSuccessful: Int
    @Field(key: "calls_failed") var callsFailed: Int
    @Field(key: "calls_resolved") var callsResolved: Int
    @OptionalField(key: "avg_satisfaction") var avgSatisfaction: Double?
    @Field(key: "satisfaction_count") var satisfactionCount: Int
    /// Talk plus after-call work, per handled call.
    @Field(key: "avg_handling_time") var avgHandlingTime: Double
    /// The after-call part of `avg_handling_time`.
    @Field(key: "avg_wrap_up_time") var avgWrapUpTime: Double
    @Field(key: "success_rate") var successRate: Double
    @Field(key: "resolution_rate") var resolutionRate: Double

    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}
