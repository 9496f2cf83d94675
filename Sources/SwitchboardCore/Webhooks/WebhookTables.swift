/// The webhook tables' names, for the SQL that reads and writes them.
enum WebhookTables {
    static let webhooks = "webhooks"
    static let deliveries = "webhook_deliveries"
    static let cursors = "webhook_cursors"
}
