import FluentKit
import Foundation

final class TeamAgentAssignment: Model, TenantOwned, @unchecked Sendable {
    static let schema = "team_agent_assignments"
    static let entityName = "assignment"
    static var tenantKey: KeyPath<TeamAgentAssignment, FieldProperty<TeamAgentAssignment, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String
    @Parent(key: "team_id") var team: Team
    @Parent(key: "member_id") var member: TeamMember
    @Parent(key: "agent_id") var agent: SectorAgent

    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}
}
