import FluentKit
import Foundation
import PostgresNIO
import SQLKit


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
    var idempotent: [IdempotencyKey: CallRow] = [:]
    /// Per tenant, whether the database held queued calls when this batch first looked.
    private var databaseQueue: [String: Bool] = [:]
    /// Tenants whose candidates' committed loads this batch already read (PostgreSQL, before queueing).
    var refreshedTenants: Set<String> = []
    /// Calls of this batch or read from the database that the queue already handed out here.
    private var takenFromQueue: Set<UUID> = []
    /// The batch's call events per tenant, in the order they happened, and each tenant's net change of waiting
    /// calls (a tenant is listed once its queue changed at all). Load events are added from the committed loads.
    private var events: [String: [PendingEvent]] = [:]
    private var queueChanges: [String: Int] = [:]

    init(plan: BatchPlan, now: Date) {
        self.plan = plan
        self.now = now
    }

    /// One read for every call the batch completes or cancels, one per tenant for idempotency keys.
    mutating func readExisting(_ changes: [(Tenant, CallChange)], on db: any SQLDatabase) async throws {
        let sql = db
        var ids: [UUID] = []
        var keys: [String: [String]] = [:]
        for (tenant, change) in changes {
            switch change {
            case .complete(let id, _), .cancel(let id), .widen(let id, _): ids.append(id)
            case .create(let new): if let key = new.idempotencyKey { keys[tenant.clientId, default: []].append(key) }
            }
        }
        if !ids.isEmpty {
            // Any tenant's rows: `existing(_:of:)` answers another tenant's id as not found.
            for row in try await sql.select().columns(CallRow.columns.map { SQLIdentifier($0) }).from(Call.schema)
                .where("id", .in, ids).all() {
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
    }

    func existing(_ id: UUID, of tenant: Tenant, probingWith fluent: any Database) async throws -> CallRow {
        if let index = inserted[id] { return inserts[index] }
        if let update = updates[id] { return update.row }
        guard let call = existing[id], call.clientId == tenant.clientId else {
            // Not found, with another tenant's id marked as a probe exactly as everywhere else.
            _ = try await tenant.scope.find(Call.self, id, on: fluent)
            throw AppError.notFound(Call.entityName)
        }
        return call
    }

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

    mutating func audit(_ tenant: Tenant, _ action: String, _ callId: UUID) {
        audits.append((tenant.clientId, [UUID.random(), tenant.userId, action, "call", callId.uuidString, AuditOutcome.ok.rawValue, now]))
    }

    func weights(_ clientId: String, book: LoadBook) -> ScoringWeights {
        book.policy(of: clientId)?.weights ?? .contractDefaults
    }

    /// The oldest queued call this agent may take: first those already in the database (older than anything in
    /// this batch), then those this batch queued.
    mutating func oldestQueued(for agentId: UUID, _ agent: BookAgent, capabilities: Set<String>, relaxation: Relaxation,
                               clientId: String, on db: any SQLDatabase) async throws -> CallRow? {
        let now = self.now
        func mayTake(_ call: CallRow) -> Bool {
            relaxation.mayServe(callTeam: call.teamId, callSector: call.sector, required: call.requiredCapabilities,
                                waited: now.timeIntervalSince(call.createdAt), agentSector: agent.sector, agentTeams: agent.teams,
                                agentCapabilities: capabilities)
        }
        // Only calls of channels the agent has room for: a freed chat slot does not take a queued voice call
        // from an agent whose one voice slot is busy.
        let channels = agent.channelsWithRoom
        guard !channels.isEmpty else { return nil }
        var query = TenantScope(clientId: clientId).select(from: Call.schema, on: db)
            .columns(CallRow.columns.map { SQLIdentifier($0) })
            .where("status", .equal, CallStatus.queued.rawValue)
            .where { group in
                var group = group.where("sector", .equal, agent.sector)
                if !agent.teams.isEmpty { group = group.orWhere("team_id", .in, agent.teams) }
                return group
            }
        if !takenFromQueue.isEmpty { query = query.where("id", .notIn, Array(takenFromQueue)) }
        if channels.count < CallChannel.allCases.count { query = query.where("channel", .in, channels.map(\.rawValue)) }
        let decided = Set(updates.keys)
        var found: CallRow?
        // Whether the tenant has any queued call in the database is asked once a batch, not once a release.
        if databaseQueue[clientId] == nil {
            databaseQueue[clientId] = try await TenantScope(clientId: clientId).select(from: Call.schema, on: db)
                .column("id").where("status", .equal, CallStatus.queued.rawValue).limit(1).first() != nil
        }
        // Pages of waiting calls, oldest first, until one this agent may take: a call this batch already changed
        // (cancelled, say) is not waiting any more, and one needing a capability the agent lacks is not its.
        let page = 8
        var offset = 0
        query = query.orderBy("created_at").orderBy("id")
        while databaseQueue[clientId] == true, found == nil {
            let rows = try await query.limit(page).offset(offset).all()
            for row in rows {
                let call = try CallRow(row)
                if decided.contains(call.id) || !mayTake(call) { continue }
                found = call
                break
            }
            if rows.count < page { break }
            offset += page
        }
        if found == nil {
            found = inserts.first { call in
                call.clientId == clientId && call.status == .queued && !takenFromQueue.contains(call.id)
                    && agent.hasRoom(for: call.channel) && mayTake(call)
            }
        }
        if let found { takenFromQueue.insert(found.id) }
        return found
    }

    /// Loads, new calls, changed calls, decisions and audit rows. The statements are the same on both databases;
    /// SQLite runs them one after another in the writer's transaction (inline, so cheaply), PostgreSQL receives
    /// them as one statement of data-modifying CTEs: one round trip, atomic on its own, which refuses everything
    /// if any load claim or call change is refused.
    mutating func write(on db: any SQLDatabase, postgres: Bool) async throws {
        let deltas = plan.netDeltas
        let loads = deltas.isEmpty ? nil : LoadStatement(deltas)
        let changes = updateOrder.map { id in Self.changeQuery(updates[id]!.row, expecting: updates[id]!.expected, on: db) }
        let inserts = [
            TenantScope.insertQuery(into: Call.schema, columns: CallRow.insertColumns,
                                    rows: self.inserts.map { ($0.clientId, $0.values) }, on: db),
            TenantScope.insertQuery(into: RoutingDecisionRecord.schema, columns: DecisionRow.columns,
                                    rows: decisions.map { ($0.clientId, $0.values) }, on: db),
            TenantScope.insertQuery(into: AuditLogEntry.schema, columns: AuditLog.columns, rows: audits, on: db),
        ].compactMap { $0 }
        let committed: [CommittedLoad]
        if postgres {
            committed = try await Self.runAsOneStatement(loads: loads, changes: changes, inserts: inserts,
                                                         events: BatchEvents(events, queueChanges: queueChanges, at: now),
                                                         origin: plan.origin, on: db)
        } else {
            if let loads { committed = try await loads.run(on: db) } else { committed = [] }
            for change in changes {
                // Changed by another process since this batch read it: decide the batch again on fresh rows.
                guard try await db.raw("\(change)").first() != nil else { throw CallChangedMeanwhile() }
            }
            for insert in inserts { try await db.execute(sql: insert) { _ in } }
            try await writeEvents(loads: committed, on: db)
        }
        let confirmed = Set(committed.map(\.id))
        let lost = deltas.filter { $0.delta.claims && !confirmed.contains($0.agent.agentId) }.map(\.agent)
        if !lost.isEmpty { throw LostClaims(agents: lost) }
        for load in committed { plan.noteCommitted(load.state, of: load.clientId) }
    }

    /// SQLite: the batch's events after its other writes, each tenant's call events first, then the loads the
    /// batch committed, then the queue's new depth (counted after the batch's own changes).
    private mutating func writeEvents(loads: [CommittedLoad], on db: any SQLDatabase) async throws {
        var byTenant = events
        for load in loads { byTenant[load.clientId, default: []].append(EventPayload.loadChanged(load.state)) }
        for clientId in queueChanges.keys {
            let queued = try await TenantScope(clientId: clientId).queuedCallCount(on: db)
            byTenant[clientId, default: []].append(EventPayload.queueDepth(queued))
        }
        for (clientId, tenantEvents) in byTenant.sorted(by: { $0.key < $1.key }) {
            if let newest = try await EventOutbox.append(tenantEvents, clientId: clientId, at: now, on: db) {
                plan.noteEventHead(newest, of: clientId)
            }
        }
    }

    /// A call's new state, written only if it is still in the state this batch read.
    private static func changeQuery(_ call: CallRow, expecting expected: CallStatus, on db: any SQLDatabase) -> any SQLExpression {
        db.update(Call.schema)
            .set("status", to: call.status.rawValue)
            .set("agent_id", to: call.agentId)
            .set("outcome", to: call.outcome?.rawValue)
            .set("resolved", to: call.resolved)
            .set("satisfaction", to: call.satisfaction)
            .set("handling_time_seconds", to: call.handlingTimeSeconds)
            .set("assigned_at", to: call.assignedAt)
            .set("completed_at", to: call.completedAt)
            .set("cancelled_at", to: call.cancelledAt)
            .set("updated_at", to: call.updatedAt)
            .where("id", .equal, call.id)
            .where("client_id", .equal, call.clientId)
            .where("status", .equal, expected.rawValue)
            .returning("id")
            .query
    }

    /// `WITH v …, loads AS (UPDATE …), c0 AS (UPDATE calls …), … , i0 AS (INSERT …), … SELECT <checked loads>`.
    /// Data-modifying CTEs all run, on one snapshot; the final SELECT turns a refused claim or change into an
    /// error (a cast that fails at run time), which aborts the whole statement.
    private static func runAsOneStatement(
        loads: LoadStatement?, changes: [any SQLExpression], inserts: [any SQLExpression], events: BatchEvents,
        origin: String, on db: any SQLDatabase
    ) async throws -> [CommittedLoad] {
        var ctes: [SQLQueryString] = []
        var checks: [SQLQueryString] = []
        defer { _ = 0 }
        if let loads {
            ctes.append("\(unsafeRaw: LoadStatement.valuesColumns) AS (VALUES \(SQLList(loads.values))), loads AS (\(loads.update))")
            checks.append("(SELECT count(*) FROM loads JOIN v ON v.agent_id = loads.id WHERE v.claim > 0) = \(literal: loads.claims)")
            // Other processes' books learn the committed loads (delivered only if this statement commits), in
            // notifications of at most 60 agents, well under PostgreSQL's 8,000-byte payload limit.
            ctes.append("""
                notified AS (SELECT pg_notify(\(bind: LoadNotification.channel), json_build_object(
                    'origin', \(bind: origin), 'clientId', client_id, 'states', json_agg(json_build_object(
                        'a', id, 'l', current_load, 'm', max_concurrent, 'on', status = 'active',
                        'c', \(unsafeRaw: LoadStatement.loadArray), 'k', \(unsafeRaw: LoadStatement.capacityArray))))::text)
                    FROM (SELECT loads.*, (row_number() OVER (PARTITION BY client_id ORDER BY id) - 1) / 60 AS chunk
                          FROM loads) AS numbered
                    GROUP BY client_id, chunk)
                """)
            checks.append("(SELECT count(*) FROM notified) >= 0")
        }
        for (index, change) in changes.enumerated() {
            ctes.append("\(unsafeRaw: "c\(index)") AS (\(change))")
            checks.append("(SELECT count(*) FROM \(unsafeRaw: "c\(index)")) = 1")
        }
        for (index, insert) in inserts.enumerated() { ctes.append("\(unsafeRaw: "i\(index)") AS (\(insert))") }
        if let outbox = events.statement(withLoads: loads != nil) {
            ctes.append(contentsOf: outbox)
            checks.append("(SELECT count(*) FROM events_notified) >= 0")
        }
        guard !ctes.isEmpty else { return [] }  // every change of the batch was refused or replayed
        let checked: SQLQueryString = checks.isEmpty ? "TRUE" : checks.joined(separator: " AND ")
        let rows: SQLQueryString = loads == nil ? "'[]'" : """
            (SELECT COALESCE(json_agg(json_build_object('id', id, 'client_id', client_id, 'current_load', current_load,
                'max_concurrent', max_concurrent, 'status', status, 'channel_loads', \(unsafeRaw: LoadStatement.loadArray),
                'channel_capacity', \(unsafeRaw: LoadStatement.capacityArray)))::text, '[]') FROM loads)
            """
        let statement: SQLQueryString = """
            WITH \(ctes.joined(separator: ", "))
            SELECT CASE WHEN \(checked) THEN \(rows) ELSE ('refused by the database: ' || now())::int::text END AS loads
            """
        do {
            guard let text = try await db.raw(statement).first()?.decode(column: "loads", as: String.self) else { return [] }
            return try JSONDecoder().decode([CommittedLoad].self, from: Data(text.utf8))
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "22P02" {
            // A claim or a change was refused: decide again with every agent of the batch refreshed.
            throw BatchRefused()
        }
    }
}
