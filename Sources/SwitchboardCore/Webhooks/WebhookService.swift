import FluentKit
import Foundation
import SQLKit
import Vapor

/// A tenant's webhook subscriptions. The signing secret is sealed like channel credentials (AES-GCM, the tenant and
/// the subscription's id as authenticated data) and shown only in the answers to creation and rotation.
struct WebhookService: Sendable {
    let store: Store
    let tenant: Tenant
    let cipher: CredentialCipher
    let configuration: SwitchboardConfiguration
    let deliverer: WebhookDeliverer

    /// A rotated secret keeps signing beside its successor this long, so receivers can switch without losing events.
    static let rotationOverlap: TimeInterval = 24 * 3600

    private var scope: TenantScope { tenant.scope }

    func list(page: Page) async throws -> (webhooks: [WebhookDTO], total: Int) {
        let total = try await scope.select(from: WebhookTables.webhooks, on: store.sql).column(SQLRaw("COUNT(*)"), as: "n")
            .first()?.decode(column: "n", as: Int.self) ?? 0
        let rows = try await scope.select(from: WebhookTables.webhooks, on: store.sql).columns(WebhookDTO.columns.map { SQLIdentifier($0) })
            .orderBy("created_at").orderBy("id").limit(page.limit).offset(page.offset).all()
        return (try rows.map(WebhookDTO.init), total)
    }

    func get(_ id: UUID) async throws -> WebhookDTO {
        try await existing(id, on: store.sql)
    }

    func create(_ input: WebhookInput) async throws -> WebhookDTO {
        let fields = try input.validated(creating: true)
        try await checkTarget(fields.url!)
        let id = UUID(), now = Date(), secret = WebhookSignature.newSecret()
        let sealed = try cipher.seal(["current": secret], clientId: tenant.clientId, channelId: id)
        let tenant = self.tenant, limit = configuration.maxWebhooksPerTenant
        var created = try await store.write { db in
            let sql = db as! any SQLDatabase
            try await Self.refuseBeyondLimit(limit, for: tenant, on: sql)
            try await TenantScope(clientId: tenant.clientId).insert(into: WebhookTables.webhooks, [
                ("id", id), ("url", fields.url!), ("events", try Self.eventsText(fields.events!)), ("active", fields.active ?? true),
                ("description", fields.description ?? nil), ("secrets_sealed", sealed), ("consecutive_failures", 0),
                ("created_at", now), ("updated_at", now),
            ], on: db)
            // The tenant's deliveries start from its newest event: a new subscription receives what happens next.
            let newest = try await EventOutbox.bounds(of: tenant.clientId, on: sql).last
            try await sql.insert(into: WebhookTables.cursors).columns("client_id", "last_sequence")
                .values(SQLBind(tenant.clientId), SQLBind(newest)).ignoringConflicts(with: ["client_id"]).run()
            try await AuditLog.record("webhook.create", "webhook", id: id, by: tenant, on: db)
            return try await Self.existing(id, scope: TenantScope(clientId: tenant.clientId), on: sql)
        }
        created.secret = secret
        return created
    }

    func update(_ id: UUID, with input: WebhookInput) async throws -> WebhookDTO {
        let fields = try input.validated(creating: false)
        if let url = fields.url { try await checkTarget(url) }
        let tenant = self.tenant
        return try await store.write { db in
            let sql = db as! any SQLDatabase
            let scope = TenantScope(clientId: tenant.clientId)
            let current = try await Self.existing(id, scope: scope, on: sql)
            var update = sql.update(WebhookTables.webhooks).set("updated_at", to: Date())
            if let url = fields.url { update = update.set("url", to: url) }
            if let events = fields.events { update = update.set("events", to: try Self.eventsText(events)) }
            if let description = fields.description { update = update.set("description", to: description) }
            if let active = fields.active {
                update = update.set("active", to: active)
                // Turned on again by a person: the failures that disabled it are behind it.
                if active && !current.active { update = update.set("consecutive_failures", to: 0).set("disabled_reason", to: String?.none) }
            }
            try await update.where("id", .equal, id).where("client_id", .equal, tenant.clientId).run()
            try await AuditLog.record("webhook.update", "webhook", id: id, by: tenant, on: db)
            return try await Self.existing(id, scope: scope, on: sql)
        }
    }

    func delete(_ id: UUID) async throws {
        let tenant = self.tenant
        try await store.write { db in
            let sql = db as! any SQLDatabase
            _ = try await Self.existing(id, scope: TenantScope(clientId: tenant.clientId), on: sql)
            try await sql.delete(from: WebhookTables.deliveries).where("webhook_id", .equal, id)
                .where("client_id", .equal, tenant.clientId).run()
            try await sql.delete(from: WebhookTables.webhooks).where("id", .equal, id).where("client_id", .equal, tenant.clientId).run()
            try await AuditLog.record("webhook.delete", "webhook", id: id, by: tenant, on: db)
        }
    }

    /// A new secret; the previous one keeps signing beside it for `rotationOverlap`.
    func rotateSecret(_ id: UUID) async throws -> WebhookDTO {
        let tenant = self.tenant, cipher = self.cipher
        let secret = WebhookSignature.newSecret()
        var rotated = try await store.write { db in
            let sql = db as! any SQLDatabase
            let scope = TenantScope(clientId: tenant.clientId)
            _ = try await Self.existing(id, scope: scope, on: sql)
            let sealed: String = try await scope.select(from: WebhookTables.webhooks, on: sql).column("secrets_sealed")
                .where("id", .equal, id).first()!.decode(column: "secrets_sealed", as: String.self)
            let previous = try cipher.open(sealed, clientId: tenant.clientId, channelId: id)["current"]
            var secrets = ["current": secret]
            if let previous {
                secrets["previous"] = previous
                secrets["previous_until"] = String(Date().addingTimeInterval(Self.rotationOverlap).timeIntervalSince1970)
            }
            try await sql.update(WebhookTables.webhooks)
                .set("secrets_sealed", to: try cipher.seal(secrets, clientId: tenant.clientId, channelId: id))
                .set("updated_at", to: Date())
                .where("id", .equal, id).where("client_id", .equal, tenant.clientId).run()
            try await AuditLog.record("webhook.rotate_secret", "webhook", id: id, by: tenant, on: db)
            return try await Self.existing(id, scope: scope, on: sql)
        }
        rotated.secret = secret
        return rotated
    }

    func deliveries(of id: UUID, status: DeliveryStatus?, page: Page) async throws -> (deliveries: [WebhookDeliveryDTO], total: Int) {
        _ = try await existing(id, on: store.sql)
        func query() -> SQLSelectBuilder {
            var query = scope.select(from: WebhookTables.deliveries, on: store.sql).where("webhook_id", .equal, id)
            if let status { query = query.where("status", .equal, status.rawValue) }
            return query
        }
        let total = try await query().column(SQLRaw("COUNT(*)"), as: "n").first()?.decode(column: "n", as: Int.self) ?? 0
        let rows = try await query().columns(WebhookDeliveryDTO.columns.map { SQLIdentifier($0) })
            .orderBy("created_at", .descending).orderBy("id", .descending).limit(page.limit).offset(page.offset).all()
        return (try rows.map(WebhookDeliveryDTO.init), total)
    }

    /// Sends a delivery again, with the same `webhook-id` (receivers that already handled it can tell).
    func redeliver(_ deliveryId: UUID, of id: UUID) async throws -> WebhookDeliveryDTO {
        _ = try await existing(id, on: store.sql)
        let tenant = self.tenant
        let found = try await store.write { db in
            let sql = db as! any SQLDatabase
            let updated = try await sql.update(WebhookTables.deliveries)
                .set("status", to: DeliveryStatus.pending.rawValue).set("next_attempt_at", to: Date()).set("updated_at", to: Date())
                .where("id", .equal, deliveryId).where("webhook_id", .equal, id).where("client_id", .equal, tenant.clientId)
                .returning("id").first()
            if updated != nil { try await AuditLog.record("webhook.redeliver", "webhook", id: id, by: tenant, on: db) }
            return updated != nil
        }
        guard found else { throw AppError.notFound("delivery", probing: WebhookTables.deliveries, deliveryId) }
        return try await deliverer.attemptNow(deliveryId)
    }

    /// Sends a `ping` at once and answers with its delivery (status, code, latency); retried like any other.
    func test(_ id: UUID) async throws -> WebhookDeliveryDTO {
        _ = try await existing(id, on: store.sql)
        let deliveryId = UUID(), now = Date(), tenant = self.tenant
        var payload = "{\"client_id\":"
        DecisionJSON.appendString(tenant.clientId, to: &payload)
        payload += ",\"data\":{\"webhook_id\":\"\(id.text)\"},\"id\":\"\(deliveryId.text)\",\"occurred_at\":"
        FastJSON.appendDate(now, to: &payload)
        payload += ",\"sequence\":null,\"type\":\"ping\"}"
        let body = payload
        try await store.write { db in
            try await TenantScope(clientId: tenant.clientId).insert(into: WebhookTables.deliveries, [
                ("id", deliveryId), ("webhook_id", id), ("event_type", "ping"), ("payload", body),
                ("status", DeliveryStatus.pending.rawValue), ("attempts", 0), ("next_attempt_at", now), ("created_at", now),
                ("updated_at", now),
            ], on: db)
        }
        return try await deliverer.attemptNow(deliveryId)
    }

    // MARK: Helpers

    /// Each subscription multiplies every event into a delivery row and an HTTP request, so their number is the
    /// server's to bound (`SWITCHBOARD_MAX_WEBHOOKS_PER_TENANT`), not a tenant setting its own admin could lift.
    /// Counted inside the creating transaction; on PostgreSQL, under a per-tenant lock so that two concurrent
    /// creations cannot both see room for one.
    private static func refuseBeyondLimit(_ limit: Int, for tenant: Tenant, on sql: any SQLDatabase) async throws {
        if sql.dialect.name == "postgresql" {
            try await AdvisoryLock.waitForTransactionLock(.webhookSubscriptions, tenant: tenant.clientId, on: sql)
        }
        let count = try await tenant.scope.select(from: WebhookTables.webhooks, on: sql).column(SQLRaw("COUNT(*)"), as: "n")
            .first()?.decode(column: "n", as: Int.self) ?? 0
        guard count < limit else {
            throw AppError(.conflict, "this tenant already has \(count) webhook subscriptions, the most this server allows (\(limit)); delete one first")
        }
    }

    private func checkTarget(_ url: String) async throws {
        do {
            _ = try await WebhookTarget.check(url, allowPrivate: configuration.webhookAllowPrivate)
        } catch let refusal as WebhookTarget.Refusal {
            throw AppError.badRequest(refusal.message)
        }
    }

    private func existing(_ id: UUID, on sql: any SQLDatabase) async throws -> WebhookDTO {
        try await Self.existing(id, scope: scope, on: sql)
    }

    /// The tenant's subscription, or a 404 marked as `TenantScope.find`'s are.
    static func existing(_ id: UUID, scope: TenantScope, on sql: any SQLDatabase) async throws -> WebhookDTO {
        guard let row = try await scope.select(from: WebhookTables.webhooks, on: sql).columns(WebhookDTO.columns.map { SQLIdentifier($0) })
            .where("id", .equal, id).first()
        else { throw AppError.notFound("webhook", probing: WebhookTables.webhooks, id) }
        return try WebhookDTO(row)
    }

    private static func eventsText(_ events: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(events), as: UTF8.self)
    }
}
