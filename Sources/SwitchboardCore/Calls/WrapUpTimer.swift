import Foundation
import Logging
import SQLKit
import Vapor

/// Ends after-call work whose time has come: every second (and at once at start, so a wrap-up that ended while
/// the process was down is over as it starts), the open wrap-ups due by now go through the call writer, per
/// tenant, which gives each slot back and hands it to the oldest waiting call the agent may take. The writer
/// ends a wrap-up only if it is still open, so several processes, or an agent ending it meanwhile, end it once.
final class WrapUpTimer: Sendable {
    let store: Store
    let writer: CallWriter
    let logger: Logger

    static let interval: Duration = .seconds(1)
    /// Wrap-ups ended per pass, soonest due first; the next pass takes the rest.
    static let batchLimit = 1000

    init(store: Store, writer: CallWriter, logger: Logger) {
        self.store = store
        self.writer = writer
        self.logger = logger
    }

    var service: PeriodicService {
        PeriodicService(interval: Self.interval, passAtStart: true) { [self] in
            do {
                try await endDue()
            } catch {
                logger.warning("ending due wrap-ups failed; the next pass tries again", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One pass as of `now` (tests pass their own clock, and their own tenant). Returns the wrap-ups due.
    @discardableResult
    func endDue(now: Date = Date(), only clientId: String? = nil) async throws -> Int {
        var query = store.sql.select().columns("client_id", "id").from(Call.schema)
            .where("wrap_up_until", .isNot, SQLLiteral.null)
            .where("wrap_up_ended_at", .is, SQLLiteral.null)
            .where("wrap_up_until", .lessThanOrEqual, now)
        if let clientId { query = query.where("client_id", .equal, clientId) }
        let due = try await query.orderBy("wrap_up_until").limit(Self.batchLimit).all().map { row in
            (clientId: try row.decode(column: "client_id", as: String.self), callId: try row.decode(column: "id", as: UUID.self))
        }
        for (clientId, calls) in Dictionary(grouping: due, by: \.clientId) {
            let tenant = Tenant(clientId: clientId, userId: "wrap-up-timer", role: .admin)
            try await writer.handOut(.endDueWrapUps(calls.map(\.callId), asOf: now), by: tenant)
        }
        return due.count
    }
}

extension Application {
    private struct WrapUpTimerKey: StorageKey { typealias Value = WrapUpTimer }

    var wrapUpTimer: WrapUpTimer {
        if let timer = storage[WrapUpTimerKey.self] { return timer }
        let timer = WrapUpTimer(store: store(), writer: callWriter, logger: logger)
        storage[WrapUpTimerKey.self] = timer
        return timer
    }
}
