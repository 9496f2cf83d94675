import Foundation

struct ChannelDTO: Encodable, Sendable {
    let id: UUID
    let type: CallChannel
    let name: String
    let status: ActiveStatus
    let config: [String: JSONValue]
    let credentialsSet: Bool
    /// Where its calls route: a team, or a sector (null: not set).
    @NullWhenAbsent var teamId: UUID?
    @NullWhenAbsent var sector: String?
    /// A Twilio channel's addresses to paste into Twilio's console (null for other channels, or while
    /// `SWITCHBOARD_PUBLIC_URL` is unset).
    @NullWhenAbsent var webhookUrls: [String: String]?
    let createdAt: Date?
    let updatedAt: Date?

    init(_ record: ChannelRecord, publicURL: String?) throws {
        id = record.id!
        type = record.type
        name = record.name
        status = record.status
        config = try JSONValue(canonicalText: record.config).objectValue ?? [:]
        credentialsSet = record.credentialsSealed != nil
        teamId = record.teamId
        sector = record.sector
        webhookUrls = ChannelConfigSchema.isTwilio(config, type: type)
            ? publicURL.map { TwilioHooks(publicURL: $0, channelId: record.id!).published(for: record.type) } : nil
        createdAt = record.createdAt
        updatedAt = record.updatedAt
    }
}

/// `POST` and `PUT /api/channels`. Read with literal keys: `config` holds the user's own snake_case names.
/// `credentials`: absent leaves them as they are, `null` removes them, an object replaces them.
struct ChannelInput: Decodable, Sendable {
    var type: String?
    var name: String?
    var status: String?
    var config: [String: JSONValue]?
    var credentials: CredentialsChange
    /// Where its calls route; setting one clears the other, `null` clears it.
    var teamId: Settable<UUID>.Change = .unchanged
    var sector: Settable<String>.Change = .unchanged

    enum CredentialsChange: Sendable, Equatable {
        case keep, remove, replace([String: JSONValue])
    }

    private enum CodingKeys: String, CodingKey {
        case type, name, status, config, credentials
        case teamId = "team_id", sector
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        status = try container.decodeIfPresent(String.self, forKey: .status)
        config = try container.decodeIfPresent([String: JSONValue].self, forKey: .config)
        if !container.contains(.credentials) {
            credentials = .keep
        } else if try container.decodeNil(forKey: .credentials) {
            credentials = .remove
        } else {
            credentials = .replace(try container.decode([String: JSONValue].self, forKey: .credentials))
        }
        teamId = try Self.change(of: .teamId, in: container)
        sector = try Self.change(of: .sector, in: container)
    }

    private static func change<Value: Decodable>(of key: CodingKeys, in container: KeyedDecodingContainer<CodingKeys>) throws
        -> Settable<Value>.Change {
        guard container.contains(key) else { return .unchanged }
        return try container.decodeNil(forKey: key) ? .cleared : .set(try container.decode(Value.self, forKey: key))
    }
}

struct ChannelTestDTO: Encodable, Sendable {
    struct Check: Encodable, Sendable {
        let check: String
        let ok: Bool
        let detail: String
    }

    let channelId: UUID
    let ok: Bool
    let checks: [Check]
    let networkCallMade: Bool
    let note: String
}
