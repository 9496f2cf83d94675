import FluentKit
import Foundation

final class ChannelRecord: Model, TenantOwned, @unchecked Sendable {
    static let schema = "channels"
    static let entityName = "channel"
    static var tenantKey: KeyPath<ChannelRecord, FieldProperty<ChannelRecord, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String

    @Enum(key: "type") var type: CallChannel
    @Field(key: "name") var name: String
    @Enum(key: "status") var status: ActiveStatus
    /// Canonical JSON of the validated configuration.
    @Field(key: "config") var config: String
    /// `v1:` + base64 of AES-GCM nonce ‖ ciphertext ‖ tag; nil when no credentials were given.
    @OptionalField(key: "credentials_sealed") var credentialsSealed: String?
    /// Where its calls route: one team, or one sector (a Twilio channel needs exactly one).
    @OptionalField(key: "team_id") var teamId: UUID?
    @OptionalField(key: "sector") var sector: String?

    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}
