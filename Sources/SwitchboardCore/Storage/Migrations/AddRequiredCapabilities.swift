import FluentKit

/// `calls.required_capabilities`: capabilities an agent must have to take the call. NULL (none) for every call
/// stored before.
struct AddRequiredCapabilities: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Call.schema).field("required_capabilities", .array(of: .string)).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Call.schema).deleteField("required_capabilities").update()
    }
}
