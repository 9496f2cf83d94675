import Foundation

struct TeamDTO: Codable, Sendable, Equatable {
    let id: UUID
    let name: String
    let sector: String
    let description: String
    let status: ActiveStatus
    let createdAt: Date?
    let updatedAt: Date?

    init(_ team: Team) {
        id = team.id!
        name = team.name
        sector = team.sector
        description = team.description ?? ""
        status = team.status
        createdAt = team.createdAt
        updatedAt = team.updatedAt
    }
}

/// A team in the list, with the counts an overview needs.
struct TeamSummaryDTO: Encodable, Sendable {
    let team: TeamDTO
    let memberCount: Int
    let agentCount: Int

    private enum CodingKeys: String, CodingKey { case memberCount, agentCount }

    func encode(to encoder: any Encoder) throws {
        try team.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(memberCount, forKey: .memberCount)
        try container.encode(agentCount, forKey: .agentCount)
    }
}

/// `GET /api/teams/:team_id`: the team, its members with their agents, and its last 30 days.
struct TeamDetailDTO: Encodable, Sendable {
    let team: TeamDTO
    let members: [MemberDTO]
    let performance: [DailyMetricsDTO]

    private enum CodingKeys: String, CodingKey { case members, performance }

    func encode(to encoder: any Encoder) throws {
        try team.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(members, forKey: .members)
        try container.encode(performance, forKey: .performance)
    }
}

struct MemberDTO: Codable, Sendable, Equatable {
    let id: UUID
    let teamId: UUID
    let email: String
    let name: String
    let role: MemberRole
    let status: ActiveStatus
    let agents: [AgentDTO]
    let createdAt: Date?
    let updatedAt: Date?

    init(_ member: TeamMember, agents: [AgentDTO]) {
        id = member.id!
        teamId = member.$team.id
        email = member.email
        name = member.name
        role = member.role
        status = member.status
        self.agents = agents
        createdAt = member.createdAt
        updatedAt = member.updatedAt
    }
}

/// One day of team or agent figures, or (without a date) the totals over a range.
struct DailyMetricsDTO: Encodable, Sendable, Equatable {
    let date: String?
    let callsHandled: Int
    let callsSuccessful: Int
    let callsFailed: Int
    let callsResolved: Int
    let avgSatisfaction: Double?
    /// Talk plus after-call work, per handled call.
    let avgHandlingTime: Double
    /// The after-call part of `avgHandlingTime`.
    let avgWrapUpTime: Double
    let successRate: Double
    let resolutionRate: Double

    private enum CodingKeys: String, CodingKey {
        case date, callsHandled, callsSuccessful, callsFailed, callsResolved
        case avgSatisfaction, avgHandlingTime, avgWrapUpTime, successRate, resolutionRate
    }

    init(_ row: TeamPerformance) { self.init(date: row.date, DailyCounts(row)) }

    init(_ row: AgentDailyMetrics) { self.init(date: row.date, DailyCounts(row)) }

    init(date: String?, callsHandled: Int, callsSuccessful: Int, callsFailed: Int, callsResolved: Int,
         avgSatisfaction: Double?, avgHandlingTime: Double, avgWrapUpTime: Double = 0, successRate: Double,
         resolutionRate: Double) {
        self.date = date
        self.callsHandled = callsHandled
        self.callsSuccessful = callsSuccessful
        self.callsFailed = callsFailed
        self.callsResolved = callsResolved
        self.avgSatisfaction = avgSatisfaction
        self.avgHandlingTime = avgHandlingTime
        self.avgWrapUpTime = avgWrapUpTime
        self.successRate = successRate
        self.resolutionRate = resolutionRate
    }

    /// `avg_satisfaction` is written as null when no call was rated, rather than left out; totals have no date.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(date, forKey: .date)
        try container.encode(callsHandled, forKey: .callsHandled)
        try container.encode(callsSuccessful, forKey: .callsSuccessful)
        try container.encode(callsFailed, forKey: .callsFailed)
        try container.encode(callsResolved, forKey: .callsResolved)
        try container.encode(avgSatisfaction, forKey: .avgSatisfaction)
        try container.encode(avgHandlingTime, forKey: .avgHandlingTime)
        try container.encode(avgWrapUpTime, forKey: .avgWrapUpTime)
        try container.encode(successRate, forKey: .successRate)
        try container.encode(resolutionRate, forKey: .resolutionRate)
    }
}

enum TeamLimits {
    static let name = 1...120
    static let sector = 1...64
    static let description = 1000
    static let memberName = 1...120
    static let agentsPerAssignment = 100
}

struct CreateTeamInput: Decodable, Sendable {
    var name: String
    var sector: String
    var description: String?

    func makeModel() throws -> Team {
        Team(
            name: try Check.text(name, "name", length: TeamLimits.name),
            sector: try Check.text(sector, "sector", length: TeamLimits.sector).lowercased(),
            description: try Check.optionalText(description, "description", maxLength: TeamLimits.description, lineBreaks: true)
        )
    }
}

struct UpdateTeamInput: Decodable, Sendable {
    var name: String?
    var sector: String?
    var description: String?
    var status: String?

    func apply(to team: Team) throws {
        if let name { team.name = try Check.text(name, "name", length: TeamLimits.name) }
        if let sector { team.sector = try Check.text(sector, "sector", length: TeamLimits.sector).lowercased() }
        if let description {
            team.description = try Check.optionalText(description, "description", maxLength: TeamLimits.description, lineBreaks: true)
        }
        if let status { team.status = try Check.oneOf(status, "status", as: ActiveStatus.self) }
    }
}

struct MemberInput: Decodable, Sendable {
    var email: String
    var name: String
    var role: String

    func validated() throws -> (email: String, name: String, role: MemberRole) {
        (try Check.email(email), try Check.text(name, "name", length: TeamLimits.memberName),
         try Check.oneOf(role, "role", as: MemberRole.self))
    }
}

struct UpdateMemberInput: Decodable, Sendable {
    var name: String?
    var role: String?
    var status: String?

    func apply(to member: TeamMember) throws {
        if let name { member.name = try Check.text(name, "name", length: TeamLimits.memberName) }
        if let role { member.role = try Check.oneOf(role, "role", as: MemberRole.self) }
        if let status { member.status = try Check.oneOf(status, "status", as: ActiveStatus.self) }
    }
}

struct AssignAgentsInput: Decodable, Sendable {
    var agentIds: [UUID]

    func validated() throws -> [UUID] {
        guard !agentIds.isEmpty else { throw AppError.badRequest("agent_ids must list at least one agent") }
        guard agentIds.count <= TeamLimits.agentsPerAssignment else {
            throw AppError.badRequest("agent_ids may list at most \(TeamLimits.agentsPerAssignment) agents")
        }
        var seen = Set<UUID>()
        return agentIds.filter { seen.insert($0).inserted }
    }
}

struct DeletedDTO: Codable, Sendable {
    let id: UUID
    let deleted: Bool
}
