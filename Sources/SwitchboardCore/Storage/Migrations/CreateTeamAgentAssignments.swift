import FluentKit
import SQLKit

struct CreateTeamAgentAssignments: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(TeamAgentAssignment.schema)
            .id()
            .field("client_id", .string, .required)
            .field("team_id", .uuid, .required, .references(Team.schema, "id", onDelete: .cascade))
            .field("member_id", .uuid, .required, .references(TeamMember.schema, "id", onDelete: .cascade))
            .field("agent_id", .uuid, .required, .references(SectorAgent.schema, "id", onDelete: .cascade))
            .field("created_at", .datetime)
            .unique(on: "member_id", "agent_id", name: "uq_assignments_member_agent")
            .create()
        let sql = database as! any SQLDatabase
        try await sql.create(index: "idx_assignments_client_team")
            .on(TeamAgentAssignment.schema).column("client_id").column("team_id").run()
        try await sql.create(index: "idx_assignments_agent")
            .on(TeamAgentAssignment.schema).column("agent_id").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(TeamAgentAssignment.schema).delete()
    }
}
