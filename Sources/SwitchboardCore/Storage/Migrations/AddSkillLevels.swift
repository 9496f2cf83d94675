import FluentKit

/// Skill levels (issue 25, §2): an agent's level in some of its capabilities, and a call's minimum levels, each a
/// JSON object in a text column (NULL: none, so every agent is at the top level and every call asks no minimum).
struct AddSkillLevels: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // One column a statement: SQLite adds one column per ALTER TABLE.
        try await database.schema(SectorAgent.schema).field("capability_levels", .string).update()
        try await database.schema(Call.schema).field("required_levels", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Call.schema).deleteField("required_levels").update()
        try await database.schema(SectorAgent.schema).deleteField("capability_levels").update()
    }
}
