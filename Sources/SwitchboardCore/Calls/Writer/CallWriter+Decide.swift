import Foundation
import SQLKit


extension CallWriter {
    /// Routes in the book (a call without a channel has the tenant's default), in the pools the call's wait allows
    /// (`routing.relaxation`). Over PostgreSQL the book may lag behind other processes, so before a call is queued
    /// the candidates' committed values are read and the decision made again, once a batch per tenant.
    func decide(_ route: RouteRequest, waited: Double, for tenant: Tenant, _ work: inout BatchWork,
                on db: any SQLDatabase) async throws -> (RoutingDecision, RoutingPolicy, Relaxation.Stage) {
        let clock = ContinuousClock.now
        var refreshed = false
        while true {
            let outcome: Result<(RoutingDecision, RoutingPolicy, Relaxation.Stage, [UUID]), any Error> = try await book.withBook(
                tenant.clientId, store: store, on: db
            ) { book in
                Result {
                    var route = route
                    route.channel = route.channel ?? book.policy.defaultChannel
                    let stage = book.policy.relaxation.stage(waited: waited, hasTeam: route.teamId != nil)
                    route.relax(to: stage)
                    let decision = try book.decide(route, claiming: true)
                    return (decision, book.policy, stage, decision.chosen == nil ? book.agentIds(for: route) : [])
                }
            }
            switch outcome {
            case .success(let (decision, policy, stage, candidates)):
                guard decision.chosen == nil, store.isPostgres, !refreshed, !candidates.isEmpty,
                      work.refreshedTenants.insert(tenant.clientId).inserted
                else {
                    counters.decided(decision.strategy, since: clock)
                    return (decision, policy, stage)
                }
                // Later calls of the batch see these values plus the batch's own claims.
                refreshed = true
                let committed = try await Self.liveStates(of: candidates, clientId: tenant.clientId,
                                                          presence: work.presence.mapValues(\.presence), on: db)
                book.applyCommitted(tenant.clientId, committed.map { state in
                    let delta = work.plan.delta(of: state.agentId, in: tenant.clientId)
                    return LiveState(agentId: state.agentId, load: state.load + delta.total, maxConcurrent: state.maxConcurrent,
                                     isActive: state.isActive, channelLoads: state.channelLoads.adding(delta),
                                     channelCapacity: state.channelCapacity)
                })
            case .failure(TenantBook.Miss.unknownTeam(let teamId)):
                // Not the tenant's team (the usual 404, with cross-tenant probes marked), or created after the book.
                _ = try await tenant.scope.find(Team.self, teamId, on: store.db)
                guard !refreshed else { throw AppError.notFound(Team.entityName) }
                refreshed = true
                book.invalidateHere(tenant.clientId)
            case .failure(let error):
                throw error
            }
        }
    }
}
