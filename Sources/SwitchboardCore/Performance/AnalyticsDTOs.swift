import Foundation

/// A subject's daily series over a range, with its totals.
struct MetricSeriesDTO: Encodable, Sendable {
    let subjectId: UUID
    let from: String
    let to: String
    let daily: [DailyMetricsDTO]
    /// Weighted by calls (see `DailyCounts.combine`).
    let totals: DailyMetricsDTO
}

struct TeamComparisonDTO: Encodable, Sendable {
    let teamId: UUID
    let name: String
    let sector: String
    let totals: DailyMetricsDTO
}

struct TopAgentDTO: Encodable, Sendable {
    let agentId: UUID
    let name: String
    let sector: String
    let metric: String
    let value: Double?
    let callsHandled: Int
}

enum RankingMetric: String, CaseIterable, Sendable {
    case successRate = "success_rate"
    case avgSatisfaction = "avg_satisfaction"
    case callsHandled = "calls_handled"
    case resolutionRate = "resolution_rate"
    case avgHandlingTime = "avg_handling_time"

    /// Shorter handling is better; everything else ranks high first.
    var ascending: Bool { self == .avgHandlingTime }

    func value(of counts: DailyCounts) -> Double? {
        switch self {
        case .successRate: counts.successRate
        case .avgSatisfaction: counts.avgSatisfaction
        case .callsHandled: Double(counts.callsHandled)
        case .resolutionRate: counts.resolutionRate
        case .avgHandlingTime: counts.avgHandlingTime
        }
    }
}
