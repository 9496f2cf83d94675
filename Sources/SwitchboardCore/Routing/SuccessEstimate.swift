import Foundation

/// SplitMix64: small, fast, and the same seed gives the same sequence, so seeded routing decisions, simulations
/// and benchmarks repeat exactly.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// Seeded from the system's generator: for production, where runs need not repeat.
    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A stable 64-bit mix of a seed and a name (FNV-1a), so each tenant gets its own repeatable sequence.
    static func seed(_ seed: UInt64, for name: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// The learning router's view of an agent's success: a Beta posterior whose prior is centred on the sector's
/// success rate with the strength of `routing.prior_calls` calls, updated by the agent's own calls. An agent with
/// 3 calls at 100 % then estimates close to its sector; one with 500 calls at 92 % estimates close to 92 %. Pure.
struct SuccessEstimate: Sendable, Equatable {
    /// Beta(alpha, beta): prior pseudo-counts plus the agent's successes and failures.
    let alpha: Double
    let beta: Double
    let callsObserved: Int

    init(priorMean: Double, priorCalls: Int, successes: Int, calls: Int) {
        let mean = min(max(priorMean.isFinite ? priorMean : 0.5, 0), 1)
        let observed = max(calls, 0)
        let won = min(max(successes, 0), observed)
        alpha = mean * Double(max(priorCalls, 0)) + Double(won)
        beta = (1 - mean) * Double(max(priorCalls, 0)) + Double(observed - won)
        callsObserved = observed
        self.priorMean = mean
    }

    /// Used when there is no evidence at all (no prior strength and no calls).
    private let priorMean: Double

    /// The posterior mean: (prior successes + successes) / (prior calls + calls).
    var mean: Double {
        let total = alpha + beta
        return total > 0 ? alpha / total : priorMean
    }

    /// The posterior's standard deviation: how far the calls so far leave the agent's true rate open.
    var standardDeviation: Double {
        let total = alpha + beta
        guard total > 0 else { return 0 }
        return (alpha * beta / (total * total * (total + 1))).squareRoot()
    }

    /// The success term under learning: the mean plus `optimism` standard deviations (an upper confidence bound).
    func term(optimism: Double) -> Double { mean + optimism * standardDeviation }

    /// One draw from the posterior (Thompson sampling).
    func sample(using generator: inout some RandomNumberGenerator) -> Double {
        guard alpha > 0, beta > 0 else { return mean }
        let x = Self.gamma(shape: alpha, using: &generator)
        let y = Self.gamma(shape: beta, using: &generator)
        return x + y > 0 ? x / (x + y) : mean
    }

    /// Marsaglia and Tsang's method; shapes below 1 are boosted by U^(1/shape).
    private static func gamma(shape: Double, using generator: inout some RandomNumberGenerator) -> Double {
        if shape < 1 {
            let u = Double.random(in: Double.ulpOfOne..<1, using: &generator)
            return gamma(shape: shape + 1, using: &generator) * pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (3 * d.squareRoot())
        while true {
            var x: Double, v: Double
            repeat {
                x = normal(using: &generator)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = Double.random(in: Double.ulpOfOne..<1, using: &generator)
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    private static func normal(using generator: inout some RandomNumberGenerator) -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator)
        let u2 = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// An agent's completed calls over the learning window, and its sector's, as read from the daily rows.
struct SuccessHistory: Sendable, Equatable {
    var successes: Int
    var calls: Int

    static let none = SuccessHistory(successes: 0, calls: 0)

    var rate: Double? { calls > 0 ? Double(successes) / Double(calls) : nil }

    static func + (a: SuccessHistory, b: SuccessHistory) -> SuccessHistory {
        SuccessHistory(successes: a.successes + b.successes, calls: a.calls + b.calls)
    }
}
