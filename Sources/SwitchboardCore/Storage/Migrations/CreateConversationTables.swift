import FluentKit
import SQLKit

/// The Twilio bridge's records (issue 26): the messages of SMS and WhatsApp conversations, each on its call (one
/// row per Twilio MessageSid, so a retried webhook stores it once), and each channel's recent webhook requests with
/// their result, for the channel page.
struct CreateConversationTables: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(CallMessages.schema)
            .id()
            .field("client_id", .string, .required)
            .field("call_id", .uuid, .required)
            .field("message_sid", .string, .required)
            .field("sender", .string, .required)
            .field("body", .string, .required)
            .field("received_at", .datetime, .required)
            .unique(on: "client_id", "message_sid", name: "uq_call_messages_sid")
            .create()
        try await database.schema(ChannelRequestLog.schema)
            .id()
            .field("client_id", .string, .required)
            .field("channel_id", .uuid, .required)
            .field("received_at", .datetime, .required)
            .field("hook", .string, .required)
            .field("status", .int, .required)
            .field("result", .string, .required)
            .create()
        let sql = database as! any SQLDatabase
        try await sql.raw("CREATE INDEX idx_call_messages_call ON call_messages (client_id, call_id, received_at)").run()
        try await sql.raw("CREATE INDEX idx_channel_requests_channel ON channel_requests (client_id, channel_id, received_at)").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(ChannelRequestLog.schema).delete()
        try await database.schema(CallMessages.schema).delete()
    }
}
