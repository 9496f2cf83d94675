import Foundation
import SQLKit


/// SQLite: one process, one writer. The batch runs in a transaction on the inline connection (statements one after
/// another, cheaply, without a thread hop each) and its requests are answered after it committed.
struct SQLiteBatchWrite: BatchWriting {
    let store: Store
    let events: EventHub

    /// Every batch commits before the next begins.
    func settlePrevious() async {}

    func commit(
        answering continuations: [CheckedContinuation<ChangeAnswer, any Error>], plan: BatchPlan, clientIds: Set<String>,
        _ decideAndWrite: @escaping @Sendable (any SQLDatabase) async throws -> [Result<ChangeAnswer, any Error>],
        committed: ([Result<ChangeAnswer, any Error>]) -> Void
    ) async throws {
        let results = try await store.writeSQL(decideAndWrite)
        for (clientId, newest) in plan.eventHeads { events.signal(clientId, upTo: newest) }
        committed(results)
        for (continuation, result) in zip(continuations, results) { continuation.resume(with: result) }
    }

    func write(_ statements: BatchStatements, plan: BatchPlan, on db: any SQLDatabase) async throws -> [CommittedLoad] {
        let loads = try await statements.loads?.run(on: db) ?? []
        for change in statements.changes {
            // Changed by another writer since this batch read it: decide the batch again on fresh rows.
            guard try await db.raw("\(change)").first() != nil else { throw CallChangedMeanwhile() }
        }
        for update in statements.unchecked { try await db.execute(sql: update) { _ in } }
        for insert in statements.inserts { try await db.execute(sql: insert) { _ in } }
        try await writeEvents(statements, loads: loads, plan: plan, on: db)
        return loads
    }

    /// The batch's events after its other writes: each tenant's call events first, then the loads the batch
    /// committed, then the queue's new depth (counted after the batch's own changes).
    private func writeEvents(_ statements: BatchStatements, loads: [CommittedLoad], plan: BatchPlan,
                             on db: any SQLDatabase) async throws {
        var byTenant = statements.events
        for load in loads { byTenant[load.clientId, default: []].append(EventPayload.loadChanged(load.state)) }
        for clientId in statements.queueChanges.keys {
            let queued = try await TenantScope(clientId: clientId).queuedCallCount(on: db)
            byTenant[clientId, default: []].append(EventPayload.queueDepth(queued))
        }
        for (clientId, tenantEvents) in byTenant.sorted(by: { $0.key < $1.key }) {
            if let newest = try await EventOutbox.append(tenantEvents, clientId: clientId, at: statements.now, on: db) {
                plan.noteEventHead(newest, of: clientId)
            }
        }
    }
}
