import FluentKit

/// A callback's number (E.164): a call whose caller is rung back when an agent takes it (issue 25, §8).
struct AddCallback: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Call.schema).field("callback_phone", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Call.schema).deleteField("callback_phone").update()
    }
}
