import FluentKit
import Foundation
import Vapor

/// A demo tenant with teams, members, agents, two weeks of history and a stream of simulated calls,
/// so the dashboard is alive on first run (`switchboard demo`).
enum DemoData {
    static let clientId = "demo"
    static let tenant = Tenant(clientId: clientId, userId: "demo-simulator", role: .admin)

    private struct TeamPlan {
        let name: String
        let sector: String
        let description: String
        let members: [(name: String, email: String, role: MemberRole)]
        /// The sector's agents the team's members get (all of them when nil).
        var agentNames: Set<String>? = nil
        /// The share of the team's past calls that queued: Billing Americas is short of people, so its service
        /// level misses the target and the teams page has a suggestion to show.
        var queuePressure = 0.15
    }

    private static let agentsBySector: [String: [(name: String, priority: Int, capabilities: [String], capacity: Int, success: Double)]] = [
        "billing": [("Ada", 9, ["french", "refunds"], 4, 0.86), ("Bruno", 6, ["spanish"], 5, 0.71), ("Chloé", 7, ["french", "vip"], 3, 0.9),
                    ("Dmitri", 4, ["german", "refunds"], 5, 0.64), ("Esme", 5, [], 6, 0.58), ("Farid", 8, ["vip", "spanish"], 4, 0.8)],
        "support": [("Grace", 9, ["hardware", "vip"], 3, 0.88), ("Hiro", 6, ["hardware"], 5, 0.7), ("Inès", 5, ["french", "software"], 5, 0.66),
                    ("Jonas", 7, ["software", "german"], 4, 0.75), ("Kemi", 4, ["software"], 6, 0.55)],
        "sales": [("Luca", 8, ["enterprise"], 4, 0.62), ("Maya", 6, ["spanish", "enterprise"], 5, 0.57), ("Noor", 5, [], 6, 0.49),
                  ("Oskar", 7, ["german"], 4, 0.6)],
    ]

    private static let teams: [TeamPlan] = [
        TeamPlan(name: "Billing Europe", sector: "billing", description: "Invoices, refunds and payment plans for EU customers",
                 members: [("Léa Martin", "lea@demo.example", .lead), ("Tom Becker", "tom@demo.example", .member),
                           ("Sofia Rossi", "sofia@demo.example", .member)],
                 agentNames: ["Ada", "Bruno", "Chloé", "Dmitri"], queuePressure: 0.1),
        TeamPlan(name: "Billing Americas", sector: "billing", description: "Billing questions from the Americas",
                 members: [("Diego Alvarez", "diego@demo.example", .lead), ("Ana Souza", "ana@demo.example", .member)],
                 agentNames: ["Esme", "Farid"], queuePressure: 0.45),
        TeamPlan(name: "Tech Support", sector: "support", description: "Hardware and software troubleshooting",
                 members: [("Priya Nair", "priya@demo.example", .supervisor), ("Ben Okafor", "ben@demo.example", .member),
                           ("Mia Larsen", "mia@demo.example", .member)]),
        TeamPlan(name: "Sales Inbound", sector: "sales", description: "New customers and upgrades",
                 members: [("Owen Price", "owen@demo.example", .lead), ("Zoe Chen", "zoe@demo.example", .member)]),
    ]

    /// Creates the demo tenant's data unless it already has teams. Returns whether it seeded.
    @discardableResult
    static func seedIfEmpty(_ app: Application, historyDays: Int = 14) async throws -> Bool {
        let store = app.store()
        let scope = tenant.scope
        guard try await scope.query(Team.self, on: store.db).count() == 0 else { return false }
        try await store.write { db in
            var generator = SystemRandomNumberGenerator()
            var agentIdsBySector: [String: [UUID]] = [:]
            var agentIdsByName: [String: UUID] = [:]
            var successById: [UUID: Double] = [:]
            for (sector, agents) in agentsBySector.sorted(by: { $0.key < $1.key }) {
                for plan in agents {
                    let agent = scope.owned(AgentFields(
                        name: plan.name, sector: sector, status: .active, priority: plan.priority, capabilities: plan.capabilities,
                        maxConcurrent: plan.capacity,
                        // Two agents take one voice call at a time beside their chats, to show per-channel limits.
                        channelCapacity: ["Ada", "Grace"].contains(plan.name) ? [.voice: 1, .webchat: 3] : [:],
                        successRate: plan.success, avgHandlingTime: Double(150 + plan.priority * 10)
                    ).makeModel())
                    try await agent.create(on: db)
                    agentIdsBySector[sector, default: []].append(agent.id!)
                    agentIdsByName[plan.name] = agent.id!
                    successById[agent.id!] = plan.success
                }
            }
            for plan in teams {
                let team = scope.owned(Team(name: plan.name, sector: plan.sector, description: plan.description))
                try await team.create(on: db)
                let sectorAgents = agentIdsBySector[plan.sector] ?? []
                let teamAgents = plan.agentNames.map { names in names.sorted().compactMap { agentIdsByName[$0] } } ?? sectorAgents
                for (index, person) in plan.members.enumerated() {
                    let member = scope.owned(TeamMember())
                    member.$team.id = team.id!
                    member.email = person.email
                    member.name = person.name
                    member.role = person.role
                    member.status = .active
                    try await member.create(on: db)
                    for agentId in teamAgents.enumerated().filter({ $0.offset % plan.members.count == index }).map(\.element) {
                        let assignment = scope.owned(TeamAgentAssignment())
                        assignment.$team.id = team.id!
                        assignment.$member.id = member.id!
                        assignment.$agent.id = agentId
                        try await assignment.create(on: db)
                    }
                }
                // A team's history is its own agents' calls, each succeeding as often as the agent's success rate
                // says: the week's figures then tell the teams apart, and the suggestions have something to find.
                try await insertHistory(for: team, agents: teamAgents.map { ($0, successById[$0] ?? 0.7) }, queuePressure: plan.queuePressure, days: historyDays,
                                        generator: &generator, on: db)
            }
        }
        _ = await app.aggregator.runNow()
        return true
    }

    private static func insertHistory(
        for team: Team, agents: [(id: UUID, success: Double)], queuePressure: Double, days: Int, generator: inout SystemRandomNumberGenerator,
        on db: any Database
    ) async throws {
        let today = Day(containing: Date())
        for offset in (1...days).reversed() {
            let day = today.adding(days: -offset)
            for _ in 0..<Int.random(in: 25...60, using: &generator) {
                let call = tenant.scope.owned(Call())
                call.teamId = team.id
                let agent = agents.randomElement(using: &generator)
                call.agentId = agent?.id
                call.sector = team.sector
                call.capabilities = []
                call.channel = CallChannel.allCases.randomElement(using: &generator)!
                call.status = .completed
                call.createdAt = day.startDate.addingTimeInterval(Double.random(in: 28_800...64_800, using: &generator))
                call.callDay = day.description
                if Double.random(in: 0...1, using: &generator) < queuePressure / 6 {
                    call.agentId = nil
                    call.status = .cancelled
                    call.cancelledAt = call.createdAt.addingTimeInterval(Double.random(in: 15...180, using: &generator).rounded())
                    try await call.create(on: db)
                    continue
                }
                let queued = Double.random(in: 0...1, using: &generator) < queuePressure
                call.assignedAt = call.createdAt.addingTimeInterval(queued ? Double.random(in: 2...95, using: &generator).rounded() : 0)
                call.outcome = Double.random(in: 0...1, using: &generator) < (agent?.success ?? 0.74) ? .successful : .failed
                call.resolved = call.outcome == .successful && Bool.random(using: &generator) || Double.random(in: 0...1, using: &generator) < 0.2
                call.satisfaction = Double.random(in: 0...1, using: &generator) < 0.6
                    ? (call.outcome == .successful ? Int.random(in: 3...5, using: &generator) : Int.random(in: 1...3, using: &generator)) : nil
                call.handlingTimeSeconds = Double.random(in: 60...480, using: &generator).rounded()
                call.completedAt = call.assignedAt!.addingTimeInterval(call.handlingTimeSeconds!)
                try await call.create(on: db)
            }
        }
    }
}
