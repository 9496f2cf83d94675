import Foundation

/// One agent's (or a team's, summed) people-side figures for a UTC day: where its time went and how it answered
/// its offers. Pure: computed from the agent state log, its calls and the offer log by `PeopleMetrics.daily`.
struct PeopleDay: Sendable, Equatable {
    var date: String?
    /// Present and free: available presence time less the time on calls and in wrap-up (never below 0).
    var availableSeconds: Double = 0
    /// On calls, from assignment (or acceptance) to completion; each call counts, so two chats at once count twice.
    var talkSeconds: Double = 0
    /// After-call work, from completion to the end of its wrap-up.
    var wrapUpSeconds: Double = 0
    /// Away, by reason.
    var awaySeconds: [String: Double] = [:]
    var offlineSeconds: Double = 0
    var offersMade = 0
    var offersAccepted = 0
    var offersRejected = 0
    /// Offers that ran out.
    var offersMissed = 0
    /// Sum of the accepted offers' answer times, for the average.
    var answerSecondsTotal: Double = 0

    /// (talk + wrap-up) / (available + talk + wrap-up); nil when none of them.
    var occupancy: Double? {
        let busy = talkSeconds + wrapUpSeconds
        let total = availableSeconds + busy
        return total > 0 ? busy / total : nil
    }

    var avgAnswerSeconds: Double? { offersAccepted > 0 ? answerSecondsTotal / Double(offersAccepted) : nil }

    /// Days summed (agents of a team, days of a range): every time and count adds; occupancy and the average answer
    /// time are recomputed from the sums.
    static func combine(_ days: some Sequence<PeopleDay>, date: String? = nil) -> PeopleDay {
        var total = PeopleDay(date: date)
        for day in days {
            total.availableSeconds += day.availableSeconds
            total.talkSeconds += day.talkSeconds
            total.wrapUpSeconds += day.wrapUpSeconds
            total.awaySeconds.merge(day.awaySeconds, uniquingKeysWith: +)
            total.offlineSeconds += day.offlineSeconds
            total.offersMade += day.offersMade
            total.offersAccepted += day.offersAccepted
            total.offersRejected += day.offersRejected
            total.offersMissed += day.offersMissed
            total.answerSecondsTotal += day.answerSecondsTotal
        }
        return total
    }
}

enum PeopleMetrics {
    /// A row of the agent state log: a presence from `from` until `until` (nil: still so).
    struct Presence: Sendable {
        let presence: AgentPresence
        let reason: String?
        let from: Date
        let until: Date?
    }

    /// A call the agent answered: talk from `assignedAt` to `endedAt` (completion or cancellation; nil: still on it),
    /// then wrap-up to `wrapUpEnd` (nil: none; in the future: still wrapping up).
    struct Handled: Sendable {
        let assignedAt: Date
        let endedAt: Date?
        let wrapUpEnd: Date?
    }

    struct Offer: Sendable {
        let offeredAt: Date
        let resolvedAt: Date?
        let outcome: OfferLog.Outcome?
    }

    /// The agent's days from `range.from` to `range.to`, each interval cut at midnight UTC and nothing counted
    /// after `now`.
    static func daily(presence: [Presence], handled: [Handled], offers: [Offer], range: DayRange, now: Date) -> [PeopleDay] {
        let dayCount = range.from.days(until: range.to) + 1
        var days = (0..<dayCount).map { PeopleDay(date: range.from.adding(days: $0).description) }
        let start = range.from.startDate
        var availablePresence = [Double](repeating: 0, count: dayCount)

        /// Adds each day's share of [from, until) (until capped at now) to `add`.
        func spread(_ from: Date, _ until: Date?, _ add: (Int, Double) -> Void) {
            let end = min(until ?? now, now)
            guard end > from else { return }
            var index = max(0, Int(floor(from.timeIntervalSince(start) / 86_400)))
            while index < dayCount {
                let dayStart = start.addingTimeInterval(Double(index) * 86_400)
                let dayEnd = dayStart.addingTimeInterval(86_400)
                if dayStart >= end { break }
                let overlap = min(end, dayEnd).timeIntervalSince(max(from, dayStart))
                if overlap > 0 { add(index, overlap) }
                index += 1
            }
        }

        for row in presence {
            spread(row.from, row.until) { index, seconds in
                switch row.presence {
                case .available: availablePresence[index] += seconds
                case .away: days[index].awaySeconds[row.reason ?? "unspecified", default: 0] += seconds
                case .offline: days[index].offlineSeconds += seconds
                }
            }
        }
        for call in handled {
            spread(call.assignedAt, call.endedAt) { days[$0].talkSeconds += $1 }
            if let ended = call.endedAt, let wrapUpEnd = call.wrapUpEnd {
                spread(ended, wrapUpEnd) { days[$0].wrapUpSeconds += $1 }
            }
        }
        for index in days.indices {
            days[index].availableSeconds = max(0, availablePresence[index] - days[index].talkSeconds - days[index].wrapUpSeconds)
        }
        for offer in offers {
            let index = Int(floor(offer.offeredAt.timeIntervalSince(start) / 86_400))
            guard days.indices.contains(index) else { continue }
            days[index].offersMade += 1
            switch offer.outcome {
            case .accepted?:
                days[index].offersAccepted += 1
                if let answered = offer.resolvedAt { days[index].answerSecondsTotal += max(0, answered.timeIntervalSince(offer.offeredAt)) }
            case .rejected?: days[index].offersRejected += 1
            case .expired?: days[index].offersMissed += 1
            case .withdrawn?, .cancelled?, nil: break
            }
        }
        return days
    }
}

extension PeopleDay: Encodable {
    private enum CodingKeys: String, CodingKey {
        case date, availableSeconds, talkSeconds, wrapUpSeconds, awaySeconds, offlineSeconds, occupancy
        case offersMade, offersAccepted, offersRejected, offersMissed, avgAnswerSeconds
    }

    /// Seconds as answered: to tenths.
    static func tenths(_ value: Double) -> Double { (value * 10).rounded() / 10 }
    /// Occupancy as answered: to four places.
    var roundedOccupancy: Double? { occupancy.map { ($0 * 10_000).rounded() / 10_000 } }

    /// Every key is present (nulls where nothing was measured), seconds rounded to tenths.
    func encode(to encoder: any Encoder) throws {
        let tenths = Self.tenths
        var container = encoder.container(keyedBy: CodingKeys.self)
        if let date { try container.encode(date, forKey: .date) }
        try container.encode(tenths(availableSeconds), forKey: .availableSeconds)
        try container.encode(tenths(talkSeconds), forKey: .talkSeconds)
        try container.encode(tenths(wrapUpSeconds), forKey: .wrapUpSeconds)
        try container.encode(awaySeconds.mapValues(tenths), forKey: .awaySeconds)
        try container.encode(tenths(offlineSeconds), forKey: .offlineSeconds)
        try container.encode(roundedOccupancy, forKey: .occupancy)
        try container.encode(offersMade, forKey: .offersMade)
        try container.encode(offersAccepted, forKey: .offersAccepted)
        try container.encode(offersRejected, forKey: .offersRejected)
        try container.encode(offersMissed, forKey: .offersMissed)
        try container.encode(avgAnswerSeconds.map(tenths), forKey: .avgAnswerSeconds)
    }
}

/// An agent's (or a team's agents') people-side days over a range, and their totals.
struct PeopleSeriesDTO: Encodable, Sendable {
    let daily: [PeopleDay]
    let totals: PeopleDay
}
