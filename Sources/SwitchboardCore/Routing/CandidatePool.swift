import Foundation

/// The agents a request may be routed to, with their capabilities indexed as bits so that matching
/// costs one AND and a popcount per candidate.
struct CandidatePool: Sendable {
    private(set) var candidates: [RoutingCandidate]
    private let capabilityBits: [String: Int]?

    init(_ candidates: [RoutingCandidate]) {
        var bits: [String: Int] = [:]
        for name in candidates.lazy.flatMap(\.capabilities) where bits[name] == nil {
            bits[name] = bits.count
        }
        let indexable = bits.count <= UInt64.bitWidth
        self.capabilityBits = indexable ? bits : nil
        self.candidates = candidates.map { candidate in
            var candidate = candidate
            if indexable {
                candidate.capabilityMask = candidate.capabilities.reduce(UInt64(0)) { $0 | (1 << UInt64(bits[$1]!)) }
            }
            return candidate
        }
    }

    var agentIds: [UUID] { candidates.map(\.id) }
    var isEmpty: Bool { candidates.isEmpty }

    func request(_ capabilities: [String]) -> CapabilityRequest {
        let names = Set(capabilities)
        guard !names.isEmpty else { return .none }
        guard let capabilityBits else { return CapabilityRequest(names: names, mask: nil) }
        // A name no agent has can match nobody, so it contributes no bit.
        let mask = names.reduce(UInt64(0)) { mask, name in
            capabilityBits[name].map { mask | (1 << UInt64($0)) } ?? mask
        }
        return CapabilityRequest(names: names, mask: mask)
    }

    /// The pool with live values (load, status, capacity) read fresh from the database.
    func withLiveState(_ live: [UUID: LiveAgentState]) -> CandidatePool {
        var copy = self
        copy.candidates = candidates.compactMap { candidate in
            guard let state = live[candidate.id] else { return nil }
            var candidate = candidate
            candidate.currentLoad = state.currentLoad
            candidate.maxConcurrent = state.maxConcurrent
            candidate.isActive = state.isActive
            return candidate
        }
        return copy
    }
}

struct LiveAgentState: Sendable {
    let currentLoad: Int
    let maxConcurrent: Int
    let isActive: Bool
}
