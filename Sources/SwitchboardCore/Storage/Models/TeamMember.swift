import FluentKit
import Foundation

enum MemberRole: String, Codable, Sendable, CaseIterable {
    case lead, supervisor, member
}

final class TeamMember: Model, TenantOwned, @unchecked Sendable {
    static let schema = "team_members"
    static let entityName = "member"
    static var tenantKey: KeyPath<TeamMember, FieldProperty<TeamMember, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String
    @Parent(key: "team_id") var team: Team

    @Field(key: "email") var email: String
    @Field(key: "name") var name: String
    @Enum(key: "role") var role: MemberRole
    @Enum(key: "status") var status: ActiveStatus

    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}
