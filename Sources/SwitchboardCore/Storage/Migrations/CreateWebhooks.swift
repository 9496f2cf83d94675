import FluentKit
import SQLKit

/// Subscriptions, their deliveries, and each tenant's position in the outbox (the events already turned into
/// deliveries).
struct CreateWebhooks: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(WebhookTables.webhooks)
            .id()
            .field("client_id", .string, .required)
            .field("url", .string, .required)
            .field("events", .string, .required)
            .field("active", .bool, .required)
            .field("description", .string)
            .field("secrets_sealed", .string, .required)
            .field("consecutive_failures", .int, .required)
            .field("disabled_reason", .string)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .create()
        try await database.schema(WebhookTables.deliveries)
            .id()
            .field("client_id", .string, .required)
            .field("webhook_id", .uuid, .required)
            .field("event_id", .uuid)
            .field("event_type", .string, .required)
            .field("sequence", .int64)
            .field("payload", .string, .required)
            .field("status", .string, .required)
            .field("attempts", .int, .required)
            .field("last_status_code", .int)
            .field("last_error", .string)
            .field("latency_ms", .double)
            .field("next_attempt_at", .datetime)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .field("delivered_at", .datetime)
            .create()
        try await database.schema(WebhookTables.cursors)
            .field("client_id", .string, .identifier(auto: false))
            .field("last_sequence", .int64, .required)
            .create()
        let sql = database as! any SQLDatabase
        try await sql.create(index: "idx_webhooks_client").on(WebhookTables.webhooks).column("client_id").run()
        try await sql.create(index: "idx_webhook_deliveries_due").on(WebhookTables.deliveries)
            .column("status").column("next_attempt_at").run()
        try await sql.create(index: "idx_webhook_deliveries_webhook").on(WebhookTables.deliveries)
            .column("webhook_id").column("created_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(WebhookTables.cursors).delete()
        try await database.schema(WebhookTables.deliveries).delete()
        try await database.schema(WebhookTables.webhooks).delete()
    }
}
