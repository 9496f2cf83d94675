import Foundation

/// Capability scores that learn (issue 25, §3). Under the learning strategy an agent's success with the calls that
/// asked for a capability is estimated on its own: a Beta posterior whose prior is the agent's overall estimate with
/// the strength of `routing.prior_calls` calls, so an agent with few such calls scores as it does overall, and one
/// with many scores as it did on them. The capability term then counts, for each requested capability the agent
/// has, its level / 5 times that estimate. Pure.
enum CapabilityLearning {
    /// What a call asked for: its requested capabilities and its required ones, once each.
    static func asked(capabilities: [String], required: some Sequence<String>) -> [String] {
        Array(Set(capabilities).union(required)).sorted()
    }

    /// One estimate per capability the agent has, from the calls that asked for it.
    static func estimates(capabilities: [String], overall: Double, priorCalls: Int,
                          history: [String: SuccessHistory]) -> [String: SuccessEstimate] {
        var estimates: [String: SuccessEstimate] = [:]
        estimates.reserveCapacity(capabilities.count)
        for name in capabilities {
            let calls = history[name] ?? .none
            estimates[name] = SuccessEstimate(priorMean: overall, priorCalls: priorCalls, successes: calls.successes,
                                              calls: calls.calls)
        }
        return estimates
    }

    /// The capability factor under learning: Σ level / 5 × estimate over the requested capabilities the agent has.
    static func factor(_ skills: AgentSkills, estimates: [String: SuccessEstimate], requested: some Sequence<String>) -> Double {
        var factor = 0.0
        for name in Set(requested) {
            guard let level = skills.level(of: name) else { continue }
            factor += Double(level) / Double(SkillLevel.top) * (estimates[name]?.mean ?? 0)
        }
        return factor
    }

    /// Adds one outcome to the history of each capability the call asked for.
    static func record(_ successful: Bool, asked: [String], in history: inout [String: SuccessHistory]) {
        let outcome = SuccessHistory(successes: successful ? 1 : 0, calls: 1)
        for name in asked { history[name] = (history[name] ?? .none) + outcome }
    }
}

/// A completed call's outcome as the learning router learns it: its agent, whether it succeeded, and what it asked for.
struct KnownOutcome: Sendable, Equatable {
    let agentId: UUID
    let successful: Bool
    /// `CapabilityLearning.asked`.
    let asked: [String]
}

/// Under learning, each requested capability the agent has as the decision weighed it: the breakdown's answer to
/// "why this agent for a French call".
struct LearnedCapabilityTerm: Codable, Sendable, Equatable {
    let capability: String
    let level: Int
    /// The posterior mean of its success with calls asking for the capability.
    let estimate: Double
    /// The agent's completed calls that asked for it, over the learning window.
    let callsObserved: Int
}

/// Each candidate's learned term per indexed capability (level / 5 × estimate; 0 where it lacks the capability),
/// in one flat array as `LevelTable` holds levels: the scorer sums a candidate's matched bits.
struct LearnedTable: Sendable {
    private var terms: [Double]
    private let stride: Int

    init(_ skills: [AgentSkills], estimates: [[String: SuccessEstimate]], bits: [String: Int]) {
        stride = max(bits.count, 1)
        terms = [Double](repeating: 0, count: skills.count * stride)
        for index in skills.indices { set(index, skills[index], estimates[index], bits: bits) }
    }

    mutating func set(_ index: Int, _ skills: AgentSkills, _ estimates: [String: SuccessEstimate], bits: [String: Int]) {
        for name in skills.capabilities {
            guard let bit = bits[name], let level = skills.level(of: name) else { continue }
            terms[index * stride + bit] = Double(level) / Double(SkillLevel.top) * (estimates[name]?.mean ?? 0)
        }
    }

    /// Σ of the candidate's terms over the bits of `mask` (the requested capabilities it has).
    @inline(__always)
    func factor(_ index: Int, _ mask: UInt64) -> Double {
        var bits = mask
        var sum = 0.0
        while bits != 0 {
            sum += terms[index * stride + bits.trailingZeroBitCount]
            bits &= bits - 1
        }
        return sum
    }
}
