import Foundation

/// How quickly one subject's calls were answered, over a day or several: enough to give the service level at any
/// threshold. Storing waits by whole second instead of a count "within the threshold" lets a manager change
/// `sla.threshold_seconds` and see history at the new threshold, and lets days and teams add up exactly,
/// percentiles included. Pure: no I/O.
struct WaitCounts: Sendable, Equatable {
    /// Calls a person took (assigned), whatever happened next.
    var answered: Int
    /// Calls cancelled while still queued.
    var abandoned: Int
    /// Total wait of the answered calls, for the average speed of answer.
    var totalWaitSeconds: Double
    /// Answered calls by wait rounded up to the whole second: a call answered within T seconds has a key ≤ T.
    var histogram: [Int: Int]

    static let zero = WaitCounts(answered: 0, abandoned: 0, totalWaitSeconds: 0, histogram: [:])

    /// Answered and abandoned calls: the calls that have ended their wait. Calls still queued are not offered yet.
    var offered: Int { answered + abandoned }

    /// Timestamps carry rounding noise (SQLite stores seconds as doubles), so a wait of exactly 20 s may read as
    /// 20.0000002 s; a millisecond of tolerance keeps it in the 20 s bucket.
    static let roundingTolerance = 0.001
    /// Waits longer than a day are counted as a day.
    static let longestBucket = 86_400

    /// The wait rounded up to the whole second, with the tolerance: `⌊seconds + 1 − tolerance⌋`, which the SQL of
    /// the full recount computes with one addition and one cast per call.
    static func bucket(forWait seconds: Double) -> Int {
        guard seconds.isFinite, seconds > roundingTolerance else { return 0 }
        return min(longestBucket, Int((seconds + 1 - roundingTolerance).rounded(.down)))
    }

    static func answered(afterWaiting seconds: Double) -> WaitCounts {
        let wait = max(0, seconds)
        return WaitCounts(answered: 1, abandoned: 0, totalWaitSeconds: wait, histogram: [bucket(forWait: wait): 1])
    }

    static let oneAbandoned = WaitCounts(answered: 0, abandoned: 1, totalWaitSeconds: 0, histogram: [:])

    mutating func add(_ other: WaitCounts) {
        answered += other.answered
        abandoned += other.abandoned
        totalWaitSeconds += other.totalWaitSeconds
        histogram.merge(other.histogram, uniquingKeysWith: +)
    }

    func adding(_ other: WaitCounts) -> WaitCounts {
        var sum = self
        sum.add(other)
        return sum
    }

    static func combine(_ parts: some Sequence<WaitCounts>) -> WaitCounts {
        var total = WaitCounts.zero
        for part in parts { total.add(part) }
        return total
    }

    func answered(within thresholdSeconds: Int) -> Int {
        histogram.reduce(0) { $0 + ($1.key <= thresholdSeconds ? $1.value : 0) }
    }

    /// Answered within the threshold as a percentage of offered calls; nil when nothing was offered.
    func serviceLevelPercent(thresholdSeconds: Int) -> Double? {
        offered == 0 ? nil : 100 * Double(answered(within: thresholdSeconds)) / Double(offered)
    }

    var abandonRatePercent: Double? {
        offered == 0 ? nil : 100 * Double(abandoned) / Double(offered)
    }

    var averageSpeedOfAnswerSeconds: Double? {
        answered == 0 ? nil : totalWaitSeconds / Double(answered)
    }

    /// The wait (whole seconds, rounded up) within which `fraction` of the answered calls were answered: the
    /// nearest-rank percentile. Nil when nothing was answered.
    func waitPercentile(_ fraction: Double) -> Int? {
        guard answered > 0 else { return nil }
        let rank = max(1, Int((fraction * Double(answered)).rounded(.up)))
        var seen = 0
        for (wait, count) in histogram.sorted(by: { $0.key < $1.key }) {
            seen += count
            if seen >= rank { return wait }
        }
        return histogram.keys.max()
    }

    /// The histogram as stored: `{"0":812,"21":3}`, keys in order.
    var encodedHistogram: String {
        "{" + histogram.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
    }

    /// Reads `encodedHistogram`'s format back, by hand: the aggregator reads one per stored row it adds to.
    static func decodeHistogram(_ text: String) throws -> [Int: Int] {
        var histogram: [Int: Int] = [:]
        var numbers: [Int] = []
        var current: Int? = nil
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let (product, overflow) = (current ?? 0).multipliedReportingOverflow(by: 10)
                guard !overflow else { throw HistogramFormatError(text: text) }
                current = product + Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "\""), UInt8(ascii: ":"), UInt8(ascii: ","):
                if let value = current { numbers.append(value); current = nil }
            case UInt8(ascii: " "):
                continue
            default:
                throw HistogramFormatError(text: text)
            }
        }
        guard current == nil, numbers.count % 2 == 0 else { throw HistogramFormatError(text: text) }
        for pair in stride(from: 0, to: numbers.count, by: 2) { histogram[numbers[pair], default: 0] += numbers[pair + 1] }
        return histogram
    }

    /// The histogram of `answered` calls of which the ones that waited at all are listed by bucket (`"3,21,5"`,
    /// as the full recount's GROUP_CONCAT gives them); the rest were answered at once.
    static func histogram(answered: Int, waitedBuckets: String?) -> [Int: Int] {
        var histogram: [Int: Int] = [:]
        var waited = 0
        for item in (waitedBuckets ?? "").split(separator: ",") {
            guard let bucket = Int(item.trimmingCharacters(in: .whitespaces)) else { continue }
            histogram[min(longestBucket, max(0, bucket)), default: 0] += 1
            waited += 1
        }
        if answered > waited { histogram[0, default: 0] += answered - waited }
        return histogram
    }
}

struct HistogramFormatError: Error {
    let text: String
}

/// The service-level settings a report is read against.
struct ServiceLevelTarget: Sendable, Equatable {
    var thresholdSeconds: Int
    var targetPercent: Double

    static let defaults = ServiceLevelTarget(thresholdSeconds: 20, targetPercent: 80)
}
