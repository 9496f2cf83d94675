import FluentKit

/// The Twilio bridge (issue 26): where a channel's calls route (a team or a sector), where an agent answers the
/// phone (`contact`, JSON text), and a phone call's measured talk (seconds, and when it ended: the agent's wrap-up
/// runs from then until its disposition).
struct AddTwilioBridge: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // One column a statement: SQLite adds one column per ALTER TABLE.
        try await database.schema(ChannelRecord.schema).field("team_id", .uuid).update()
        try await database.schema(ChannelRecord.schema).field("sector", .string).update()
        try await database.schema(SectorAgent.schema).field("contact", .string).update()
        try await database.schema(Call.schema).field("talk_seconds", .double).update()
        try await database.schema(Call.schema).field("talk_ended_at", .datetime).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Call.schema).deleteField("talk_ended_at").update()
        try await database.schema(Call.schema).deleteField("talk_seconds").update()
        try await database.schema(SectorAgent.schema).deleteField("contact").update()
        try await database.schema(ChannelRecord.schema).deleteField("sector").update()
        try await database.schema(ChannelRecord.schema).deleteField("team_id").update()
    }
}
