import Foundation

/// Totals over a range, weighted by calls (see `DailyCounts.combine`).
struct MetricTotalsDTO: Encodable, Sendable {
    let counts: DailyCounts

    private enum CodingKeys: String, CodingKey {
        case callsHandled, callsSuccessful, callsFailed, callsResolved
        case avgSatisfaction, avgHandlingTime, successRate, resolutionRate
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(counts.callsHandled, forKey: .callsHandled)
        try container.encode(counts.callsSuccessful, forKey: .callsSuccessful)
        try container.encode(counts.callsFailed, forKey: .callsFailed)
        try container.encode(counts.callsResolved, forKey: .callsResolved)
        try container.encode(counts.avgSatisfaction, forKey: .avgSatisfaction)
        try container.encode(counts.avgHandlingTime, forKey: .avgHandlingTime)
        try container.encode(counts.successRate, forKey: .successRate)
        try container.encode(counts.resolutionRate, forKey: .resolutionRate)
    }
}

/// A subject's daily series over a range, with its totals.
struct MetricSeriesDTO: Encodable, Sendable {
    let subjectId: UUID
    let from: String
    let to: String
    let daily: [DailyMetricsDTO]
    let totals: MetricTotalsDTO
}

struct TeamComparisonDTO: Encodable, Sendable {
    let teamId: UUID
    let name: String
    let sector: String
    let totals: MetricTotalsDTO
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
