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
    /// Decodes the JSON body; decoding failures become 400s naming the field (see ErrorEnvelopeMiddleware).
    func decodeBody<T: Decodable>(_ type: T.Type, literalKeys: Bool = false) throws -> T {
        guard let body = self.body.data, body.readableBytes > 0 else {
            throw AppError.badRequest("a JSON body is required")
        }
        if let contentType = headers.contentType, contentType != .json {
            throw AppError(.unsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
        }
        let data = Data(buffer: body)
        if literalKeys { return try WireJSON.literalDecoder().decode(T.self, from: data) }
        // Optional fields may be left out, but an explicit null is a wrong type, not "absent". Only a body that
        // contains the bytes `null` somewhere can hold one, so most bodies skip this second decode.
        if data.containsNullLiteral, let object = try? JSONDecoder().decode([String: JSONValue].self, from: data),
           let key = object.keys.sorted().first(where: { object[$0] == .null }) {
            throw AppError.badRequest("field '\(key)' must not be null; leave it out instead")
        }
        return try WireJSON.decoder().decode(T.self, from: data)
    }
}

private extension Data {
    var containsNullLiteral: Bool {
        withUnsafeBytes { bytes in
            guard bytes.count >= 4 else { return false }
            for index in 0...(bytes.count - 4) where bytes[index] == UInt8(ascii: "n") {
                if bytes[index + 1] == UInt8(ascii: "u") && bytes[index + 2] == UInt8(ascii: "l")
                    && bytes[index + 3] == UInt8(ascii: "l") { return true }
            }
            return false
        }
    }
}
