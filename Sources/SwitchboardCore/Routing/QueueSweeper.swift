import Foundation
import Logging
import NIOConcurrencyHelpers
import SQLKit
import Vapor

/// Offers waiting calls to the wider pools their wait has reached (`routing.relaxation`): every second, each
/// tenant's waiting calls are checked against its load book at the step their wait has reached, and those an agent
/// could take now go through the call writer, in the queue's order (`QueueOrder`), as `widen` changes (which
/// decide again and claim atomically). Capacity freed by a finished call is offered in the same transaction as the
/// release; this catches the calls whose widening came with nothing else happening (and any call a settings change
/// left waiting beside a free agent, or a changed agent whose hand-off a crash cut short). Over PostgreSQL one
/// process sweeps at a time (an advisory lock), like the aggregator.
final class QueueSweeper: Sendable {
    let store: Store
    let book: LoadBook
    let writer: CallWriter
    let logger: Logger

    static let interval: Duration = .seconds(1)
    /// Waiting calls looked at per tenant and pass, in the queue's order.
    static let batchLimit = 500
    /// Calls younger than this are left to the call writer, which is routing them or handing them capacity.
    static let settlingSeconds = 1.0

    init(store: Store, book: LoadBook, writer: CallWriter, logger: Logger) {
        self.store = store
        self.book = book
        self.writer = writer
        self.logger = logger
    }

    /// A pass every second while the process serves.
    var service: PeriodicService {
        PeriodicService(interval: Self.interval, logger: logger, failure: "queue sweep failed; the next one tries again") {
            [self] in try await sweep()
        }
    }

    /// One pass as of `now` (tests pass their own clock, and their own tenant). Returns the calls assigned.
    @discardableResult
    func sweep(now: Date = Date(), only clientId: String? = nil) async throws -> Int {
        var tenants: [String]
        if let clientId {
            tenants = [clientId]
        } else {
            tenants = try await store.sql.select().distinct().column("client_id").from(Call.schema)
                .where(status: .queued).all()
                .map { try $0.decode(column: "client_id", as: String.self) }
        }
        var assigned = 0
        for clientId in tenants {
            let calls: [UUID]
            if store.isPostgres {
                // One process sweeps a tenant at a time; the others skip it this second.
                calls = try await store.write { db in
                    let sql = db as! any SQLDatabase
                    guard try await AdvisoryLock.tryTransactionLock(.queueSweep, tenant: clientId, on: sql) else { return [] }
                    return try await self.dueCalls(of: clientId, now: now, on: sql)
                }
            } else {
                calls = try await dueCalls(of: clientId, now: now, on: store.sql)
            }
            guard !calls.isEmpty else { continue }
            let tenant = Tenant(clientId: clientId, userId: "queue-sweeper", role: .admin)
            // Submitted together, so the group commit takes them in few batches; the trial in `dueCalls` already
            // gave the free agents to the first calls, and the writer decides each again with the claims it books.
            let results = await withTaskGroup(of: (Int, CallChangeResult?).self) { group in
                for (index, callId) in calls.enumerated() {
                    group.addTask { (index, try? await self.writer.submit(.widen(callId, asOf: now), by: tenant)) }
                }
                return await group.reduce(into: [CallChangeResult?](repeating: nil, count: calls.count)) { $0[$1.0] = $1.1 }
            }
            assigned += results.filter { $0?.call.status == .active }.count
        }
        return assigned
    }

    /// The tenant's waiting calls (at least a second old, so arrivals are the writer's) that someone in the pool
    /// their wait has reached could take now, checked in a copy of the book with claims, so one free agent is not
    /// offered ten calls.
    private func dueCalls(of clientId: String, now: Date, on db: any SQLDatabase) async throws -> [UUID] {
        // The usual case of a standing queue is that nobody has room: then no waiting call can be handed over, and
        // the waiting calls are not read at all.
        let (relaxation, agingSeconds, anyoneFree) = try await book.withBook(clientId, store: store) { book in
            (book.policy.relaxation, book.policy.priorityAgingSeconds, book.agents.values.contains { $0.hasRoom })
        }
        guard anyoneFree else { return [] }
        let query = TenantScope(clientId: clientId).select(from: Call.schema, on: db)
            .columns(CallRow.columns.map { SQLIdentifier($0) })
            .where(status: .queued)
            .where("created_at", .lessThanOrEqual, now.addingTimeInterval(-Self.settlingSeconds))
        let rows = try await QueueOrder(agingSeconds: agingSeconds, now: now).ordering(query, postgres: store.isPostgres)
            .limit(Self.batchLimit).all()
        let waiting = try rows.map(CallRow.init)
        guard !waiting.isEmpty else { return [] }
        return try await book.withBook(clientId, store: store) { book -> [UUID] in
            var trial = book
            return waiting.compactMap { call -> UUID? in
                let stage = relaxation.stage(waited: max(0, now.timeIntervalSince(call.createdAt)), hasTeam: call.teamId != nil)
                var route = call.routeRequest(at: now)
                route.relax(to: stage)
                guard let decision = try? trial.decide(route, claiming: true), decision.chosen != nil else { return nil }
                return call.id
            }
        }
    }
}

extension Application {
    private struct QueueSweeperKey: StorageKey { typealias Value = QueueSweeper }

    var queueSweeper: QueueSweeper {
        if let sweeper = storage[QueueSweeperKey.self] { return sweeper }
        let sweeper = QueueSweeper(store: store(), book: loadBook, writer: callWriter, logger: logger)
        storage[QueueSweeperKey.self] = sweeper
        return sweeper
    }
}

