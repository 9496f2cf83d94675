import Foundation

/// Daily figures for one subject (agent or team) on one day, as counted from calls. Pure values.
struct DailyCounts: Sendable, Equatable {
    var callsHandled: Int
    var callsSuccessful: Int
    var callsFailed: Int
    var callsResolved: Int
    /// Mean of the ratings given; nil when no call was rated.
    var avgSatisfaction: Double?
    var satisfactionCount: Int
    /// Talk plus after-call work, per handled call.
    var avgHandlingTime: Double
    /// The after-call part of `avgHandlingTime`.
    var avgWrapUpTime: Double = 0

    static let zero = DailyCounts(callsHandled: 0, callsSuccessful: 0, callsFailed: 0, callsResolved: 0,
                                  avgSatisfaction: nil, satisfactionCount: 0, avgHandlingTime: 0)

    /// successful / handled; 0 when nothing was handled.
    var successRate: Double { ratio(callsSuccessful, callsHandled) }
    /// resolved / handled; 0 when nothing was handled.
    var resolutionRate: Double { ratio(callsResolved, callsHandled) }

    private func ratio(_ part: Int, _ whole: Int) -> Double {
        whole == 0 ? 0 : Double(part) / Double(whole)
    }

    /// Totals over several days (or teams), weighted by the calls behind each figure rather than
    /// averaging the averages: satisfaction by rated calls, handling and wrap-up time by handled calls.
    static func combine(_ days: some Sequence<DailyCounts>) -> DailyCounts {
        var total = DailyCounts.zero
        var satisfactionSum = 0.0
        var handlingSum = 0.0, wrapUpSum = 0.0
        for day in days {
            total.callsHandled += day.callsHandled
            total.callsSuccessful += day.callsSuccessful
            total.callsFailed += day.callsFailed
            total.callsResolved += day.callsResolved
            total.satisfactionCount += day.satisfactionCount
            satisfactionSum += (day.avgSatisfaction ?? 0) * Double(day.satisfactionCount)
            handlingSum += day.avgHandlingTime * Double(day.callsHandled)
            wrapUpSum += day.avgWrapUpTime * Double(day.callsHandled)
        }
        total.avgSatisfaction = total.satisfactionCount == 0 ? nil : satisfactionSum / Double(total.satisfactionCount)
        total.avgHandlingTime = total.callsHandled == 0 ? 0 : handlingSum / Double(total.callsHandled)
        total.avgWrapUpTime = total.callsHandled == 0 ? 0 : wrapUpSum / Double(total.callsHandled)
        return total
    }
}

extension DailyCounts {
    init(_ row: TeamPerformance) {
        self.init(callsHandled: row.callsHandled, callsSuccessful: row.callsSuccessful, callsFailed: row.callsFailed,
                  callsResolved: row.callsResolved, avgSatisfaction: row.avgSatisfaction,
                  satisfactionCount: row.satisfactionCount, avgHandlingTime: row.avgHandlingTime, avgWrapUpTime: row.avgWrapUpTime)
    }

    init(_ row: AgentDailyMetrics) {
        self.init(callsHandled: row.callsHandled, callsSuccessful: row.callsSuccessful, callsFailed: row.callsFailed,
                  callsResolved: row.callsResolved, avgSatisfaction: row.avgSatisfaction,
                  satisfactionCount: row.satisfactionCount, avgHandlingTime: row.avgHandlingTime, avgWrapUpTime: row.avgWrapUpTime)
    }
}

extension DailyMetricsDTO {
    init(date: String?, _ counts: DailyCounts) {
        self.init(date: date, callsHandled: counts.callsHandled, callsSuccessful: counts.callsSuccessful,
                  callsFailed: counts.callsFailed, callsResolved: counts.callsResolved,
                  avgSatisfaction: counts.avgSatisfaction, avgHandlingTime: counts.avgHandlingTime,
                  avgWrapUpTime: counts.avgWrapUpTime,
                  successRate: counts.successRate, resolutionRate: counts.resolutionRate)
    }
}
