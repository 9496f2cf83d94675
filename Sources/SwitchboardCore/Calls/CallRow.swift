import Foundation
import SQLKit

/// A call as plain values: what the call writer reads, changes and writes, without Fluent's reflective models.
struct CallRow: Sendable {
    var id: UUID
    var clientId: String
    var teamId: UUID?
    var agentId: UUID?
    var sector: String
    var capabilities: [String]
    var requiredCapabilities: [String] = []
    /// Minimum levels in some of `requiredCapabilities` (`SkillLevel`).
    var requiredLevels: [String: Int] = [:]
    var channel: CallChannel
    var externalRef: String?
    var idempotencyKey: String?
    var status: CallStatus
    var outcome: CallOutcome?
    var resolved: Bool?
    var satisfaction: Int?
    var handlingTimeSeconds: Double?
    var createdAt: Date
    var assignedAt: Date?
    var completedAt: Date?
    var callDay: String
    var cancelledAt: Date?
    var updatedAt: Date?
    /// After-call work: its planned end, and when it ended (a call whose wrap-up is open still holds its slot).
    var wrapUpUntil: Date?
    var wrapUpEndedAt: Date?
    /// An offered call: when the offer runs out; the agents that rejected or missed it.
    var offerExpiresAt: Date?
    var declinedBy: [UUID] = []
    /// 1–10: the queue hands out the highest effective priority first (`QueueOrder`).
    var priority = CallLimits.defaultPriority
    /// A callback's number (E.164): the caller is rung back, so the call never abandons its place.
    var callbackPhone: String?
    /// Who the caller is to the tenant (e.g. their number): a sticky customer's calls prefer their last agent.
    var customerRef: String?
    /// The agent the call prefers (named, or its customer's last), and until when it waits for that agent while
    /// busy (nil: it does not wait, or it never queued for it).
    var preferredAgentId: UUID?
    var preferredUntil: Date?
    /// A phone call's talk as its provider measured it, and when it ended: from then the call waits for its
    /// agent's disposition, in the agent's wrap-up (`PhoneCalls`).
    var talkSeconds: Double?
    var talkEndedAt: Date?

    /// What it requires of its agent, before any relaxation step lowers or drops it.
    var requirement: SkillRequirement { SkillRequirement(capabilities: requiredCapabilities, minimums: requiredLevels) }

    var isWrappingUp: Bool { status == .completed && wrapUpUntil != nil && wrapUpEndedAt == nil }

    static let columns = [
        "id", "client_id", "team_id", "agent_id", "sector", "capabilities", "channel", "external_ref", "idempotency_key",
        "status", "outcome", "resolved", "satisfaction", "handling_time_seconds", "created_at", "assigned_at",
        "completed_at", "call_day", "cancelled_at", "updated_at", "required_capabilities", "wrap_up_until",
        "wrap_up_ended_at", "offer_expires_at", "declined_by", "priority", "callback_phone",
        "customer_ref", "preferred_agent_id", "preferred_until", "required_levels",
        "talk_seconds", "talk_ended_at",
    ]

    static let layout = ColumnLayout(columns)

    /// `SELECT <columns> FROM calls`, for the writer's reads.
    static let selectText = "SELECT " + columns.map(BoundStatement.quoted).joined(separator: ", ")
        + " FROM " + BoundStatement.quoted(Call.schema)

    /// The columns of `values`: all but `client_id`, which `TenantScope` adds.
    static let insertColumns = columns.filter { $0 != "client_id" }

    init(
        id: UUID, clientId: String, teamId: UUID?, agentId: UUID?, sector: String, capabilities: [String],
        channel: CallChannel, externalRef: String?, idempotencyKey: String?, status: CallStatus, createdAt: Date
    ) {
        self.id = id
        self.clientId = clientId
        self.teamId = teamId
        self.agentId = agentId
        self.sector = sector
        self.capabilities = capabilities
        self.channel = channel
        self.externalRef = externalRef
        self.idempotencyKey = idempotencyKey
        self.status = status
        self.createdAt = createdAt
        self.assignedAt = status == .active ? createdAt : nil
        self.callDay = Day(containing: createdAt).description
        self.updatedAt = createdAt
    }

    init(_ row: any SQLRow) throws {
        if let positioned = Self.layout.positioned(row) {
            try self.init(reading: positioned)
        } else {
            try self.init(reading: NamedColumns(row: row))
        }
    }

    private init(reading row: some ColumnReader) throws {
        id = try row.decode("id")
        clientId = try row.decode("client_id")
        teamId = try row.decode("team_id")
        agentId = try row.decode("agent_id")
        sector = try row.decode("sector")
        capabilities = try row.decode("capabilities")
        channel = try row.decodeRawValue("channel")
        externalRef = try row.decode("external_ref")
        idempotencyKey = try row.decode("idempotency_key")
        status = try row.decodeRawValue("status")
        outcome = try row.decodeRawValue("outcome")
        resolved = try row.decode("resolved")
        satisfaction = try row.decode("satisfaction")
        handlingTimeSeconds = try row.decode("handling_time_seconds")
        createdAt = try row.decode("created_at")
        assignedAt = try row.decode("assigned_at")
        completedAt = try row.decode("completed_at")
        callDay = try row.decode("call_day")
        cancelledAt = try row.decode("cancelled_at")
        updatedAt = try row.decode("updated_at")
        requiredCapabilities = try row.decode(column: "required_capabilities", as: [String]?.self) ?? []
        wrapUpUntil = try row.decode(column: "wrap_up_until", as: Date?.self)
        wrapUpEndedAt = try row.decode(column: "wrap_up_ended_at", as: Date?.self)
        offerExpiresAt = try row.decode(column: "offer_expires_at", as: Date?.self)
        declinedBy = (try row.decode(column: "declined_by", as: [String]?.self) ?? []).compactMap(UUID.init(text:))
        priority = try row.decode(column: "priority", as: Int?.self) ?? CallLimits.defaultPriority
        callbackPhone = try row.decode(column: "callback_phone", as: String?.self)
        customerRef = try row.decode(column: "customer_ref", as: String?.self)
        preferredAgentId = try row.decode(column: "preferred_agent_id", as: UUID?.self)
        preferredUntil = try row.decode(column: "preferred_until", as: Date?.self)
        requiredLevels = SkillLevel.read(try row.decode(column: "required_levels", as: String?.self))
        talkSeconds = try row.decode(column: "talk_seconds", as: Double?.self)
        talkEndedAt = try row.decode(column: "talk_ended_at", as: Date?.self)
    }

    /// Every column but `client_id`, in `columns` order (the tenant's id is added by `TenantScope`).
    var values: [any Encodable & Sendable] {
        [id, teamId, agentId, sector, capabilities, channel.rawValue, externalRef, idempotencyKey, status.rawValue,
         outcome?.rawValue, resolved, satisfaction, handlingTimeSeconds, createdAt, assignedAt, completedAt, callDay,
         cancelledAt, updatedAt, requiredCapabilities, wrapUpUntil, wrapUpEndedAt, offerExpiresAt,
         declinedBy.isEmpty ? nil : declinedBy.map(\.text), priority, callbackPhone, customerRef, preferredAgentId,
         preferredUntil, SkillLevel.stored(requiredLevels), talkSeconds, talkEndedAt]
    }
}

extension CallRow {
    /// A routed call goes to its agent: assigned now, or, when the tenant's `routing.offer_timeout_seconds`
    /// (`offerSeconds`) is set, offered until then (a whole second, stored exactly by both databases).
    mutating func place(with agentId: UUID, offerSeconds: Int, at now: Date) {
        self.agentId = agentId
        updatedAt = now
        if offerSeconds > 0 {
            status = .offered
            assignedAt = nil
            offerExpiresAt = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + Double(offerSeconds)).rounded(.up))
        } else {
            status = .active
            assignedAt = now
            offerExpiresAt = nil
        }
    }

    /// The call as its routing asks at `now`: in its pools, never to an agent that declined it, to its preferred
    /// agent first (waiting for it while its window is open).
    func routeRequest(at now: Date) -> RouteRequest {
        RouteRequest(teamId: teamId, sector: sector, capabilities: capabilities, requiredCapabilities: requiredCapabilities,
                     requiredLevels: requiredLevels, channel: channel, excluding: Set(declinedBy),
                     preferred: preferredAgentId.map { PreferredAgent(agentId: $0, waits: reservedAgent(at: now) != nil) })
    }

    /// The agent a waiting call is kept for at `now`: its preferred agent, while its window is open and unless that
    /// agent declined it. No other agent takes the call meanwhile.
    func reservedAgent(at now: Date) -> UUID? {
        guard let preferredAgentId, let preferredUntil, now < preferredUntil, !declinedBy.contains(preferredAgentId) else {
            return nil
        }
        return preferredAgentId
    }
}

extension CallDTO {
    init(_ row: CallRow) {
        self.init(
            id: row.id, status: row.status, agentId: row.agentId, teamId: row.teamId, sector: row.sector,
            channel: row.channel, capabilities: row.capabilities, requiredCapabilities: row.requiredCapabilities,
            requiredLevels: row.requiredLevels,
            externalRef: row.externalRef, outcome: row.outcome,
            resolved: row.resolved, satisfaction: row.satisfaction, handlingTimeSeconds: row.handlingTimeSeconds,
            createdAt: row.createdAt, assignedAt: row.assignedAt, completedAt: row.completedAt,
            cancelledAt: row.cancelledAt, wrapUpUntil: row.wrapUpUntil, wrapUpEndedAt: row.wrapUpEndedAt,
            offerExpiresAt: row.offerExpiresAt, priority: row.priority, callbackPhone: row.callbackPhone,
            customerRef: row.customerRef, preferredAgentId: row.preferredAgentId,
            preferredUntil: row.status == .queued ? row.preferredUntil : nil,
            talkSeconds: row.talkSeconds, talkEndedAt: row.talkEndedAt)
    }
}
