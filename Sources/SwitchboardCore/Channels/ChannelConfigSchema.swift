import Foundation

/// The typed configuration of each channel type, and the credentials each needs. Pure: no I/O.
enum ChannelConfigSchema {
    private struct Field {
        let name: String
        let required: Bool
        let validate: (JSONValue, String) throws -> JSONValue
    }

    /// The provider whose wire formats Switchboard speaks itself (`Twilio/`): its channels take calls with no glue.
    static let twilio = "twilio"

    /// Whether a channel of `type` with this (validated) configuration is a Twilio channel.
    static func isTwilio(_ config: [String: JSONValue], type: CallChannel) -> Bool {
        [.voice, .sms, .whatsapp].contains(type) && config["provider"]?.stringValue?.lowercased() == twilio
    }

    static func validate(_ config: [String: JSONValue], for type: CallChannel) throws -> [String: JSONValue] {
        let fields = fields(for: type)
        if let unknown = config.keys.sorted().first(where: { key in !fields.contains { $0.name == key } }) {
            throw AppError.badRequest("config.\(unknown) is not a \(type.rawValue) setting; expected: \(fields.map(\.name).joined(separator: ", "))")
        }
        var result: [String: JSONValue] = [:]
        for field in fields {
            let path = "config.\(field.name)"
            guard let value = config[field.name], value != .null else {
                if field.required { throw AppError.badRequest("\(path) is required for \(type.rawValue) channels") }
                continue
            }
            result[field.name] = try field.validate(value, path)
        }
        if isTwilio(result, type: type) {
            // Twilio speaks of numbers only (its WhatsApp senders are numbers too, and it has no account id).
            if type == .sms { _ = try e164(result["sender"] ?? .null, "config.sender") }
        } else if type == .whatsapp, result["account_id"] == nil {
            throw AppError.badRequest("config.account_id is required for whatsapp channels (unless config.provider is twilio)")
        }
        return result
    }

    /// Credential keys a channel of this type needs before it can work.
    static func requiredCredentials(for type: CallChannel, config: [String: JSONValue] = [:]) -> [String] {
        if isTwilio(config, type: type) { return TwilioCredentials.keys }
        return switch type {
        case .voice, .sms: ["api_key"]
        case .whatsapp: ["access_token"]
        case .email: ["username", "password"]
        case .webchat: []
        }
    }

    static func validateCredentials(_ credentials: [String: JSONValue]) throws -> [String: String] {
        guard credentials.count <= 20 else { throw AppError.badRequest("credentials may hold at most 20 entries") }
        var result: [String: String] = [:]
        for (key, value) in credentials {
            guard (1...64).contains(key.unicodeScalars.count), !key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw AppError.badRequest("credentials keys must be 1 to 64 characters, without control characters")
            }
            guard let text = value.stringValue, (1...4096).contains(text.utf8.count) else {
                throw AppError.badRequest("credentials.\(key) must be a string of 1 to 4096 bytes")
            }
            result[key] = text
        }
        return result
    }

    private static func fields(for type: CallChannel) -> [Field] {
        switch type {
        case .voice:
            [Field(name: "provider", required: true, validate: text(1...64)),
             Field(name: "phone_number", required: true, validate: e164)]
        case .sms:
            [Field(name: "provider", required: true, validate: text(1...64)),
             Field(name: "sender", required: true, validate: text(1...32))]
        case .whatsapp:
            [Field(name: "provider", required: false, validate: text(1...64)),
             Field(name: "business_number", required: true, validate: e164),
             Field(name: "account_id", required: false, validate: text(1...64))]
        case .email:
            [Field(name: "imap_host", required: true, validate: hostname),
             Field(name: "imap_port", required: false, validate: port),
             Field(name: "smtp_host", required: true, validate: hostname),
             Field(name: "smtp_port", required: false, validate: port),
             Field(name: "address", required: true, validate: email)]
        case .webchat:
            [Field(name: "allowed_origins", required: true, validate: origins),
             Field(name: "widget_colour", required: false, validate: colour)]
        }
    }

    private static func text(_ length: ClosedRange<Int>) -> (JSONValue, String) throws -> JSONValue {
        { value, path in
            guard let text = value.stringValue else {
                throw AppError.badRequest("\(path) must be a string of \(length.lowerBound) to \(length.upperBound) characters")
            }
            return .string(try Check.text(text, path, length: length))
        }
    }

    /// `pattern` matching the whole text: `\A…\z`, because `^…$` also accepts a trailing line break.
    private static func whole(_ text: String, _ pattern: String) -> Bool {
        text.range(of: "\\A(?:" + pattern + ")\\z", options: .regularExpression) != nil
    }

    private static func e164(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let text = value.stringValue, whole(text, #"\+[1-9][0-9]{6,14}"#) else {
            throw AppError.badRequest("\(path) must be a phone number in E.164 form, such as +442071838750")
        }
        return .string(text)
    }

    /// A mail host on the internet: a DNS name or IPv4 address, but never this machine or the link-local
    /// network (cloud metadata lives at 169.254.169.254): the service would be made to connect to itself.
    private static func hostname(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let text = value.stringValue?.lowercased(), text.utf8.count <= 253,
              whole(text, #"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"#)
        else { throw AppError.badRequest("\(path) must be a host name") }
        if text == "localhost" || text.hasSuffix(".localhost") || isLocalIPv4(text) {
            throw AppError.badRequest("\(path) must be a host on the network, not a loopback or link-local address")
        }
        return .string(text)
    }

    static func isLocalIPv4(_ text: String) -> Bool {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 != nil }) else {
            // Not an address in dotted form; a name made only of digits is read by resolvers as a number.
            return !text.isEmpty && text.allSatisfy { $0.isNumber || $0 == "." }
        }
        let first = octets[0]!, second = octets[1]!
        return first == 127 || first == 0 || (first == 169 && second == 254) || octets.contains { $0! > 255 }
    }

    private static func port(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let number = value.intValue, (1...65_535).contains(number) else {
            throw AppError.badRequest("\(path) must be a port number from 1 to 65535")
        }
        return .number(Double(number))
    }

    private static func email(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let text = value.stringValue else { throw AppError.badRequest("\(path) must be an email address") }
        return .string(try Check.email(text, path))
    }

    private static func origins(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let items = value.arrayValue, (1...20).contains(items.count) else {
            throw AppError.badRequest("\(path) must list 1 to 20 origins")
        }
        return .array(try items.enumerated().map { index, item in
            guard let text = item.stringValue?.lowercased(), text.utf8.count <= 253,
                  whole(text, #"https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?"#),
                  text.split(separator: ":").count < 3 || (1...65_535).contains(Int(text.split(separator: ":")[2]) ?? 0)
            else { throw AppError.badRequest("\(path)[\(index)] must be an origin such as https://shop.example.com") }
            return .string(text)
        })
    }

    private static func colour(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let text = value.stringValue, whole(text, #"#[0-9A-Fa-f]{6}"#) else {
            throw AppError.badRequest("\(path) must be a colour such as #1A73E8")
        }
        return .string(text.uppercased())
    }
}
