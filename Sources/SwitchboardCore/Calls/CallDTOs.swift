import Foundation

struct CallDTO: Encodable, Sendable {
    let id: UUID
    let status: CallStatus
    let agentId: UUID?
    let teamId: UUID?
    let sector: String
    let channel: CallChannel
    let capabilities: [String]
    /// Capabilities the agent must have (beside `capabilities`, which only add to the score).
    let requiredCapabilities: [String]
    /// Minimum levels (1–5) in some capabilities, each required too (`{}`: none).
    let requiredLevels: [String: Int]
    let externalRef: String?
    let outcome: CallOutcome?
    let resolved: Bool?
    let satisfaction: Int?
    let handlingTimeSeconds: Double?
    let createdAt: Date
    let assignedAt: Date?
    let completedAt: Date?
    let cancelledAt: Date?
    /// After-call work of its agent: when it ends or ended, and when it ended if that was early or is past.
    let wrapUpUntil: Date?
    let wrapUpEndedAt: Date?
    /// An offered call: when the offer runs out (it then goes back to the queue).
    let offerExpiresAt: Date?
    /// 1–10 (default 5).
    let priority: Int
    /// A callback: the caller left no live line and is to be rung back on this number.
    let callback: CallbackDTO?
    /// Who the caller is to the tenant (`customer_ref`), as the call was made.
    let customerRef: String?
    /// The agent the call prefers (named with the call, or its customer's last agent under
    /// `routing.sticky_customers`), and, while the call waits for that busy agent, until when it does.
    let preferredAgentId: UUID?
    let preferredUntil: Date?
    /// A phone call's talk as its provider measured it, and when it ended (null otherwise): from then the call
    /// waits for its agent's disposition, within the agent's wrap-up.
    let talkSeconds: Double?
    let talkEndedAt: Date?
    /// A waiting call: its priority plus one for every `routing.priority_aging_seconds` it has waited, and its
    /// place in its queue (1: next); null otherwise, or where not computed.
    var effectivePriority: Int? = nil
    var queuePosition: Int? = nil
    /// A waiting call: about how long until an agent takes it (`WaitEstimate`); null otherwise, or when nobody who
    /// may take it is routable.
    var estimatedWaitSeconds: Int? = nil
    /// An SMS or WhatsApp conversation read with `GET /api/calls/:id`: its messages, oldest first (left out
    /// elsewhere).
    var messages: [CallMessageDTO]? = nil

    init(
        id: UUID, status: CallStatus, agentId: UUID?, teamId: UUID?, sector: String, channel: CallChannel,
        capabilities: [String], requiredCapabilities: [String], requiredLevels: [String: Int] = [:], externalRef: String?,
        outcome: CallOutcome?, resolved: Bool?,
        satisfaction: Int?, handlingTimeSeconds: Double?, createdAt: Date, assignedAt: Date?, completedAt: Date?,
        cancelledAt: Date?, wrapUpUntil: Date? = nil, wrapUpEndedAt: Date? = nil, offerExpiresAt: Date? = nil,
        priority: Int = CallLimits.defaultPriority, callbackPhone: String? = nil, customerRef: String? = nil,
        preferredAgentId: UUID? = nil, preferredUntil: Date? = nil, talkSeconds: Double? = nil, talkEndedAt: Date? = nil
    ) {
        self.id = id
        self.status = status
        self.agentId = agentId
        self.teamId = teamId
        self.sector = sector
        self.channel = channel
        self.capabilities = capabilities
        self.requiredCapabilities = requiredCapabilities
        self.requiredLevels = requiredLevels
        self.externalRef = externalRef
        self.outcome = outcome
        self.resolved = resolved
        self.satisfaction = satisfaction
        self.handlingTimeSeconds = handlingTimeSeconds
        self.createdAt = createdAt
        self.assignedAt = assignedAt
        self.completedAt = completedAt
        self.cancelledAt = cancelledAt
        self.wrapUpUntil = wrapUpUntil
        self.wrapUpEndedAt = wrapUpEndedAt
        self.offerExpiresAt = status == .offered ? offerExpiresAt : nil
        self.priority = priority
        self.callback = callbackPhone.map(CallbackDTO.init)
        self.customerRef = customerRef
        self.preferredAgentId = preferredAgentId
        self.preferredUntil = preferredUntil
        self.talkSeconds = talkSeconds
        self.talkEndedAt = talkEndedAt
    }

    init(_ call: Call) {
        self.init(
            id: call.id!, status: call.status, agentId: call.agentId, teamId: call.teamId, sector: call.sector,
            channel: call.channel, capabilities: call.capabilities, requiredCapabilities: call.requiredCapabilities ?? [],
            requiredLevels: SkillLevel.read(call.storedRequiredLevels),
            externalRef: call.externalRef, outcome: call.outcome,
            resolved: call.resolved, satisfaction: call.satisfaction, handlingTimeSeconds: call.handlingTimeSeconds,
            createdAt: call.createdAt, assignedAt: call.assignedAt, completedAt: call.completedAt,
            cancelledAt: call.cancelledAt, wrapUpUntil: call.wrapUpUntil, wrapUpEndedAt: call.wrapUpEndedAt,
            offerExpiresAt: call.offerExpiresAt, priority: call.priority ?? CallLimits.defaultPriority,
            callbackPhone: call.callbackPhone, customerRef: call.customerRef, preferredAgentId: call.preferredAgentId,
            preferredUntil: call.status == .queued ? call.preferredUntil : nil,
            talkSeconds: call.talkSeconds, talkEndedAt: call.talkEndedAt)
    }

    private enum CodingKeys: String, CodingKey {
        case id, status, agentId, teamId, sector, channel, capabilities, requiredCapabilities, externalRef, outcome, resolved
        case satisfaction, handlingTimeSeconds, createdAt, assignedAt, completedAt, cancelledAt, wrapUpUntil, wrapUpEndedAt, offerExpiresAt
        case priority, effectivePriority, queuePosition, callback, estimatedWaitSeconds
        case customerRef, preferredAgentId, preferredUntil, requiredLevels, talkSeconds, talkEndedAt, messages
    }

    /// Every field is present; absent values are null (clients read `agent_id: null` as "queued").
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(status, forKey: .status)
        try container.encode(agentId, forKey: .agentId)
        try container.encode(teamId, forKey: .teamId)
        try container.encode(sector, forKey: .sector)
        try container.encode(channel, forKey: .channel)
        try container.encode(capabilities, forKey: .capabilities)
        try container.encode(requiredCapabilities, forKey: .requiredCapabilities)
        try container.encode(requiredLevels, forKey: .requiredLevels)
        try container.encode(externalRef, forKey: .externalRef)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(resolved, forKey: .resolved)
        try container.encode(satisfaction, forKey: .satisfaction)
        try container.encode(handlingTimeSeconds, forKey: .handlingTimeSeconds)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(assignedAt, forKey: .assignedAt)
        try container.encode(completedAt, forKey: .completedAt)
        try container.encode(cancelledAt, forKey: .cancelledAt)
        try container.encode(wrapUpUntil, forKey: .wrapUpUntil)
        try container.encode(wrapUpEndedAt, forKey: .wrapUpEndedAt)
        try container.encode(offerExpiresAt, forKey: .offerExpiresAt)
        try container.encode(priority, forKey: .priority)
        try container.encode(effectivePriority, forKey: .effectivePriority)
        try container.encode(queuePosition, forKey: .queuePosition)
        try container.encode(callback, forKey: .callback)
        try container.encode(estimatedWaitSeconds, forKey: .estimatedWaitSeconds)
        try container.encode(customerRef, forKey: .customerRef)
        try container.encode(preferredAgentId, forKey: .preferredAgentId)
        try container.encode(preferredUntil, forKey: .preferredUntil)
        try container.encode(talkSeconds, forKey: .talkSeconds)
        try container.encode(talkEndedAt, forKey: .talkEndedAt)
        try container.encodeIfPresent(messages, forKey: .messages)
    }
}

/// `{"phone": "+44…"}`: the number to ring back, in E.164.
struct CallbackDTO: Codable, Sendable, Equatable {
    let phone: String
}

/// `POST /api/calls/:id/reject`: `{"reason": "…"}`, or no body.
struct RejectOfferInput: Decodable, Sendable {
    var reason: String?

    func validatedReason() throws -> String? {
        try Check.optionalText(reason, "reason", maxLength: CallLimits.rejectReason).flatMap { $0.isEmpty ? nil : $0 }
    }
}

enum CallLimits {
    static let priority = 1...10
    static let defaultPriority = 5
    static let rejectReason = 200
    static let externalRef = 200
    static let idempotencyKey = 200
    static let customerRef = 128
    static let capabilityCount = 20
    static let satisfaction = 1...5
    static let handlingTime = 0.0...604_800.0

    /// An E.164 number: `+`, a country code that does not start with 0, at most 15 digits in all (ITU-T E.164, and
    /// the form phone providers such as Twilio take and give).
    static func callbackPhone(_ phone: String?) throws -> String {
        guard let phone else { throw AppError.badRequest("callback.phone is required for a callback") }
        let digits = phone.utf8.dropFirst()
        guard phone.utf8.first == UInt8(ascii: "+"), (2...15).contains(digits.count),
              digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), digits.first != UInt8(ascii: "0")
        else { throw AppError.badRequest("callback.phone must be an E.164 number: + then the country code and number, digits only (e.g. +442071838750)") }
        return phone
    }
}

/// Shared by `POST /api/calls` and `POST /api/routing/route`.
struct RouteInput: Decodable, Sendable {
    var teamId: UUID?
    var sector: String?
    var capabilities: [String]?
    /// Capabilities an agent must have to be chosen at all.
    var requiredCapabilities: [String]?
    /// Minimum levels (1–5) in some capabilities, each then required too.
    var requiredLevels: [String: WholeNumber]?
    /// The channel of the call to route (the tenant's default when left out).
    var channel: String?

    func validated() throws -> RouteRequest {
        guard teamId != nil || sector != nil else { throw AppError.badRequest("team_id or sector is required") }
        return RouteRequest(
            teamId: teamId,
            sector: try sector.map { try Check.text($0, "sector", length: TeamLimits.sector).lowercased() },
            capabilities: try Check.labels(capabilities ?? [], "capabilities",
                                           maxCount: CallLimits.capabilityCount, maxLength: AgentLimits.capabilityLength),
            requiredCapabilities: try Check.labels(requiredCapabilities ?? [], "required_capabilities",
                                                   maxCount: CallLimits.capabilityCount, maxLength: AgentLimits.capabilityLength),
            requiredLevels: try SkillLevel.validated(requiredLevels ?? [:], "required_levels", maxCount: CallLimits.capabilityCount),
            channel: try channel.map { try Check.oneOf($0, "channel", as: CallChannel.self) }
        )
    }
}

struct CreateCallInput: Decodable, Sendable {
    var teamId: UUID?
    var sector: String?
    var capabilities: [String]?
    var requiredCapabilities: [String]?
    var requiredLevels: [String: WholeNumber]?
    var channel: String?
    var externalRef: String?
    var priority: WholeNumber?
    var callback: CallbackInput?
    var customerRef: String?
    var preferredAgentId: UUID?
    var preferredAgentExternalId: String?

    struct CallbackInput: Decodable, Sendable {
        var phone: String?
    }

    /// The agent a call names: by our id or by the tenant's own (`external_id`), resolved by `CallService`.
    enum PreferredAgentName: Sendable, Equatable {
        case id(UUID)
        case externalId(String)
    }

    struct Validated: Sendable {
        let route: RouteRequest
        /// Nil: the writer fills in the tenant's default.
        let channel: CallChannel?
        let externalRef: String?
        let priority: Int
        let callbackPhone: String?
        let customerRef: String?
        let preferredAgent: PreferredAgentName?
    }

    func validated() throws -> Validated {
        if preferredAgentId != nil && preferredAgentExternalId != nil {
            throw AppError.badRequest("preferred_agent_id and preferred_agent_external_id name the same thing: give one of them")
        }
        let preferredAgent: PreferredAgentName? = if let preferredAgentId {
            .id(preferredAgentId)
        } else if let preferredAgentExternalId {
            .externalId(try Check.text(preferredAgentExternalId, "preferred_agent_external_id", length: AgentLimits.externalId))
        } else {
            nil
        }
        return Validated(
            route: try RouteInput(teamId: teamId, sector: sector, capabilities: capabilities,
                                  requiredCapabilities: requiredCapabilities, requiredLevels: requiredLevels).validated(),
            channel: try channel.map { try Check.oneOf($0, "channel", as: CallChannel.self) },
            externalRef: try Check.optionalText(externalRef, "external_ref", maxLength: CallLimits.externalRef),
            priority: try priority.map { try Check.number($0.value, "priority", in: CallLimits.priority) } ?? CallLimits.defaultPriority,
            callbackPhone: try callback.map { try CallLimits.callbackPhone($0.phone) },
            customerRef: try Check.optionalText(customerRef, "customer_ref", maxLength: CallLimits.customerRef)
                .flatMap { $0.isEmpty ? nil : $0 },
            preferredAgent: preferredAgent
        )
    }
}

struct CompleteCallInput: Decodable, Sendable {
    var outcome: String
    var resolved: Bool
    var satisfaction: WholeNumber?
    var handlingTimeSeconds: Double

    struct Validated: Sendable {
        let outcome: CallOutcome
        let resolved: Bool
        let satisfaction: Int?
        let handlingTimeSeconds: Double
    }

    func validated() throws -> Validated {
        Validated(
            outcome: try Check.oneOf(outcome, "outcome", as: CallOutcome.self),
            resolved: resolved,
            satisfaction: try satisfaction.map { try Check.number($0.value, "satisfaction", in: CallLimits.satisfaction) },
            handlingTimeSeconds: try Check.finite(handlingTimeSeconds, "handling_time_seconds", in: CallLimits.handlingTime)
        )
    }
}

/// `POST /api/routing/route`: the contract's recommendation shape.
struct RouteRecommendationDTO: Encodable, Sendable {
    let agentId: UUID?
    let score: Double?
    let strategy: RoutingStrategy
    let sector: String
    let eligibleCount: Int
    let candidates: [ScoredCandidate]
    let breakdown: ScoreBreakdown?

    init(_ decision: RoutingDecision) {
        agentId = decision.chosen?.agentId
        score = decision.chosen?.score
        strategy = decision.strategy
        sector = decision.sector
        eligibleCount = decision.ranking.eligibleCount
        candidates = decision.ranking.top
        breakdown = decision.chosen?.breakdown
    }

    private enum CodingKeys: String, CodingKey {
        case agentId, score, strategy, sector, eligibleCount, candidates, breakdown
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(agentId, forKey: .agentId)
        try container.encode(score, forKey: .score)
        try container.encode(strategy, forKey: .strategy)
        try container.encode(sector, forKey: .sector)
        try container.encode(eligibleCount, forKey: .eligibleCount)
        try container.encode(candidates, forKey: .candidates)
        try container.encode(breakdown, forKey: .breakdown)
    }
}
