import Foundation

/// A subject's daily series over a range, with its totals.
struct MetricSeriesDTO: Encodable, Sendable {
    let subjectId: UUID
    let from: String
    let to: String
    let daily: [DailyMetricsDTO]
    /// Weighted by calls (see `DailyCounts.combine`).
    let totals: DailyMetricsDTO
    /// Where the agents' time went and how they answered offers, by day (a team: its assigned agents, summed).
    var people: PeopleSeriesDTO? = nil
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

enum ServiceLevelGrouping: String, CaseIterable, Sendable {
    case day
    case team
    case agent
}

/// One group's service level, read against the tenant's threshold and target.
struct ServiceLevelFiguresDTO: Encodable, Sendable {
    let offered: Int
    let answered: Int
    let answeredWithinThreshold: Int
    let abandoned: Int
    /// Percent of offered calls answered within the threshold; null when nothing was offered.
    let serviceLevel: Double?
    let abandonRate: Double?
    let averageSpeedOfAnswerSeconds: Double?
    let p90WaitSeconds: Int?
    let meetsTarget: Bool?

    init(_ counts: WaitCounts, _ target: ServiceLevelTarget) {
        offered = counts.offered
        answered = counts.answered
        answeredWithinThreshold = counts.answered(within: target.thresholdSeconds)
        abandoned = counts.abandoned
        serviceLevel = counts.serviceLevelPercent(thresholdSeconds: target.thresholdSeconds)
        abandonRate = counts.abandonRatePercent
        averageSpeedOfAnswerSeconds = counts.averageSpeedOfAnswerSeconds
        p90WaitSeconds = counts.waitPercentile(0.9)
        meetsTarget = serviceLevel.map { $0 >= target.targetPercent }
    }

    private enum CodingKeys: String, CodingKey {
        case offered, answered, answeredWithinThreshold, abandoned, serviceLevel, abandonRate
        case averageSpeedOfAnswerSeconds, p90WaitSeconds, meetsTarget
    }

    /// Figures with nothing behind them are written as null, not left out.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(offered, forKey: .offered)
        try container.encode(answered, forKey: .answered)
        try container.encode(answeredWithinThreshold, forKey: .answeredWithinThreshold)
        try container.encode(abandoned, forKey: .abandoned)
        try container.encode(serviceLevel, forKey: .serviceLevel)
        try container.encode(abandonRate, forKey: .abandonRate)
        try container.encode(averageSpeedOfAnswerSeconds, forKey: .averageSpeedOfAnswerSeconds)
        try container.encode(p90WaitSeconds, forKey: .p90WaitSeconds)
        try container.encode(meetsTarget, forKey: .meetsTarget)
    }
}

struct ServiceLevelGroupDTO: Encodable, Sendable {
    /// The day (`group_by=day`), or the team's or agent's id and name.
    let date: String?
    let teamId: UUID?
    let agentId: UUID?
    let name: String?
    let figures: ServiceLevelFiguresDTO

    private enum CodingKeys: String, CodingKey { case date, teamId, agentId, name }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(date, forKey: .date)
        try container.encodeIfPresent(teamId, forKey: .teamId)
        try container.encodeIfPresent(agentId, forKey: .agentId)
        if teamId != nil || agentId != nil { try container.encode(name, forKey: .name) }
        try figures.encode(to: encoder)
    }
}

struct ServiceLevelReportDTO: Encodable, Sendable {
    let from: String
    let to: String
    let groupBy: String
    let teamId: UUID?
    let agentId: UUID?
    /// The team's or agent's name, with `team_id` or `agent_id`.
    let name: String?
    let thresholdSeconds: Int
    let targetPercent: Double
    /// The groups below added up.
    let totals: ServiceLevelFiguresDTO
    let groups: [ServiceLevelGroupDTO]
}
