import FluentKit
import Foundation
import SQLKit

/// Hands an agent's free capacity to the oldest queued calls it can take: calls of its sector, or of
/// a team whose active member it is assigned to. Runs inside the transaction that freed the capacity.
struct QueueAssigner: Sendable {
    let tenant: Tenant
    /// The tenant's policy, for the weights shown in the logged breakdown.
    let policy: RoutingPolicy

    private var scope: TenantScope { tenant.scope }

    /// Returns the calls that were assigned.
    @discardableResult
    func offerCapacity(of agentId: UUID, on db: any Database) async throws -> [UUID] {
        var events: [PendingEvent] = []
        let assigned = try await assign(agentId, on: db, events: &events)
        guard !assigned.isEmpty else { return assigned }
        // The agent's load and the queue's depth as this transaction leaves them.
        let states = try await CallWriter.liveStates(of: [agentId], clientId: tenant.clientId, on: db as! any SQLDatabase)
        events += states.map(EventPayload.loadChanged)
        let queued = try await scope.queuedCallCount(on: db as! any SQLDatabase)
        events.append(EventPayload.queueDepth(queued))
        try await EventOutbox.append(events, clientId: tenant.clientId, on: db)
        return assigned
    }

    private func assign(_ agentId: UUID, on db: any Database, events: inout [PendingEvent]) async throws -> [UUID] {
        var assigned: [UUID] = []
        let ledger = LoadLedger(clientId: tenant.clientId)
        while true {
            guard let agent = try await scope.query(SectorAgent.self, on: db).filter(\.$id == agentId).first(),
                  agent.status == .active, agent.currentLoad < agent.maxConcurrent
            else { return assigned }
            let limits = ChannelNumbers(capacity: agent.channelCapacity), loads = agent.channelLoads
            let channels = CallChannel.allCases.filter { loads[$0] < limits[$0] }
            guard !channels.isEmpty else { return assigned }
            let teamIds = try await teams(servedBy: agentId, on: db)
            let waiting = scope.query(Call.self, on: db)
                .filter(\.$status == .queued)
                .filter(\.$channel ~~ channels)
                .group(.or) { group in
                    group.filter(\.$sector == agent.sector)
                    if !teamIds.isEmpty { group.filter(\.$teamId ~~ teamIds) }
                }
                .sort(\.$createdAt).sort(\.$id)
            // The oldest call the agent may take now (its team's, or its sector's once the call's wait widened it
            // there, with the required capabilities unless dropped), a page at a time.
            let skills = Set(agent.capabilities)
            let now = Date()
            var queued: Call?
            var offset = 0
            while queued == nil {
                let page = try await waiting.copy().range(offset..<(offset + 20)).all()
                queued = page.first { call in
                    policy.relaxation.mayServe(
                        callTeam: call.teamId, callSector: call.sector, required: call.requiredCapabilities ?? [],
                        waited: now.timeIntervalSince(call.createdAt), agentSector: agent.sector, agentTeams: teamIds,
                        agentCapabilities: skills)
                }
                if page.count < 20 { break }
                offset += 20
            }
            guard let call = queued, try await ledger.claim(agentId, channel: call.channel, on: db) else { return assigned }
            let taken = try await (db as! any SQLDatabase).update(Call.schema)
                .set("status", to: CallStatus.active.rawValue)
                .set("agent_id", to: agentId)
                .set("assigned_at", to: now)
                .set("updated_at", to: now)
                .where("id", .equal, call.id!)
                .where("client_id", .equal, tenant.clientId)
                .where("status", .equal, CallStatus.queued.rawValue)
                .returning("id")
                .first()
            guard taken != nil else {
                // Another process assigned this call first; give the capacity back and look again.
                try await ledger.release(agentId, channel: call.channel, on: db)
                continue
            }
            let candidate = RoutingCandidate(agent)
            let matches = Set(call.capabilities).intersection(agent.capabilities).count
            let scored = AgentScorer.explain(candidate, matches: matches, weights: policy.weights)
            let decision = RoutingDecision(
                strategy: .queue, sector: call.sector, teamId: call.teamId,
                ranking: Ranking(top: [scored], eligibleCount: 1), chosen: scored, poolSize: 1
            )
            try await RoutingDecisionLog.record(decision, trigger: "queue", callId: call.id, capabilities: call.capabilities,
                                                requiredCapabilities: call.requiredCapabilities ?? [],
                                                stage: (policy.relaxation.stage(waited: now.timeIntervalSince(call.createdAt),
                                                                                hasTeam: call.teamId != nil).step,
                                                        now.timeIntervalSince(call.createdAt)),
                                                tenant: tenant, on: db)
            assigned.append(call.id!)
            events.append(EventPayload.assigned(callId: call.id!, agentId: agentId, decision, trigger: "queue"))
        }
    }

    private func teams(servedBy agentId: UUID, on db: any Database) async throws -> [UUID] {
        let memberIds = try await scope.query(TeamAgentAssignment.self, on: db)
            .filter(\.$agent.$id == agentId).all().map(\.$member.id)
        guard !memberIds.isEmpty else { return [] }
        return try await scope.query(TeamMember.self, on: db)
            .filter(\.$id ~~ memberIds).filter(\.$status == .active).all().map(\.$team.id)
    }
}
