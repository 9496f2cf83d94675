import Foundation
import SQLKit

/// One number per call channel, stored inline (no allocation), so every agent of a large book can carry its
/// per-channel loads and limits at no cost to agents that have none.
struct ChannelNumbers: Sendable, Equatable {
    var voice = 0, sms = 0, whatsapp = 0, email = 0, webchat = 0

    static let zero = ChannelNumbers()
    /// Capacities of an agent without `channel_capacity`: any channel may take up to the total.
    static let unlimited = ChannelNumbers(voice: .max, sms: .max, whatsapp: .max, email: .max, webchat: .max)

    subscript(channel: CallChannel) -> Int {
        get {
            switch channel {
            case .voice: voice
            case .sms: sms
            case .whatsapp: whatsapp
            case .email: email
            case .webchat: webchat
            }
        }
        set {
            switch channel {
            case .voice: voice = newValue
            case .sms: sms = newValue
            case .whatsapp: whatsapp = newValue
            case .email: email = newValue
            case .webchat: webchat = newValue
            }
        }
    }

    /// Capacities from `channel_capacity`: channels it leaves out are limited by the total only.
    init(capacity: [CallChannel: Int]) {
        self = .unlimited
        for (channel, limit) in capacity { self[channel] = limit }
    }

    init(voice: Int = 0, sms: Int = 0, whatsapp: Int = 0, email: Int = 0, webchat: Int = 0) {
        (self.voice, self.sms, self.whatsapp, self.email, self.webchat) = (voice, sms, whatsapp, email, webchat)
    }

    /// The channels whose load has reached its limit, as `CallChannel.bit`s.
    static func full(loads: ChannelNumbers, capacity: ChannelNumbers) -> UInt8 {
        CallChannel.allCases.reduce(0) { mask, channel in loads[channel] >= capacity[channel] ? mask | channel.bit : mask }
    }

    /// Loads in `CallChannel.allCases` order (as PostgreSQL's JSON carries them); missing ones are zero.
    init(loads: [Int]) {
        self = .zero
        for (channel, load) in zip(CallChannel.allCases, loads) { self[channel] = load }
    }

    /// Limits in `CallChannel.allCases` order, nil for none.
    init(limits: [Int?]) {
        self = .unlimited
        for (channel, limit) in zip(CallChannel.allCases, limits) { if let limit { self[channel] = limit } }
    }

    var total: Int { voice + sms + whatsapp + email + webchat }

    /// A batch's changes claim capacity when any channel grows.
    var claims: Bool { voice > 0 || sms > 0 || whatsapp > 0 || email > 0 || webchat > 0 }

    func adding(_ other: ChannelNumbers) -> ChannelNumbers {
        ChannelNumbers(voice: voice + other.voice, sms: sms + other.sms, whatsapp: whatsapp + other.whatsapp,
                       email: email + other.email, webchat: webchat + other.webchat)
    }

    /// `voice=1 webchat=2`: the channels with calls, for logs.
    var loadsDescription: String {
        CallChannel.allCases.filter { self[$0] != 0 }.map { "\($0.rawValue)=\(self[$0])" }.joined(separator: " ")
    }
}

extension CallChannel {
    var bit: UInt8 { 1 << UInt8(CallChannel.allCases.firstIndex(of: self)!) }
    /// The agent's live calls of this channel (kept by the same conditional statements as `current_load`).
    var loadColumn: String { "channel_load_\(rawValue)" }
    /// The agent's limit for this channel; NULL: only the total limits it.
    var capacityColumn: String { "channel_capacity_\(rawValue)" }
}

/// An agent's live values as committed in the database.
struct LiveState: Sendable, Equatable {
    let agentId: UUID
    let load: Int
    let maxConcurrent: Int
    let isActive: Bool
    var channelLoads: ChannelNumbers = .zero
    var channelCapacity: ChannelNumbers = .unlimited
    /// When its last call or after-call work ended, where the change knows (nil: as the book has it).
    var idleSince: Date? = nil
}

extension ChannelNumbers {
    static let loadColumns = CallChannel.allCases.map(\.loadColumn)
    static let capacityColumns = CallChannel.allCases.map(\.capacityColumn)

    /// From a row that selected `loadColumns`.
    init(loadsFrom row: some SQLRow) throws {
        self = .zero
        for channel in CallChannel.allCases { self[channel] = try row.decode(column: channel.loadColumn, as: Int.self) }
    }

    /// From a row that selected `capacityColumns`.
    init(capacityFrom row: some SQLRow) throws {
        self = .unlimited
        for channel in CallChannel.allCases {
            if let limit = try row.decode(column: channel.capacityColumn, as: Int?.self) { self[channel] = limit }
        }
    }
}
