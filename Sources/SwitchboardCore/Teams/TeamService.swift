import FluentKit
import Foundation
import SQLKit

/// Teams, their members and the agents assigned to each member. Every write runs in one transaction
/// with its audit row and invalidates the tenant's routing pools.
struct TeamService: Sendable {
    let store: Store
    let tenant: Tenant
    let book: LoadBook

    private var scope: TenantScope { tenant.scope }

    // MARK: Reads

    func list(sector: String?, status: ActiveStatus?, page: Page) async throws -> (teams: [TeamSummaryDTO], total: Int) {
        var query = scope.query(Team.self, on: store.db)
        if let sector { query = query.filter(\.$sector == sector.lowercased()) }
        if let status { query = query.filter(\.$status == status) }
        let total = try await query.copy().count()
        let teams = try await query.sort(\.$name).sort(\.$id).range(page.offset..<(page.offset + page.limit)).all()
        let ids = teams.compactMap(\.id)
        let memberCounts = try await countsByTeam(TeamMember.schema, counting: "COUNT(*)", teams: ids)
        let agentCounts = try await countsByTeam(TeamAgentAssignment.schema, counting: "COUNT(DISTINCT agent_id)", teams: ids)
        let summaries = teams.map {
            TeamSummaryDTO(team: TeamDTO($0), memberCount: memberCounts[$0.id!] ?? 0, agentCount: agentCounts[$0.id!] ?? 0)
        }
        return (summaries, total)
    }

    /// Per-team counts with one GROUP BY, rather than loading every member and assignment row.
    private func countsByTeam(_ table: String, counting aggregate: String, teams: [UUID]) async throws -> [UUID: Int] {
        guard !teams.isEmpty else { return [:] }
        let rows = try await scope.select(from: table, on: store.db)
            .column("team_id").column(SQLRaw(aggregate), as: "n")
            .where("team_id", .in, teams).groupBy("team_id").all()
        var counts: [UUID: Int] = [:]
        for row in rows { counts[try row.decode("team_id")] = try row.decode("n") }
        return counts
    }

    func detail(_ teamId: UUID) async throws -> TeamDetailDTO {
        let team = try await scope.find(Team.self, teamId, on: store.db)
        let range = DayRange(from: Day(containing: Date()).adding(days: -29), to: Day(containing: Date()))
        return TeamDetailDTO(
            team: TeamDTO(team),
            members: try await membersWithAgents(of: teamId, on: store.db),
            performance: try await performanceRows(of: teamId, in: range)
        )
    }

    func members(of teamId: UUID) async throws -> [MemberDTO] {
        _ = try await scope.find(Team.self, teamId, on: store.db)
        return try await membersWithAgents(of: teamId, on: store.db)
    }

    func performance(of teamId: UUID, in range: DayRange) async throws -> [DailyMetricsDTO] {
        _ = try await scope.find(Team.self, teamId, on: store.db)
        return try await performanceRows(of: teamId, in: range)
    }

    private func performanceRows(of teamId: UUID, in range: DayRange) async throws -> [DailyMetricsDTO] {
        try await scope.query(TeamPerformance.self, on: store.db)
            .filter(\.$teamId == teamId)
            .filter(\.$date >= range.from.description)
            .filter(\.$date <= range.to.description)
            .sort(\.$date)
            .all()
            .map(DailyMetricsDTO.init)
    }

    private func membersWithAgents(of teamId: UUID, memberId: UUID? = nil, on db: any Database) async throws -> [MemberDTO] {
        var memberQuery = scope.query(TeamMember.self, on: db).filter(\.$team.$id == teamId)
        var assignmentQuery = scope.query(TeamAgentAssignment.self, on: db).filter(\.$team.$id == teamId)
        if let memberId {
            memberQuery = memberQuery.filter(\.$id == memberId)
            assignmentQuery = assignmentQuery.filter(\.$member.$id == memberId)
        }
        let members = try await memberQuery.sort(\.$name).sort(\.$id).all()
        let assignments = try await assignmentQuery.all()
        let agentIds = Array(Set(assignments.map(\.$agent.id)))
        let agents = try await scope.query(SectorAgent.self, on: db).filter(\.$id ~~ agentIds).all()
        let offers = try await PendingOffers.count(of: tenant.clientId, agents: agentIds, on: db as! any SQLDatabase)
        let agentsById = Dictionary(uniqueKeysWithValues: agents.map { ($0.id!, AgentDTO($0, offers: offers[$0.id!] ?? 0)) })
        let agentIdsByMember = Dictionary(grouping: assignments, by: { $0.$member.id })
        return members.map { member in
            let assigned = (agentIdsByMember[member.id!] ?? [])
                .compactMap { agentsById[$0.$agent.id] }
                .sorted { ($0.name, $0.id) < ($1.name, $1.id) }
            return MemberDTO(member, agents: assigned)
        }
    }

    // MARK: Team writes

    func create(_ input: CreateTeamInput) async throws -> TeamDTO {
        let candidate = try input.makeModel()
        let scope = self.scope, tenant = self.tenant
        let team = try await store.write { db in
            try await Self.ensureNameIsFree(candidate.name, except: nil, scope: scope, on: db)
            let team = scope.owned(candidate)
            try await team.create(on: db)
            try await AuditLog.record("team.create", "team", id: team.id, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.team(team.id!, "created")], clientId: tenant.clientId, on: db)
            return team
        }
        await book.invalidate(tenant.clientId)
        return TeamDTO(team)
    }

    func update(_ teamId: UUID, with input: UpdateTeamInput) async throws -> TeamDTO {
        let scope = self.scope, tenant = self.tenant
        let team = try await store.write { db in
            let team = try await scope.find(Team.self, teamId, on: db)
            let previousName = team.name
            try input.apply(to: team)
            if team.name != previousName {
                try await Self.ensureNameIsFree(team.name, except: teamId, scope: scope, on: db)
            }
            try await team.save(on: db)
            try await AuditLog.record("team.update", "team", id: teamId, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.team(teamId, "updated")], clientId: tenant.clientId, on: db)
            return team
        }
        await book.invalidate(tenant.clientId)
        return TeamDTO(team)
    }

    /// Soft delete: the team and its history stay; it is no longer active.
    func deactivate(_ teamId: UUID) async throws -> TeamDTO {
        try await update(teamId, with: UpdateTeamInput(status: ActiveStatus.inactive.rawValue))
    }

    private static func ensureNameIsFree(_ name: String, except teamId: UUID?, scope: TenantScope, on db: any Database) async throws {
        var query = scope.query(Team.self, on: db).filter(\.$name == name)
        if let teamId { query = query.filter(\.$id != teamId) }
        if try await query.count() > 0 {
            throw AppError.conflict("a team named '\(name)' already exists")
        }
    }

    // MARK: Member writes

    /// Adds a member or, when the email is already in the team, updates name and role (and reactivates).
    func upsertMember(in teamId: UUID, _ input: MemberInput) async throws -> (member: MemberDTO, created: Bool) {
        let (email, name, role) = try input.validated()
        let scope = self.scope, tenant = self.tenant
        let result = try await store.write { db in
            _ = try await scope.find(Team.self, teamId, on: db)
            let (memberId, created) = try await Self.upsertMember(
                in: teamId, email: email, name: name, role: role, clientId: tenant.clientId, on: db)
            try await AuditLog.record(created ? "member.create" : "member.update", "member", id: memberId, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.team(teamId, created ? "member_created" : "member_updated", member: memberId)], clientId: tenant.clientId, on: db)
            return (memberId, created)
        }
        await book.invalidate(tenant.clientId)
        let member = try await membersWithAgents(of: teamId, memberId: result.0, on: store.db)[0]
        return (member, result.1)
    }

    /// The member's row, inserted or (same team and email) updated and reactivated; its id, and whether it is new.
    static func upsertMember(
        in teamId: UUID, email: String, name: String, role: MemberRole, clientId: String, on db: any Database
    ) async throws -> (id: UUID, created: Bool) {
        let newId = UUID()
        let now = Date()
        let row = try await (db as! any SQLDatabase).insert(into: TeamMember.schema)
            .columns("id", "client_id", "team_id", "email", "name", "role", "status", "created_at", "updated_at")
            .values(SQLBind(newId), SQLBind(clientId), SQLBind(teamId), SQLBind(email), SQLBind(name),
                    SQLBind(role.rawValue), SQLBind(ActiveStatus.active.rawValue), SQLBind(now), SQLBind(now))
            .onConflict(with: ["team_id", "email"]) { update in
                update.set(excludedValueOf: "name")
                    .set(excludedValueOf: "role")
                    .set(excludedValueOf: "status")
                    .set(excludedValueOf: "updated_at")
            }
            .returning("id")
            .first()
        let memberId: UUID = try row!.decode("id")
        return (memberId, memberId == newId)
    }

    func updateMember(_ memberId: UUID, in teamId: UUID, with input: UpdateMemberInput) async throws -> MemberDTO {
        let tenant = self.tenant
        try await store.write { db in
            let member = try await findMember(memberId, in: teamId, on: db)
            try input.apply(to: member)
            try await member.save(on: db)
            try await AuditLog.record("member.update", "member", id: memberId, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.team(teamId, "member_updated", member: memberId)], clientId: tenant.clientId, on: db)
        }
        await book.invalidate(tenant.clientId)
        return try await membersWithAgents(of: teamId, memberId: memberId, on: store.db)[0]
    }

    /// Removes the member and its assignments together.
    func removeMember(_ memberId: UUID, from teamId: UUID) async throws {
        let scope = self.scope, tenant = self.tenant
        try await store.write { db in
            let member = try await findMember(memberId, in: teamId, on: db)
            try await scope.query(TeamAgentAssignment.self, on: db).filter(\.$member.$id == memberId).delete()
            try await member.delete(on: db)
            try await AuditLog.record("member.delete", "member", id: memberId, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.team(teamId, "member_deleted", member: memberId)], clientId: tenant.clientId, on: db)
        }
        await book.invalidate(tenant.clientId)
    }

    // MARK: Assignments

    /// Assigns agents of the team's sector to the member; assigning one twice changes nothing.
    func assignAgents(_ agentIds: [UUID], to memberId: UUID, in teamId: UUID) async throws -> MemberDTO {
        let scope = self.scope, tenant = self.tenant
        try await store.write { db in
            let team = try await scope.find(Team.self, teamId, on: db)
            _ = try await findMember(memberId, in: teamId, on: db)
            for agentId in agentIds {
                let agent = try await scope.find(SectorAgent.self, agentId, on: db)
                guard agent.sector == team.sector else {
                    throw AppError.badRequest(
                        "agent \(agentId) works in sector '\(agent.sector)', not the team's sector '\(team.sector)'")
                }
                try await (db as! any SQLDatabase).insert(into: TeamAgentAssignment.schema)
                    .columns("id", "client_id", "team_id", "member_id", "agent_id", "created_at")
                    .values(SQLBind(UUID()), SQLBind(tenant.clientId), SQLBind(teamId), SQLBind(memberId),
                            SQLBind(agentId), SQLBind(Date()))
                    .ignoringConflicts(with: ["member_id", "agent_id"])
                    .run()
                try await AuditLog.record("assignment.create", "member", id: memberId, by: tenant, on: db)
            }
            try await EventOutbox.append(agentIds.map { EventPayload.team(teamId, "agent_assigned", member: memberId, agent: $0) },
                                         clientId: tenant.clientId, on: db)
        }
        await book.invalidate(tenant.clientId)
        return try await membersWithAgents(of: teamId, memberId: memberId, on: store.db)[0]
    }

    func unassignAgent(_ agentId: UUID, from memberId: UUID, in teamId: UUID) async throws {
        let scope = self.scope, tenant = self.tenant
        try await store.write { db in
            _ = try await findMember(memberId, in: teamId, on: db)
            _ = try await scope.find(SectorAgent.self, agentId, on: db)
            let assignment = try await scope.query(TeamAgentAssignment.self, on: db)
                .filter(\.$member.$id == memberId)
                .filter(\.$agent.$id == agentId)
                .first()
            guard let assignment else { throw AppError.notFound("assignment") }
            try await assignment.delete(on: db)
            try await AuditLog.record("assignment.delete", "member", id: memberId, by: tenant, on: db)
            try await EventOutbox.append([EventPayload.team(teamId, "agent_unassigned", member: memberId, agent: agentId)], clientId: tenant.clientId, on: db)
        }
        await book.invalidate(tenant.clientId)
    }

    /// A member addressed under a team it does not belong to is as absent as an unknown one.
    private func findMember(_ memberId: UUID, in teamId: UUID, on db: any Database) async throws -> TeamMember {
        _ = try await scope.find(Team.self, teamId, on: db)
        let member = try await scope.find(TeamMember.self, memberId, on: db)
        guard member.$team.id == teamId else { throw AppError.notFound(TeamMember.entityName) }
        return member
    }
}
