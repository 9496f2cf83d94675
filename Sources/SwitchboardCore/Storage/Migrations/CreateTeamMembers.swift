import FluentKit
import SQLKit

struct CreateTeamMembers: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(TeamMember.schema)
            .id()
            .field("client_id", .string, .required)
            .field("team_id", .uuid, .required, .references(Team.schema, "id", onDelete: .cascade))
            .field("email", .string, .required)
            .field("name", .string, .required)
            .field("role", .string, .required)
            .field("status", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "team_id", "email", name: "uq_team_members_team_email")
            .create()
        try await (database as! any SQLDatabase).create(index: "idx_team_members_client_team")
            .on(TeamMember.schema).column("client_id").column("team_id").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(TeamMember.schema).delete()
    }
}
