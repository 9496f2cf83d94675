import FluentKit
import Foundation
import SQLKit


struct SectorKey: Hashable {
    let clientId: String
    let sector: String
}

/// The batch being assembled: the rows it read, the rows it will write.
struct BatchWork {
    let plan: BatchPlan
    let now: Date
    private var existing: [UUID: CallRow] = [:]
    private var inserted: [UUID: Int] = [:]
    private var inserts: [CallRow] = []
    private var updates: [UUID: (row: CallRow, expected: CallStatus)] = [:]
    private var updateOrder: [UUID] = []
    var decisions: [DecisionRow] = []
    private var audits: [(clientId: String, values: [any Encodable & Sendable])] = []
    /// State log rows this batch opens, and the agents whose open row in the database it closes.
    private var stateRows: [(clientId: String, row: AgentStateLog.Row)] = []
    private var closedStates: Set<LostClaims.Agent> = []
    /// Offers this batch made (resolved here too when they also ended in it), and the stored open offers it ended.
    private var offers: [(clientId: String, row: OfferLog.Row)] = []
    private var resolvedOffers: [(clientId: String, callId: UUID, outcome: OfferLog.Outcome)] = []
    /// Agents' presence as this batch's changes left it.
    var presence: [UUID: (presence: AgentPresence, reason: String?)] = [:]
    /// Agents whose presence the batch changes, as stored when it began (any tenant's:
    /// `storedPresence(of:for:on:probingWith:)` answers another tenant's id as not found).
    private var presenceAsRead: [UUID: StoredPresence] = [:]
    var idempotent: [IdempotencyKey: CallRow] = [:]
    /// Per tenant, whether the database held queued calls when this batch first looked (the queue hand-off's),
    /// and whether any of them has another priority than the default (else oldest first is the queue's order).
    var databaseQueue: [String: Bool] = [:]
    var mixedPriorities: [String: Bool] = [:]
    /// Per tenant and sector: its waiting calls as this batch left them so far, and the calls the batch queued
    /// there (for each queued call's place, `CallWriter.queuedPlace`).
    var waitingInSector: [SectorKey: Int] = [:]
    var queuedHere: [SectorKey: [QueueOrder.Entry]] = [:]
    /// Tenants whose candidates' committed loads this batch already read (PostgreSQL, before queueing).
    var refreshedTenants: Set<String> = []
    /// Calls of this batch or read from the database that the queue hand-off already handed out here.
    var takenFromQueue: Set<UUID> = []
    /// False when this batch leaves waiting calls to the queue sweeper (see `CallWriter.decideAndWrite`).
    var handsOutWaitingCalls = true
    /// The batch's call events per tenant, in the order they happened, and each tenant's net change of waiting
    /// calls (a tenant is listed once its queue changed at all). Load events are added from the committed loads.
    private var events: [String: [PendingEvent]] = [:]
    private var queueChanges: [String: Int] = [:]

    init(plan: BatchPlan, now: Date) {
        self.plan = plan
        self.now = now
    }

    /// Whether the tenant has any waiting call in the database, and any of another priority than the default: asked
    /// once a batch, not once a hand-off or a queued call.
    mutating func lookAtTheQueue(of clientId: String, on db: any SQLDatabase) async throws {
        guard databaseQueue[clientId] == nil else { return }
        let scope = TenantScope(clientId: clientId)
        databaseQueue[clientId] = try await scope.select(from: Call.schema, on: db)
            .column("id").where(status: .queued).limit(1).first() != nil
        var mixed = false
        if databaseQueue[clientId] == true {
            // Literals, as in `idx_calls_queued_priority`, so that both databases read that small index.
            mixed = try await scope.select(from: Call.schema, on: db).column("id")
                .where(SQLRaw("status = 'queued' AND priority <> \(CallLimits.defaultPriority)")).limit(1).first() != nil
        }
        mixedPriorities[clientId] = (mixedPriorities[clientId] ?? false) || mixed
    }

    struct StoredPresence {
        let clientId: String
        let presence: AgentPresence
        let reason: String?
        let isActive: Bool
    }

    /// One read for every call the batch completes or cancels, one per tenant for idempotency keys, one for the
    /// agents whose presence it changes.
    mutating func readExisting(_ changes: [(Tenant, CallChange)], on db: any SQLDatabase) async throws {
        let sql = db
        var ids: [UUID] = []
        var keys: [String: [String]] = [:]
        var presenceChanged: [UUID] = []
        for (tenant, change) in changes {
            switch change {
            case .complete(let id, _), .cancel(let id), .widen(let id, _): ids.append(id)
            case .accept(let id), .reject(let id, _): ids.append(id)
            case .talkEnded(let id, _, _), .dialFailed(let id, _, _, _): ids.append(id)
            case .endDueWrapUps(let callIds, _), .expireOffers(let callIds, _): ids += callIds
            case .create(let new): if let key = new.idempotencyKey { keys[tenant.clientId, default: []].append(key) }
            case .presence(let agentId, _, _): presenceChanged.append(agentId)
            case .agentsChanged, .endWrapUpsEarly: break
            }
        }
        if !ids.isEmpty {
            // Any tenant's rows: `existing(_:of:)` answers another tenant's id as not found.
            var select = BoundStatement(CallRow.selectText + " WHERE \"id\" IN ")
            select.bindRow(ids)
            for row in try await sql.raw("\(select)").all() {
                let call = try CallRow(row)
                existing[call.id] = call
            }
        }
        for (clientId, tenantKeys) in keys {
            for row in try await TenantScope(clientId: clientId).select(from: Call.schema, on: db)
                .columns(CallRow.columns.map { SQLIdentifier($0) }).where("idempotency_key", .in, tenantKeys).all() {
                let call = try CallRow(row)
                idempotent[IdempotencyKey(clientId: clientId, key: call.idempotencyKey!)] = call
            }
        }
        try await readPresence(of: presenceChanged, on: db)
    }

    private mutating func readPresence(of agentIds: [UUID], on db: any SQLDatabase) async throws {
        guard !agentIds.isEmpty else { return }
        for row in try await db.select().columns("id", "client_id", "presence", "presence_reason", "status")
            .from(SectorAgent.schema).where("id", .in, agentIds).all() {
            presenceAsRead[try row.decode(column: "id", as: UUID.self)] = StoredPresence(
                clientId: try row.decode(column: "client_id", as: String.self),
                presence: AgentPresence(rawValue: try row.decode(column: "presence", as: String.self)) ?? .available,
                reason: try row.decode(column: "presence_reason", as: String?.self),
                isActive: try row.decode(column: "status", as: String.self) == ActiveStatus.active.rawValue)
        }
    }

    /// The agent's presence as stored when the batch began (the batch writes only at its end): read with the
    /// batch's presence changes, or here for one a change came to on its own (an agent sent away for missed
    /// offers). Another tenant's agent is not found (marked as a probe).
    mutating func storedPresence(of agentId: UUID, for tenant: Tenant, on db: any SQLDatabase,
                                 probingWith fluent: any Database) async throws -> StoredPresence {
        if presenceAsRead[agentId] == nil { try await readPresence(of: [agentId], on: db) }
        guard let stored = presenceAsRead[agentId], stored.clientId == tenant.clientId else {
            _ = try await tenant.scope.find(SectorAgent.self, agentId, on: fluent)
            throw AppError.notFound(SectorAgent.entityName)
        }
        return stored
    }

    func existing(_ id: UUID, of tenant: Tenant, probingWith fluent: any Database) async throws -> CallRow {
        // As this batch left it, else as read. An agent's token changes only its own calls: another's is not
        // found, as another tenant's is.
        let found = inserted[id].map { inserts[$0] } ?? updates[id]?.row ?? existing[id]
        // (One that was offered to it and went back to the queue is its own still, so that it learns why.)
        guard let call = found, call.clientId == tenant.clientId,
              tenant.agentId.map({ call.agentId == $0 || call.declinedBy.contains($0) }) ?? true else {
            // Not found, with another tenant's id marked as a probe exactly as everywhere else.
            _ = try await tenant.scope.find(Call.self, id, on: fluent)
            throw AppError.notFound(Call.entityName)
        }
        return call
    }

    /// The call as this batch left it, if it changed it, else as read.
    func known(_ call: CallRow) -> CallRow {
        if let index = inserted[call.id] { return inserts[index] }
        return updates[call.id]?.row ?? call
    }

    /// Calls this batch changed, as it left them, in order.
    var changedCalls: [CallRow] { updateOrder.compactMap { updates[$0]?.row } }

    /// Calls this batch inserts, in order.
    var insertedCalls: [CallRow] { inserts }

    /// Calls read from the database that this batch changes.
    var changedCallIds: Dictionary<UUID, (row: CallRow, expected: CallStatus)>.Keys { updates.keys }

    func finalRow(_ id: UUID) -> CallRow? {
        if let index = inserted[id] { return inserts[index] }
        return updates[id]?.row
    }

    mutating func insert(_ call: CallRow) {
        inserted[call.id] = inserts.count
        inserts.append(call)
        if let key = call.idempotencyKey { idempotent[IdempotencyKey(clientId: call.clientId, key: key)] = call }
    }

    /// A change to a call read from the database (expected still in `expected` when written), or to one this
    /// batch inserts (the insert carries it).
    mutating func update(_ call: CallRow, expecting expected: CallStatus) {
        if let index = inserted[call.id] {
            inserts[index] = call
            return
        }
        if updates[call.id] == nil {
            updateOrder.append(call.id)
            updates[call.id] = (call, expected)
        } else {
            updates[call.id]!.row = call
        }
    }

    mutating func emit(_ event: PendingEvent, for clientId: String, queueChange: Int = 0) {
        events[clientId, default: []].append(event)
        if queueChange != 0 { queueChanges[clientId, default: 0] += queueChange }
    }

    mutating func audit(_ tenant: Tenant, _ action: String, _ id: UUID, entity: String = "call") {
        audits.append((tenant.clientId, [UUID.timeOrdered(at: now), tenant.userId, action, entity, id.text, AuditOutcome.ok.rawValue, now]))
    }

    /// A presence change in the state log: the agent's open row ends now (in this batch, or in the database).
    mutating func logPresence(_ agentId: UUID, of clientId: String, _ presence: AgentPresence, reason: String?) {
        if let index = stateRows.lastIndex(where: { $0.clientId == clientId && $0.row.agentId == agentId }) {
            stateRows[index].row.endedAt = now
        } else {
            closedStates.insert(LostClaims.Agent(clientId: clientId, agentId: agentId))
        }
        stateRows.append((clientId, AgentStateLog.Row(agentId: agentId, state: presence, reason: reason, startedAt: now)))
    }

    /// A call went to its agent: an offered one opens a row of the offer log.
    mutating func logOffer(of call: CallRow) {
        guard call.status == .offered, let agentId = call.agentId else { return }
        offers.append((call.clientId, OfferLog.Row(callId: call.id, agentId: agentId, channel: call.channel, offeredAt: now)))
    }

    /// The call's open offer ended (in this batch's rows, or in the database).
    mutating func resolveOffer(of call: CallRow, _ outcome: OfferLog.Outcome) {
        if let index = offers.lastIndex(where: { $0.row.callId == call.id && $0.row.outcome == nil }) {
            offers[index].row.resolvedAt = now
            offers[index].row.outcome = outcome
        } else {
            resolvedOffers.append((call.clientId, call.id, outcome))
        }
    }

    /// Loads, new calls, changed calls, decisions and audit rows, written by the database's `BatchWriting`.
    mutating func write(with writing: any BatchWriting, on db: any SQLDatabase) async throws {
        let deltas = plan.netDeltas
        let changes = updateOrder.map { id in Self.changeQuery(updates[id]!.row, expecting: updates[id]!.expected) }
        let inserts = [
            TenantScope.insertQuery(into: Call.schema, columns: CallRow.insertColumns,
                                    rows: self.inserts.map { ($0.clientId, $0.values) }),
            TenantScope.insertQuery(into: RoutingDecisionRecord.schema, columns: DecisionRow.columns,
                                    rows: decisions.map { ($0.clientId, $0.values) }),
            TenantScope.insertQuery(into: AuditLogEntry.schema, columns: AuditLog.columns, rows: audits),
            TenantScope.insertQuery(into: AgentStateLog.schema, columns: AgentStateLog.columns,
                                    rows: stateRows.map { ($0.clientId, $0.row.values) }),
            TenantScope.insertQuery(into: OfferLog.schema, columns: OfferLog.columns,
                                    rows: offers.map { ($0.clientId, $0.row.values) }),
        ].compactMap { $0 }
        let closes = closedStates.sorted { $0.agentId < $1.agentId }
            .map { AgentStateLog.close($0.agentId, of: $0.clientId, at: now) }
            + resolvedOffers.map { OfferLog.resolve($0.callId, of: $0.clientId, $0.outcome, at: now) }
            + [Self.resetMissedOffers(of: plan.onlyMissedOffersReset)].compactMap { $0 }
        let statements = BatchStatements(loads: deltas.isEmpty ? nil : LoadStatement(deltas, presence: plan.presence, wrapUps: plan.wrapUps,
                                                                                         missedOffers: plan.missedOffers,
                                                                                         callsEnded: plan.callsEnded,
                                                                                         claimed: plan.claimed, at: now),
                                         changes: changes, unchecked: closes, inserts: inserts,
                                         events: events, queueChanges: queueChanges, now: now)
        let committed = try await writing.write(statements, plan: plan, on: db)
        let confirmed = Set(committed.map(\.id))
        let lost = deltas.filter { plan.claims($0.agent, $0.delta) && !confirmed.contains($0.agent.agentId) }.map(\.agent)
        if !lost.isEmpty { throw LostClaims(agents: lost) }
        for load in committed { plan.noteCommitted(load.state, of: load.clientId) }
        plan.noteOffers(made: offers.count, ended: offers.compactMap(\.row.outcome) + resolvedOffers.map(\.outcome))
    }

    /// Missed offers back to zero for these agents, where they are not zero already.
    private static func resetMissedOffers(of agents: Set<LostClaims.Agent>) -> (any SQLExpression)? {
        guard !agents.isEmpty else { return nil }
        var update = BoundStatement("UPDATE \(BoundStatement.quoted(SectorAgent.schema)) SET \"missed_offers\" = 0 WHERE \"id\" IN ")
        update.bindRow(agents.map(\.agentId).sorted())
        update.append(" AND \"missed_offers\" <> 0")
        return update
    }

    /// A call's new state, written only if it is still in the state this batch read.
    /// (The one change of a completed call is the end of its wrap-up, which must still be open.)
    private static func changeQuery(_ call: CallRow, expecting expected: CallStatus) -> any SQLExpression {
        let values: [any Encodable & Sendable] = [
            call.status.rawValue, call.agentId, call.outcome?.rawValue, call.resolved, call.satisfaction,
            call.handlingTimeSeconds, call.assignedAt, call.completedAt, call.cancelledAt, call.updatedAt,
            call.wrapUpUntil, call.wrapUpEndedAt, call.offerExpiresAt,
            call.declinedBy.isEmpty ? nil : call.declinedBy.map(\.text), call.talkSeconds, call.talkEndedAt,
        ]
        var update = BoundStatement("UPDATE \(BoundStatement.quoted(Call.schema)) SET ")
        for (index, (column, value)) in zip(changedColumns, values).enumerated() {
            update.append(index == 0 ? "\(column) = " : ", \(column) = ")
            update.bind(value)
        }
        update.append(" WHERE \"id\" = ")
        update.bind(call.id)
        update.append(" AND \"client_id\" = ")
        update.bind(call.clientId)
        update.append(" AND \"status\" = ")
        update.bind(expected.rawValue)
        if expected == .completed { update.append(" AND \"wrap_up_ended_at\" IS NULL") }
        update.append(" RETURNING \"id\"")
        return update
    }

    private static let changedColumns = [
        "status", "agent_id", "outcome", "resolved", "satisfaction", "handling_time_seconds", "assigned_at",
        "completed_at", "cancelled_at", "updated_at", "wrap_up_until", "wrap_up_ended_at", "offer_expires_at",
        "declined_by", "talk_seconds", "talk_ended_at",
    ].map(BoundStatement.quoted)
}
