import FluentKit
import Foundation
import SQLKit

/// The outbox: every event, written in the transaction of the change it reports, numbered per tenant.
///
/// `event_sequences` holds each tenant's last number. Taking the next numbers is an upsert on the tenant's row, so
/// on PostgreSQL two transactions of one tenant take turns on that row lock: numbers are committed in the order they
/// are given, and a reader that has seen number N never later finds a smaller one appearing (which a global
/// sequence, handed out before commit, would allow). The WebSocket stream's resume and the webhook deliverer's
/// cursor both rest on that.
enum EventOutbox {
    static let table = "events"
    static let sequences = "event_sequences"
    /// PostgreSQL: `<client_id> <last sequence>`, sent on commit, so every process wakes its subscribers.
    static let channel = "switchboard_events"
    /// How long events stay for replay (`since=`) and for webhook deliveries to be created from them.
    static let retention: TimeInterval = 24 * 3600

    /// Numbers and stores `events` of one tenant in the caller's transaction; returns the last number.
    @discardableResult
    static func append(_ events: [PendingEvent], clientId: String, at now: Date = Date(), on db: any Database) async throws -> Int64? {
        try await append(events, clientId: clientId, at: now, on: db as! any SQLDatabase)
    }

    @discardableResult
    static func append(_ events: [PendingEvent], clientId: String, at now: Date = Date(), on sql: any SQLDatabase) async throws -> Int64? {
        guard !events.isEmpty else { return nil }
        let last = try await reserve(events.count, for: clientId, on: sql)
        let first = last - Int64(events.count) + 1
        // At most 1,000 rows a statement: a bulk import's 5,000 events stay under every driver's limit of parameters.
        for chunk in stride(from: 0, to: events.count, by: 1_000) {
            let rows = events[chunk..<min(chunk + 1_000, events.count)].enumerated().map { offset, event in
                (clientId: clientId, values: [first + Int64(chunk + offset), event.id, event.type.rawValue, now, event.data]
                    as [any Encodable & Sendable])
            }
            if let insert = TenantScope.insertQuery(into: table, columns: ["sequence", "id", "type", "occurred_at", "data"],
                                                    rows: rows) {
                try await sql.execute(sql: insert) { _ in }
            }
        }
        if sql.dialect.name == "postgresql" {
            try await sql.raw("SELECT pg_notify(\(bind: channel), \(bind: "\(clientId) \(last)"))").run()
        }
        return last
    }

    /// Takes `count` numbers for the tenant; returns the last.
    static func reserve(_ count: Int, for clientId: String, on sql: any SQLDatabase) async throws -> Int64 {
        try await sql.raw("""
            INSERT INTO event_sequences (client_id, last_sequence) VALUES (\(bind: clientId), \(bind: Int64(count)))
            ON CONFLICT (client_id) DO UPDATE SET last_sequence = event_sequences.last_sequence + excluded.last_sequence
            RETURNING last_sequence
            """).first()!.decode(column: "last_sequence", as: Int64.self)
    }

    /// The tenant's events after `sequence`, oldest first.
    static func events(of clientId: String, after sequence: Int64, limit: Int, on sql: any SQLDatabase) async throws -> [StoredEvent] {
        try await TenantScope(clientId: clientId).select(from: table, on: sql)
            .columns(["id", "type", "occurred_at", "sequence", "data"])
            .where("sequence", .greaterThan, sequence)
            .orderBy("sequence").limit(limit).all()
            .map { row in
                StoredEvent(id: try row.decode("id"), type: try row.decode("type"), clientId: clientId,
                            occurredAt: try row.decode("occurred_at"), sequence: try row.decode("sequence"),
                            data: try row.decode("data"))
            }
    }

    /// The last number given to the tenant (0 before its first event) and the oldest still kept (nil: none kept).
    static func bounds(of clientId: String, on sql: any SQLDatabase) async throws -> (last: Int64, oldest: Int64?) {
        let last = try await sql.select().column("last_sequence").from(sequences).where("client_id", .equal, clientId)
            .first()?.decode(column: "last_sequence", as: Int64.self) ?? 0
        let oldest = try await TenantScope(clientId: clientId).select(from: table, on: sql)
            .column("sequence").orderBy("sequence").limit(1).first()?.decode(column: "sequence", as: Int64.self)
        return (last, oldest)
    }

    /// Last numbers of these tenants, in one read (the stream's poll).
    static func lastSequences(of clientIds: [String], on sql: any SQLDatabase) async throws -> [String: Int64] {
        guard !clientIds.isEmpty else { return [:] }
        var found: [String: Int64] = [:]
        for row in try await sql.select().columns(["client_id", "last_sequence"]).from(sequences)
            .where("client_id", .in, clientIds).all() {
            found[try row.decode("client_id")] = try row.decode("last_sequence")
        }
        return found
    }

    static let pruneChunkSize = 5_000

    /// Deletes up to `pruneChunkSize` events older than `cutoff`, oldest first (a chunk per transaction, so that a
    /// large backlog never holds the write lock for long). Returns how many were deleted.
    static func pruneChunk(before cutoff: Date, on sql: any SQLDatabase) async throws -> Int {
        // The newest old event among the oldest rows: events are stored in time order, give or take the commit
        // order of concurrent writers, so a straggler waits for the next run at most.
        guard let position = try await sql.raw("""
            SELECT max(position) AS position FROM (SELECT position, occurred_at FROM events ORDER BY position
                LIMIT \(literal: pruneChunkSize)) AS oldest
            WHERE occurred_at < \(bind: cutoff)
            """).first()?.decode(column: "position", as: Int64?.self)
        else { return 0 }
        return try await sql.raw("DELETE FROM events WHERE position <= \(bind: position) RETURNING position").all().count
    }
}
