import Foundation

/// An agent as the API shows it.
struct AgentDTO: Codable, Sendable, Equatable {
    let id: UUID
    /// Set by a bulk import (or a create or update that names it); left out when the agent has none.
    let externalId: String?
    let name: String
    let sector: String
    let status: ActiveStatus
    let priority: Int
    let capabilities: [String]
    /// Its level (1–5) in some of its capabilities; one without a level is at 5 (`{}`: every one at 5).
    let capabilityLevels: [String: Int]
    let maxConcurrent: Int
    let currentLoad: Int
    /// Limits per call channel, beside the total `max_concurrent`; left out when the agent has none.
    let channelCapacity: [String: Int]?
    /// Live calls per channel (every channel, so a supervisor sees where the load is).
    let channelLoads: [String: Int]
    let successRate: Double
    let avgHandlingTime: Double
    /// Whether the person is there to take calls (`available`, `away` with a reason, `offline`).
    let presence: AgentPresence
    @NullWhenAbsent var presenceReason: String?
    /// What it is doing now (`available`, `on_call`, `wrap_up`, `away`, `offline`) and since when.
    let state: AgentState
    let stateSince: Date?
    /// Its own after-call work in seconds (null: the tenant's `calls.wrap_up_seconds`).
    @NullWhenAbsent var wrapUpSeconds: Int?
    /// When its open wrap-ups end (null when none is open).
    @NullWhenAbsent var wrapUpUntil: Date?
    /// Where the person answers phone calls (`{sip, client, phone}`, the first present dialled); null: nowhere.
    @NullWhenAbsent var contact: AgentContact?
    let createdAt: Date?
    let updatedAt: Date?

    /// `offers`: how many calls wait for its answer (`PendingOffers`).
    init(_ agent: SectorAgent, offers: Int = 0) {
        id = agent.id!
        externalId = agent.externalId
        name = agent.name
        sector = agent.sector
        status = agent.status
        priority = agent.priority
        capabilities = agent.capabilities
        capabilityLevels = agent.capabilityLevels
        maxConcurrent = agent.maxConcurrent
        currentLoad = agent.currentLoad
        let limits = agent.channelCapacity
        channelCapacity = limits.isEmpty ? nil : Dictionary(uniqueKeysWithValues: limits.map { ($0.key.rawValue, $0.value) })
        let loads = agent.channelLoads
        channelLoads = Dictionary(uniqueKeysWithValues: CallChannel.allCases.map { ($0.rawValue, loads[$0]) })
        successRate = agent.successRate
        avgHandlingTime = agent.avgHandlingTime
        presence = agent.presence
        presenceReason = agent.presenceReason
        state = AgentState(presence: agent.presence, load: agent.currentLoad, wrappingUp: agent.wrapUpUntil != nil, offers: offers)
        wrapUpSeconds = agent.wrapUpSeconds
        wrapUpUntil = agent.wrapUpUntil
        contact = AgentContact.read(agent.storedContact)
        stateSince = agent.stateSince ?? agent.createdAt
        createdAt = agent.createdAt
        updatedAt = agent.updatedAt
    }
}

enum AgentLimits {
    static let name = 1...120
    static let externalId = 1...128
    static let sector = 1...64
    static let priority = 1...10
    static let maxConcurrent = 1...100
    static let successRate = 0.0...1.0
    static let avgHandlingTime = 0.0...86_400.0
    static let capabilityCount = 50
    static let capabilityLength = 64
    static let defaultPriority = 5
    static let defaultMaxConcurrent = 10
    static let defaultSuccessRate = 0.5
    static let defaultAvgHandlingTime = 180.0
    static let channelCapacity = 0...100
    /// An agent's own wrap-up time, as `calls.wrap_up_seconds`.
    static let wrapUpSeconds = 0...3600

    /// `capability_levels` for an agent with `capabilities`: each named capability must be one of them.
    static func capabilityLevels(_ levels: [String: Int], of capabilities: [String]) throws -> [String: Int] {
        let checked = try SkillLevel.validated(levels, "capability_levels", maxCount: capabilityCount)
        if let stranger = checked.keys.sorted().first(where: { !capabilities.contains($0) }) {
            throw AppError.badRequest("capability_levels.\(stranger) names a capability the agent does not have; "
                + "add it to capabilities too")
        }
        return checked
    }

    /// `channel_capacity`: known channels only, each a whole number of calls; `{}` removes every limit.
    static func channelCapacity(_ value: [String: WholeNumber]) throws -> [CallChannel: Int] {
        try channelCapacity(value.mapValues(\.value))
    }

    static func channelCapacity(_ value: [String: Int]) throws -> [CallChannel: Int] {
        var limits: [CallChannel: Int] = [:]
        for (name, limit) in value.sorted(by: { $0.key < $1.key }) {
            guard let channel = CallChannel(rawValue: name) else {
                throw AppError.badRequest("channel_capacity has an unknown channel '\(name)'; channels: "
                    + CallChannel.allCases.map(\.rawValue).joined(separator: ", "))
            }
            limits[channel] = try Check.number(limit, "channel_capacity.\(name)", in: channelCapacity)
        }
        return limits
    }
}

/// `POST /api/agents`. History (`success_rate`, `avg_handling_time`) may be imported; `current_load` never.
struct CreateAgentInput: Decodable, Sendable {
    var externalId: String?
    var name: String
    var sector: String
    var status: String?
    var priority: WholeNumber?
    var capabilities: [String]?
    var capabilityLevels: [String: WholeNumber]?
    var maxConcurrent: WholeNumber?
    var channelCapacity: [String: WholeNumber]?
    var successRate: Double?
    var avgHandlingTime: Double?
    var wrapUpSeconds: WholeNumber?
    var contact: [String: JSONValue]?

    func validated() throws -> AgentFields {
        let capabilities = try Check.labels(capabilities ?? [], "capabilities",
                                            maxCount: AgentLimits.capabilityCount, maxLength: AgentLimits.capabilityLength)
        return AgentFields(
            externalId: try externalId.map { try Check.text($0, "external_id", length: AgentLimits.externalId) },
            name: try Check.text(name, "name", length: AgentLimits.name),
            sector: try Check.text(sector, "sector", length: AgentLimits.sector).lowercased(),
            status: try status.map { try Check.oneOf($0, "status", as: ActiveStatus.self) } ?? .active,
            priority: try Check.number(priority?.value ?? AgentLimits.defaultPriority, "priority", in: AgentLimits.priority),
            capabilities: capabilities,
            capabilityLevels: try AgentLimits.capabilityLevels(capabilityLevels?.mapValues(\.value) ?? [:], of: capabilities),
            maxConcurrent: try Check.number(maxConcurrent?.value ?? AgentLimits.defaultMaxConcurrent, "max_concurrent",
                                            in: AgentLimits.maxConcurrent),
            channelCapacity: try channelCapacity.map(AgentLimits.channelCapacity) ?? [:],
            successRate: try Check.finite(successRate ?? AgentLimits.defaultSuccessRate, "success_rate",
                                          in: AgentLimits.successRate),
            avgHandlingTime: try Check.finite(avgHandlingTime ?? AgentLimits.defaultAvgHandlingTime, "avg_handling_time",
                                              in: AgentLimits.avgHandlingTime),
            wrapUpSeconds: try wrapUpSeconds.map { try Check.number($0.value, "wrap_up_seconds", in: AgentLimits.wrapUpSeconds) },
            contact: try contact.flatMap(AgentContact.validated)
        )
    }
}

/// `PUT /api/agents/:agent_id`: any subset of the fields.
struct UpdateAgentInput: Decodable, Sendable {
    var externalId: String?
    var name: String?
    var sector: String?
    var status: String?
    var priority: WholeNumber?
    var capabilities: [String]?
    /// Replaces the agent's levels (`{}` puts every capability back at 5). New `capabilities` alone keep the levels
    /// of the capabilities that stay.
    var capabilityLevels: [String: WholeNumber]?
    var maxConcurrent: WholeNumber?
    var channelCapacity: [String: WholeNumber]?
    var successRate: Double?
    var avgHandlingTime: Double?
    /// `null` removes the agent's own wrap-up time (the tenant's applies again).
    @Settable var wrapUpSeconds: Settable<WholeNumber>.Change
    /// Replaces the agent's contact; `null` or `{}` removes it.
    @Settable var contact: Settable<[String: JSONValue]>.Change

    func apply(to agent: SectorAgent) throws {
        if let externalId { agent.externalId = try Check.text(externalId, "external_id", length: AgentLimits.externalId) }
        if let name { agent.name = try Check.text(name, "name", length: AgentLimits.name) }
        if let sector { agent.sector = try Check.text(sector, "sector", length: AgentLimits.sector).lowercased() }
        if let status { agent.status = try Check.oneOf(status, "status", as: ActiveStatus.self) }
        if let priority { agent.priority = try Check.number(priority.value, "priority", in: AgentLimits.priority) }
        if let capabilities {
            agent.capabilities = try Check.labels(capabilities, "capabilities",
                                                  maxCount: AgentLimits.capabilityCount, maxLength: AgentLimits.capabilityLength)
        }
        if let capabilityLevels {
            agent.capabilityLevels = try AgentLimits.capabilityLevels(capabilityLevels.mapValues(\.value), of: agent.capabilities)
        } else if capabilities != nil {
            agent.capabilityLevels = agent.capabilityLevels.filter { agent.capabilities.contains($0.key) }
        }
        if let maxConcurrent {
            agent.maxConcurrent = try Check.number(maxConcurrent.value, "max_concurrent", in: AgentLimits.maxConcurrent)
        }
        if let channelCapacity { agent.channelCapacity = try AgentLimits.channelCapacity(channelCapacity) }
        if let successRate { agent.successRate = try Check.finite(successRate, "success_rate", in: AgentLimits.successRate) }
        if let avgHandlingTime {
            agent.avgHandlingTime = try Check.finite(avgHandlingTime, "avg_handling_time", in: AgentLimits.avgHandlingTime)
        }
        switch wrapUpSeconds {
        case .unchanged: break
        case .cleared: agent.wrapUpSeconds = nil
        case .set(let seconds): agent.wrapUpSeconds = try Check.number(seconds.value, "wrap_up_seconds", in: AgentLimits.wrapUpSeconds)
        }
        switch contact {
        case .unchanged: break
        case .cleared: agent.storedContact = nil
        case .set(let object): agent.storedContact = try AgentContact.validated(object)?.stored
        }
    }
}

struct AgentFields: Sendable {
    var externalId: String? = nil
    let name: String
    let sector: String
    let status: ActiveStatus
    let priority: Int
    let capabilities: [String]
    var capabilityLevels: [String: Int] = [:]
    let maxConcurrent: Int
    var channelCapacity: [CallChannel: Int] = [:]
    let successRate: Double
    let avgHandlingTime: Double
    var wrapUpSeconds: Int? = nil
    var contact: AgentContact? = nil

    func makeModel() -> SectorAgent {
        let agent = SectorAgent()
        agent.externalId = externalId
        agent.name = name
        agent.sector = sector
        agent.status = status
        agent.priority = priority
        agent.capabilities = capabilities
        agent.capabilityLevels = capabilityLevels
        agent.maxConcurrent = maxConcurrent
        agent.currentLoad = 0
        agent.channelCapacity = channelCapacity
        (agent.voiceLoad, agent.smsLoad, agent.whatsappLoad, agent.emailLoad, agent.webchatLoad) = (0, 0, 0, 0, 0)
        agent.successRate = successRate
        agent.avgHandlingTime = avgHandlingTime
        agent.presence = .available
        agent.stateSince = Date()
        agent.wrapUpSeconds = wrapUpSeconds
        agent.storedContact = contact?.stored
        agent.missedOffers = 0
        return agent
    }
}
