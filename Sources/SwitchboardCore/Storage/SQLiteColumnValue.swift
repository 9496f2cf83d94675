import Foundation
import SQLiteNIO


/// The column types every row is made of (text, ids, counts, flags, times, lists of names, and their optionals), read
/// from a SQLite value directly, as `SQLiteDataDecoder` would read them, without its dynamic casts and decoders: the
/// call writer reads every changed call's two dozen columns this way. Anything else (or a value in an unusual form)
/// answers nil, and the row falls back to `SQLiteDataDecoder`, errors included.
enum SQLiteColumnValue {
    static func decode<D>(_ value: SQLiteData, as type: D.Type) -> D? {
        switch value {
        case .null:
            return none(as: D.self)
        case .text(let text):
            if let decoded = cast(text, to: D.self) { return decoded }
            if either(D.self, UUID.self), let id = UUID(text: text) { return cast(id, to: D.self) }
            if either(D.self, [String].self), let names = NameList.read(text) { return cast(names, to: D.self) }
            return nil
        case .integer(let number):
            if let decoded = cast(number, to: D.self) { return decoded }
            if either(D.self, Bool.self), number == 0 || number == 1 { return cast(number == 1, to: D.self) }
            if either(D.self, Double.self) { return cast(Double(number), to: D.self) }
            if either(D.self, Date.self) { return cast(date(Double(number)), to: D.self) }
            return nil
        case .float(let number):
            if let decoded = cast(number, to: D.self) { return decoded }
            if either(D.self, Date.self) { return cast(date(number), to: D.self) }
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
        if let names = unwrapped(value, as: [String].self) {
            guard let names else { return .null }
            return NameList.written(names).map { .text($0) }
        }
        return nil
    }

    /// Whether `D` is `W` or `W?`.
    @inline(__always)
    private static func either<D, W>(_: D.Type, _: W.Type) -> Bool {
        D.self == W.self || D.self == W?.self
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
        if D.self == [String]?.self { return unsafeBitCast([String]?.none, to: D.self) }
        return nil
    }

    /// As sqlite-nio stores and reads dates: seconds since 1970, rounded to the microsecond.
    private static func date(_ secondsSince1970: Double) -> Date {
        let sinceReference = secondsSince1970 - Date.timeIntervalBetween1970AndReferenceDate
        return Date(timeIntervalSinceReferenceDate: (sinceReference * 1e6).rounded() / 1e6)
    }
}

/// Lists of names (capabilities, required capabilities, the agents that declined a call), which sqlite-kit keeps as
/// JSON text, in the one form `JSONEncoder` gives names of plain characters: `["a","b"]`. Any other list, or a
/// name that JSON would escape, answers nil and goes through sqlite-kit's JSON coders.
enum NameList {
    static func read(_ text: String) -> [String]? {
        var utf8 = text.utf8[...]
        guard utf8.popFirst() == UInt8(ascii: "["), utf8.popLast() == UInt8(ascii: "]") else { return nil }
        var names: [String] = []
        while !utf8.isEmpty {
            if !names.isEmpty { guard utf8.popFirst() == UInt8(ascii: ",") else { return nil } }
            guard utf8.popFirst() == UInt8(ascii: "\""),
                  let end = utf8.firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }),
                  utf8[end] == UInt8(ascii: "\"") else { return nil }
            names.append(String(Substring(utf8[..<end])))
            utf8 = utf8[utf8.index(after: end)...]
        }
        return names
    }

    static func written(_ names: [String]) -> String? {
        var text = "["
        for (index, name) in names.enumerated() {
            guard name.utf8.allSatisfy(isPlain) else { return nil }
            text += index == 0 ? "\"" : ",\""
            text += name
            text += "\""
        }
        return text + "]"
    }

    /// Printable ASCII that `JSONEncoder` writes as it is (it escapes quotes, backslashes and slashes).
    private static func isPlain(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "/")
    }
}
