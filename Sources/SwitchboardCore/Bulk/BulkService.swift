import FluentKit
import Foundation
import SQLKit

/// Many agents, members or assignments in one request: every row is read and checked first, then the good rows
/// are written in one transaction with one audit entry each, and the tenant's routing pools are invalidated once.
struct BulkService: Sendable {
    let store: Store
    let tenant: Tenant
    let book: LoadBook
    let writer: CallWriter

    private var scope: TenantScope { tenant.scope }
    private static let batchSize = 500

    // MARK: Agents

    /// An agent row as read: every field but `external_id` optional (a new agent needs `name` and `sector`).
    struct AgentRow: Sendable {
        let index: Int
        let externalId: String
        var name: String?
        var sector: String?
        var status: ActiveStatus?
        var priority: Int?
        var capabilities: [String]?
        /// `capability_levels`, with levels given inline in a CSV capabilities cell (`french=3;vip`); nil: neither.
        var capabilityLevels: [String: Int]?
        var maxConcurrent: Int?
        var channelCapacity: [CallChannel: Int]?
        var successRate: Double?
        var avgHandlingTime: Double?
        /// A new agent's presence, or an existing one's change (through the writer, as any presence change).
        var presence: AgentPresence? = nil
        var presenceReason: String? = nil
        var contact: Settable<AgentContact>.Change = .unchanged
    }

    static let agentFields: Set<String> = [
        "external_id", "name", "sector", "status", "priority", "capabilities", "capability_levels", "max_concurrent",
        "channel_capacity", "success_rate", "avg_handling_time", "presence", "presence_reason", "contact",
    ]

    /// Reads and checks one row. Pure.
    static func readAgent(_ row: inout BulkRow) -> AgentRow? {
        row.rejectUnknown(allowed: agentFields)
        let externalId = row.text("external_id", required: true) { try Check.text($0, "external_id", length: AgentLimits.externalId) }
        var levels = row.levels("capability_levels")
        var inlineLevels: [String: Int] = [:]
        let capabilities = row.capabilities("capabilities", levels: &inlineLevels)
        if !inlineLevels.isEmpty { levels = (levels ?? [:]).merging(inlineLevels) { _, inline in inline } }
        let agent = AgentRow(
            index: row.index,
            externalId: externalId ?? "",
            name: row.text("name") { try Check.text($0, "name", length: AgentLimits.name) },
            sector: row.text("sector") { try Check.text($0, "sector", length: AgentLimits.sector).lowercased() },
            status: row.text("status") { try Check.oneOf($0, "status", as: ActiveStatus.self).rawValue }.flatMap(ActiveStatus.init),
            priority: row.integer("priority") { try Check.number($0, "priority", in: AgentLimits.priority) },
            capabilities: capabilities,
            capabilityLevels: levels,
            maxConcurrent: row.integer("max_concurrent") { try Check.number($0, "max_concurrent", in: AgentLimits.maxConcurrent) },
            channelCapacity: row.channelLimits("channel_capacity"),
            successRate: row.decimal("success_rate") { try Check.finite($0, "success_rate", in: AgentLimits.successRate) },
            avgHandlingTime: row.decimal("avg_handling_time") {
                try Check.finite($0, "avg_handling_time", in: AgentLimits.avgHandlingTime)
            },
            presence: row.text("presence") { try Check.oneOf($0, "presence", as: AgentPresence.self).rawValue }
                .flatMap(AgentPresence.init),
            presenceReason: row.text("presence_reason") { try Check.text($0, "presence_reason", length: 1...40) },
            contact: row.contact("contact")
        )
        return row.errors.isEmpty ? agent : nil
    }

    /// The stored values an agent row starts from: the existing agent's, or a new agent's defaults.
    private struct AgentValues: Sendable {
        var id: UUID
        var name: String
        var sector: String
        var status: ActiveStatus
        var priority: Int
        var capabilities: [String]
        var capabilityLevels: [String: Int] = [:]
        var maxConcurrent: Int
        var channelCapacity: [CallChannel: Int]
        var successRate: Double
        var avgHandlingTime: Double
        var contact: AgentContact? = nil

        mutating func apply(_ row: AgentRow) {
            if let value = row.name { name = value }
            if let value = row.sector { sector = value }
            if let value = row.status { status = value }
            if let value = row.priority { priority = value }
            if let value = row.capabilities { capabilities = value }
            // As `PUT /api/agents/:id`: new capabilities alone keep the levels of those that stay.
            if let value = row.capabilityLevels {
                capabilityLevels = value
            } else if row.capabilities != nil {
                capabilityLevels = capabilityLevels.filter { capabilities.contains($0.key) }
            }
            if let value = row.maxConcurrent { maxConcurrent = value }
            if let value = row.channelCapacity { channelCapacity = value }
            if let value = row.successRate { successRate = value }
            if let value = row.avgHandlingTime { avgHandlingTime = value }
            switch row.contact {
            case .unchanged: break
            case .cleared: contact = nil
            case .set(let value): contact = value
            }
        }
    }

    func upsertAgents(_ input: [BulkRow], mode: BulkMode) async throws -> BulkResultDTO {
        var errors: [RowError] = []
        var rows: [AgentRow] = []
        var firstIndexOf: [String: Int] = [:]
        for var row in input {
            let agent = Self.readAgent(&row)
            errors += row.errors
            guard let agent else { continue }
            if let first = firstIndexOf[agent.externalId] {
                errors.append(RowError(index: agent.index, field: "external_id",
                                       message: "external_id '\(agent.externalId)' is already in row \(first)"))
                continue
            }
            firstIndexOf[agent.externalId] = agent.index
            rows.append(agent)
        }
        let existing = try await existingAgents(externalIds: rows.map(\.externalId))
        var creating: [(AgentRow, AgentValues)] = []
        var updating: [(AgentRow, AgentValues)] = []
        for row in rows {
            if var values = existing[row.externalId] {
                values.apply(row)
                guard Self.levelsHold(values, row, &errors) else { continue }
                updating.append((row, values))
            } else if let name = row.name, let sector = row.sector {
                var values = AgentValues(
                    id: UUID(), name: name, sector: sector, status: .active, priority: AgentLimits.defaultPriority,
                    capabilities: [], maxConcurrent: AgentLimits.defaultMaxConcurrent, channelCapacity: [:],
                    successRate: AgentLimits.defaultSuccessRate, avgHandlingTime: AgentLimits.defaultAvgHandlingTime)
                values.apply(row)
                guard Self.levelsHold(values, row, &errors) else { continue }
                creating.append((row, values))
            } else {
                for field in ["name", "sector"] where (field == "name" ? row.name : row.sector) == nil {
                    errors.append(RowError(index: row.index, field: field,
                                           message: "\(field) is required for a new agent (no agent has external_id '\(row.externalId)')"))
                }
            }
        }
        // Presence is checked against the tenant's away reasons, as `PUT /api/agents/:id/presence` checks it.
        if rows.contains(where: { $0.presence != nil || $0.presenceReason != nil }) {
            let settings = try await SettingsService.effectiveSettings(scope: scope, on: store.sql)
            let reasons = settings["agents.away_reasons"]?.arrayValue?.compactMap(\.stringValue) ?? SettingsSchema.defaultAwayReasons
            let invalid = Set((creating + updating).compactMap { row, _ -> Int? in
                guard row.presence != nil || row.presenceReason != nil else { return nil }
                do {
                    _ = try PresenceInput(presence: row.presence?.rawValue, reason: row.presenceReason).validated(awayReasons: reasons)
                    return nil
                } catch let error as AppError {
                    errors.append(RowError(index: row.index, field: row.presence == nil ? "presence" : "presence_reason",
                                           message: error.message))
                    return row.index
                } catch {
                    return row.index
                }
            })
            creating.removeAll { invalid.contains($0.0.index) }
            updating.removeAll { invalid.contains($0.0.index) }
        }
        try BulkInput.refuseIfNeeded(errors, mode: mode, received: input.count)

        let tenant = self.tenant
        let now = Date()
        let (creates, updates) = (creating, updating)
        try await store.write { db in
            let sql = db as! any SQLDatabase
            for start in stride(from: 0, to: creates.count, by: Self.batchSize) {
                var insert = sql.insert(into: SectorAgent.schema).columns([
                    "id", "client_id", "external_id", "name", "sector", "status", "priority", "capabilities", "capability_levels",
                    "max_concurrent", "current_load", "success_rate", "avg_handling_time", "created_at", "updated_at", "presence", "presence_reason",
                    "state_since", "contact"] + ChannelNumbers.capacityColumns)
                for (row, values) in creates[start..<min(start + Self.batchSize, creates.count)] {
                    insert = insert.values([
                        SQLBind(values.id), SQLBind(tenant.clientId), SQLBind(row.externalId), SQLBind(values.name),
                        SQLBind(values.sector), SQLBind(values.status.rawValue), SQLBind(values.priority),
                        SQLBind(values.capabilities), SQLBind(SkillLevel.stored(values.capabilityLevels)),
                        SQLBind(values.maxConcurrent), SQLBind(0), SQLBind(values.successRate),
                        SQLBind(values.avgHandlingTime), SQLBind(now), SQLBind(now),
                        SQLBind((row.presence ?? .available).rawValue), SQLBind(row.presenceReason), SQLBind(now),
                        SQLBind(values.contact?.stored),
                    ] + CallChannel.allCases.map { SQLBind(values.channelCapacity[$0]) })
                }
                try await insert.run()
                if let opening = AgentStateLog.opening(creates[start..<min(start + Self.batchSize, creates.count)].map { row, values in
                    (values.id, row.presence ?? .available, row.presenceReason)
                }, of: tenant.clientId, at: now) {
                    try await sql.execute(sql: opening) { _ in }
                }
            }
            for (_, values) in updates {
                var update = sql.update(SectorAgent.schema)
                for channel in CallChannel.allCases {
                    update = update.set(SQLIdentifier(channel.capacityColumn), to: values.channelCapacity[channel])
                }
                try await update
                    .set("name", to: values.name).set("sector", to: values.sector).set("status", to: values.status.rawValue)
                    .set("priority", to: values.priority).set("capabilities", to: values.capabilities)
                    .set("capability_levels", to: SkillLevel.stored(values.capabilityLevels))
                    .set("contact", to: values.contact?.stored)
                    .set("max_concurrent", to: values.maxConcurrent).set("success_rate", to: values.successRate)
                    .set("avg_handling_time", to: values.avgHandlingTime).set("updated_at", to: now)
                    .where("id", .equal, values.id).where("client_id", .equal, tenant.clientId)
                    .run()
            }
            try await Self.audit(creates.map { ("agent.create", $0.1.id) } + updates.map { ("agent.update", $0.1.id) },
                                 entityType: "agent", by: tenant, at: now, on: sql)
            try await EventOutbox.append(creates.map { EventPayload.agent($0.1.id, "created") }
                                            + updates.map { EventPayload.agent($0.1.id, "updated") },
                                         clientId: tenant.clientId, at: now, on: sql)
        }
        await book.invalidate(tenant.clientId)
        try await changePresence(of: updates.compactMap { row, values in row.presence.map { (values.id, $0, row.presenceReason) } })
        try await offerCapacity(of: (creates + updates).filter { $0.1.status == .active }.map(\.1.id))
        let results = (creates.map { BulkRowResult(index: $0.0.index, id: $0.1.id, action: .created) }
            + updates.map { BulkRowResult(index: $0.0.index, id: $0.1.id, action: .updated) }).sorted { $0.index < $1.index }
        return Self.result(mode: mode, received: input.count, results: results, errors: errors)
    }

    /// Levels may name only the agent's capabilities (as it will be).
    private static func levelsHold(_ values: AgentValues, _ row: AgentRow, _ errors: inout [RowError]) -> Bool {
        do {
            _ = try AgentLimits.capabilityLevels(values.capabilityLevels, of: values.capabilities)
            return true
        } catch {
            errors.append(RowError(index: row.index, field: "capability_levels", message: (error as? AppError)?.message ?? "is invalid"))
            return false
        }
    }

    private func existingAgents(externalIds: [String]) async throws -> [String: AgentValues] {
        var found: [String: AgentValues] = [:]
        for start in stride(from: 0, to: externalIds.count, by: Self.batchSize) {
            let batch = Array(externalIds[start..<min(start + Self.batchSize, externalIds.count)])
            for agent in try await scope.query(SectorAgent.self, on: store.db).filter(\.$externalId ~~ batch).all() {
                found[agent.externalId!] = AgentValues(
                    id: agent.id!, name: agent.name, sector: agent.sector, status: agent.status, priority: agent.priority,
                    capabilities: agent.capabilities, capabilityLevels: agent.capabilityLevels, maxConcurrent: agent.maxConcurrent,
                    channelCapacity: agent.channelCapacity, successRate: agent.successRate,
                    avgHandlingTime: agent.avgHandlingTime, contact: AgentContact.read(agent.storedContact))
            }
        }
        return found
    }

    /// Existing agents' presence, through the writer (which changes nothing for an agent already so), submitted
    /// together so the group commit takes them in few batches.
    private func changePresence(of changes: [(UUID, AgentPresence, String?)]) async throws {
        let (writer, tenant) = (self.writer, self.tenant)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (agentId, presence, reason) in changes {
                group.addTask { try await writer.agentPresence(agentId, presence, reason: reason, by: tenant) }
            }
            try await group.waitForAll()
        }
    }

    /// New or changed agents may take calls that are waiting, through the writer; a tenant with an empty queue
    /// (the usual case for an import) costs one query.
    private func offerCapacity(of agentIds: [UUID]) async throws {
        guard !agentIds.isEmpty,
              try await scope.select(from: Call.schema, on: store.sql).column("id")
                .where(status: .queued).limit(1).first() != nil
        else { return }
        try await writer.agentsChanged(agentIds, by: tenant)
    }

    // MARK: Members

    static let memberFields: Set<String> = ["email", "name", "role"]

    func ensureTeam(_ teamId: UUID) async throws {
        _ = try await scope.find(Team.self, teamId, on: store.db)
    }

    func upsertMembers(_ input: [BulkRow], in teamId: UUID, mode: BulkMode) async throws -> BulkResultDTO {
        var errors: [RowError] = []
        var reading: [(index: Int, email: String, name: String, role: MemberRole)] = []
        var firstIndexOf: [String: Int] = [:]
        for var row in input {
            row.rejectUnknown(allowed: Self.memberFields)
            let email = row.text("email", required: true) { try Check.email($0) }
            let name = row.text("name", required: true) { try Check.text($0, "name", length: TeamLimits.memberName) }
            let role = row.text("role") { try Check.oneOf($0, "role", as: MemberRole.self).rawValue }
            errors += row.errors
            guard row.errors.isEmpty, let email, let name else { continue }
            if let first = firstIndexOf[email] {
                errors.append(RowError(index: row.index, field: "email", message: "email '\(email)' is already in row \(first)"))
                continue
            }
            firstIndexOf[email] = row.index
            reading.append((row.index, email, name, role.flatMap(MemberRole.init) ?? .member))
        }
        try BulkInput.refuseIfNeeded(errors, mode: mode, received: input.count)
        let rows = reading

        let tenant = self.tenant
        let results = try await store.write { db in
            var results: [BulkRowResult] = []
            for row in rows {
                let (id, created) = try await TeamService.upsertMember(
                    in: teamId, email: row.email, name: row.name, role: row.role, clientId: tenant.clientId, on: db)
                results.append(BulkRowResult(index: row.index, id: id, action: created ? .created : .updated))
            }
            try await Self.audit(results.map { (action: $0.action == .created ? "member.create" : "member.update", id: $0.id) },
                                 entityType: "member", by: tenant, at: Date(), on: db as! any SQLDatabase)
            try await EventOutbox.append(results.map { EventPayload.team(teamId, $0.action == .created ? "member_created" : "member_updated",
                                                                         member: $0.id) },
                                         clientId: tenant.clientId, on: db)
            return results
        }
        await book.invalidate(tenant.clientId)
        return Self.result(mode: mode, received: input.count, results: results, errors: errors)
    }

    // MARK: Assignments

    struct AssignmentChange: Sendable {
        let index: Int
        let assign: Bool
        let memberId: UUID
        let agentId: UUID
    }

    /// `{"assign": [...], "unassign": [...]}`: rows are numbered across both lists, `assign` first. Each item is an
    /// object with `member_id` and `agent_id`, or, for one member's route, an agent id.
    static func assignmentRows(_ body: [String: JSONValue], member: UUID?) throws -> [BulkRow] {
        if let unknown = body.keys.sorted().first(where: { $0 != "assign" && $0 != "unassign" }) {
            throw AppError.badRequest("unknown field '\(unknown)'; the body is {\"assign\": [ … ], \"unassign\": [ … ]}")
        }
        var rows: [BulkRow] = []
        for list in ["assign", "unassign"] {
            guard let value = body[list] else { continue }
            guard let items = value.arrayValue else { throw AppError.badRequest("\(list) must be a list") }
            for item in items {
                var fields: [String: JSONValue]
                if let member {
                    // A string that is not a UUID is that row's error; anything else is a malformed body.
                    guard item.stringValue != nil else { throw AppError.badRequest("each item of \(list) must be an agent id") }
                    fields = ["agent_id": item, "member_id": .string(member.text)]
                } else {
                    guard let object = item.objectValue else {
                        throw AppError.badRequest("each item of \(list) must be an object with member_id and agent_id")
                    }
                    fields = object
                }
                fields["action"] = .string(list)
                rows.append(BulkRow(index: rows.count, cells: .json(fields)))
            }
        }
        guard !rows.isEmpty else { throw AppError.badRequest("assign or unassign must list at least one change") }
        guard rows.count <= BulkLimits.assignments else {
            throw AppError.badRequest("at most \(BulkLimits.assignments) changes in one request")
        }
        return rows
    }

    /// A member addressed under a team it does not belong to is as absent as an unknown one.
    func ensureMember(_ memberId: UUID, in teamId: UUID) async throws {
        try await ensureTeam(teamId)
        guard try await scope.find(TeamMember.self, memberId, on: store.db).$team.id == teamId else {
            throw AppError.notFound(TeamMember.entityName)
        }
    }

    func changeAssignments(_ input: [BulkRow], in teamId: UUID, mode: BulkMode) async throws -> BulkResultDTO {
        let team = try await scope.find(Team.self, teamId, on: store.db)
        var errors: [RowError] = []
        var changes: [AssignmentChange] = []
        for var row in input {
            row.rejectUnknown(allowed: ["action", "member_id", "agent_id"])
            let assign = row.text("action") { $0 } == "assign"
            let memberId = row.identifier("member_id"), agentId = row.identifier("agent_id")
            errors += row.errors
            if row.errors.isEmpty, let memberId, let agentId {
                changes.append(AssignmentChange(index: row.index, assign: assign, memberId: memberId, agentId: agentId))
            }
        }
        let members = Set(try await scope.query(TeamMember.self, on: store.db).filter(\.$team.$id == teamId).all().map { $0.id! })
        var agents: [UUID: String] = [:]
        let agentIds = Array(Set(changes.map(\.agentId)))
        for start in stride(from: 0, to: agentIds.count, by: Self.batchSize) {
            let batch = Array(agentIds[start..<min(start + Self.batchSize, agentIds.count)])
            for agent in try await scope.query(SectorAgent.self, on: store.db).filter(\.$id ~~ batch).all() { agents[agent.id!] = agent.sector }
        }
        var assigned = Set<[UUID]>()
        for assignment in try await scope.query(TeamAgentAssignment.self, on: store.db).filter(\.$team.$id == teamId).all() {
            assigned.insert([assignment.$member.id, assignment.$agent.id])
        }
        var accepted: [AssignmentChange] = []
        var seen = Set<[UUID]>()
        for change in changes {
            let pair = [change.memberId, change.agentId]
            guard members.contains(change.memberId) else {
                errors.append(RowError(index: change.index, field: "member_id", message: "member not found in this team")); continue
            }
            guard let sector = agents[change.agentId] else {
                errors.append(RowError(index: change.index, field: "agent_id", message: "agent not found")); continue
            }
            guard seen.insert(pair).inserted else {
                errors.append(RowError(index: change.index, field: "agent_id", message: "this member and agent are already in an earlier change")); continue
            }
            if change.assign, sector != team.sector {
                errors.append(RowError(index: change.index, field: "agent_id",
                                       message: "the agent works in sector '\(sector)', not the team's sector '\(team.sector)'"))
                continue
            }
            accepted.append(change)
        }
        try BulkInput.refuseIfNeeded(errors, mode: mode, received: input.count)
        let valid = accepted, existing = assigned

        let tenant = self.tenant
        let now = Date()
        let results = try await store.write { db in
            let sql = db as! any SQLDatabase
            var results: [BulkRowResult] = []
            var audits: [(String, UUID)] = []
            var events: [PendingEvent] = []
            for change in valid {
                let exists = existing.contains([change.memberId, change.agentId])
                if change.assign, !exists {
                    try await sql.insert(into: TeamAgentAssignment.schema)
                        .columns("id", "client_id", "team_id", "member_id", "agent_id", "created_at")
                        .values(SQLBind(UUID()), SQLBind(tenant.clientId), SQLBind(teamId), SQLBind(change.memberId),
                                SQLBind(change.agentId), SQLBind(now))
                        .ignoringConflicts(with: ["member_id", "agent_id"])
                        .run()
                    audits.append(("assignment.create", change.memberId))
                    events.append(EventPayload.team(teamId, "agent_assigned", member: change.memberId, agent: change.agentId))
                } else if !change.assign, exists {
                    try await sql.delete(from: TeamAgentAssignment.schema)
                        .where("client_id", .equal, tenant.clientId).where("member_id", .equal, change.memberId)
                        .where("agent_id", .equal, change.agentId)
                        .run()
                    audits.append(("assignment.delete", change.memberId))
                    events.append(EventPayload.team(teamId, "agent_unassigned", member: change.memberId, agent: change.agentId))
                }
                let action: BulkAction = change.assign == exists ? .unchanged : change.assign ? .assigned : .unassigned
                results.append(BulkRowResult(index: change.index, id: change.agentId, action: action))
            }
            try await Self.audit(audits, entityType: "member", by: tenant, at: now, on: sql)
            try await EventOutbox.append(events, clientId: tenant.clientId, at: now, on: sql)
            return results
        }
        await book.invalidate(tenant.clientId)
        return Self.result(mode: mode, received: input.count, results: results, errors: errors)
    }

    // MARK: Shared

    /// One audit row per written row, inserted in batches in the write's transaction.
    private static func audit(_ entries: [(action: String, id: UUID)], entityType: String, by tenant: Tenant, at now: Date,
                              on sql: any SQLDatabase) async throws {
        for start in stride(from: 0, to: entries.count, by: batchSize) {
            try await TenantScope.insert(
                into: AuditLogEntry.schema, columns: AuditLog.columns,
                rows: entries[start..<min(start + batchSize, entries.count)].map { entry in
                    (tenant.clientId, [UUID.timeOrdered(), tenant.userId, entry.action, entityType, entry.id.text,
                                       AuditOutcome.ok.rawValue, now] as [any Encodable & Sendable])
                }, on: sql)
        }
    }

    private static func result(mode: BulkMode, received: Int, results: [BulkRowResult], errors: [RowError]) -> BulkResultDTO {
        BulkResultDTO(
            mode: mode.rawValue, received: received, written: results.filter { $0.action != .unchanged }.count,
            failed: Set(errors.map(\.index)).count, results: results,
            errors: errors.sorted { ($0.index, $0.field ?? "") < ($1.index, $1.field ?? "") })
    }
}
