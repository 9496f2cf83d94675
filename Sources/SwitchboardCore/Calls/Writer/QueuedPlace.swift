import Foundation
import SQLKit

extension CallWriter {
    /// A call this batch queues: its place among its sector's waiting calls in the queue's order, and its
    /// estimated wait (`WaitEstimate`), for its `call.queued` event.
    ///
    /// The common case, a new call of the default priority while every waiting call has it too, goes behind them
    /// all: one count of the sector's stored waiting calls a batch (on `idx_calls_queued_sector`), plus the calls
    /// the batch queued there before it. Any other case (a priority of its own, priorities mixed in the queue, a call
    /// back in the queue after an offer) counts the stored calls that go before it. Calls this batch takes from the
    /// queue before the count are left out of it; those it takes after are not (the place is as the call queued).
    func queuedPlace(of call: CallRow, isNew: Bool, policy: RoutingPolicy, _ work: inout BatchWork,
                     on db: any SQLDatabase) async throws -> (place: Int, estimatedWait: Int?) {
        let key = SectorKey(clientId: call.clientId, sector: call.sector)
        let entry = QueueOrder.Entry(call)
        let order = QueueOrder(agingSeconds: policy.priorityAgingSeconds, now: work.now)
        try await work.lookAtTheQueue(of: call.clientId, on: db)
        if call.priority != CallLimits.defaultPriority { work.mixedPriorities[call.clientId] = true }
        let ofThisBatch = (work.queuedHere[key] ?? []).filter { !work.takenFromQueue.contains($0.id) }
        let place: Int
        if isNew && work.mixedPriorities[call.clientId] != true {
            if work.waitingInSector[key] == nil {
                work.waitingInSector[key] = work.databaseQueue[call.clientId] == true
                    ? try await order.storedAhead(of: entry, clientId: call.clientId, all: true, excluding: work.takenFromQueue,
                                                  postgres: store.isPostgres, on: db) : 0
            }
            place = work.waitingInSector[key]! + ofThisBatch.count + 1
        } else {
            let stored = try await order.storedAhead(of: entry, clientId: call.clientId, excluding: work.takenFromQueue,
                                                     postgres: store.isPostgres, on: db)
            place = stored + ofThisBatch.filter { order.precedes($0, entry) }.count + 1
        }
        work.queuedHere[key, default: []].append(entry)
        let now = work.now
        let estimatedWait = try await book.withBook(call.clientId, store: store, on: db) { book in
            book.estimatedWait(place: place, of: entry, teamId: call.teamId, required: call.requirement, now: now)
        }
        return (place, estimatedWait)
    }
}
