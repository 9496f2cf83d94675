import Foundation
import SQLKit

/// Reads what `PeopleMetrics` computes from, for some agents of a tenant over a range of days: their state log
/// rows, the calls they answered and the offers made to them.
struct PeopleMetricsReader: Sendable {
    let clientId: String
    let db: any SQLDatabase

    /// The agents' days summed (one agent's days, or a team's).
    func series(of agentIds: [UUID], in range: DayRange, now: Date = Date()) async throws -> PeopleSeriesDTO {
        guard !agentIds.isEmpty else {
            let empty = PeopleMetrics.daily(presence: [], handled: [], offers: [], range: range, now: now)
            return PeopleSeriesDTO(daily: empty, totals: .combine(empty))
        }
        let perAgent = try await days(of: agentIds, in: range, now: now)
        let daily = perAgent[agentIds[0]]!.indices.map { index in
            PeopleDay.combine(agentIds.map { perAgent[$0]![index] }, date: perAgent[agentIds[0]]![index].date)
        }
        return PeopleSeriesDTO(daily: daily, totals: .combine(daily))
    }

    /// Each agent's days of the range, oldest first (every day of the range, empty ones too).
    func days(of agentIds: [UUID], in range: DayRange, now: Date = Date()) async throws -> [UUID: [PeopleDay]] {
        let from = range.from.startDate, until = range.to.adding(days: 1).startDate
        let scope = TenantScope(clientId: clientId)
        guard !agentIds.isEmpty else { return [:] }
        let presence = Dictionary(grouping: try await AgentStateLog.overlapping(agentIds, of: clientId, from: from, until: until, on: db)
            .all().map { row in
                (try row.decode(column: "agent_id", as: UUID.self),
                 PeopleMetrics.Presence(presence: AgentPresence(rawValue: try row.decode(column: "state", as: String.self)) ?? .offline,
                                        reason: try row.decode(column: "reason", as: String?.self),
                                        from: try row.decode(column: "started_at", as: Date.self),
                                        until: try row.decode(column: "ended_at", as: Date?.self)))
            }, by: \.0).mapValues { $0.map(\.1) }
        let handled = Dictionary(grouping: try await scope.select(from: Call.schema, on: db)
            .columns("agent_id", "status", "assigned_at", "completed_at", "cancelled_at", "wrap_up_until", "wrap_up_ended_at")
            .where("agent_id", .in, agentIds).where("assigned_at", .isNot, SQLLiteral.null).where("assigned_at", .lessThan, until)
            .where { $0.where("status", .in, [CallStatus.active.rawValue])
                .orWhere("completed_at", .greaterThan, from).orWhere("cancelled_at", .greaterThan, from)
                .orWhere("wrap_up_ended_at", .greaterThan, from).orWhere("wrap_up_until", .greaterThan, from) }
            .all().map { row in
                let ended = try row.decode(column: "completed_at", as: Date?.self) ?? row.decode(column: "cancelled_at", as: Date?.self)
                let wrapUpEnd = try row.decode(column: "wrap_up_ended_at", as: Date?.self)
                    ?? row.decode(column: "wrap_up_until", as: Date?.self).map { min($0, now) }
                return (try row.decode(column: "agent_id", as: UUID.self),
                        PeopleMetrics.Handled(assignedAt: try row.decode(column: "assigned_at", as: Date.self), endedAt: ended,
                                              wrapUpEnd: wrapUpEnd))
            }, by: \.0).mapValues { $0.map(\.1) }
        let offers = Dictionary(grouping: try await scope.select(from: OfferLog.schema, on: db)
            .columns("agent_id", "offered_at", "resolved_at", "outcome")
            .where("agent_id", .in, agentIds).where("offered_at", .greaterThanOrEqual, from).where("offered_at", .lessThan, until)
            .all().map { row in
                (try row.decode(column: "agent_id", as: UUID.self),
                 PeopleMetrics.Offer(offeredAt: try row.decode(column: "offered_at", as: Date.self),
                                     resolvedAt: try row.decode(column: "resolved_at", as: Date?.self),
                                     outcome: try row.decode(column: "outcome", as: String?.self).flatMap(OfferLog.Outcome.init(rawValue:))))
            }, by: \.0).mapValues { $0.map(\.1) }
        var perAgent: [UUID: [PeopleDay]] = [:]
        for agentId in agentIds {
            perAgent[agentId] = PeopleMetrics.daily(presence: presence[agentId] ?? [], handled: handled[agentId] ?? [],
                                                    offers: offers[agentId] ?? [], range: range, now: now)
        }
        return perAgent
    }
}
