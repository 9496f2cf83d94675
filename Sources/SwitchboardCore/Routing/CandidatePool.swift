import Foundation

/// The agents a request may be routed to. Capabilities are indexed as bits when the pool has at most 64
/// distinct ones, so matching costs one AND and a popcount per candidate.
struct CandidatePool: Sendable {
    struct Entry: Sendable {
        var candidate: RoutingCandidate
        var capabilities: [String]
    }

    private(set) var candidates: [RoutingCandidate]
    /// Parallel to `candidates`.
    private let capabilities: [[String]]
    private let capabilityBits: [String: Int]?

    init(_ entries: [Entry]) {
        var bits: [String: Int] = [:]
        for name in entries.lazy.flatMap(\.capabilities) where bits[name] == nil {
            bits[name] = bits.count
        }
        let indexable = bits.count <= UInt64.bitWidth
        capabilityBits = indexable ? bits : nil
        capabilities = entries.map(\.capabilities)
        candidates = entries.map { entry in
            var candidate = entry.candidate
            candidate.capabilityMask = indexable
                ? entry.capabilities.reduce(UInt64(0)) { $0 | (1 << UInt64(bits[$1]!)) } : 0
            return candidate
        }
    }

    /// A pool of agents without capabilities.
    init(candidates: [RoutingCandidate]) {
        self.init(candidates.map { Entry(candidate: $0, capabilities: []) })
    }

    var agentIds: [UUID] { candidates.map(\.id) }

    func capabilities(at index: Int) -> [String] { capabilities[index] }

    /// The load book keeps each pool's live values current in place, without rebuilding it.
    mutating func setLiveState(at index: Int, load: Int, maxConcurrent: Int, isActive: Bool) {
        candidates[index].currentLoad = load
        candidates[index].maxConcurrent = maxConcurrent
        candidates[index].isActive = isActive
    }

    /// An agent's 7-day values after an aggregation; the pool's order and capability index do not depend on them.
    mutating func setHistory(at index: Int, successRate: Double, avgHandlingTime: Double) {
        candidates[index].successRate = successRate
        candidates[index].avgHandlingTime = avgHandlingTime
    }

    var isEmpty: Bool { candidates.isEmpty }

    func request(_ requested: [String]) -> CapabilityRequest {
        let names = Set(requested)
        guard !names.isEmpty else { return .none }
        guard let capabilityBits else {
            return CapabilityRequest(matching: .counts(capabilities.map { $0.reduce(0) { $0 + (names.contains($1) ? 1 : 0) } }))
        }
        // A name no agent has can match nobody, so it contributes no bit.
        let mask = names.reduce(UInt64(0)) { mask, name in
            capabilityBits[name].map { mask | (1 << UInt64($0)) } ?? mask
        }
        return CapabilityRequest(matching: .mask(mask))
    }
}
