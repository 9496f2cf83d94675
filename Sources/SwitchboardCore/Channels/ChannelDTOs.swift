import Foundation

struct ChannelDTO: Encodable, Sendable {
    let id: UUID
    let type: CallChannel
    let name: String
    let status: ActiveStatus
    let config: [String: JSONValue]
    let credentialsSet: Bool
    let createdAt: Date?
    let updatedAt: Date?

    init(_ record: ChannelRecord) throws {
        id = record.id!
        type = record.type
        name = record.name
        status = record.status
        config = try JSONValue(canonicalText: record.config).objectValue ?? [:]
        credentialsSet = record.credentialsSealed != nil
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

    enum CredentialsChange: Sendable, Equatable {
        case keep, remove, replace([String: JSONValue])
    }

    private enum CodingKeys: String, CodingKey { case type, name, status, config, credentials }

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
