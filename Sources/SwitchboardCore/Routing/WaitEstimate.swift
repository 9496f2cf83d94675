import Foundation

/// How long a waiting call can expect to wait: its place in the queue over the rate at which the agents who may
/// take it free a slot.
///
/// Each of those agents (routable now: active and present, busy, wrapping up or free) frees one of its
/// `max_concurrent` slots every `avg_handling_time` seconds, its 7-day handling time (talk plus after-call work, the
/// time a call holds a slot). Together they free Σ max_concurrent / avg_handling_time slots a second, and the call
/// at place p is taken after about p of them: p / that rate. It is the service-rate estimate of the queueing
/// texts (Erlang C's mean wait once every agent is busy is the same idea) rather than Asterisk's running average of
/// past waits, because it answers for a call at any place, at once, and follows the floor as it changes (an agent
/// going on a break lowers the rate, and every estimate rises with it). The what-if simulator measures its error on
/// replays (`RoutingSimulation.Report.waitEstimates`, `SwitchboardBench waits`).
enum WaitEstimate {
    /// An agent's share of the rate. A handling time under a second counts as one: a slot is never freed faster.
    static func slotsFreedPerSecond(slots: Int, handlingSeconds: Double) -> Double {
        guard slots > 0 else { return 0 }
        return Double(slots) / max(handlingSeconds.isFinite ? handlingSeconds : 1, 1)
    }

    /// Whole seconds for the call at `place` (1: next); nil when nobody who may take it is routable.
    static func seconds(place: Int, slotsFreedPerSecond rate: Double) -> Int? {
        guard place >= 1, rate > 0, rate.isFinite else { return nil }
        return Int((Double(place) / rate).rounded())
    }
}
