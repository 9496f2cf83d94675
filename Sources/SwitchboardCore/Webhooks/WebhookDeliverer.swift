import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SQLKit
import Vapor

/// Turns outbox events into deliveries and sends them, at least once.
///
/// Each tick: every tenant with a subscription and new events is fanned out in a transaction of its own (over
/// PostgreSQL under that tenant's advisory lock, so one process of a cluster fans a tenant out at a time), at most
/// `fanOutRowsPerTenant` deliveries a round, so that one tenant's many subscriptions or burst of events neither
/// holds the database for long nor delays the others; the cursor moves past the events fanned out. Then up to
/// `claimLimit` due deliveries are claimed, taking turns between tenants, by pushing their next attempt
/// `claimLease` ahead. They are sent outside any transaction, and each result is written afterwards. A crash at
/// any point leaves either the event before the cursor (fanned out after restart) or a delivery that falls due
/// again when its lease ends: nothing is lost, and a receiver may see a delivery twice, under the same `webhook-id`.
final class WebhookDeliverer: Service, Sendable {
    static let claimLimit = 32
    /// Longer than an attempt can take (a 5 s look-up, a 5 s answer, the result's write), and no longer: a delivery
    /// claimed by a process that then died is sent again once its lease ends.
    static let claimLease: TimeInterval = 30
    /// The most deliveries one tenant's fan-out writes in a round (at the default cap of 50 subscriptions, 40 events).
    static let fanOutRowsPerTenant = 2_000
    /// Delivered and failed deliveries are kept this long for `GET …/deliveries`.
    static let deliveryRetention: TimeInterval = 7 * 24 * 3600

    struct Settings: Sendable {
        let allowPrivate: Bool
        let retrySeconds: [Double]
        let disableAfter: Int
        let tick: Duration
    }

    struct Claimed: Sendable {
        let id: UUID
        let clientId: String
        let webhookId: UUID
        let eventType: String
        let payload: String
        let attempts: Int
    }

    private let store: Store
    private let cipher: CredentialCipher
    private let settings: Settings
    private let metrics: SwitchboardMetrics
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    private let resolve: WebhookTarget.Resolver
    private let lastPrune = NIOLockedValueBox(Date.distantPast)
    private let wakeUp: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    init(store: Store, cipher: CredentialCipher, settings: Settings, eventLoopGroup: any EventLoopGroup,
         metrics: SwitchboardMetrics, logger: Logger, resolve: @escaping WebhookTarget.Resolver = WebhookTarget.resolveOffExecutor) {
        self.store = store
        self.cipher = cipher
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        self.resolve = resolve
        (wakes, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Rounds every tick, and at once when woken, while the process serves; at shutdown the round in progress is
    /// cancelled (an attempt cut short is retried later, as any failed attempt is).
    func run() async throws {
        await runUntilShuttingDown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.settings.tick)
                        self.wakeUp.yield()
                    }
                }
                group.addTask {
                    for await _ in self.wakes {
                        if Task.isCancelled { return }
                        await self.tick()
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// One round: fan out, claim what is due, send it. Internal so tests can drive it.
    func tick() async {
        do {
            let tenants = try await tenantsBehind()
            if tenants.isEmpty, try await !hasDueDelivery() { return await pruneIfDue() }
            for clientId in tenants {
                try await store.write { db in
                    let sql = db as! any SQLDatabase
                    if self.store.isPostgres {
                        guard try await AdvisoryLock.tryTransactionLock(.webhookFanOut, tenant: clientId, on: sql) else { return }
                    }
                    try await Self.fanOut(clientId, on: sql, limit: Self.fanOutRowsPerTenant)
                }
            }
            let claimed = try await store.write { db in
                try await Self.claimDue(on: db as! any SQLDatabase, limit: Self.claimLimit)
            }
            await withTaskGroup(of: Void.self) { group in
                for delivery in claimed { group.addTask { await self.attempt(delivery) } }
            }
            await pruneIfDue()
        } catch {
            logger.warning("webhook delivery round failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Sends one delivery now (tests and redeliveries from the API), and returns it as recorded.
    func attemptNow(_ deliveryId: UUID) async throws -> WebhookDeliveryDTO {
        let claimed = try await store.write { db in
            try await Self.claim(ids: [deliveryId], on: db as! any SQLDatabase, dueBy: nil)
        }
        for delivery in claimed { await attempt(delivery) }
        guard let row = try await store.sql.select().columns(WebhookDeliveryDTO.columns.map { SQLIdentifier($0) })
            .from(WebhookTables.deliveries).where("id", .equal, deliveryId).first()
        else { throw AppError.notFound("delivery") }
        return try WebhookDeliveryDTO(row)
    }

    /// Read-only, so that an idle deliverer never takes SQLite's write lock: a due delivery?
    private func hasDueDelivery() async throws -> Bool {
        try await store.sql.select().column("id").from(WebhookTables.deliveries)
            .where("status", .equal, DeliveryStatus.pending.rawValue).where("next_attempt_at", .lessThanOrEqual, Date())
            .limit(1).first() != nil
    }

    /// Read-only: the tenants with an active subscription and events it has not been given yet.
    private func tenantsBehind() async throws -> [String] {
        try await store.sql.raw("""
            SELECT DISTINCT w.client_id AS client_id FROM webhooks w
                LEFT JOIN webhook_cursors c ON c.client_id = w.client_id
                LEFT JOIN event_sequences s ON s.client_id = w.client_id
            WHERE w.active = \(bind: true) AND (c.client_id IS NULL OR s.last_sequence > c.last_sequence)
            ORDER BY w.client_id
            """).all().map { try $0.decode(column: "client_id", as: String.self) }
    }

    // MARK: Fan-out and claims (each inside its own transaction)

    /// Makes one tenant's deliveries for the events after its cursor, at most `limit` rows (always at least one
    /// event's), and moves the cursor past the events it took.
    static func fanOut(_ clientId: String, on sql: any SQLDatabase, limit: Int) async throws {
        // A system task: the subscriptions are read with SQL rather than through a request's TenantScope.
        let subscriptions = try await sql.select().columns("id", "events", "created_at").from(WebhookTables.webhooks)
            .where("client_id", .equal, clientId).where("active", .equal, true).all()
        var hooks: [(id: UUID, filter: EventFilter, since: Date)] = []
        for row in subscriptions {
            let patterns = (try? JSONDecoder().decode([String].self, from: Data(try row.decode(column: "events", as: String.self).utf8))) ?? []
            guard let filter = EventFilter(validating: patterns) else { continue }
            hooks.append((try row.decode("id"), filter, try row.decode("created_at")))
        }
        guard let cursor = try await sql.select().column("last_sequence").from(WebhookTables.cursors)
            .where("client_id", .equal, clientId).first()?.decode(column: "last_sequence", as: Int64.self)
        else {
            let newest = try await EventOutbox.bounds(of: clientId, on: sql).last
            try await sql.insert(into: WebhookTables.cursors).columns("client_id", "last_sequence")
                .values(SQLBind(clientId), SQLBind(newest)).ignoringConflicts(with: ["client_id"]).run()
            return
        }
        let events = try await EventOutbox.events(of: clientId, after: cursor, limit: 1_000, on: sql)
        let now = Date()
        var rows: [(clientId: String, values: [any Encodable & Sendable])] = []
        var last: Int64? = nil
        for event in events {
            // A subscription receives what happened after it was made (to the second: stored times are whole).
            let receivers = hooks.filter { $0.filter.admits(event.type) && event.occurredAt >= $0.since.addingTimeInterval(-1) }
            if last != nil && rows.count + receivers.count > limit { break }
            for hook in receivers {
                rows.append((clientId, [UUID(), hook.id, event.id, event.type, event.sequence, event.json,
                                        DeliveryStatus.pending.rawValue, 0, now, now, now]))
            }
            last = event.sequence
        }
        guard let last else { return }
        for chunk in stride(from: 0, to: rows.count, by: 200) {
            if let insert = TenantScope.insertQuery(
                into: WebhookTables.deliveries,
                columns: ["id", "webhook_id", "event_id", "event_type", "sequence", "payload", "status", "attempts",
                          "next_attempt_at", "created_at", "updated_at"],
                rows: Array(rows[chunk..<min(chunk + 200, rows.count)])) {
                try await sql.execute(sql: insert) { _ in }
            }
        }
        try await sql.update(WebhookTables.cursors).set("last_sequence", to: last)
            .where("client_id", .equal, clientId).run()
    }

    /// The due deliveries, tenants taking turns (each tenant's oldest first, then each one's second, …), so that a
    /// tenant with thousands waiting delays another's by one turn, not by all of them.
    static func claimDue(on sql: any SQLDatabase, limit: Int) async throws -> [Claimed] {
        let now = Date()
        let due = try await sql.raw("""
            SELECT id FROM (
                SELECT id, next_attempt_at,
                       ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY next_attempt_at, id) AS turn
                FROM webhook_deliveries
                WHERE status = \(bind: DeliveryStatus.pending.rawValue) AND next_attempt_at <= \(bind: now)
            ) due
            ORDER BY turn, next_attempt_at
            LIMIT \(unsafeRaw: String(limit))
            """).all().map { try $0.decode(column: "id", as: UUID.self) }
        return try await claim(ids: due, on: sql, dueBy: now)
    }

    /// `dueBy`: only deliveries still due then, so that of two processes claiming the same rows, the second (which
    /// waits for the first's row locks, then sees its pushed-back time) gets none of them.
    private static func claim(ids: [UUID], on sql: any SQLDatabase, dueBy: Date?) async throws -> [Claimed] {
        guard !ids.isEmpty else { return [] }
        var update = sql.update(WebhookTables.deliveries)
            .set("next_attempt_at", to: Date().addingTimeInterval(claimLease))
            .where("id", .in, ids).where("status", .equal, DeliveryStatus.pending.rawValue)
        if let dueBy { update = update.where("next_attempt_at", .lessThanOrEqual, dueBy) }
        var claimed: [Claimed] = []
        for row in try await update.returning("id", "client_id", "webhook_id", "event_type", "payload", "attempts").all() {
            guard let delivery = try? Claimed(
                id: row.decode("id"), clientId: row.decode("client_id"), webhookId: row.decode("webhook_id"),
                eventType: row.decode("event_type"), payload: row.decode("payload"), attempts: row.decode("attempts"))
            else { continue }  // an unreadable row is left to its lease; it never stops the others
            claimed.append(delivery)
        }
        return claimed
    }

    // MARK: Sending

    private struct Outcome {
        var statusCode: Int?
        var error: String?
        var latencyMs: Double?
        var delivered: Bool { statusCode.map { (200..<300).contains($0) } ?? false }
    }

    private func attempt(_ delivery: Claimed) async {
        let target: (url: String, secrets: [String])
        do {
            guard let subscription = try await subscription(of: delivery) else {
                return await record(delivery, Outcome(error: "the subscription is inactive or deleted"), final: true)
            }
            target = subscription
        } catch {
            return await record(delivery, Outcome(error: "could not read the subscription: \(error)"), final: false)
        }
        // Checked again at every attempt: the name may resolve elsewhere since the subscription was saved. A URL
        // that can never be sent to (a row written before today's checks, or by hand) fails at once.
        let checked: WebhookTarget.Checked
        do {
            checked = try await WebhookTarget.check(target.url, allowPrivate: settings.allowPrivate, resolve: resolve)
        } catch let refusal as WebhookTarget.Refusal {
            return await record(delivery, Outcome(error: refusal.message), final: refusal.isPermanent)
        } catch {
            return await record(delivery, Outcome(error: "\(error)"), final: false)
        }
        await record(delivery, await send(delivery, to: checked, secrets: target.secrets), final: false)
    }

    private func subscription(of delivery: Claimed) async throws -> (url: String, secrets: [String])? {
        guard let row = try await TenantScope(clientId: delivery.clientId).select(from: WebhookTables.webhooks, on: store.sql)
            .columns("url", "secrets_sealed", "active").where("id", .equal, delivery.webhookId).first(),
              try row.decode(column: "active", as: Bool.self)
        else { return nil }
        let secrets = try cipher.open(try row.decode("secrets_sealed"), clientId: delivery.clientId, channelId: delivery.webhookId)
        var signing = [secrets["current"]].compactMap { $0 }
        if let previous = secrets["previous"], let until = secrets["previous_until"].flatMap(Double.init),
           Date().timeIntervalSince1970 < until {
            signing.append(previous)
        }
        return (try row.decode("url"), signing)
    }

    /// Sends to the checked address, whatever the name resolves to by now; the URL's host name still goes in
    /// `Host` and in TLS (server name and certificate check). A client per attempt: the address is part of its
    /// configuration (AsyncHTTPClient's DNS override), and deliveries are few enough that a pool would hold little.
    private func send(_ delivery: Claimed, to target: WebhookTarget.Checked, secrets: [String]) async -> Outcome {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: WebhookPolicy.timeout, read: WebhookPolicy.timeout))
        configuration.decompression = .disabled
        if !target.hostIsAddress { configuration.dnsOverride = [target.host: target.addressText] }
        let client = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
        let outcome = await send(delivery, to: target.url.absoluteString, secrets: secrets, with: client)
        try? await client.shutdown()
        return outcome
    }

    private func send(_ delivery: Claimed, to url: String, secrets: [String], with client: HTTPClient) async -> Outcome {
        let body = Array(delivery.payload.utf8)
        let timestamp = Int(Date().timeIntervalSince1970)
        let messageId = delivery.id.text
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Switchboard-Webhooks/\(SystemController.version)")
        request.headers.add(name: "webhook-id", value: messageId)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: WebhookSignature.header(id: messageId, timestamp: timestamp, body: body, secrets: secrets))
        request.headers.add(name: "Switchboard-Event", value: delivery.eventType)
        request.body = .bytes(ByteBuffer(bytes: body))
        let started = ContinuousClock.now
        do {
            let response = try await client.execute(request, timeout: WebhookPolicy.timeout)
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let elapsed = ContinuousClock.now - started
            return Outcome(statusCode: Int(response.status.code),
                           error: (200..<300).contains(Int(response.status.code)) ? nil : "the receiver answered \(response.status.code)",
                           latencyMs: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        } catch {
            return Outcome(error: Self.describe(error))
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout { return "no answer within 5 seconds" }
        }
        return "could not deliver: \(String(describing: error).prefix(300))"
    }

    /// Writes the attempt's result; a delivery out of retries is failed, and a subscription whose deliveries failed
    /// `disableAfter` times in a row is disabled (and audited).
    private func record(_ delivery: Claimed, _ outcome: Outcome, final forceFinal: Bool) async {
        let attempts = delivery.attempts + 1
        let wait = outcome.delivered || forceFinal ? nil : WebhookPolicy.nextWait(afterAttempts: attempts, schedule: settings.retrySeconds)
        let status: DeliveryStatus = outcome.delivered ? .delivered : (wait == nil ? .failed : .pending)
        let now = Date()
        let disableAfter = settings.disableAfter
        metrics.counter("switchboard_webhook_attempts_total", [("result", outcome.delivered ? "delivered" : status == .failed ? "failed" : "retry")])
            .increment()
        do {
            try await store.write { db in
                let sql = db as! any SQLDatabase
                try await sql.update(WebhookTables.deliveries)
                    .set("status", to: status.rawValue).set("attempts", to: attempts)
                    .set("last_status_code", to: outcome.statusCode).set("last_error", to: outcome.error)
                    .set("latency_ms", to: outcome.latencyMs)
                    .set("next_attempt_at", to: wait.map { now.addingTimeInterval($0) })
                    .set("delivered_at", to: outcome.delivered ? now : nil)
                    .set("updated_at", to: now)
                    .where("id", .equal, delivery.id).run()
                if outcome.delivered {
                    try await sql.update(WebhookTables.webhooks).set("consecutive_failures", to: 0)
                        .where("id", .equal, delivery.webhookId).where("consecutive_failures", .greaterThan, 0).run()
                } else if status == .failed && !forceFinal {
                    let failures = try await sql.update(WebhookTables.webhooks)
                        .set("consecutive_failures", to: SQLRaw("consecutive_failures + 1"))
                        .where("id", .equal, delivery.webhookId).returning("consecutive_failures", "active").first()
                    if let failures, try failures.decode(column: "consecutive_failures", as: Int.self) >= disableAfter,
                       try failures.decode(column: "active", as: Bool.self) {
                        try await sql.update(WebhookTables.webhooks).set("active", to: false)
                            .set("disabled_reason", to: "disabled after \(disableAfter) deliveries in a row failed every attempt")
                            .set("updated_at", to: now)
                            .where("id", .equal, delivery.webhookId).run()
                        try await AuditLog.record(AuditEntry(clientId: delivery.clientId, actor: "system", action: "webhook.disabled",
                                                             entityType: "webhook", entityId: delivery.webhookId.text,
                                                             outcome: .ok), on: db)
                    }
                }
            }
        } catch {
            // The claim's lease ends and the delivery is tried again: at least once, never lost.
            logger.warning("could not record a webhook attempt", metadata: ["error": "\(error)"])
        }
    }

    private func pruneIfDue() async {
        let now = Date()
        let due = lastPrune.withLockedValue { last in
            guard now.timeIntervalSince(last) >= 60 else { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            var pruned = 0
            while true {
                let deleted = try await store.write { db in
                    try await EventOutbox.pruneChunk(before: now.addingTimeInterval(-EventOutbox.retention), on: db as! any SQLDatabase)
                }
                pruned += deleted
                if deleted < EventOutbox.pruneChunkSize { break }
            }
            try await store.write { db in
                try await (db as! any SQLDatabase).delete(from: WebhookTables.deliveries)
                    .where("status", .notEqual, DeliveryStatus.pending.rawValue)
                    .where("created_at", .lessThan, now.addingTimeInterval(-Self.deliveryRetention)).run()
            }
            if pruned > 0 { logger.info("pruned old events", metadata: ["count": "\(pruned)"]) }
        } catch {
            logger.warning("could not prune old events", metadata: ["error": "\(error)"])
        }
    }
}

extension Application {
    private struct DelivererKey: StorageKey { typealias Value = WebhookDeliverer }

    var webhookDeliverer: WebhookDeliverer {
        get { storage[DelivererKey.self]! }
        set { storage[DelivererKey.self] = newValue }
    }
}
