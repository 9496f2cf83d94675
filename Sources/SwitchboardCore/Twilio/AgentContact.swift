import Foundation

/// Where a person who is an agent answers a phone call: a SIP address, a Twilio Client identity (a browser or app
/// softphone), or a phone number. A voice call is dialled to the first present, in that order. Pure.
struct AgentContact: Codable, Sendable, Equatable {
    var sip: String?
    var client: String?
    var phone: String?

    enum Target: Sendable, Equatable {
        case sip(String)
        case client(String)
        case phone(String)
    }

    var target: Target? {
        if let sip { return .sip(sip) }
        if let client { return .client(client) }
        if let phone { return .phone(phone) }
        return nil
    }

    var isEmpty: Bool { sip == nil && client == nil && phone == nil }

    /// `contact` as a request gives it: only `sip`, `client` and `phone`, each a string; nil for `{}`.
    static func validated(_ object: [String: JSONValue]) throws -> AgentContact? {
        if let stranger = object.keys.sorted().first(where: { !["sip", "client", "phone"].contains($0) }) {
            throw AppError.badRequest("contact.\(stranger) is not a contact field; contact takes sip, client and phone")
        }
        func text(_ name: String) throws -> String? {
            guard let value = object[name] else { return nil }
            guard let text = value.stringValue else { throw AppError.badRequest("contact.\(name) must be a string (leave it out for none)") }
            return text
        }
        return try AgentContact(sip: text("sip"), client: text("client"), phone: text("phone")).validated()
    }

    /// One CSV cell (or the dashboard's field): `sip:…`/`sips:…`, `client:` and an identity, or an E.164 number.
    static func validated(cell: String) throws -> AgentContact? {
        let text = cell.trimmingCharacters(in: .whitespaces)
        let lowered = text.lowercased()
        if lowered.hasPrefix("sip:") || lowered.hasPrefix("sips:") { return try AgentContact(sip: text).validated() }
        if lowered.hasPrefix("client:") { return try AgentContact(client: String(text.dropFirst(7))).validated() }
        if text.hasPrefix("+") { return try AgentContact(phone: text).validated() }
        throw AppError.badRequest("contact must be a SIP address (sip:ann@example.com), client: and a Twilio Client identity, "
            + "or an E.164 number (+442071838750)")
    }

    /// Each present field checked, `contact.<field>` named in the 400; an empty object is no contact.
    func validated() throws -> AgentContact? {
        if let sip, !Self.whole(sip, #"sips?:([A-Za-z0-9._~!$&'()*+,;=%-]+@)?[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?(;[A-Za-z0-9._~-]+(=[A-Za-z0-9._~-]+)?)*"#) || sip.utf8.count > 512 {
            throw AppError.badRequest("contact.sip must be a SIP URI such as sip:alice@example.sip.twilio.com")
        }
        if let client, !Self.whole(client, "[A-Za-z0-9_]{1,121}") {
            throw AppError.badRequest("contact.client must be a Twilio Client identity: 1 to 121 letters, digits or '_'")
        }
        if let phone, !Self.whole(phone, #"\+[1-9][0-9]{1,14}"#) {
            throw AppError.badRequest("contact.phone must be an E.164 number: + then the country code and number, digits only (e.g. +442071838750)")
        }
        return isEmpty ? nil : self
    }

    /// As stored: canonical JSON text, nil for none.
    var stored: String? {
        var object: [String: JSONValue] = [:]
        if let sip { object["sip"] = .string(sip) }
        if let client { object["client"] = .string(client) }
        if let phone { object["phone"] = .string(phone) }
        return object.isEmpty ? nil : JSONValue.object(object).canonicalText
    }

    static func read(_ stored: String?) -> AgentContact? {
        guard let stored, let object = (try? JSONValue(canonicalText: stored))?.objectValue else { return nil }
        let contact = AgentContact(sip: object["sip"]?.stringValue, client: object["client"]?.stringValue,
                                   phone: object["phone"]?.stringValue)
        return contact.isEmpty ? nil : contact
    }

    private static func whole(_ text: String, _ pattern: String) -> Bool {
        text.range(of: "\\A(?:" + pattern + ")\\z", options: .regularExpression) != nil
    }
}
