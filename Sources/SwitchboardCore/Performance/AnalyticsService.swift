import FluentKit
import SQLKit
import Foundation

/// Reads over the aggregator's daily rows, always within the tenant.
struct AnalyticsService: Sendable {
    let store: Store
    let tenant: Tenant

    private var scope: TenantScope { tenant.scope }

    func agentSeries(_ agentId: UUID, in range: DayRange) async throws -> MetricSeriesDTO {
        _ = try await scope.find(SectorAgent.self, agentId, on: store.db)
        let rows = try await scope.query(AgentDailyMetrics.self, on: store.db)
            .filter(\.$agentId == agentId)
            .filter(\.$date >= range.from.description).filter(\.$date <= range.to.description)
            .sort(\.$date).all()
        var result = series(agentId, range, rows.map { ($0.date, DailyCounts($0)) })
        result.people = try await PeopleMetricsReader(clientId: tenant.clientId, db: store.sql).series(of: [agentId], in: range)
        return result
    }

    func teamSeries(_ teamId: UUID, in range: DayRange) async throws -> MetricSeriesDTO {
        _ = try await scope.find(Team.self, teamId, on: store.db)
        let rows = try await teamRows([teamId], in: range)
        var result = series(teamId, range, rows.map { ($0.date, DailyCounts($0)) })
        let agentIds = try await scope.query(TeamAgentAssignment.self, on: store.db).filter(\.$team.$id == teamId).all()
            .map(\.$agent.id)
        result.people = try await PeopleMetricsReader(clientId: tenant.clientId, db: store.sql)
            .series(of: Array(Set(agentIds)).sorted(), in: range)
        return result
    }

    func compareTeams(_ teamIds: [UUID], in range: DayRange) async throws -> [TeamComparisonDTO] {
        var teams: [Team] = []
        for teamId in teamIds { teams.append(try await scope.find(Team.self, teamId, on: store.db)) }
        let rowsByTeam = Dictionary(grouping: try await teamRows(teamIds, in: range), by: \.teamId)
        return teams.map { team in
            TeamComparisonDTO(
                teamId: team.id!, name: team.name, sector: team.sector,
                totals: DailyMetricsDTO(date: nil, .combine((rowsByTeam[team.id!] ?? []).map(DailyCounts.init)))
            )
        }
    }

    func topAgents(by metric: RankingMetric, limit: Int, minimumCalls: Int, in range: DayRange) async throws -> [TopAgentDTO] {
        let rows = try await scope.query(AgentDailyMetrics.self, on: store.db)
            .filter(\.$date >= range.from.description).filter(\.$date <= range.to.description).all()
        let totals = Dictionary(grouping: rows, by: \.agentId).mapValues { DailyCounts.combine($0.map(DailyCounts.init)) }
            .filter { $0.value.callsHandled >= minimumCalls && metric.value(of: $0.value) != nil }
        let agents = try await scope.query(SectorAgent.self, on: store.db).filter(\.$id ~~ Array(totals.keys)).all()
        let ranked = agents.compactMap { agent -> (SectorAgent, DailyCounts)? in
            totals[agent.id!].map { (agent, $0) }
        }.sorted { lhs, rhs in
            let (a, b) = (metric.value(of: lhs.1)!, metric.value(of: rhs.1)!)
            if a != b { return metric.ascending ? a < b : a > b }
            if lhs.1.callsHandled != rhs.1.callsHandled { return lhs.1.callsHandled > rhs.1.callsHandled }
            return lhs.0.id! < rhs.0.id!
        }
        return ranked.prefix(limit).map { agent, counts in
            TopAgentDTO(agentId: agent.id!, name: agent.name, sector: agent.sector, metric: metric.rawValue,
                        value: metric.value(of: counts), callsHandled: counts.callsHandled)
        }
    }

    /// The service level of the range by day, team or agent, read against the tenant's current threshold and
    /// target. With `subject` (a team or an agent), the days are that subject's.
    func serviceLevel(groupedBy grouping: ServiceLevelGrouping, subject: (kind: DailyRollup.Subject, id: UUID)?,
                      in range: DayRange) async throws -> ServiceLevelReportDTO {
        let target = SettingsSchema.serviceLevelTarget(
            from: try await SettingsService.effectiveSettings(scope: scope, on: store.db))
        var subjectName: String?
        switch subject?.kind {
        case .team?: subjectName = try await scope.find(Team.self, subject!.id, on: store.db).name
        case .agent?: subjectName = try await scope.find(SectorAgent.self, subject!.id, on: store.db).name
        case nil: break
        }
        // The rows to read: the tenant's days, or a team's or an agent's daily rows.
        let source: DailyRollup.Subject? = switch grouping {
        case .day: subject?.kind
        case .team: .team
        case .agent: .agent
        }
        var query = scope.select(from: source?.table ?? ServiceLevelRollup.table, on: store.db)
            .columns("date", "answered", "abandoned", "total_wait_seconds", "wait_histogram")
            .where("date", .greaterThanOrEqual, range.from.description)
            .where("date", .lessThanOrEqual, range.to.description)
        if let source { query = query.column(SQLAlias(SQLColumn(source.rawValue), as: SQLIdentifier("subject_id"))) }
        if let subject { query = query.where(SQLIdentifier(subject.kind.rawValue), .equal, subject.id) }
        var byGroup: [String: WaitCounts] = [:]
        for row in try await query.all() {
            let waits = try ServiceLevelRollup.decodeWaits(row)
            guard waits.offered > 0 else { continue }  // a day of completions only, with no wait counted yet
            let group: String = grouping == .day ? try row.decode("date") : (try row.decode(column: "subject_id", as: UUID.self)).text
            byGroup[group, default: .zero].add(waits)
        }
        var names: [UUID: String] = [:]
        let ids = byGroup.keys.compactMap(UUID.init(text:))
        if grouping == .team {
            for team in try await scope.query(Team.self, on: store.db).filter(\.$id ~~ ids).all() { names[team.id!] = team.name }
        } else if grouping == .agent {
            for agent in try await scope.query(SectorAgent.self, on: store.db).filter(\.$id ~~ ids).all() { names[agent.id!] = agent.name }
        }
        let groups = byGroup.map { key, counts -> ServiceLevelGroupDTO in
            let id = UUID(text: key)
            return ServiceLevelGroupDTO(
                date: grouping == .day ? key : nil,
                teamId: grouping == .team ? id : nil,
                agentId: grouping == .agent ? id : nil,
                name: grouping == .day ? nil : id.flatMap { names[$0] },
                figures: ServiceLevelFiguresDTO(counts, target))
        }.sorted { lhs, rhs in
            if let a = lhs.date, let b = rhs.date { return a < b }
            let (a, b) = (lhs.name ?? "", rhs.name ?? "")
            return a != b ? a < b : (lhs.teamId ?? lhs.agentId)! < (rhs.teamId ?? rhs.agentId)!
        }
        return ServiceLevelReportDTO(
            from: range.from.description, to: range.to.description, groupBy: grouping.rawValue,
            teamId: subject?.kind == .team ? subject?.id : nil, agentId: subject?.kind == .agent ? subject?.id : nil,
            name: subjectName, thresholdSeconds: target.thresholdSeconds, targetPercent: target.targetPercent,
            totals: ServiceLevelFiguresDTO(.combine(byGroup.values), target), groups: groups)
    }

    private func teamRows(_ teamIds: [UUID], in range: DayRange) async throws -> [TeamPerformance] {
        try await scope.query(TeamPerformance.self, on: store.db)
            .filter(\.$teamId ~~ teamIds)
            .filter(\.$date >= range.from.description).filter(\.$date <= range.to.description)
            .sort(\.$date).all()
    }

    private func series(_ subjectId: UUID, _ range: DayRange, _ days: [(String, DailyCounts)]) -> MetricSeriesDTO {
        MetricSeriesDTO(
            subjectId: subjectId, from: range.from.description, to: range.to.description,
            daily: days.map { DailyMetricsDTO(date: $0.0, $0.1) },
            totals: DailyMetricsDTO(date: nil, .combine(days.map(\.1)))
        )
    }
}
