import Foundation

/// Skill levels (issue 25, §2): an agent's proficiency in a capability, 1 (learning) to 5 (expert), and a call's
/// minimum level in some capabilities. A capability without a level is at the top level, so agents and calls from
/// before levels route exactly as they did. Pure.
enum SkillLevel {
    static let range = 1...5
    static let top = 5

    /// Levels as stored (a JSON object in a text column, NULL when empty, so both databases hold the same bytes).
    static func stored(_ levels: [String: Int]) -> String? {
        guard !levels.isEmpty else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try! encoder.encode(levels), as: UTF8.self)
    }

    static func read(_ stored: String?) -> [String: Int] {
        guard let stored, let data = stored.data(using: .utf8) else { return [:] }
        return (try? JSONDecoder().decode([String: Int].self, from: data)) ?? [:]
    }

    /// Validates levels named by `field` (an agent's `capability_levels`, a call's `required_levels`): names as
    /// capability labels (lowercased), each level a whole number 1–5.
    static func validated(_ levels: [String: WholeNumber], _ field: String, maxCount: Int) throws -> [String: Int] {
        try validated(levels.mapValues(\.value), field, maxCount: maxCount)
    }

    static func validated(_ levels: [String: Int], _ field: String, maxCount: Int) throws -> [String: Int] {
        guard levels.count <= maxCount else { throw AppError.badRequest("\(field) may name at most \(maxCount) capabilities") }
        var checked: [String: Int] = [:]
        for (raw, level) in levels.sorted(by: { $0.key < $1.key }) {
            let name = try Check.text(raw, "\(field) name '\(raw)'", length: 1...AgentLimits.capabilityLength).lowercased()
            guard checked[name] == nil else { throw AppError.badRequest("\(field) names '\(name)' twice") }
            checked[name] = try Check.number(level, "\(field).\(name)", in: range)
        }
        return checked
    }

    /// A capabilities cell of a CSV import, `french=3;vip`: the names in order, and the levels given.
    static func parseCell(_ items: [String]) throws -> (capabilities: [String], levels: [String: Int]) {
        var names: [String] = []
        var levels: [String: Int] = [:]
        for item in items {
            guard let equals = item.firstIndex(of: "=") else {
                names.append(item)
                continue
            }
            let name = item[..<equals].trimmingCharacters(in: .whitespaces)
            let text = item[item.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard let level = Int(text) else {
                throw AppError.badRequest("capabilities: '\(item)' must be a name, or a name and a level such as french=3")
            }
            names.append(name)
            levels[name] = level
        }
        return (names, levels)
    }
}

/// What a call requires of the agent who takes it: capabilities it must have, and a minimum level in some of them
/// (each of which it must also have).
struct SkillRequirement: Sendable, Hashable {
    var capabilities: Set<String>
    var minimums: [String: Int]

    static let none = SkillRequirement(capabilities: [], minimums: [:])

    init(capabilities: some Sequence<String>, minimums: [String: Int] = [:]) {
        self.capabilities = Set(capabilities).union(minimums.keys)
        self.minimums = minimums.filter { $0.value > 1 }
    }

    var isEmpty: Bool { capabilities.isEmpty }

    /// As it holds at a stage of the call's wait (`routing.relaxation`): nothing once a step dropped the
    /// requirements; every minimum above a step's `max_required_level` lowered to it.
    func at(_ stage: Relaxation.Stage) -> SkillRequirement {
        if stage.requirementsDropped { return .none }
        guard let cap = stage.maxRequiredLevel else { return self }
        return SkillRequirement(capabilities: capabilities, minimums: minimums.mapValues { min($0, cap) })
    }
}

/// An agent's capabilities and levels, as routing reads them. A list, not a set: every pool keeps one per agent,
/// and a pool of 100,000 agents is built again on every catalogue change (a set each made that 40 % slower).
struct AgentSkills: Sendable, Equatable {
    let capabilities: [String]
    /// Levels below the top only: a capability missing here is at the top level.
    let levels: [String: Int]

    static let none = AgentSkills(capabilities: [], levels: [:])

    static func byAgent(_ agents: [BookAgentRow]) -> [UUID: AgentSkills] {
        Dictionary(agents.map { ($0.id, AgentSkills(capabilities: $0.capabilities, levels: $0.capabilityLevels)) },
                   uniquingKeysWith: { first, _ in first })
    }

    init(capabilities: [String], levels: [String: Int] = [:]) {
        self.capabilities = capabilities
        self.levels = levels.isEmpty ? levels : levels.filter { capabilities.contains($0.key) && $0.value < SkillLevel.top }
    }

    /// Its level in the capability; nil when it lacks it.
    func level(of name: String) -> Int? {
        capabilities.contains(name) ? levels[name] ?? SkillLevel.top : nil
    }

    func meets(_ requirement: SkillRequirement) -> Bool {
        guard requirement.capabilities.allSatisfy(capabilities.contains) else { return false }
        return requirement.minimums.allSatisfy { name, minimum in (level(of: name) ?? 0) >= minimum }
    }

    /// The scoring formula's capability factor: Σ level / 5 over the requested capabilities it has (the number of
    /// them when every level is the top one, as the contract counts).
    func capabilityFactor(requested: some Sequence<String>) -> Double {
        var factor = 0.0
        for name in Set(requested) {
            if let level = level(of: name) { factor += Double(level) / Double(SkillLevel.top) }
        }
        return factor
    }
}

extension SkillRequirement: ExpressibleByArrayLiteral {
    /// Capabilities only, at any level.
    init(arrayLiteral capabilities: String...) { self.init(capabilities: capabilities) }
}
