import Foundation

/// Queues that widen while a call waits (`routing.relaxation`): ordered steps, each saying from how many seconds of
/// waiting on which pool may take the call, whether its required capabilities still hold, and how high a minimum
/// skill level may still ask (as Amazon Connect's routing-criteria steps lower proficiencies). Pure.
struct Relaxation: Sendable, Equatable {
    enum Pool: String, Codable, Sendable, CaseIterable {
        /// The agents of the call's team.
        case team
        /// Every active agent of the call's sector (the team's first).
        case sector
    }

    struct Step: Sendable, Equatable {
        let afterSeconds: Int
        let pool: Pool
        let dropRequiredCapabilities: Bool
        /// From this step on, every minimum level above it is lowered to it.
        var maxRequiredLevel: Int? = nil
    }

    /// Where a call stands after some wait.
    struct Stage: Sendable, Equatable {
        /// Index of the step in `steps`.
        let step: Int
        /// The widest pool that may take the call now (always `sector` for a call without a team).
        let pool: Pool
        /// Its required capabilities no longer hold.
        let requirementsDropped: Bool
        /// The lowest `max_required_level` of the steps reached: no minimum level above it holds.
        var maxRequiredLevel: Int? = nil
    }

    let steps: [Step]

    /// Today's behaviour: the team, then the sector at once.
    static let standard = Relaxation(steps: [Step(afterSeconds: 0, pool: .team, dropRequiredCapabilities: false),
                                             Step(afterSeconds: 0, pool: .sector, dropRequiredCapabilities: false)])
    static let maximumSteps = 10
    static let maximumSeconds = 86_400

    /// The last step whose time has come, and what it allows. A call without a team has no team pool: its sector
    /// serves it from the first step.
    func stage(waited: Double, hasTeam: Bool) -> Stage {
        var index = 0
        // Times are stored to the microsecond: a wait a rounding short of a step's time has reached it.
        for (candidate, step) in steps.enumerated() where Double(step.afterSeconds) <= waited + 1e-6 { index = candidate }
        let reached = steps[...index]
        return Stage(step: index, pool: hasTeam ? (reached.contains { $0.pool == .sector } ? .sector : .team) : .sector,
                     requirementsDropped: reached.contains { $0.dropRequiredCapabilities },
                     maxRequiredLevel: reached.compactMap(\.maxRequiredLevel).min())
    }

    /// Whether an agent (of `agentSector`, serving `agentTeams`, with `agentSkills`) may take a waiting call
    /// now: through the call's team at any step, through its sector once the call's stage reached the sector, and
    /// only with every required capability at its minimum level as the stage holds it.
    func mayServe(callTeam: UUID?, callSector: String, required: SkillRequirement, waited: Double,
                  agentSector: String, agentTeams: some Sequence<UUID>, agentSkills: AgentSkills) -> Bool {
        let stage = stage(waited: waited, hasTeam: callTeam != nil)
        let viaTeam = callTeam.map(agentTeams.contains) == true
        let viaSector = callSector == agentSector && stage.pool == .sector
        guard viaTeam || viaSector else { return false }
        return agentSkills.meets(required.at(stage))
    }

    /// Seconds after arrival at which the call's stage next changes (a wider pool, or requirements dropped), or nil
    /// when it has reached its widest.
    func nextWidening(waited: Double, hasTeam: Bool) -> Double? {
        let now = stage(waited: waited, hasTeam: hasTeam)
        for step in steps where Double(step.afterSeconds) > waited + 1e-6 {
            let then = stage(waited: Double(step.afterSeconds), hasTeam: hasTeam)
            if then.pool != now.pool || then.requirementsDropped != now.requirementsDropped
                || then.maxRequiredLevel != now.maxRequiredLevel {
                return Double(step.afterSeconds)
            }
        }
        return nil
    }

    // MARK: The setting

    var jsonValue: JSONValue {
        .array(steps.map { step in
            var object: [String: JSONValue] = [
                "after_seconds": .number(Double(step.afterSeconds)), "pool": .string(step.pool.rawValue),
                "drop_required_capabilities": .bool(step.dropRequiredCapabilities),
            ]
            if let level = step.maxRequiredLevel { object["max_required_level"] = .number(Double(level)) }
            return .object(object)
        })
    }

    /// Validates `routing.relaxation`: 1–10 steps, the first at 0 s, times never going back, known pools that only
    /// widen (no team step after a sector step), levels 1–5.
    init(validating value: JSONValue) throws {
        let name = "routing.relaxation"
        guard let items = value.arrayValue, (1...Self.maximumSteps).contains(items.count) else {
            throw AppError.badRequest("\(name) must be a list of 1 to \(Self.maximumSteps) steps such as "
                + #"{"after_seconds": 30, "pool": "sector"}"#)
        }
        var steps: [Step] = []
        for (index, item) in items.enumerated() {
            let label = "\(name)[\(index)]"
            guard let object = item.objectValue else { throw AppError.badRequest("\(label) must be an object") }
            if let unknown = object.keys.sorted().first(where: { !Self.stepFields.contains($0) }) {
                throw AppError.badRequest("\(label) has an unknown field '\(unknown)'")
            }
            guard let seconds = object["after_seconds"]?.intValue, (0...Self.maximumSeconds).contains(seconds) else {
                throw AppError.badRequest("\(label).after_seconds must be an integer between 0 and \(Self.maximumSeconds)")
            }
            guard let raw = object["pool"]?.stringValue, let pool = Pool(rawValue: raw) else {
                throw AppError.badRequest("\(label).pool must be one of: \(Pool.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var drop = false
            if let flag = object["drop_required_capabilities"] {
                guard case .bool(let value) = flag else {
                    throw AppError.badRequest("\(label).drop_required_capabilities must be true or false")
                }
                drop = value
            }
            var maxLevel: Int?
            if let level = object["max_required_level"] {
                guard let value = level.intValue, SkillLevel.range.contains(value) else {
                    throw AppError.badRequest("\(label).max_required_level must be an integer between \(SkillLevel.range.lowerBound) "
                        + "and \(SkillLevel.range.upperBound)")
                }
                maxLevel = value
            }
            if index == 0, seconds != 0 { throw AppError.badRequest("\(name)[0].after_seconds must be 0: a call starts at the first step") }
            if let previous = steps.last {
                guard seconds >= previous.afterSeconds else {
                    throw AppError.badRequest("\(label).after_seconds must not be less than the step before")
                }
                guard !(previous.pool == .sector && pool == .team) else {
                    throw AppError.badRequest("\(label).pool cannot narrow from sector back to team")
                }
            }
            steps.append(Step(afterSeconds: seconds, pool: pool, dropRequiredCapabilities: drop, maxRequiredLevel: maxLevel))
        }
        self.steps = steps
    }

    init(steps: [Step]) { self.steps = steps }

    private static let stepFields: Set<String> = ["after_seconds", "pool", "drop_required_capabilities", "max_required_level"]
}
