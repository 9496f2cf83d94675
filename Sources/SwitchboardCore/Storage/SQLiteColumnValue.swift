import Foundation
import SQLiteNIO


/// The column types every row is made of (text, ids, counts, flags, times, and their optionals), read from a SQLite
/// value directly, as `SQLiteDataDecoder` would read them, without its dynamic casts and decoders: the call writer
/// reads every changed call's two dozen columns this way. Anything else (or a value in an unusual form) answers nil,
/// and the row falls back to `SQLiteDataDecoder`, errors included.
enum SQLiteColumnValue {
    static func decode<D>(_ value: SQLiteData, as type: D.Type) -> D? {
        switch value {
        case .null:
            return none(as: D.self)
        case .text(let text):
            if let decoded = cast(text, to: D.self) { return decoded }
            if D.self == UUID.self || D.self == UUID?.self, let id = UUID(text: text) { return cast(id, to: D.self) }
            return nil
        case .integer(let number):
            if let decoded = cast(number, to: D.self) { return decoded }
            if D.self == Bool.self || D.self == Bool?.self, number == 0 || number == 1 { return cast(number == 1, to: D.self) }
            if D.self == Double.self || D.self == Double?.self { return cast(Double(number), to: D.self) }
            if D.self == Date.self || D.self == Date?.self { return cast(date(Double(number)), to: D.self) }
            return nil
        case .float(let number):
            if let decoded = cast(number, to: D.self) { return decoded }
            if D.self == Date.self || D.self == Date?.self { return cast(date(number), to: D.self) }
            return nil
        case .blob:
            return nil
        }
    }

    /// The bind values of every statement (text, ids, counts, flags, times, and their optionals), as
    /// `SQLiteDataEncoder` writes them; nil for anything else, which the encoder then writes.
    static func encode(_ value: any Encodable) -> SQLiteData? {
        written(value)
    }

    /// Compares the opened type rather than casting the existential (a dynamic cast per bind showed in the profile).
    private static func written<T: Encodable>(_ value: T) -> SQLiteData? {
        if let text = unwrapped(value, as: String.self) { return text.map { .text($0) } ?? .null }
        if let id = unwrapped(value, as: UUID.self) { return id.map { .text($0.text) } ?? .null }
        if let number = unwrapped(value, as: Int.self) { return number.map { .integer($0) } ?? .null }
        if let date = unwrapped(value, as: Date.self) { return date.map { .float($0.timeIntervalSince1970) } ?? .null }
        if let flag = unwrapped(value, as: Bool.self) { return flag.map { .integer($0 ? 1 : 0) } ?? .null }
        if let number = unwrapped(value, as: Double.self) { return number.map { .float($0) } ?? .null }
        return nil
    }

    /// `value` as `W?` when its type is `W` or `W?` (the outer nil: neither).
    @inline(__always)
    private static func unwrapped<T, W>(_ value: T, as: W.Type) -> W?? {
        if T.self == W.self { return .some(unsafeBitCast(value, to: W.self)) }
        if T.self == W?.self { return .some(unsafeBitCast(value, to: W?.self)) }
        return nil
    }

    /// `value` as `D` when `D` is its type or that type's optional.
    @inline(__always)
    private static func cast<T, D>(_ value: T, to: D.Type) -> D? {
        if D.self == T.self { return unsafeBitCast(value, to: D.self) }
        if D.self == T?.self { return unsafeBitCast(Optional(value), to: D.self) }
        return nil
    }

    private static func none<D>(as: D.Type) -> D? {
        if D.self == String?.self { return unsafeBitCast(String?.none, to: D.self) }
        if D.self == UUID?.self { return unsafeBitCast(UUID?.none, to: D.self) }
        if D.self == Int?.self { return unsafeBitCast(Int?.none, to: D.self) }
        if D.self == Double?.self { return unsafeBitCast(Double?.none, to: D.self) }
        if D.self == Bool?.self { return unsafeBitCast(Bool?.none, to: D.self) }
        if D.self == Date?.self { return unsafeBitCast(Date?.none, to: D.self) }
        return nil
    }

    /// As sqlite-nio stores and reads dates: seconds since 1970, rounded to the microsecond.
    private static func date(_ secondsSince1970: Double) -> Date {
        let sinceReference = secondsSince1970 - Date.timeIntervalBetween1970AndReferenceDate
        return Date(timeIntervalSinceReferenceDate: (sinceReference * 1e6).rounded() / 1e6)
    }
}
