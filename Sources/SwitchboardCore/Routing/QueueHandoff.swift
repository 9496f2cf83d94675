import Foundation
import SQLKit


/// The one way a waiting call reaches an agent after it arrived (a widening aside, which routes the call afresh):
/// whenever an agent may have room (a call of its completed or was cancelled, the agent was created or changed),
/// the writer offers the agent's free capacity to the first waiting calls it may take in the queue's order
/// (`QueueOrder`: highest effective priority, then oldest), in the same batch.
///
/// The what-if simulator follows the same rule (`mayTake`, and the queue's order) over its own lines.
struct QueueHandoff {
    let book: LoadBook
    let store: Store

    /// Whether an agent may take a call that has waited `waited` seconds: its own team's call, or its sector's
    /// once the call's wait widened it there, meeting its requirements as the wait holds them (capabilities and
    /// minimum levels, lowered or dropped by `routing.relaxation` steps).
    static func mayTake(callTeam: UUID?, callSector: String, required: SkillRequirement, waited: Double,
                        relaxation: Relaxation, agentSector: String, agentTeams: some Sequence<UUID>,
                        agentSkills: AgentSkills) -> Bool {
        relaxation.mayServe(callTeam: callTeam, callSector: callSector, required: required, waited: waited,
                            agentSector: agentSector, agentTeams: agentTeams, agentSkills: agentSkills)
    }

    /// Hands the agent's room to the oldest waiting calls it may take, as long as it has room; returns them.
    func offer(capacityOf agentId: UUID, of clientId: String, _ work: inout BatchWork, on db: any SQLDatabase)
        async throws -> [UUID] {
        var handedOut: [UUID] = []
        guard work.handsOutWaitingCalls else { return handedOut }
        // A tenant the book knows has nobody waiting costs nothing more.
        guard try await book.withBook(clientId, store: store, on: db, { $0.queuedCalls }) != 0 else { return handedOut }
        while true {
            let (agent, skills, policy) = try await book.withBook(clientId, store: store, on: db) { book in
                (book.agent(agentId), book.skills(of: agentId), book.policy)
            }
            let (relaxation, offerSeconds) = (policy.relaxation, policy.offerTimeoutSeconds)
            let order = QueueOrder(agingSeconds: policy.priorityAgingSeconds, now: work.now)
            guard let agent, agent.hasRoom,
                  var waiting = try await firstQueued(for: agent, agentId, skills: skills, relaxation: relaxation,
                                                      order: order, clientId: clientId, &work, on: db)
            else { return handedOut }
            // Explained before the claim, as a ranking shows loads.
            let scored = try await book.withBook(clientId, store: store, on: db) { book in
                let scored = book.explain(agentId, requested: waiting.capabilities)
                book.adjustLoad(of: agentId, by: 1, channel: waiting.channel)
                book.queuedCalls = book.queuedCalls.map { max(0, $0 - 1) }
                return scored
            }
            work.plan.booked(agentId, of: clientId, delta: 1, channel: waiting.channel)
            let expected = waiting.status
            waiting.place(with: agentId, offerSeconds: offerSeconds, at: work.now)
            work.update(waiting, expecting: expected)
            work.logOffer(of: waiting)
            handedOut.append(waiting.id)
            let decision = RoutingDecision(
                strategy: .queue, sector: waiting.sector, teamId: waiting.teamId,
                ranking: Ranking(top: scored.map { [$0] } ?? [], eligibleCount: 1), chosen: scored, poolSize: 1)
            work.emit(EventPayload.placed(waiting, decision, trigger: "queue"), for: clientId, queueChange: -1)
            if scored != nil {
                let waited = max(0, work.now.timeIntervalSince(waiting.createdAt))
                let step = relaxation.stage(waited: waited, hasTeam: waiting.teamId != nil).step
                work.decisions.append(DecisionRow(decision, trigger: "queue", call: waiting, agingSeconds: order.agingSeconds,
                                                  stage: (step, waited), at: work.now))
            }
        }
    }

    /// The first waiting call in the queue's order this agent may take: the first of those in the database, or of
    /// those this batch queued, whichever goes first.
    private func firstQueued(for agent: BookAgent, _ agentId: UUID, skills: AgentSkills, relaxation: Relaxation,
                             order: QueueOrder, clientId: String, _ work: inout BatchWork,
                             on db: any SQLDatabase) async throws -> CallRow? {
        let now = work.now
        // Never a call this agent rejected or let run out, nor one kept for another agent (its preferred one).
        func mayTake(_ call: CallRow) -> Bool {
            guard !call.declinedBy.contains(agentId) else { return false }
            let waited = now.timeIntervalSince(call.createdAt)
            switch call.reservedAgent(at: now) {
            case agentId?:
                // The preferred agent serves its sector's calls, whatever their team, with what they require.
                let stage = relaxation.stage(waited: waited, hasTeam: call.teamId != nil)
                return call.sector == agent.sector && skills.meets(call.requirement.at(stage))
            case .some:
                return false
            case nil:
                return Self.mayTake(callTeam: call.teamId, callSector: call.sector, required: call.requirement,
                                    waited: waited, relaxation: relaxation, agentSector: agent.sector,
                                    agentTeams: agent.teams, agentSkills: skills)
            }
        }
        // Only calls of channels the agent has room for: a freed chat slot does not take a queued voice call
        // from an agent whose one voice slot is busy.
        let channels = agent.channelsWithRoom
        guard !channels.isEmpty else { return nil }
        try await work.lookAtTheQueue(of: clientId, on: db)
        // Calls waiting for this very agent go first, in the queue's order.
        if let kept = try await firstKept(for: agentId, channels: channels, order: order, clientId: clientId, mayTake: mayTake,
                                          &work, on: db) {
            work.takenFromQueue.insert(kept.id)
            return kept
        }
        var found: CallRow?
        if work.databaseQueue[clientId] == true {
            let queue = WaitingCalls(clientId: clientId, agentId: agentId, sector: agent.sector, teams: agent.teams,
                                     channels: channels, excluding: work.takenFromQueue, order: order,
                                     mixedPriorities: work.mixedPriorities[clientId] == true, postgres: store.isPostgres)
            // Pages of waiting calls, first first, until one this agent may take: a call this batch already
            // changed (cancelled, say) is not waiting any more, and one needing a capability the agent lacks is
            // not its. Each page starts after the last one's last call and is twice its size (up to a bound), so
            // that a backlog the agent cannot serve (a skill it lacks) costs a few reads, each of new calls only.
            let decided = Set(work.changedCallIds)
            var page = 8
            var last: UUID?
            while found == nil {
                let rows = try await queue.page(after: last, limit: page, on: db).all().map(CallRow.init)
                found = rows.first { !decided.contains($0.id) && mayTake($0) }
                guard rows.count == page, let next = rows.last?.id else { break }
                last = next
                page = min(2 * page, Self.largestQueuePage)
            }
        }
        let queuedHere = work.insertedCalls.filter { call in
            call.clientId == clientId && call.status == .queued && !work.takenFromQueue.contains(call.id)
                && agent.hasRoom(for: call.channel) && mayTake(call)
        }
        let first = ([found].compactMap { $0 } + queuedHere)
            .min { order.precedes(QueueOrder.Entry($0), QueueOrder.Entry($1)) }
        if let first { work.takenFromQueue.insert(first.id) }
        return first
    }

    /// The waiting calls an agent might take, as the hand-off reads them: of its sector or teams, on channels it has
    /// room for, not declined by it nor already taken in this batch, in the queue's order.
    struct WaitingCalls {
        let clientId: String
        let agentId: UUID
        let sector: String
        let teams: [UUID]
        let channels: [CallChannel]
        let excluding: Set<UUID>
        let order: QueueOrder
        let mixedPriorities: Bool
        let postgres: Bool

        /// Up to `limit` of them after the call `last` (nil: from the first).
        func page(after last: UUID?, limit: Int, on db: any SQLDatabase) -> SQLSelectBuilder {
            // The status as a literal, so that both databases read the partial index of waiting calls in the
            // queue's order (`idx_calls_queued_order`), never the tenant's history.
            var query = TenantScope(clientId: clientId).select(from: Call.schema, on: db)
                .columns(CallRow.columns.map { SQLIdentifier($0) })
                .where(status: .queued)
                .where { group in
                    var group = group.where("sector", .equal, sector)
                    if !teams.isEmpty { group = group.orWhere("team_id", .in, teams) }
                    return group
                }
            if !excluding.isEmpty { query = query.where("id", .notIn, Array(excluding)) }
            if channels.count < CallChannel.allCases.count { query = query.where("channel", .in, channels.map(\.rawValue)) }
            query = query.where(QueueHandoff.notDeclined(by: agentId, postgres: postgres))
            if let last { query = query.where(order.after(last, mixedPriorities: mixedPriorities, postgres: postgres)) }
            // With every waiting call at the default priority, the queue's order is the index's: oldest first.
            return (mixedPriorities ? order.ordering(query, postgres: postgres) : query.orderBy("created_at").orderBy("id"))
                .limit(limit)
        }
    }

    /// The most waiting calls one read of the queue brings in.
    static let largestQueuePage = 512

    /// Waiting calls this agent has not declined, said in SQL: on a floor where offers are missed and nobody is set
    /// away for it (`routing.max_missed_offers` 0), the calls an agent let run out pile up ahead of it, and the pages
    /// below would read all of them at every hand-off. `declined_by` is a text array on PostgreSQL and a JSON list of
    /// ids on SQLite (`mayTake` still checks each call, whatever the form of its list).
    static func notDeclined(by agentId: UUID, postgres: Bool) -> SQLQueryString {
        postgres
            ? "(declined_by IS NULL OR NOT (\(bind: agentId.text) = ANY(declined_by)))"
            : "(declined_by IS NULL OR instr(declined_by, \(bind: "\"" + agentId.text + "\"")) = 0)"
    }

    /// The first waiting call kept for this agent (it is the call's preferred agent and the call's window is open):
    /// of those in the database (a partial index holds exactly the waiting calls that name an agent) or of those
    /// this batch queued.
    private func firstKept(for agentId: UUID, channels: [CallChannel], order: QueueOrder, clientId: String,
                           mayTake: (CallRow) -> Bool, _ work: inout BatchWork, on db: any SQLDatabase) async throws -> CallRow? {
        let now = work.now
        func kept(_ call: CallRow) -> Bool {
            call.reservedAgent(at: now) == agentId && channels.contains(call.channel) && mayTake(call)
        }
        var stored: [CallRow] = []
        if work.databaseQueue[clientId] == true {
            let decided = Set(work.changedCallIds)
            var query = TenantScope(clientId: clientId).select(from: Call.schema, on: db)
                .columns(CallRow.columns.map { SQLIdentifier($0) })
                .where(status: .queued)
                .where("preferred_agent_id", .equal, agentId)
                .where("preferred_until", .greaterThan, now)
            if !work.takenFromQueue.isEmpty { query = query.where("id", .notIn, Array(work.takenFromQueue)) }
            stored = try await order.ordering(query, postgres: store.isPostgres).limit(QueueHandoff.keptLimit).all()
                .map(CallRow.init).filter { !decided.contains($0.id) && kept($0) }
        }
        let queuedHere = work.insertedCalls.filter { call in
            call.clientId == clientId && call.status == .queued && !work.takenFromQueue.contains(call.id) && kept(call)
        }
        return (stored + queuedHere).min { order.precedes(QueueOrder.Entry($0), QueueOrder.Entry($1)) }
    }

    /// Calls kept for one agent read at a hand-off: a handful at most wait for one person.
    static let keptLimit = 16
}
