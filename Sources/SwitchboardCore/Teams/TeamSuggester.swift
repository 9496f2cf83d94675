import Foundation

/// Moves a manager could make, found in the daily rows: lend an agent with spare time to a team whose callers wait
/// too long (never one of another team that misses its own target), or take off a team the agent whose results
/// pulled the team's success rate down. Pure: no I/O.
enum TeamSuggester {
    struct TeamFacts: Sendable {
        let id: UUID
        let name: String
        let sector: String
        /// The member new assignments hang on: the team's active lead, else supervisor, else member.
        let assignee: UUID?
        /// Agents assigned to the team's active members.
        let agentIds: Set<UUID>
        /// The last 7 days (today included) and the 7 before.
        let week: DailyRollup.Figures
        let previousWeek: DailyRollup.Figures
        /// An agent was lent to the team through a suggestion within the last 7 days: the week's figures predate
        /// the help, so lending another on their strength would pile agents onto one team.
        var helpedThisWeek = false
    }

    struct AgentFacts: Sendable {
        let id: UUID
        let name: String
        let sector: String
        let active: Bool
        let maxConcurrent: Int
        /// The last 30 days, the last 7, and the 7 before.
        let month: DailyCounts
        let week: DailyCounts
        let previousWeek: DailyCounts
    }

    struct Context: Sendable {
        let target: ServiceLevelTarget
        /// Open hours in a week (`business.hours`), in seconds: what an agent's occupancy is measured against.
        let weeklyOpenSeconds: Double
    }

    enum Kind: String, Codable, Sendable {
        case assignAgent = "assign_agent"
        case unassignAgent = "unassign_agent"
    }

    struct Suggestion: Sendable, Equatable {
        let kind: Kind
        let teamId: UUID
        let teamName: String
        let agentId: UUID
        let agentName: String
        /// For `assign_agent`: the member the assignment is made under.
        let memberId: UUID?
        let summary: String
        let evidence: [String: Double]
        let expectedEffect: [String: Double]
        let effectSummary: String

        var id: String { "\(kind.rawValue).\(teamId.text.lowercased()).\(agentId.text.lowercased())" }
    }

    /// A team needs help when at least this many calls were offered in the week and it missed its target.
    static let minimumOfferedCalls = 10
    /// An agent can help when busy less than this share of open hours, with this many calls in 30 days.
    static let spareOccupancy = 0.5
    static let minimumAgentCalls = 10
    /// A drop worth a look: this many points week over week, with this many calls in each week.
    static let significantDropPoints = 10.0
    static let minimumWeeklyCalls = 20
    /// An agent drives a drop when its own rate fell this many points, over this many calls in each week.
    static let driverDropPoints = 15.0
    static let minimumDriverCalls = 10

    static func suggestions(teams: [TeamFacts], agents: [AgentFacts], context: Context) -> [Suggestion] {
        let agentsById = Dictionary(uniqueKeysWithValues: agents.map { ($0.id, $0) })
        return assignments(teams: teams, agents: agents, agentsById: agentsById, context: context)
            + removals(teams: teams, agentsById: agentsById)
    }

    /// Occupancy: the agent's handling time over the week against its capacity in open hours.
    static func occupancy(_ agent: AgentFacts, context: Context) -> Double? {
        guard context.weeklyOpenSeconds > 0 else { return nil }
        let busy = agent.week.avgHandlingTime * Double(agent.week.callsHandled)
        return busy / (context.weeklyOpenSeconds * Double(agent.maxConcurrent))
    }

    private static func assignments(teams: [TeamFacts], agents: [AgentFacts], agentsById: [UUID: AgentFacts],
                                    context: Context) -> [Suggestion] {
        let threshold = context.target.thresholdSeconds
        let pressured = teams.compactMap { team -> (TeamFacts, Double)? in
            guard team.assignee != nil, !team.helpedThisWeek, team.week.waits.offered >= minimumOfferedCalls,
                  let level = team.week.waits.serviceLevelPercent(thresholdSeconds: threshold),
                  level < context.target.targetPercent else { return nil }
            return (team, level)
        }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0.id < $1.0.id }  // the worst first
        // An agent of a team that misses its own target is not lent to another.
        var lent = Set(pressured.flatMap(\.0.agentIds))
        var found: [Suggestion] = []
        for (team, level) in pressured {
            let teamRate = team.week.counts.callsHandled > 0 ? team.week.counts.successRate : 0
            let candidates = agents.compactMap { agent -> (AgentFacts, Double)? in
                guard agent.active, agent.sector == team.sector, !team.agentIds.contains(agent.id), !lent.contains(agent.id),
                      agent.month.callsHandled >= minimumAgentCalls, agent.month.successRate >= teamRate,
                      let busy = occupancy(agent, context: context), busy < spareOccupancy else { return nil }
                return (agent, busy)
            }.sorted { lhs, rhs in
                if lhs.0.month.successRate != rhs.0.month.successRate { return lhs.0.month.successRate > rhs.0.month.successRate }
                if lhs.1 != rhs.1 { return lhs.1 < rhs.1 }
                return lhs.0.id < rhs.0.id
            }
            guard let (agent, busy) = candidates.first else { continue }
            lent.insert(agent.id)
            let p90 = team.week.waits.waitPercentile(0.9) ?? 0
            let capacityBefore = team.agentIds.compactMap { agentsById[$0] }.filter(\.active).reduce(0) { $0 + $1.maxConcurrent }
            let capacityAfter = capacityBefore + agent.maxConcurrent
            // The team's calls would be shared over the larger pool in proportion to capacity.
            let share = Double(agent.maxConcurrent) / Double(max(capacityAfter, 1))
            let expectedRate = teamRate * (1 - share) + agent.month.successRate * share
            found.append(Suggestion(
                kind: .assignAgent, teamId: team.id, teamName: team.name, agentId: agent.id, agentName: agent.name,
                memberId: team.assignee,
                summary: "Assign \(agent.name) to \(team.name): \(team.name) answered \(percent(level)) of its calls "
                    + "within \(threshold) s over 7 days (target \(percent(context.target.targetPercent))), its 90th-percentile "
                    + "wait was \(p90) s; \(agent.name) was busy \(percent(busy * 100)) of open hours, and succeeded on "
                    + "\(percent(agent.month.successRate * 100)) of \(agent.month.callsHandled) calls in the \(team.sector) "
                    + "sector over 30 days.",
                evidence: [
                    "team_service_level": level, "team_target_percent": context.target.targetPercent,
                    "team_p90_wait_seconds": Double(p90), "team_offered": Double(team.week.waits.offered),
                    "team_abandoned": Double(team.week.waits.abandoned), "team_success_rate": teamRate,
                    "agent_occupancy": busy, "agent_success_rate": agent.month.successRate,
                    "agent_calls": Double(agent.month.callsHandled),
                ],
                expectedEffect: [
                    "pool_capacity_before": Double(capacityBefore), "pool_capacity_after": Double(capacityAfter),
                    "team_success_rate_expected": expectedRate,
                ],
                effectSummary: "\(team.name)'s pool grows from \(capacityBefore) to \(capacityAfter) concurrent calls; "
                    + "sharing its calls by capacity, its success rate would move from \(percent(teamRate * 100)) to "
                    + "\(percent(expectedRate * 100)) (estimated from the daily rows)."
            ))
        }
        return found
    }

    private static func removals(teams: [TeamFacts], agentsById: [UUID: AgentFacts]) -> [Suggestion] {
        var found: [Suggestion] = []
        for team in teams.sorted(by: { $0.id < $1.id }) {
            let now = team.week.counts, before = team.previousWeek.counts
            guard now.callsHandled >= minimumWeeklyCalls, before.callsHandled >= minimumWeeklyCalls else { continue }
            let drop = (before.successRate - now.successRate) * 100
            guard drop >= significantDropPoints else { continue }
            let drivers = team.agentIds.compactMap { agentsById[$0] }.compactMap { agent -> (AgentFacts, Double)? in
                guard agent.week.callsHandled >= minimumDriverCalls, agent.previousWeek.callsHandled >= minimumDriverCalls else { return nil }
                let agentDrop = (agent.previousWeek.successRate - agent.week.successRate) * 100
                guard agentDrop >= driverDropPoints, agent.week.successRate < now.successRate else { return nil }
                return (agent, agentDrop * Double(agent.week.callsHandled))
            }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.id < $1.0.id }
            guard let (agent, _) = drivers.first else { continue }
            // The agent's calls are not all the team's; the estimate takes them off the team's week all the same.
            let remaining = max(0, now.callsHandled - agent.week.callsHandled)
            let without = remaining == 0 ? now.successRate
                : Double(max(0, now.callsSuccessful - agent.week.callsSuccessful)) / Double(remaining)
            found.append(Suggestion(
                kind: .unassignAgent, teamId: team.id, teamName: team.name, agentId: agent.id, agentName: agent.name,
                memberId: nil,
                summary: "Take \(agent.name) off \(team.name): the team's success rate fell \(points(drop)) points week "
                    + "over week (\(percent(before.successRate * 100)) to \(percent(now.successRate * 100))), driven by "
                    + "\(agent.name), whose own rate fell from \(percent(agent.previousWeek.successRate * 100)) to "
                    + "\(percent(agent.week.successRate * 100)) over \(agent.week.callsHandled) calls.",
                evidence: [
                    "team_success_rate": now.successRate, "team_success_rate_previous_week": before.successRate,
                    "team_calls": Double(now.callsHandled), "agent_success_rate": agent.week.successRate,
                    "agent_success_rate_previous_week": agent.previousWeek.successRate,
                    "agent_calls": Double(agent.week.callsHandled),
                ],
                expectedEffect: ["team_success_rate_expected": without],
                effectSummary: "Without \(agent.name)'s calls, last week's success rate would have been "
                    + "\(percent(without * 100)) (estimated from the daily rows)."
            ))
        }
        return found
    }

    private static func percent(_ value: Double) -> String { String(format: "%.0f %%", value) }
    private static func points(_ value: Double) -> String { String(format: "%.0f", value) }

    /// Seconds the tenant is open in a week, from `business.hours`.
    static func weeklyOpenSeconds(_ hours: JSONValue) -> Double {
        var total = 0.0
        for day in SettingsSchema.weekdays {
            guard let span = hours.objectValue?[day]?.objectValue, let open = span["open"]?.stringValue, let close = span["close"]?.stringValue,
                  let from = SettingsSchema.minutes(open), let to = SettingsSchema.minutes(close), to > from else { continue }
            total += Double(to - from) * 60
        }
        return total
    }
}
