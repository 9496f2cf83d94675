import FluentKit
import Foundation

final class SectorAgent: Model, TenantOwned, @unchecked Sendable {
    static let schema = "sector_agents"
    static let entityName = "agent"
    static var tenantKey: KeyPath<SectorAgent, FieldProperty<SectorAgent, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String

    @OptionalField(key: "external_id") var externalId: String?
    @Field(key: "name") var name: String
    @Field(key: "sector") var sector: String
    @Enum(key: "status") var status: ActiveStatus
    @Field(key: "priority") var priority: Int
    @Field(key: "capabilities") var capabilities: [String]
    /// `SkillLevel.stored`: see `capabilityLevels`.
    @OptionalField(key: "capability_levels") var storedCapabilityLevels: String?
    /// `AgentContact.stored`: where the person answers phone calls.
    @OptionalField(key: "contact") var storedContact: String?
    @Field(key: "max_concurrent") var maxConcurrent: Int
    /// Active calls now. Written only by the call lifecycle's atomic SQL, never by a client.
    @Field(key: "current_load") var currentLoad: Int
    @OptionalField(key: "channel_capacity_voice") var voiceCapacity: Int?
    @OptionalField(key: "channel_capacity_sms") var smsCapacity: Int?
    @OptionalField(key: "channel_capacity_whatsapp") var whatsappCapacity: Int?
    @OptionalField(key: "channel_capacity_email") var emailCapacity: Int?
    @OptionalField(key: "channel_capacity_webchat") var webchatCapacity: Int?
    /// Active calls per channel, like `current_load`: written only by the call lifecycle's atomic SQL.
    @Field(key: "channel_load_voice") var voiceLoad: Int
    @Field(key: "channel_load_sms") var smsLoad: Int
    @Field(key: "channel_load_whatsapp") var whatsappLoad: Int
    @Field(key: "channel_load_email") var emailLoad: Int
    @Field(key: "channel_load_webchat") var webchatLoad: Int
    @Field(key: "success_rate") var successRate: Double
    @Field(key: "avg_handling_time") var avgHandlingTime: Double
    /// Written only by the call writer (a presence change is a `CallChange`), like the loads.
    @Enum(key: "presence") var presence: AgentPresence
    @OptionalField(key: "presence_reason") var presenceReason: String?
    /// When `state` last changed (presence, or the first call taken or the last one ended).
    @OptionalField(key: "state_since") var stateSince: Date?
    /// This agent's after-call work in seconds; nil: the tenant's `calls.wrap_up_seconds`.
    @OptionalField(key: "wrap_up_seconds") var wrapUpSeconds: Int?
    /// The latest end of its open wrap-ups (nil when none is open). Written only by the call writer.
    @OptionalField(key: "wrap_up_until") var wrapUpUntil: Date?
    /// Offers it let run out in a row (reset by an accepted one). Written only by the call writer.
    @Field(key: "missed_offers") var missedOffers: Int
    /// When its last call or after-call work ended; nil: never (idle since `created_at`).
    @OptionalField(key: "last_call_ended_at") var lastCallEndedAt: Date?

    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}

    /// `channel_capacity` as the API writes it: the limited channels only.
    var channelCapacity: [CallChannel: Int] {
        get {
            var limits: [CallChannel: Int] = [:]
            for (channel, limit) in [(CallChannel.voice, voiceCapacity), (.sms, smsCapacity), (.whatsapp, whatsappCapacity),
                                     (.email, emailCapacity), (.webchat, webchatCapacity)] {
                if let limit { limits[channel] = limit }
            }
            return limits
        }
        set {
            voiceCapacity = newValue[.voice]
            smsCapacity = newValue[.sms]
            whatsappCapacity = newValue[.whatsapp]
            emailCapacity = newValue[.email]
            webchatCapacity = newValue[.webchat]
        }
    }

    /// Its levels in some of its capabilities (1–5; a capability without one is at the top level).
    var capabilityLevels: [String: Int] {
        get { SkillLevel.read(storedCapabilityLevels) }
        set { storedCapabilityLevels = SkillLevel.stored(newValue) }
    }

    var channelLoads: ChannelNumbers {
        ChannelNumbers(voice: voiceLoad, sms: smsLoad, whatsapp: whatsappLoad, email: emailLoad, webchat: webchatLoad)
    }
}

import SQLKit

extension SectorAgent {
    /// Every column, for reads that build the model from a plain row (`init(row:)`).
    static let columns = ["id", "external_id", "name", "sector", "status", "priority", "capabilities", "capability_levels",
                          "contact", "max_concurrent", "current_load", "success_rate", "avg_handling_time", "presence", "presence_reason", "state_since",
                          "wrap_up_seconds", "wrap_up_until", "missed_offers", "created_at", "updated_at"]
        + ChannelNumbers.capacityColumns + ChannelNumbers.loadColumns

    /// `columns` quoted once (both databases quote names with `"`): SQLKit escapes every name again at each
    /// statement, and serialising the read that answers a presence change took 8 % of the change's CPU (perf).
    static let columnList = SQLRaw(columns.map { "\"\($0)\"" }.joined(separator: ", "))

    /// The model from a row of `columns`, without Fluent's reflective decoding (a large share of a presence
    /// change's cost when the answer was read through Fluent).
    convenience init(row: any SQLRow) throws {
        self.init()
        id = try row.decode(column: "id", as: UUID.self)
        externalId = try row.decode(column: "external_id", as: String?.self)
        name = try row.decode(column: "name", as: String.self)
        sector = try row.decode(column: "sector", as: String.self)
        status = ActiveStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .inactive
        priority = try row.decode(column: "priority", as: Int.self)
        capabilities = try row.decode(column: "capabilities", as: [String].self)
        storedCapabilityLevels = try row.decode(column: "capability_levels", as: String?.self)
        storedContact = try row.decode(column: "contact", as: String?.self)
        maxConcurrent = try row.decode(column: "max_concurrent", as: Int.self)
        currentLoad = try row.decode(column: "current_load", as: Int.self)
        successRate = try row.decode(column: "success_rate", as: Double.self)
        avgHandlingTime = try row.decode(column: "avg_handling_time", as: Double.self)
        presence = AgentPresence(rawValue: try row.decode(column: "presence", as: String.self)) ?? .available
        presenceReason = try row.decode(column: "presence_reason", as: String?.self)
        stateSince = try row.decode(column: "state_since", as: Date?.self)
        wrapUpSeconds = try row.decode(column: "wrap_up_seconds", as: Int?.self)
        wrapUpUntil = try row.decode(column: "wrap_up_until", as: Date?.self)
        missedOffers = try row.decode(column: "missed_offers", as: Int.self)
        createdAt = try row.decode(column: "created_at", as: Date?.self)
        updatedAt = try row.decode(column: "updated_at", as: Date?.self)
        let limits = try ChannelNumbers(capacityFrom: row)
        channelCapacity = Dictionary(uniqueKeysWithValues: CallChannel.allCases.compactMap { channel in
            limits[channel] == .max ? nil : (channel, limits[channel])
        })
        let loads = try ChannelNumbers(loadsFrom: row)
        (voiceLoad, smsLoad, whatsappLoad, emailLoad, webchatLoad) = (loads[.voice], loads[.sms], loads[.whatsapp], loads[.email], loads[.webchat])
    }
}
