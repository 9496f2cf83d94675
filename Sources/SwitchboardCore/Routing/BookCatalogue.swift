import Foundation
import SQLKit

/// What a tenant's book is built from: its agents, teams and active assignments, and, for the learning
/// strategy, its agents' completed calls over the learning window.
struct BookCatalogue: Sendable {
    let agents: [BookAgentRow]
    /// Team id → sector.
    let teams: [UUID: String]
    let assignments: [(agentId: UUID, teamId: UUID)]
    let successHistory: [UUID: SuccessHistory]
    /// The same per capability the calls asked for (issue 25, §3).
    var capabilityHistory: [UUID: [String: SuccessHistory]] = [:]

    static func read(_ clientId: String, withHistory: Bool, on db: any SQLDatabase) async throws -> BookCatalogue {
        let scope = TenantScope(clientId: clientId)
        let agents = try await scope.select(from: SectorAgent.schema, on: db)
            .columns(["id", "sector", "status", "presence", "priority", "capabilities", "capability_levels", "max_concurrent",
                      "current_load", "success_rate", "avg_handling_time", "wrap_up_seconds", "last_call_ended_at", "created_at"]
                     + ChannelNumbers.loadColumns + ChannelNumbers.capacityColumns)
            .all()
            .map { row in
                BookAgentRow(
                    id: try row.decode("id"), sector: try row.decode("sector"),
                    isActive: try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue,
                    priority: try row.decode("priority"), capabilities: try row.decode("capabilities"),
                    capabilityLevels: SkillLevel.read(try row.decode(column: "capability_levels", as: String?.self)),
                    maxConcurrent: try row.decode("max_concurrent"), load: try row.decode("current_load"),
                    successRate: try row.decode("success_rate"), avgHandlingTime: try row.decode("avg_handling_time"),
                    channelCapacity: try ChannelNumbers(capacityFrom: row), channelLoads: try ChannelNumbers(loadsFrom: row),
                    isAvailable: try row.decode(column: "presence", as: String.self) == AgentPresence.available.rawValue,
                    wrapUpSeconds: try row.decode(column: "wrap_up_seconds", as: Int?.self),
                    idleSince: try row.decode(column: "last_call_ended_at", as: Date?.self)
                        ?? row.decode(column: "created_at", as: Date?.self) ?? Date(timeIntervalSince1970: 0))
            }
        var teams: [UUID: String] = [:]
        for row in try await scope.select(from: Team.schema, on: db).columns("id", "sector").all() {
            teams[try row.decode("id")] = try row.decode("sector")
        }
        let activeMembers = Set(try await scope.select(from: TeamMember.schema, on: db).column("id")
            .where("status", .equal, ActiveStatus.active.rawValue).all()
            .map { try $0.decode(column: "id", as: UUID.self) })
        let assignments = try await scope.select(from: TeamAgentAssignment.schema, on: db)
            .columns("agent_id", "team_id", "member_id").all()
            .compactMap { row -> (agentId: UUID, teamId: UUID)? in
                guard activeMembers.contains(try row.decode(column: "member_id", as: UUID.self)) else { return nil }
                return (try row.decode("agent_id"), try row.decode("team_id"))
            }
        guard withHistory else {
            return BookCatalogue(agents: agents, teams: teams, assignments: assignments, successHistory: [:])
        }
        let since = Day(containing: Date()).adding(days: 1 - RoutingPolicy.learningWindowDays)
        let history = try await successHistory(clientId, since: since, on: db)
        return BookCatalogue(agents: agents, teams: teams, assignments: assignments, successHistory: history.overall,
                             capabilityHistory: history.byCapability)
    }

    /// The agents' completed calls and successes from `since` to today, overall and per capability asked for: those
    /// the daily rows count, and those no aggregation has counted yet (the learning router learns from every
    /// outcome, not only aggregated ones). One statement, so one snapshot on both databases: read as three, an
    /// aggregation committing between the read of the uncounted calls and that of the daily rows counted its calls
    /// twice until the next load (on PostgreSQL, where the read takes no lock; seen in CI on a shared database).
    /// The uncounted part walks `idx_calls_uncounted`, which holds only the completions the aggregator has yet to
    /// count; it is grouped by what the calls asked for too (few distinct lists), each list split here.
    static func successHistory(_ clientId: String, since: Day, on db: any SQLDatabase) async throws
        -> (overall: [UUID: SuccessHistory], byCapability: [UUID: [String: SuccessHistory]]) {
        let scope = TenantScope(clientId: clientId)
        func part(_ source: HistorySource, from table: String, _ shape: (SQLSelectBuilder) -> SQLSelectBuilder) -> SQLSelect {
            shape(scope.select(from: table, on: db).column(SQLLiteral.string(source.rawValue), as: "source").column("agent_id")).select
        }
        let summed = { (column: String) in SQLRaw("CAST(SUM(\(column)) AS BIGINT)") }
        let uncounted = part(.uncounted, from: Call.schema) {
            $0.column("capabilities").column("required_capabilities").column(SQLLiteral.null, as: "capability")
                .column(SQLRaw("CAST(COUNT(*) AS BIGINT)"), as: "calls")
                .column(SQLRaw("CAST(SUM(CASE WHEN outcome = '\(CallOutcome.successful.rawValue)' THEN 1 ELSE 0 END) AS BIGINT)"),
                        as: "successes")
                .where(SQLRaw(Self.uncounted))
                .where("agent_id", .isNot, SQLLiteral.null)
                .where("call_day", .greaterThanOrEqual, since.description)
                .groupBy("agent_id").groupBy("capabilities").groupBy("required_capabilities")
        }
        let perCapability = part(.perCapability, from: CapabilityRollup.schema) {
            $0.column(SQLLiteral.null, as: "capabilities").column(SQLLiteral.null, as: "required_capabilities").column("capability")
                .column(summed("calls_handled"), as: "calls").column(summed("calls_successful"), as: "successes")
                .where("date", .greaterThanOrEqual, since.description)
                .groupBy("agent_id").groupBy("capability")
        }
        let daily = part(.daily, from: AgentDailyMetrics.schema) {
            $0.column(SQLLiteral.null, as: "capabilities").column(SQLLiteral.null, as: "required_capabilities")
                .column(SQLLiteral.null, as: "capability")
                .column(summed("calls_handled"), as: "calls").column(summed("calls_successful"), as: "successes")
                .where("date", .greaterThanOrEqual, since.description)
                .groupBy("agent_id")
        }
        let rows = try await SQLUnionBuilder(on: db, initialQuery: uncounted).union(all: perCapability).union(all: daily).all()
        var history: [UUID: SuccessHistory] = [:]
        var byCapability: [UUID: [String: SuccessHistory]] = [:]
        for row in rows {
            let agentId: UUID = try row.decode("agent_id")
            let calls = SuccessHistory(successes: try row.decode(column: "successes", as: Int?.self) ?? 0, calls: try row.decode("calls"))
            guard let source = HistorySource(rawValue: try row.decode("source")) else {
                throw AppError(.internalServerError, "a learning history row from no part of its statement")
            }
            switch source {
            case .uncounted:
                history[agentId] = (history[agentId] ?? .none) + calls
                let asked = CapabilityLearning.asked(capabilities: try row.decode("capabilities"),
                                                     required: try row.decode(column: "required_capabilities", as: [String]?.self) ?? [])
                for capability in asked {
                    byCapability[agentId, default: [:]][capability] = (byCapability[agentId]?[capability] ?? .none) + calls
                }
            case .perCapability:
                let capability: String = try row.decode("capability")
                byCapability[agentId, default: [:]][capability] = (byCapability[agentId]?[capability] ?? .none) + calls
            case .daily:
                history[agentId] = (history[agentId] ?? .none) + calls
            }
        }
        return (history, byCapability)
    }

    private enum HistorySource: String {
        case uncounted, perCapability = "capability", daily
    }

    /// Completed calls the aggregator has not counted: the predicate of `idx_calls_uncounted`, word for word, so
    /// that SQLite's planner matches the partial index.
    static let uncounted = "status = \(CallStatus.completed.sqlLiteral) AND NOT rolled_up"
}
