import Foundation

/// The typed configuration of each channel type, and the credentials each needs. Pure: no I/O.
enum ChannelConfigSchema {
    private struct Field {
        let name: String
        let required: Bool
        let validate: (JSONValue, String) throws -> JSONValue
    }

    static func validate(_ config: [String: JSONValue], for type: ChannelType) throws -> [String: JSONValue] {
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
        return result
    }

    /// Credential keys a channel of this type needs before it can work.
    static func requiredCredentials(for type: ChannelType) -> [String] {
        switch type {
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
            guard (1...64).contains(key.count) else { throw AppError.badRequest("credentials keys must be 1 to 64 characters") }
            guard let text = value.stringValue, (1...4096).contains(text.count) else {
                throw AppError.badRequest("credentials.\(key) must be a string of 1 to 4096 characters")
            }
            result[key] = text
        }
        return result
    }

    private static func fields(for type: ChannelType) -> [Field] {
        switch type {
        case .voice:
            [Field(name: "provider", required: true, validate: text(1...64)),
             Field(name: "phone_number", required: true, validate: e164)]
        case .sms:
            [Field(name: "provider", required: true, validate: text(1...64)),
             Field(name: "sender", required: true, validate: text(1...32))]
        case .whatsapp:
            [Field(name: "business_number", required: true, validate: e164),
             Field(name: "account_id", required: true, validate: text(1...64))]
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
            guard let text = value.stringValue, length.contains(text.count) else {
                throw AppError.badRequest("\(path) must be a string of \(length.lowerBound) to \(length.upperBound) characters")
            }
            return .string(text)
        }
    }

    private static func e164(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let text = value.stringValue, text.range(of: #"^\+[1-9][0-9]{6,14}$"#, options: .regularExpression) != nil else {
            throw AppError.badRequest("\(path) must be a phone number in E.164 form, such as +442071838750")
        }
        return .string(text)
    }

    private static func hostname(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let text = value.stringValue, text.count <= 253,
              text.range(of: #"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"#,
                         options: .regularExpression) != nil
        else { throw AppError.badRequest("\(path) must be a host name") }
        return .string(text.lowercased())
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
            guard let text = item.stringValue, text.count <= 253,
                  text.range(of: #"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"#, options: .regularExpression) != nil
            else { throw AppError.badRequest("\(path)[\(index)] must be an origin such as https://shop.example.com") }
            return .string(text.lowercased())
        })
    }

    private static func colour(_ value: JSONValue, _ path: String) throws -> JSONValue {
        guard let text = value.stringValue, text.range(of: #"^#[0-9A-Fa-f]{6}$"#, options: .regularExpression) != nil else {
            throw AppError.badRequest("\(path) must be a colour such as #1A73E8")
        }
        return .string(text.uppercased())
    }
}
