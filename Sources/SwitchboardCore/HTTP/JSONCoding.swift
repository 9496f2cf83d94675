import Foundation
import Vapor

/// The wire format: snake_case keys, RFC 3339 UTC times. Swift properties are camelCase with `Id`
/// spelled so that the automatic conversion round-trips (`teamId` <-> `team_id`).
enum WireJSON {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// For bodies that are maps of free-form keys (settings, channel config), where key conversion
    /// would rewrite the user's own keys.
    static func literalDecoder() -> JSONDecoder {
        JSONDecoder()
    }

    static func literalEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func snakeCase(_ camel: String) -> String {
        var result = ""
        for character in camel {
            if character.isUppercase {
                if !result.isEmpty && !result.hasSuffix("_") { result.append("_") }
                result.append(contentsOf: character.lowercased())
            } else {
                result.append(character)
            }
        }
        return result.replacingOccurrences(of: "_i_d", with: "_id")
    }
}

extension Request {
    /// Decodes the JSON body in one pass of the decoder; decoding failures become 400s naming the field (see
    /// ErrorEnvelopeMiddleware). A byte scan first bounds the work (nesting depth, number of values) and finds
    /// explicit nulls among the top-level fields: an optional field may be left out, but `null` is a wrong
    /// type, not "absent" (except in `clearable` fields, where `null` removes a value: `Settable`). Bodies larger
    /// than `offLoopThreshold` are decoded on the thread pool, so a large body never holds up the event loop's
    /// other connections.
    func decodeBody<T: Decodable & Sendable>(
        _ type: T.Type, literalKeys: Bool = false, maxValues: Int = JSONShape.maxValues, clearable: Set<String> = []
    ) async throws -> T {
        guard let body = self.body.data, body.readableBytes > 0 else {
            throw AppError.badRequest("a JSON body is required")
        }
        if let contentType = headers.contentType, contentType != .json {
            throw AppError(.unsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
        }
        let data = Data(buffer: body)
        let decode: @Sendable () throws -> T = {
            let shape = try JSONShape.inspect(data, maxValues: maxValues)
            if literalKeys { return try WireJSON.literalDecoder().decode(T.self, from: data) }
            if let key = shape.nullFields.first(where: { !clearable.contains($0) }) {
                throw AppError.badRequest("field '\(key)' must not be null; leave it out instead")
            }
            return try WireJSON.decoder().decode(T.self, from: data)
        }
        guard data.count > JSONShape.offLoopThreshold else { return try decode() }
        return try await application.threadPool.runIfActive(eventLoop: eventLoop, decode).get()
    }
}

/// A single linear scan of a JSON text that bounds what decoding it may cost, before it is decoded. It does
/// not validate (the decoder does); it tracks strings, so brackets and `null` inside them are not counted.
enum JSONShape {
    static let maxDepth = 32
    static let maxValues = 10_000
    /// Well above any ordinary write (a call is about 100 bytes), so only unusual bodies pay for the hand-off.
    static let offLoopThreshold = 4 * 1024

    struct Shape: Equatable {
        /// The fields of a top-level object whose value is the literal `null`, in order.
        var nullFields: [String] = []
        var firstNullField: String? { nullFields.first }
    }

    static func inspect(_ data: Data, maxValues: Int = JSONShape.maxValues) throws -> Shape {
        try data.withUnsafeBytes { try inspect($0, maxValues: maxValues) }
    }

    static func inspect(_ bytes: UnsafeRawBufferPointer, maxValues: Int = JSONShape.maxValues) throws -> Shape {
        var shape = Shape()
        var depth = 0, values = 0, index = 0
        var topIsObject = false, awaitingKey = false
        var lastKey = ""
        func countValue() throws {
            values += 1
            guard values <= maxValues else {
                throw AppError.badRequest("the JSON body has too many values (limit \(maxValues))")
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let start = index + 1
                index = start
                while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") {
                        // `\u0000`: no text column of PostgreSQL can hold it, so no field of ours takes it.
                        if index + 5 < bytes.count, bytes[index + 1] == UInt8(ascii: "u"),
                           bytes[index + 2] == UInt8(ascii: "0"), bytes[index + 3] == UInt8(ascii: "0"),
                           bytes[index + 4] == UInt8(ascii: "0"), bytes[index + 5] == UInt8(ascii: "0") {
                            let field = depth == 1 && topIsObject && !awaitingKey ? lastKey : nil
                            throw AppError.badRequest("\(field ?? "the JSON body") must not contain the NUL character (\\u0000)")
                        }
                        index += 2
                    } else {
                        index += 1
                    }
                }
                if depth == 1 && topIsObject && awaitingKey {
                    lastKey = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(index, bytes.count)]), as: UTF8.self)
                    awaitingKey = false
                } else {
                    try countValue()
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                try countValue()
                depth += 1
                guard depth <= maxDepth else {
                    throw AppError.badRequest("the JSON body is nested too deeply (limit \(maxDepth) levels)")
                }
                if depth == 1 {
                    topIsObject = byte == UInt8(ascii: "{")
                    awaitingKey = topIsObject
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 && topIsObject { awaitingKey = true }
            case UInt8(ascii: "n"), UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                if byte == UInt8(ascii: "n") && depth == 1 && topIsObject && !awaitingKey {
                    shape.nullFields.append(lastKey)
                }
                try countValue()
                while index + 1 < bytes.count, isLiteralByte(bytes[index + 1]) { index += 1 }
            default:
                break
            }
            index += 1
        }
        return shape
    }

    private static func isLiteralByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}

/// A field that is always in the answer: an absent value is written as `null`, where synthesized `Encodable` would
/// leave the key out. For answers whose every key a client may rely on.
@propertyWrapper
struct NullWhenAbsent<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension NullWhenAbsent: Equatable where Value: Equatable {}

extension NullWhenAbsent: Decodable where Value: Decodable {
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }
}

/// A field of a partial update that can be left out (no change), set, or cleared with `null`: synthesized
/// `Decodable` reads both an absent key and `null` as nil, which would make an override impossible to remove.
@propertyWrapper
struct Settable<Value: Decodable & Sendable>: Decodable, Sendable {
    enum Change: Sendable {
        case unchanged, cleared, set(Value)
    }

    var wrappedValue: Change

    init(wrappedValue: Change = .unchanged) { self.wrappedValue = wrappedValue }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? .cleared : .set(try container.decode(Value.self))
    }
}

extension KeyedDecodingContainer {
    /// An absent key is `.unchanged` (synthesized `Decodable` calls this for `Settable` properties).
    func decode<Value>(_ type: Settable<Value>.Type, forKey key: Key) throws -> Settable<Value> {
        guard contains(key) else { return Settable() }
        return try decodeNil(forKey: key) ? Settable(wrappedValue: .cleared) : Settable(from: superDecoder(forKey: key))
    }
}
