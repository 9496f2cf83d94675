import Foundation

enum OverflowPolicy: String, Codable, Sendable, CaseIterable {
    case queue, reject
}

/// The tenant's routing settings, as the router uses them.
struct RoutingPolicy: Sendable, Equatable {
    var weights: ScoringWeights = .contractDefaults
    var overflow: OverflowPolicy = .queue
    var cacheTTLSeconds: Int = 300
    var decisionLogCandidates: Int = 20
    var defaultChannel: CallChannel = .voice

    static let defaults = RoutingPolicy()
}
