import Foundation
import Logging
import SQLKit
import Vapor

/// Ends what a stored time says is over: every second (and before a serving process answers its first request, see
/// `Application.endWhatCameDueWhileDown`, so what came due while it was down is handled first), the calls due by now
/// go through the call writer, per tenant, as one change. The writer acts only on those still in the state the timer
/// saw, so several processes, or a person acting meanwhile, change each once. Two run: the wrap-up timer (after-call
/// work whose time came) and the offer timer (offers that ran out).
final class DueTimer: Sendable {
    /// The column holding the time, and the condition of the rows whose time is still to come.
    struct Due: Sendable {
        let name: String
        let column: String
        let open: @Sendable (SQLSelectBuilder) -> SQLSelectBuilder
        let change: @Sendable ([UUID], Date) -> CallChange
    }

    let due: Due
    let store: Store
    let writer: CallWriter
    let logger: Logger

    static let interval: Duration = .seconds(1)
    /// Calls handled per pass, soonest due first; the next pass takes the rest.
    static let batchLimit = 1000

    static let wrapUps = Due(name: "wrap-up timer", column: "wrap_up_until", open: { query in
        query.where("wrap_up_until", .isNot, SQLLiteral.null).where("wrap_up_ended_at", .is, SQLLiteral.null)
    }, change: { CallChange.endDueWrapUps($0, asOf: $1) })

    static let offers = Due(name: "offer timer", column: "offer_expires_at", open: { query in
        query.where(status: .offered)
    }, change: { CallChange.expireOffers($0, asOf: $1) })

    init(_ due: Due, store: Store, writer: CallWriter, logger: Logger) {
        self.due = due
        self.store = store
        self.writer = writer
        self.logger = logger
    }

    var service: PeriodicService {
        PeriodicService(interval: Self.interval, logger: logger,
                        failure: "the \(due.name) failed; its next pass tries again") { [self] in try await handleDue() }
    }

    /// One pass as of `now`, of at most `limit` calls (tests pass their own clock, and their own tenant). Returns how
    /// many calls were due.
    @discardableResult
    func handleDue(now: Date = Date(), only clientId: String? = nil, limit: Int = batchLimit) async throws -> Int {
        var query = due.open(store.sql.select().columns("client_id", "id").from(Call.schema))
            .where(SQLIdentifier(due.column), .lessThanOrEqual, SQLBind(now))
        if let clientId { query = query.where("client_id", .equal, clientId) }
        let rows = try await query.orderBy(due.column).limit(limit).all().map { row in
            (clientId: try row.decode(column: "client_id", as: String.self), callId: try row.decode(column: "id", as: UUID.self))
        }
        for (clientId, calls) in Dictionary(grouping: rows, by: \.clientId) {
            let tenant = Tenant(clientId: clientId, userId: due.name.replacingOccurrences(of: " ", with: "-"), role: .admin)
            try await writer.handOut(due.change(calls.map(\.callId), now), by: tenant)
        }
        return rows.count
    }
}

extension Application {
    private struct WrapUpTimerKey: StorageKey { typealias Value = DueTimer }
    private struct OfferTimerKey: StorageKey { typealias Value = DueTimer }

    var wrapUpTimer: DueTimer {
        if let timer = storage[WrapUpTimerKey.self] { return timer }
        let timer = DueTimer(DueTimer.wrapUps, store: store(), writer: callWriter, logger: logger)
        storage[WrapUpTimerKey.self] = timer
        return timer
    }

    var offerTimer: DueTimer {
        if let timer = storage[OfferTimerKey.self] { return timer }
        let timer = DueTimer(DueTimer.offers, store: store(), writer: callWriter, logger: logger)
        storage[OfferTimerKey.self] = timer
        return timer
    }

    /// Before the first request is answered, so that nobody (a person at their desk, a wallboard) sees an offer
    /// or a wrap-up still open whose time passed while the service was down. Each timer's passes go on until one
    /// finds fewer calls than a pass takes; the timers' own loops start a second later. A failure is logged and
    /// start-up goes on: the loops try again. Returns how many calls each timer ended (tests pass their own clock,
    /// tenant and pass size).
    @discardableResult
    func endWhatCameDueWhileDown(now: Date = Date(), only clientId: String? = nil,
                                 batch: Int = DueTimer.batchLimit) async -> [String: Int] {
        var endedBy: [String: Int] = [:]
        for timer in [wrapUpTimer, offerTimer] {
            var ended = 0
            do {
                var found = batch
                while found == batch {
                    found = try await timer.handleDue(now: now, only: clientId, limit: batch)
                    ended += found
                    if found == batch {
                        logger.info("\(timer.due.name): \(ended) calls that came due while the service was down ended so far")
                    }
                }
            } catch {
                let failure = "the \(timer.due.name) could not end what came due while the service was down; its loop tries again"
                logger.warning("\(failure)", metadata: ["error": "\(error)"])
            }
            if ended > 0 { logger.info("\(timer.due.name): ended \(ended) calls that came due while the service was down") }
            endedBy[timer.due.name] = ended
        }
        return endedBy
    }
}
