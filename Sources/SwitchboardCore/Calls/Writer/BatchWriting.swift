import Foundation
import SQLKit


/// How a batch reaches its database. The writer decides a batch the same way on both; SQLite and PostgreSQL
/// differ only in how the decided batch is made durable and when its requests may be answered, which is this.
protocol BatchWriting: Sendable {
    /// Before a batch that reads calls: waits until the previous batches' writes are visible to it.
    func settlePrevious() async

    /// Runs `decideAndWrite` as one unit of work, then `committed` with its results, and answers each request
    /// (`continuations`, in the batch's order) once the database holds what the batch wrote.
    func commit(
        answering continuations: [CheckedContinuation<ChangeAnswer, any Error>], plan: BatchPlan, clientIds: Set<String>,
        _ decideAndWrite: @escaping @Sendable (any SQLDatabase) async throws -> [Result<ChangeAnswer, any Error>],
        committed: ([Result<ChangeAnswer, any Error>]) -> Void
    ) async throws

    /// Writes the batch's statements (inside `commit`'s unit of work) and returns the agents' loads as written.
    /// Throws `BatchRefused` or `CallChangedMeanwhile` when the database refused a claim or a call change.
    func write(_ statements: BatchStatements, plan: BatchPlan, on db: any SQLDatabase) async throws -> [CommittedLoad]
}

/// Everything one batch writes: the same statements on both databases.
struct BatchStatements {
    /// The conditional update of every load the batch changes (nil when it changes none).
    let loads: LoadStatement?
    /// Each changed call's `UPDATE … WHERE status = <as read> RETURNING id`.
    let changes: [any SQLExpression]
    /// Updates that need no check (closing the state log's open rows, ending offers, resetting missed offers),
    /// before the inserts.
    let unchecked: [any SQLExpression]
    /// New calls, decisions, audit rows and state log rows.
    let inserts: [any SQLExpression]
    /// Call events per tenant, in the order they happened; load and queue-depth events are added as written.
    let events: [String: [PendingEvent]]
    /// Each tenant's net change of waiting calls (listed once its queue changed at all).
    let queueChanges: [String: Int]
    let now: Date
}
