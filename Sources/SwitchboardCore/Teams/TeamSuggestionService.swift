import FluentKit
import Foundation
import SQLKit
import Vapor

/// `GET /api/teams/suggestions` and their application: the facts are read from the catalogue and the daily rows
/// (never from calls), and `TeamSuggester` decides.
struct TeamSuggestionService: Sendable {
    let store: Store
    let tenant: Tenant
    let book: LoadBook

    private var scope: TenantScope { tenant.scope }

    func suggestions(today: Day = Day(containing: Date())) async throws -> [TeamSuggester.Suggestion] {
        let settings = try await SettingsService.effectiveSettings(scope: scope, on: store.db)
        let context = TeamSuggester.Context(
            target: SettingsSchema.serviceLevelTarget(from: settings),
            weeklyOpenSeconds: TeamSuggester.weeklyOpenSeconds(settings["business.hours"] ?? .null))
        let weekStart = today.adding(days: -6), previousStart = today.adding(days: -13), monthStart = today.adding(days: -29)

        let teams = try await scope.query(Team.self, on: store.db).filter(\.$status == .active).all()
        let members = try await scope.query(TeamMember.self, on: store.db).filter(\.$status == .active).all()
        let activeMembers = Set(members.map { $0.id! })
        let assignments = try await scope.query(TeamAgentAssignment.self, on: store.db).all()
            .filter { activeMembers.contains($0.$member.id) }
        let teamRows = try await dailyRows(.team, from: previousStart, to: today)
        let helped = Set(try await scope.query(AuditLogEntry.self, on: store.db)
            .filter(\.$action == "suggestion.apply.\(TeamSuggester.Kind.assignAgent.rawValue)")
            .filter(\.$createdAt >= Date().addingTimeInterval(-7 * 86_400))
            .all().map(\.entityId))

        var teamFacts: [TeamSuggester.TeamFacts] = []
        for team in teams {
            let rows = teamRows[team.id!] ?? []
            let rank: [MemberRole: Int] = [.lead: 0, .supervisor: 1, .member: 2]
            let assignee = members.filter { $0.$team.id == team.id }
                .min { (rank[$0.role] ?? 3, $0.email) < (rank[$1.role] ?? 3, $1.email) }?.id
            teamFacts.append(TeamSuggester.TeamFacts(
                id: team.id!, name: team.name, sector: team.sector, assignee: assignee,
                agentIds: Set(assignments.filter { $0.$team.id == team.id }.map { $0.$agent.id }),
                week: .combine(rows.filter { $0.day >= weekStart.description }.map(\.figures)),
                previousWeek: .combine(rows.filter { $0.day < weekStart.description }.map(\.figures)),
                helpedThisWeek: helped.contains(team.id!.text)))
        }

        // Only the agents a suggestion could name: those of the teams' sectors.
        let sectors = Array(Set(teams.map(\.sector)))
        let agents = sectors.isEmpty ? [] : try await scope.query(SectorAgent.self, on: store.db).filter(\.$sector ~~ sectors).all()
        let agentRows = try await dailyRows(.agent, from: monthStart, to: today, subjects: agents.map { $0.id! })
        let agentFacts = agents.map { agent in
            let rows = agentRows[agent.id!] ?? []
            return TeamSuggester.AgentFacts(
                id: agent.id!, name: agent.name, sector: agent.sector, active: agent.status == .active,
                maxConcurrent: agent.maxConcurrent,
                month: .combine(rows.map(\.figures.counts)),
                week: .combine(rows.filter { $0.day >= weekStart.description }.map(\.figures.counts)),
                previousWeek: .combine(rows.filter { $0.day >= previousStart.description && $0.day < weekStart.description }
                    .map(\.figures.counts)))
        }
        return TeamSuggester.suggestions(teams: teamFacts, agents: agentFacts, context: context)
    }

    /// For a lent agent, the what-if simulator's replay of the team's week (nil for other kinds, or when there is
    /// nothing to replay: the daily rows' estimate stands).
    func simulatedEffect(of suggestion: TeamSuggester.Suggestion, in app: Application,
                         today: Day = Day(containing: Date())) async -> SuggestionEffects.Effect? {
        guard suggestion.kind == .assignAgent else { return nil }
        do {
            return try await app.suggestionEffects.effect(of: suggestion, tenant: tenant, store: store, today: today)
        } catch {
            app.logger.warning("could not simulate a suggestion's effect", metadata: ["error": "\(error)"])
            return nil
        }
    }

    private struct DayRow {
        let day: String
        let figures: DailyRollup.Figures
    }

    private func dailyRows(_ subject: DailyRollup.Subject, from: Day, to: Day,
                           subjects: [UUID]? = nil) async throws -> [UUID: [DayRow]] {
        var byId: [UUID: [DayRow]] = [:]
        let batches: [[UUID]?] = subjects.map { ids in
            stride(from: 0, to: ids.count, by: DailyRollup.batchSize).map { Array(ids[$0..<min($0 + DailyRollup.batchSize, ids.count)]) }
        } ?? [nil]
        for batch in batches {
            var query = scope.select(from: subject.table, on: store.db)
                .column(SQLAlias(SQLColumn(subject.rawValue), as: SQLIdentifier("subject_id")))
                .columns(["date"] + DailyRollup.figureColumns)
                .where("date", .greaterThanOrEqual, from.description).where("date", .lessThanOrEqual, to.description)
            if let batch { query = query.where(SQLIdentifier(subject.rawValue), .in, batch) }
            for row in try await query.all() {
                let figures = DailyRollup.Figures(counts: try DailyRollup.decodeCounts(row),
                                                  waits: try ServiceLevelRollup.decodeWaits(row))
                byId[try row.decode("subject_id"), default: []].append(DayRow(day: try row.decode("date"), figures: figures))
            }
        }
        return byId
    }

    /// Performs a suggestion that still holds (the figures are read again), in one audited transaction.
    func apply(_ suggestionId: String) async throws -> TeamSuggester.Suggestion {
        // `<kind>.<team id>.<agent id>`: another tenant's team reads as not found, like any other id.
        let parts = suggestionId.split(separator: ".")
        guard parts.count == 3, TeamSuggester.Kind(rawValue: String(parts[0])) != nil,
              let teamId = UUID(text: String(parts[1])), UUID(text: String(parts[2])) != nil else {
            throw AppError.badRequest("a suggestion id has the form <kind>.<team id>.<agent id>, as listed by GET /api/teams/suggestions")
        }
        _ = try await scope.find(Team.self, teamId, on: store.db)
        guard let suggestion = try await suggestions().first(where: { $0.id == suggestionId.lowercased() }) else {
            throw AppError.conflict("this suggestion does not hold any more (the figures or the teams changed); list the suggestions again")
        }
        let tenant = self.tenant
        try await store.write { db in
            let sql = db as! any SQLDatabase
            switch suggestion.kind {
            case .assignAgent:
                guard let memberId = suggestion.memberId else { throw AppError.conflict("the team has no active member") }
                try await sql.insert(into: TeamAgentAssignment.schema)
                    .columns("id", "client_id", "team_id", "member_id", "agent_id", "created_at")
                    .values(SQLBind(UUID()), SQLBind(tenant.clientId), SQLBind(suggestion.teamId), SQLBind(memberId),
                            SQLBind(suggestion.agentId), SQLBind(Date()))
                    .ignoringConflicts(with: ["member_id", "agent_id"])
                    .run()
                try await AuditLog.record("assignment.create", "member", id: memberId, by: tenant, on: db)
                try await EventOutbox.append([EventPayload.team(suggestion.teamId, "agent_assigned", member: memberId,
                                                                agent: suggestion.agentId)], clientId: tenant.clientId, on: db)
            case .unassignAgent:
                let removed = try await sql.delete(from: TeamAgentAssignment.schema)
                    .where("client_id", .equal, tenant.clientId).where("team_id", .equal, suggestion.teamId)
                    .where("agent_id", .equal, suggestion.agentId)
                    .returning("member_id").all()
                for row in removed {
                    let memberId: UUID = try row.decode("member_id")
                    try await AuditLog.record("assignment.delete", "member", id: memberId, by: tenant, on: db)
                    try await EventOutbox.append([EventPayload.team(suggestion.teamId, "agent_unassigned", member: memberId,
                                                                    agent: suggestion.agentId)], clientId: tenant.clientId, on: db)
                }
            }
            try await AuditLog.record("suggestion.apply.\(suggestion.kind.rawValue)", "team", id: suggestion.teamId, by: tenant, on: db)
        }
        await book.invalidate(tenant.clientId)
        return suggestion
    }
}

struct TeamSuggestionDTO: Encodable, Sendable {
    let id: String
    let kind: String
    let teamId: UUID
    let teamName: String
    let agentId: UUID
    let agentName: String
    let memberId: UUID?
    let summary: String
    let evidence: [String: Double]
    let expectedEffect: ExpectedEffect

    struct ExpectedEffect: Encodable, Sendable {
        /// Where the estimate comes from: `simulator` (a replay of the team's week) or `daily_rows`.
        let source: String
        let summary: String
        let figures: [String: Double]
    }

    init(_ suggestion: TeamSuggester.Suggestion, simulated: SuggestionEffects.Effect? = nil) {
        id = suggestion.id
        kind = suggestion.kind.rawValue
        teamId = suggestion.teamId
        teamName = suggestion.teamName
        agentId = suggestion.agentId
        agentName = suggestion.agentName
        memberId = suggestion.memberId
        summary = suggestion.summary
        evidence = suggestion.evidence
        if let simulated {
            expectedEffect = ExpectedEffect(source: "simulator", summary: simulated.summary,
                                            figures: suggestion.expectedEffect.merging(simulated.figures) { $1 })
        } else {
            expectedEffect = ExpectedEffect(source: "daily_rows", summary: suggestion.effectSummary, figures: suggestion.expectedEffect)
        }
    }
}
