import Foundation
import Vapor

/// Field checks shared by every DTO. Each throws a 400 that names the field in wire spelling.
enum Check {
    /// Trimmed, at most `length` Unicode scalars (what JSON Schema's `maxLength` counts; a character count
    /// would let one base letter carry any number of combining marks), free of control characters (line
    /// breaks and tabs only where `lineBreaks` allows them), and normalised to NFC so that the same text typed
    /// two ways is one name.
    static func text(_ value: String, _ field: String, length: ClosedRange<Int>, lineBreaks: Bool = false) throws -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        // The limit holds for the text as sent too (as the published schema's maxLength does), spaces included.
        guard length.contains(trimmed.unicodeScalars.count), value.unicodeScalars.count <= length.upperBound else {
            if trimmed.isEmpty && length.lowerBound > 0 { throw AppError.badRequest("\(field) must not be empty") }
            throw AppError.badRequest("\(field) must be \(length.lowerBound) to \(length.upperBound) characters")
        }
        if trimmed.unicodeScalars.contains(where: { isControl($0, lineBreaks: lineBreaks) }) {
            throw AppError.badRequest("\(field) must not contain control characters")
        }
        // ASCII is already NFC; Foundation's normalisation is costly enough to matter on every call.
        return trimmed.utf8.allSatisfy { $0 < 0x80 } ? trimmed : trimmed.precomposedStringWithCanonicalMapping
    }

    static func optionalText(_ value: String?, _ field: String, maxLength: Int, lineBreaks: Bool = false) throws -> String? {
        guard let value else { return nil }
        return try text(value, field, length: 0...maxLength, lineBreaks: lineBreaks)
    }

    static func isControl(_ scalar: Unicode.Scalar, lineBreaks: Bool = false) -> Bool {
        if lineBreaks && (scalar == "\n" || scalar == "\r" || scalar == "\t") { return false }
        return scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    static func number<N: Comparable & CustomStringConvertible>(_ value: N, _ field: String, in range: ClosedRange<N>) throws -> N {
        guard range.contains(value) else {
            throw AppError.badRequest("\(field) must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    static func finite(_ value: Double, _ field: String, in range: ClosedRange<Double>) throws -> Double {
        guard value.isFinite else { throw AppError.badRequest("\(field) must be a finite number") }
        return try number(value, field, in: range)
    }

    static func email(_ value: String, _ field: String = "email") throws -> String {
        let email = try text(value, field, length: 3...254).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
              !parts[1].hasSuffix("."), !email.contains(where: \.isWhitespace)
        else { throw AppError.badRequest("\(field) must be an email address") }
        return email
    }

    static func oneOf<E: RawRepresentable & CaseIterable>(_ raw: String, _ field: String, as type: E.Type) throws -> E
    where E.RawValue == String {
        guard let value = E(rawValue: raw) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            throw AppError.badRequest("\(field) must be one of: \(allowed)")
        }
        return value
    }

    static func labels(_ values: [String], _ field: String, maxCount: Int, maxLength: Int) throws -> [String] {
        guard values.count <= maxCount else { throw AppError.badRequest("\(field) may hold at most \(maxCount) items") }
        var seen = Set<String>()
        var result: [String] = []
        for (index, raw) in values.enumerated() {
            let label = try text(raw, "\(field)[\(index)]", length: 1...maxLength).lowercased()
            if seen.insert(label).inserted { result.append(label) }
        }
        return result
    }
}

/// Reads query-string parameters with the same 400-naming-the-field discipline as bodies.
struct QueryParameters {
    let request: Request

    init(_ request: Request) { self.request = request }

    /// Present-but-empty (`?to=`) counts as given, so typed parameters reject it rather than silently ignore it.
    func string(_ name: String, maxLength: Int = 200) throws -> String? {
        guard let raw = request.query[String.self, at: name] else { return nil }
        guard raw.unicodeScalars.count <= maxLength else {
            throw AppError.badRequest("\(name) must be at most \(maxLength) characters")
        }
        // PostgreSQL's text cannot hold NUL (it would answer with an error, SQLite with a match): refused here, so
        // that both databases answer the same, and no filter carries other control characters either.
        if raw.unicodeScalars.contains(where: { Check.isControl($0) }) {
            throw AppError.badRequest("\(name) must not contain control characters")
        }
        return raw
    }

    func uuid(_ name: String) throws -> UUID? {
        guard let raw = try string(name, maxLength: 64) else { return nil }
        guard let id = UUID(text: raw) else { throw AppError.badRequest("\(name) must be a valid UUID") }
        return id
    }

    func uuidList(_ name: String, maxCount: Int) throws -> [UUID]? {
        guard let raw = try string(name, maxLength: 40 * maxCount) else { return nil }
        let parts = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count <= maxCount else { throw AppError.badRequest("\(name) may list at most \(maxCount) ids") }
        return try parts.map { part in
            guard let id = UUID(text: part) else { throw AppError.badRequest("\(name) must be comma-separated UUIDs") }
            return id
        }
    }

    func int(_ name: String, in range: ClosedRange<Int>, default defaultValue: Int) throws -> Int {
        guard let raw = try string(name, maxLength: 20) else { return defaultValue }
        guard let value = Int(raw), range.contains(value) else {
            throw AppError.badRequest("\(name) must be an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    func oneOf<E: RawRepresentable & CaseIterable>(_ name: String, as type: E.Type) throws -> E? where E.RawValue == String {
        guard let raw = try string(name, maxLength: 64) else { return nil }
        return try Check.oneOf(raw, name, as: type)
    }

    func day(_ name: String) throws -> Day? {
        guard let raw = try string(name, maxLength: 10) else { return nil }
        guard let day = Day(raw) else { throw AppError.badRequest("\(name) must be a date as YYYY-MM-DD") }
        return day
    }

    func page(defaultLimit: Int = 50, maxLimit: Int = 500) throws -> Page {
        Page(
            limit: try int("limit", in: 1...maxLimit, default: defaultLimit),
            offset: try int("offset", in: 0...1_000_000_000, default: 0)
        )
    }
}

struct Page: Sendable {
    let limit: Int
    let offset: Int

    func meta(total: Int) -> PageMeta { PageMeta(total: total, limit: limit, offset: offset) }
}

extension Request {
    /// A path id; a malformed one is a 400 naming the parameter.
    func idParameter(_ name: String) throws -> UUID {
        guard let raw = pathParameter(name), let id = UUID(text: raw) else {
            throw AppError.badRequest("\(name) must be a valid UUID")
        }
        return id
    }
}

/// An integer field read through `Double`, because Foundation reports a fractional or huge number given
/// for an `Int` as unparseable JSON without naming the field. Range checks then say what is allowed.
struct WholeNumber: Decodable, Sendable {
    let value: Int

    init(from decoder: any Decoder) throws {
        let number = try decoder.singleValueContainer().decode(Double.self)
        guard number.isFinite, number.rounded() == number else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a whole number"))
        }
        value = abs(number) < 1e15 ? Int(number) : (number > 0 ? Int.max : Int.min)
    }
}
