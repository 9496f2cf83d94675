import Foundation

/// A calendar day in UTC, written `YYYY-MM-DD` on the wire and in the database (which sorts it correctly as text).
struct Day: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    let year: Int
    let month: Int
    let dayOfMonth: Int

    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              let date = Self.calendar.date(from: DateComponents(year: year, month: month, day: day))
        else { return nil }
        let check = Self.calendar.dateComponents([.year, .month, .day], from: date)
        guard check.year == year, check.month == month, check.day == day else { return nil }
        (self.year, self.month, self.dayOfMonth) = (year, month, day)
    }

    init(containing date: Date) {
        let parts = Self.calendar.dateComponents([.year, .month, .day], from: date)
        (year, month, dayOfMonth) = (parts.year!, parts.month!, parts.day!)
    }

    var startDate: Date {
        Self.calendar.date(from: DateComponents(year: year, month: month, day: dayOfMonth))!
    }

    func adding(days: Int) -> Day {
        Day(containing: Self.calendar.date(byAdding: .day, value: days, to: startDate)!)
    }

    func days(until other: Day) -> Int {
        Self.calendar.dateComponents([.day], from: startDate, to: other.startDate).day!
    }

    var description: String {
        String(format: "%04d-%02d-%02d", year, month, dayOfMonth)
    }

    static func < (lhs: Day, rhs: Day) -> Bool { lhs.description < rhs.description }

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let day = Day(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected YYYY-MM-DD"))
        }
        self = day
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An inclusive range of days, validated the same way everywhere: from ≤ to, at most 366 days.
struct DayRange: Sendable {
    let from: Day
    let to: Day

    static let maximumDays = 366

    static func parse(_ query: QueryParameters, defaultDays: Int = 30, today: Day = Day(containing: Date())) throws -> DayRange {
        let to = try query.day("to") ?? today
        let from = try query.day("from") ?? to.adding(days: -(defaultDays - 1))
        guard from <= to else { throw AppError.badRequest("from must not be after to") }
        guard from.days(until: to) < maximumDays else {
            throw AppError.badRequest("the range from..to may cover at most \(maximumDays) days")
        }
        return DayRange(from: from, to: to)
    }
}
