import Foundation

enum OverflowPolicy: String, Codable, Sendable, CaseIterable {
    case queue, reject
}

/// How the success-rate term of the formula is valued (`routing.strategy`).
enum ScoringStrategy: String, Codable, Sendable, CaseIterable {
    /// The agent's 7-day success rate, as the contract's formula says.
    case formula
    /// A Bayesian estimate from the agent's 30-day calls and its sector's rate, with bounded exploration.
    case learning
}

/// Whether an agent may end its after-call work before its time (`calls.wrap_up_mode`).
enum WrapUpMode: String, Codable, Sendable, CaseIterable {
    case optional, mandatory
}

/// The tenant's routing settings, as the router uses them.
struct RoutingPolicy: Sendable, Equatable {
    var weights: ScoringWeights = .contractDefaults
    var overflow: OverflowPolicy = .queue
    var cacheTTLSeconds: Int = 300
    var decisionLogCandidates: Int = 20
    var defaultChannel: CallChannel = .voice
    var strategy: ScoringStrategy = .formula
    /// The prior's strength in calls: how many calls of its own an agent needs before they outweigh its sector's.
    var priorCalls: Int = 20
    /// Under learning, an agent's success term is its estimate plus this many posterior standard deviations:
    /// optimism towards agents with few calls, which tries each until its calls tell (docs/PERFORMANCE.md).
    var optimism: Double = 2
    /// The share of learning decisions that draw each agent's term from its posterior instead of using the mean
    /// (Thompson sampling); off by default, where optimism explores better.
    var exploration: Double = 0
    /// Agents whose estimate is below this are never explored: they keep their mean.
    var explorationFloor: Double = 0.5
    /// The simulator counts a call that would wait longer as abandoned; nil: callers wait as long as it takes.
    var maxWaitSeconds: Int?
    /// How a waiting call's pool widens (`routing.relaxation`).
    var relaxation: Relaxation = .standard
    /// After-call work in seconds (`calls.wrap_up_seconds`; an agent's own `wrap_up_seconds` wins), and whether
    /// it may end early.
    var wrapUpSeconds: Int = 0
    var wrapUpMode: WrapUpMode = .optional
    /// 0: a routed call is assigned at once; otherwise it is offered to its agent for this long
    /// (`routing.offer_timeout_seconds`), and an agent that misses `maxMissedOffers` in a row is set away (0: never).
    var offerTimeoutSeconds: Int = 0
    var maxMissedOffers: Int = 3
    /// A waiting call's effective priority rises by one for every this many seconds it waits (0: never), so no
    /// call starves (`routing.priority_aging_seconds`).
    var priorityAgingSeconds: Int = 60
    /// How long a call that names a busy preferred agent waits for it before it routes as usual
    /// (`routing.preferred_agent_wait_seconds`; 0: it never waits).
    var preferredAgentWaitSeconds: Int = 20
    /// Whether a call with a `customer_ref` prefers the agent who last served that customer well
    /// (`routing.sticky_customers`: the last successful call completed within `stickyCustomerDays`).
    var stickyCustomers = false
    /// The reasons an agent may be away for (`agents.away_reasons`), checked on every presence change.
    var awayReasons: [String] = SettingsSchema.defaultAwayReasons

    static let defaults = RoutingPolicy()

    /// Days of completed calls the learning estimate reads.
    static let learningWindowDays = 30
    /// How far back a sticky customer's last agent is looked for.
    static let stickyCustomerDays = 7
}
