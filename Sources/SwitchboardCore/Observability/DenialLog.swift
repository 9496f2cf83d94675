import FluentKit
import Foundation
import Logging
import NIOConcurrencyHelpers
import SQLKit
import Vapor

/// Denied requests (401, 403, and 404s for another tenant's ids) on their way to the audit log.
///
/// A denial costs the request nothing but a counter increment: denials are counted in memory by who, what and
/// which route, and written in bulk every `interval`, one row per distinct denial with its number of
/// `occurrences`. So a flood of denials costs one small write per interval, never one write per request, and
/// the rows are bounded: routes are recorded by their pattern (`GET /api/teams/:id`), not the path sent, and
/// at most `capacity` distinct denials are kept per interval (the rest are counted together).
///
/// A 404 might be a probe for another tenant's id. Whether it was is decided here, at the flush, by looking
/// the id up across tenants, so an unknown id and a foreign one cost the request exactly the same.
final class DenialLog: Sendable {
    struct Denial: Hashable, Sendable {
        let clientId: String
        let actor: String
        let action: String
        let entityType: String
        let entityId: String
    }

    /// A lookup that found nothing for this tenant; a probe if the id exists under another tenant.
    struct Miss: Hashable, Sendable {
        let clientId: String
        let actor: String
        let table: String
        let entity: String
        let id: UUID
    }

    private struct Tally: Sendable {
        var count = 0
        var firstAt: Date
    }

    private struct Pending {
        var denials: [Denial: Tally] = [:]
        var misses: [Miss: Tally] = [:]
    }

    static let capacity = 1_000
    static let maxFieldLength = 200
    static let overflow = Denial(
        clientId: AuditEntry.unauthenticatedClient, actor: "(many)", action: "denied.other",
        entityType: "request", entityId: "distinct denials beyond \(capacity) in one interval"
    )

    private let pending = NIOLockedValueBox(Pending())
    private let lastFlush = NIOLockedValueBox<Task<Void, Never>?>(nil)
    private let automaticFlush = NIOLockedValueBox(true)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func record(_ denial: Denial, at now: Date = Date()) {
        let bounded = Denial(
            clientId: Self.truncated(denial.clientId), actor: Self.truncated(denial.actor), action: denial.action,
            entityType: denial.entityType, entityId: Self.truncated(denial.entityId)
        )
        pending.withLockedValue { pending in
            let key = pending.denials[bounded] != nil || pending.denials.count + pending.misses.count < Self.capacity
                ? bounded : Self.overflow
            pending.denials[key, default: Tally(firstAt: now)].count += 1
        }
    }

    func recordMiss(_ miss: Miss, at now: Date = Date()) {
        pending.withLockedValue { pending in
            if pending.misses[miss] == nil && pending.denials.count + pending.misses.count >= Self.capacity {
                pending.denials[Self.overflow, default: Tally(firstAt: now)].count += 1
            } else {
                pending.misses[miss, default: Tally(firstAt: now)].count += 1
            }
        }
    }

    /// Writes everything counted so far. Failures are logged and the counts dropped: the audit of denials must
    /// never hold up or fail the service.
    /// Writes everything denied so far. Flushes run one after another, so when this returns, every denial counted
    /// before the call is in the audit log, even if the periodic flush had already taken some of them.
    func flush(to store: Store) async {
        let flush = lastFlush.withLockedValue { last -> Task<Void, Never> in
            let previous = last
            let next = Task { [self] in
                await previous?.value
                await flushPending(to: store)
            }
            last = next
            return next
        }
        await flush.value
    }

    private func flushPending(to store: Store) async {
        let taken = pending.withLockedValue { pending in
            defer { pending = Pending() }
            return pending
        }
        guard !taken.denials.isEmpty || !taken.misses.isEmpty else { return }
        do {
            let rows = taken.denials.map { ($0.key, $0.value) } + (try await probes(among: taken.misses, on: store))
            guard !rows.isEmpty else { return }
            try await store.write { db in
                let insert = (db as! any SQLDatabase).insert(into: AuditLogEntry.schema).columns(
                    ["id", "client_id"] + AuditLog.columns.dropFirst() + ["occurrences"])
                for (denial, tally) in rows {
                    insert.values([
                        SQLBind(UUID.timeOrdered()), SQLBind(denial.clientId), SQLBind(denial.actor), SQLBind(denial.action),
                        SQLBind(denial.entityType), SQLBind(denial.entityId), SQLBind(AuditOutcome.denied.rawValue),
                        SQLBind(tally.firstAt), SQLBind(tally.count),
                    ])
                }
                try await insert.run()
            }
        } catch {
            logger.warning("could not record denied requests in the audit log", metadata: ["error": "\(error)"])
        }
    }

    /// The misses whose id belongs to another tenant, as denials: one query per table.
    private func probes(among misses: [Miss: Tally], on store: Store) async throws -> [(Denial, Tally)] {
        var result: [(Denial, Tally)] = []
        let sql = store.db as! any SQLDatabase
        for (table, tableMisses) in Dictionary(grouping: misses, by: \.key.table) {
            let ids = Set(tableMisses.map(\.key.id))
            let rows = try await sql.select().column("id").column("client_id").from(table)
                .where("id", .in, Array(ids)).all()
            var owners: [UUID: String] = [:]
            for row in rows { owners[try row.decode(column: "id", as: UUID.self)] = try row.decode(column: "client_id", as: String.self) }
            for (miss, tally) in tableMisses {
                guard let owner = owners[miss.id], owner != miss.clientId else { continue }
                result.append((Denial(clientId: miss.clientId, actor: miss.actor, action: "denied.404",
                                      entityType: miss.entity, entityId: miss.id.text), tally))
            }
        }
        return result
    }

    /// Flushes every `interval` while the process runs, and once more at shutdown.
    func service(every interval: Duration, to store: Store) -> PeriodicService {
        PeriodicService(interval: interval, pass: { [self] in
            if automaticFlush.withLockedValue({ $0 }) { await flush(to: store) }
        }, finally: { [self] in await flush(to: store) })
    }

    /// Ends the periodic flush; what is counted stays until `flush` or the flush at shutdown.
    func stopPeriodicFlush() {
        automaticFlush.withLockedValue { $0 = false }
    }

    static func truncated(_ text: String) -> String {
        guard text.utf8.count > maxFieldLength else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            guard result.utf8.count + scalar.utf8.count <= maxFieldLength - 3 else { break }
            result.unicodeScalars.append(scalar)
        }
        return result + "…"
    }
}


extension Application {
    private struct DenialLogKey: StorageKey { typealias Value = DenialLog }

    var denialLog: DenialLog {
        get { storage[DenialLogKey.self]! }
        set { storage[DenialLogKey.self] = newValue }
    }
}
