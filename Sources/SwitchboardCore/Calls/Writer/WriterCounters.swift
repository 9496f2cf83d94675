import Foundation
import Prometheus


/// The writer's metric handles, resolved once: finding a handle by name and labels costs more than a call's own
/// bookkeeping in memory.
struct WriterCounters: Sendable {
    let batchSize: ValueHistogram
    let claimsLost: Counter
    /// Batches whose statement failed for a reason other than a refused claim, retried change by change.
    let batchesSplit: Counter
    let decisionSeconds: ValueHistogram
    private let decisions: [RoutingStrategy: Counter]
    private let created: [CallStatus: Counter]
    private let completed: [CallOutcome: Counter]
    private let cancelled: Counter
    private let widened: Counter
    private let offersMade: Counter
    private let offersEnded: [OfferLog.Outcome: Counter]

    init(_ metrics: SwitchboardMetrics) {
        batchSize = metrics.histogram("switchboard_call_batch_size", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256])
        claimsLost = metrics.counter("switchboard_routing_claims_lost_total")
        batchesSplit = metrics.counter("switchboard_call_batches_split_total")
        decisionSeconds = metrics.histogram("switchboard_routing_decision_seconds")
        decisions = Dictionary(uniqueKeysWithValues: RoutingStrategy.allCases.map { strategy in
            (strategy, metrics.counter("switchboard_routing_decisions_total", [("strategy", strategy.rawValue)]))
        })
        created = Dictionary(uniqueKeysWithValues: [CallStatus.queued, .active].map { status in
            (status, metrics.counter("switchboard_calls_created_total", [("status", status.rawValue)]))
        })
        completed = Dictionary(uniqueKeysWithValues: CallOutcome.allCases.map { outcome in
            (outcome, metrics.counter("switchboard_calls_completed_total", [("outcome", outcome.rawValue)]))
        })
        cancelled = metrics.counter("switchboard_calls_cancelled_total")
        widened = metrics.counter("switchboard_calls_widened_total")
        offersMade = metrics.counter("switchboard_offers_made_total")
        offersEnded = Dictionary(uniqueKeysWithValues: OfferLog.Outcome.allCases.map { outcome in
            (outcome, metrics.counter("switchboard_offers_ended_total", [("outcome", outcome.rawValue)]))
        })
    }

    func decided(_ strategy: RoutingStrategy, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        decisionSeconds.record(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        decisions[strategy]?.increment()
    }

    /// A committed batch's offers: made, and ended by how (accepted, rejected, expired, withdrawn, cancelled).
    func countOffers(of plan: BatchPlan) {
        if plan.offersMade > 0 { offersMade.increment(by: Int64(plan.offersMade)) }
        for (outcome, count) in plan.offersEnded { offersEnded[outcome]?.increment(by: Int64(count)) }
    }

    /// A committed batch's changes, by what they did.
    func count(_ applied: some Sequence<(CallChange, Result<ChangeAnswer, any Error>)>) {
        for (change, result) in applied {
            guard case .success(let answer) = result else { continue }
            switch (change, answer) {
            case (_, .call(let outcome)) where outcome.replayed: continue
            case (.create, .call(let outcome)): created[outcome.call.status]?.increment()
            case (.complete(_, let input), _): completed[input.outcome]?.increment()
            case (.talkEnded, .call(let outcome)):
                // With no wrap-up the talk's end completes the call, with the default disposition.
                if let result = outcome.call.outcome, outcome.call.status == .completed { completed[result]?.increment() }
            case (.cancel, _): cancelled.increment()
            case (.widen, .call(let outcome)): if outcome.call.status == .active { widened.increment() }
            default: continue
            }
        }
    }
}
