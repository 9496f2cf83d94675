import Foundation
import NIOConcurrencyHelpers
import Vapor

/// What lending an agent to a team would have done to the team's last 7 days, from the what-if simulator: the
/// week's recorded calls replayed against today's catalogue as it is and with the agent added to the team. A
/// replay reads the week's calls, so each suggestion's result is kept for `lifetime` (listing suggestions stays a
/// read of the daily rows on every other request).
final class SuggestionEffects: Sendable {
    struct Effect: Sendable, Equatable {
        let summary: String
        let figures: [String: Double]
    }

    static let lifetime: TimeInterval = 600
    private let cache = NIOLockedValueBox<[String: (madeAt: Date, effect: Effect?)]>([:])

    /// Nil when there is nothing to replay (no call of the team that week, or too many calls to replay).
    func effect(of suggestion: TeamSuggester.Suggestion, tenant: Tenant, store: Store, today: Day) async throws -> Effect? {
        let key = "\(tenant.clientId)|\(suggestion.id)|\(today)"
        let now = Date()
        if let kept = cache.withLockedValue({ $0[key] }), now.timeIntervalSince(kept.madeAt) < Self.lifetime { return kept.effect }
        let effect = try await simulate(suggestion, tenant: tenant, store: store, today: today)
        cache.withLockedValue { cache in
            if cache.count > 1_000 { cache.removeAll() }
            cache[key] = (now, effect)
        }
        return effect
    }

    private func simulate(_ suggestion: TeamSuggester.Suggestion, tenant: Tenant, store: Store, today: Day) async throws -> Effect? {
        let db = store.sql
        let settings = try await SettingsService.effectiveSettings(scope: tenant.scope, on: db)
        let policy = SettingsSchema.routingPolicy(from: settings)
        let target = SettingsSchema.serviceLevelTarget(from: settings)
        let range = DayRange(from: today.adding(days: -6), to: today)
        let replay = RoutingSimulationService(store: store, tenant: tenant)
        let calls: [RoutingSimulation.Call]
        do {
            calls = try await replay.replayedCalls(in: range, startingAt: range.from.startDate, on: db)
        } catch let error as AppError where error.status == .badRequest {
            return nil  // more calls than a replay takes
        }
        guard calls.contains(where: { $0.teamId == suggestion.teamId }) else { return nil }
        let catalogue = try await BookCatalogue.read(tenant.clientId, withHistory: policy.strategy == .learning, on: db)
        let lent = BookCatalogue(agents: catalogue.agents, teams: catalogue.teams,
                                 assignments: catalogue.assignments + [(suggestion.agentId, suggestion.teamId)],
                                 successHistory: catalogue.successHistory, capabilityHistory: catalogue.capabilityHistory)
        let horizon = range.to.adding(days: 1).startDate.timeIntervalSince(range.from.startDate)
        let seed = SeededGenerator.seed(0, for: tenant.clientId)
        func figures(_ catalogue: BookCatalogue) -> (level: Double, p90: Double) {
            let report = RoutingSimulation.run(calls, catalogue: catalogue, policy: policy, horizonSeconds: horizon, seed: seed,
                                               watching: suggestion.teamId)
            let waits = report.watchedWaits.sorted()
            let within = waits.filter { $0 <= Double(target.thresholdSeconds) }.count
            return (report.watchedOffered == 0 ? 0 : Double(within) / Double(report.watchedOffered) * 100,
                    waits.isEmpty ? 0 : RoutingSimulation.nearestRank(waits, 0.9))
        }
        let before = figures(catalogue), after = figures(lent)
        let offered = calls.filter { $0.teamId == suggestion.teamId }.count
        func percent(_ value: Double) -> String { String(format: "%.0f %%", value) }
        func seconds(_ value: Double) -> String { String(format: "%.0f s", value) }
        return Effect(
            summary: "Replaying the last 7 days' \(offered) calls of \(suggestion.teamName) with \(suggestion.agentName) in the team "
                + "(what-if simulator): \(percent(after.level)) answered within \(target.thresholdSeconds) s instead of "
                + "\(percent(before.level)); 90th-percentile wait \(seconds(after.p90)) instead of \(seconds(before.p90)).",
            figures: ["team_service_level_before": before.level, "team_service_level_after": after.level,
                      "team_p90_wait_seconds_before": before.p90, "team_p90_wait_seconds_after": after.p90,
                      "team_calls_replayed": Double(offered)])
    }
}

extension Application {
    private struct SuggestionEffectsKey: StorageKey { typealias Value = SuggestionEffects }

    /// Made by `configure`, before requests arrive.
    var suggestionEffects: SuggestionEffects {
        get { storage[SuggestionEffectsKey.self]! }
        set { storage[SuggestionEffectsKey.self] = newValue }
    }
}
