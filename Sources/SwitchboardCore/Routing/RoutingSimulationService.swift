import Foundation
import SQLKit

/// `POST /api/routing/simulate`: the tenant's recorded calls of a range, replayed against today's catalogue once
/// under the current routing settings and once under proposed ones. Reads only; nothing is written.
struct RoutingSimulationService: Sendable {
    let store: Store
    let tenant: Tenant

    static let maximumDays = 31
    static let maximumCalls = 200_000
    /// The settings a proposal may change: by their names without the `routing.` prefix, and after-call work.
    static let policyKeys = ["weights", "strategy", "prior_calls", "optimism", "exploration", "exploration_floor", "max_wait_seconds",
                             "overflow", "relaxation", "offer_timeout_seconds", "wrap_up_seconds", "priority_aging_seconds",
                             "preferred_agent_wait_seconds"]
    static func settingName(_ policyKey: String) -> String {
        policyKey == "wrap_up_seconds" ? "calls.wrap_up_seconds" : "routing.\(policyKey)"
    }
    /// How far back the tenant's offers are read for answer times and misses.
    static let answeringDays = 7

    struct Request: Sendable {
        let range: DayRange
        /// Validated, under their full setting names.
        let changes: [String: JSONValue]
    }

    /// Reads `{from, to, policy}`; any unknown field or bad value is a 400 naming it.
    static func request(from body: [String: JSONValue], today: Day = Day(containing: Date())) throws -> Request {
        if let unknown = body.keys.sorted().first(where: { !["from", "to", "policy"].contains($0) }) {
            throw AppError.badRequest("unknown field '\(unknown)'; the body is {from, to, policy}")
        }
        func day(_ name: String) throws -> Day {
            guard let text = body[name]?.stringValue else { throw AppError.badRequest("\(name) is required, as YYYY-MM-DD") }
            guard let day = Day(text) else { throw AppError.badRequest("\(name) must be a date as YYYY-MM-DD") }
            return day
        }
        let from = try day("from"), to = try day("to")
        guard from <= to else { throw AppError.badRequest("from must not be after to") }
        guard from.days(until: to) < maximumDays else {
            throw AppError.badRequest("a simulation replays at most \(maximumDays) days")
        }
        guard from <= today else { throw AppError.badRequest("from must not be in the future") }
        var changes: [String: JSONValue] = [:]
        switch body["policy"] {
        case nil: break
        case .object(let policy)?:
            for (key, value) in policy {
                guard policyKeys.contains(key) else {
                    throw AppError.badRequest("unknown policy field '\(key)'; known: \(policyKeys.joined(separator: ", "))")
                }
                changes[Self.settingName(key)] = value
            }
            if !changes.isEmpty { changes = try SettingsSchema.validate(changes) }
        default:
            throw AppError.badRequest("policy must be an object (leave it out to compare the current settings with themselves)")
        }
        return Request(range: DayRange(from: from, to: to), changes: changes)
    }

    func simulate(_ request: Request) async throws -> SimulationDTO {
        let db = store.sql
        let settings = try await SettingsService.effectiveSettings(scope: tenant.scope, on: db)
        let current = SettingsSchema.routingPolicy(from: settings)
        let proposed = SettingsSchema.routingPolicy(from: settings.merging(request.changes) { $1 })
        let needsHistory = current.strategy == .learning || proposed.strategy == .learning
        let catalogue = try await BookCatalogue.read(tenant.clientId, withHistory: needsHistory, on: db)
        let start = request.range.from.startDate
        let horizon = request.range.to.adding(days: 1).startDate.timeIntervalSince(start)
        let calls = try await replayedCalls(in: request.range, startingAt: start, on: db)

        let names = try await agentNames(on: db)
        let answering = try await recentAnswering(on: db)
        let seed = SeededGenerator.seed(0, for: tenant.clientId)
        func report(_ policy: RoutingPolicy) -> SimulationReportDTO {
            SimulationReportDTO(
                RoutingSimulation.run(calls, catalogue: catalogue, policy: policy, horizonSeconds: horizon, seed: seed,
                                      answering: answering),
                names: names)
        }
        let routingKeys = Self.policyKeys.map(Self.settingName)
        return SimulationDTO(
            from: request.range.from.description, to: request.range.to.description, calls: calls.count,
            current: report(current), proposed: report(proposed),
            currentSettings: settings.filter { routingKeys.contains($0.key) },
            proposedSettings: request.changes.filter { settings[$0.key] != $0.value })
    }

    /// Arrival times, teams, sectors, capabilities (required or not), channels, priorities, callbacks, preferred
    /// agents (as resolved when the call came) and handling times as recorded. A call that never reached an agent (cancelled while waiting, or still open) has no handling time of
    /// its own: it gets the mean of the range's recorded ones, so that it still loads the agents it would have reached.
    func replayedCalls(in range: DayRange, startingAt start: Date, on db: any SQLDatabase) async throws -> [RoutingSimulation.Call] {
        let rows = try await tenant.scope.select(from: Call.schema, on: db)
            .columns("created_at", "team_id", "sector", "capabilities", "channel", "handling_time_seconds", "assigned_at",
                     "completed_at", "required_capabilities", "required_levels", "priority", "callback_phone",
                     "preferred_agent_id")
            .where("call_day", .greaterThanOrEqual, range.from.description)
            .where("call_day", .lessThanOrEqual, range.to.description)
            .orderBy("created_at").orderBy("id")
            .limit(Self.maximumCalls + 1)
            .all()
        guard rows.count <= Self.maximumCalls else {
            throw AppError.badRequest("the range holds more than \(Self.maximumCalls) calls; choose fewer days")
        }
        var recorded: [RoutingSimulation.Call] = []
        var unhandled: [Int] = []
        recorded.reserveCapacity(rows.count)
        for row in rows {
            let created: Date = try row.decode("created_at")
            var handling: Double? = try row.decode("handling_time_seconds")
            if handling == nil, let assigned = try row.decode(column: "assigned_at", as: Date?.self),
               let completed = try row.decode(column: "completed_at", as: Date?.self) {
                handling = max(0, completed.timeIntervalSince(assigned))
            }
            if handling == nil { unhandled.append(recorded.count) }
            recorded.append(RoutingSimulation.Call(
                arrival: created.timeIntervalSince(start), teamId: try row.decode("team_id"), sector: try row.decode("sector"),
                capabilities: try row.decode("capabilities"), handlingSeconds: handling ?? 0,
                channel: CallChannel(rawValue: try row.decode("channel")),
                requiredCapabilities: try row.decode(column: "required_capabilities", as: [String]?.self) ?? [],
                requiredLevels: SkillLevel.read(try row.decode(column: "required_levels", as: String?.self)),
                priority: try row.decode(column: "priority", as: Int?.self) ?? CallLimits.defaultPriority,
                isCallback: try row.decode(column: "callback_phone", as: String?.self) != nil,
                preferredAgentId: try row.decode(column: "preferred_agent_id", as: UUID?.self)))
        }
        let handled = recorded.count - unhandled.count
        let fallback = handled == 0 ? 300
            : (recorded.reduce(0) { $0 + $1.handlingSeconds }) / Double(handled)
        for index in unhandled { recorded[index].handlingSeconds = fallback }
        return recorded
    }

    /// The tenant's last week of offers: the times accepted offers took, and the share of answerable offers
    /// (accepted, rejected, run out) that ran out. No offers: answered at once, none missed.
    func recentAnswering(now: Date = Date(), on db: any SQLDatabase) async throws -> RoutingSimulation.Answering {
        var answering = RoutingSimulation.Answering()
        var answerable = 0, missed = 0
        for row in try await tenant.scope.select(from: OfferLog.schema, on: db).columns("offered_at", "resolved_at", "outcome")
            .where("offered_at", .greaterThanOrEqual, now.addingTimeInterval(-Double(Self.answeringDays) * 86_400))
            .where("outcome", .in, [OfferLog.Outcome.accepted, .rejected, .expired].map(\.rawValue))
            .all() {
            answerable += 1
            switch OfferLog.Outcome(rawValue: try row.decode(column: "outcome", as: String.self)) {
            case .accepted?:
                if let resolved = try row.decode(column: "resolved_at", as: Date?.self) {
                    answering.delays.append(max(0, resolved.timeIntervalSince(try row.decode(column: "offered_at", as: Date.self))))
                }
            case .expired?: missed += 1
            default: break
            }
        }
        answering.delays.sort()
        answering.missRate = answerable > 0 ? Double(missed) / Double(answerable) : 0
        return answering
    }

    private func agentNames(on db: any SQLDatabase) async throws -> [UUID: String] {
        var names: [UUID: String] = [:]
        for row in try await tenant.scope.select(from: SectorAgent.schema, on: db).columns("id", "name").all() {
            names[try row.decode("id")] = try row.decode("name")
        }
        return names
    }
}

struct SimulationDTO: Encodable, Sendable {
    let from: String
    let to: String
    /// Calls replayed.
    let calls: Int
    let current: SimulationReportDTO
    let proposed: SimulationReportDTO
    /// The routing settings the current run used.
    let currentSettings: [String: JSONValue]
    /// The settings that applying the proposal writes (`PUT /api/settings`): only those that differ.
    let proposedSettings: [String: JSONValue]
}

struct SimulationReportDTO: Encodable, Sendable {
    struct Steps: Encodable, Sendable {
        let team: Int
        let sector: Int
        let queue: Int
    }

    struct Waits: Encodable, Sendable {
        let p50: Double
        let p95: Double
        let max: Double
    }

    struct AgentUse: Encodable, Sendable {
        let agentId: UUID
        let name: String
        let calls: Int
        let utilisation: Double
    }

    let offered: Int
    let answered: Int
    let byStep: Steps
    /// Answered calls by the `routing.relaxation` step (its index) their wait had reached.
    let byRelaxationStep: [String: Int]
    let abandoned: Int
    let rejected: Int
    let unanswered: Int
    let waitSeconds: Waits
    let utilisationMean: Double
    let utilisationGini: Double
    /// Null, not left out, when nothing was answered.
    @NullWhenAbsent var expectedSuccessRate: Double?
    /// Busiest first.
    let agents: [AgentUse]
    /// Offers that ran out (with `routing.offer_timeout_seconds`); each call went on without that agent.
    let offersMissed: Int

    init(_ report: RoutingSimulation.Report, names: [UUID: String]) {
        offered = report.offered
        answered = report.answered
        byStep = Steps(team: report.byStep[.team] ?? 0, sector: report.byStep[.sector] ?? 0, queue: report.byStep[.queue] ?? 0)
        byRelaxationStep = Dictionary(uniqueKeysWithValues: report.byRelaxationStep.map { (String($0.key), $0.value) })
        abandoned = report.abandoned
        rejected = report.rejected
        unanswered = report.unanswered
        waitSeconds = Waits(p50: report.waitP50, p95: report.waitP95, max: report.waitMax)
        utilisationMean = report.utilisationMean
        utilisationGini = report.utilisationGini
        expectedSuccessRate = report.expectedSuccessRate
        offersMissed = report.offersMissed
        agents = report.utilisation.map { id, share in
            AgentUse(agentId: id, name: names[id] ?? "", calls: report.callsByAgent[id] ?? 0, utilisation: share)
        }.sorted { $0.utilisation != $1.utilisation ? $0.utilisation > $1.utilisation : $0.agentId < $1.agentId }
    }
}
