import Foundation
import Testing
import Vapor
@testable import SwitchboardCore

/// An ended call written straight into the calls table: arrived on `day`, answered after `wait` seconds
/// (nil: abandoned while queued), then completed or cancelled at `endedAt`.
func insertEndedCall(
    _ app: Application, clientId: String, teamId: UUID?, agentId: UUID?, day: Day, wait: Double?,
    cancelled: Bool = false, endedAt: Date = Date(), outcome: CallOutcome = .successful, seconds: Double = 60,
    capabilities: [String] = [], requiredCapabilities: [String]? = nil
) async throws {
    let call = TenantScope(clientId: clientId).owned(Call())
    call.teamId = teamId
    call.agentId = wait == nil ? nil : agentId
    call.sector = "billing"
    call.capabilities = capabilities
    call.requiredCapabilities = requiredCapabilities
    call.channel = .voice
    call.createdAt = day.startDate.addingTimeInterval(3600 + 0.123456)
    call.assignedAt = wait.map { call.createdAt.addingTimeInterval($0) }
    call.callDay = day.description
    if cancelled {
        call.status = .cancelled
        call.cancelledAt = endedAt
    } else {
        call.status = .completed
        call.outcome = outcome
        call.resolved = true
        call.handlingTimeSeconds = seconds
        call.completedAt = endedAt
    }
    try await call.create(on: app.db)
}

@Suite("Service levels")
struct ServiceLevelTests {
    @Test func waitCountsGiveExactFigures() {
        var counts = WaitCounts.zero
        for wait in [0.0, 0, 5, 10, 15, 20, 20.0000002, 25, 30, 40, 90] { counts.add(.answered(afterWaiting: wait)) }
        counts.add(.oneAbandoned)
        counts.add(.oneAbandoned)
        #expect(counts.offered == 13)
        #expect(counts.answered(within: 20) == 7)
        #expect(counts.serviceLevelPercent(thresholdSeconds: 20) == 700.0 / 13)
        #expect(counts.serviceLevelPercent(thresholdSeconds: 30) == 900.0 / 13)
        #expect(counts.abandonRatePercent == 200.0 / 13)
        #expect(abs(counts.averageSpeedOfAnswerSeconds! - 255.0 / 11) < 1e-6)
        #expect(counts.waitPercentile(0.9) == 40)  // nearest rank: the 10th of 11 waits
        #expect(WaitCounts.bucket(forWait: 20.002) == 21)
        #expect(WaitCounts.bucket(forWait: -3) == 0)
        #expect((try? WaitCounts.decodeHistogram(counts.encodedHistogram)) == counts.histogram)
        #expect(WaitCounts.zero.serviceLevelPercent(thresholdSeconds: 20) == nil)
        #expect(WaitCounts.zero.waitPercentile(0.9) == nil)
    }

    func report(_ client: APIClient, _ query: String) async throws -> JSONValue {
        let response = try await client.send(.GET, "/api/analytics/service-level?\(query)")
        try #require(response.status == .ok, "service level: \(response.text)")
        return response.data
    }

    @Test func aHandBuiltDayGivesTheExactServiceLevel() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app), b = try await APIClient.make(app)
            let x = try await a.createAgent("X"), y = try await a.createAgent("Y")
            let team = try await a.createTeam("Front desk")
            let other = try await b.createTeam("Elsewhere")
            let day = Day(containing: Date()).adding(days: -1)
            // Counted by the first run: half of the team's answered calls and one abandoned call.
            for (wait, agent) in [(0.0, x), (0, y), (5, x), (10, y), (15, x)] {
                try await insertEndedCall(app, clientId: a.clientId, teamId: team, agentId: agent, day: day, wait: wait)
            }
            try await insertEndedCall(app, clientId: a.clientId, teamId: team, agentId: nil, day: day, wait: nil, cancelled: true)
            try await insertEndedCall(app, clientId: b.clientId, teamId: other, agentId: nil, day: day, wait: nil, cancelled: true)
            // Still waiting, and still talking: neither has ended, so neither is counted yet.
            let queued = TenantScope(clientId: a.clientId).owned(Call())
            queued.teamId = team; queued.sector = "billing"; queued.capabilities = []; queued.channel = .voice
            queued.status = .queued; queued.createdAt = day.startDate; queued.callDay = day.description
            try await queued.create(on: app.db)
            try await aggregate(app)

            // Counted by later, incremental runs: the rest, including a call cancelled after it was answered
            // (answered after 30 s) and a call with no team (the tenant's day only).
            for (wait, agent) in [(20.0, y), (20, x), (25, y), (40, x), (90, y)] {
                try await insertEndedCall(app, clientId: a.clientId, teamId: team, agentId: agent, day: day, wait: wait)
            }
            try await insertEndedCall(app, clientId: a.clientId, teamId: team, agentId: x, day: day, wait: 30, cancelled: true)
            try await insertEndedCall(app, clientId: a.clientId, teamId: team, agentId: nil, day: day, wait: nil, cancelled: true)
            try await insertEndedCall(app, clientId: a.clientId, teamId: nil, agentId: x, day: day, wait: 0)
            try await aggregate(app)
            try await aggregate(app)  // counted once

            let byTeam = try await report(a, "group_by=team&from=\(day)&to=\(day)")
            #expect(byTeam["threshold_seconds"] == .number(20))
            #expect(byTeam["target_percent"] == .number(80))
            #expect(byTeam["groups"].count == 1)
            let front = byTeam["groups"][0]
            #expect(front["team_id"].uuid == team)
            #expect(front["name"] == .string("Front desk"))
            #expect(front["offered"] == .number(13))
            #expect(front["answered"] == .number(11))
            #expect(front["answered_within_threshold"] == .number(7))
            #expect(front["abandoned"] == .number(2))
            #expect(front["service_level"].numberValue == 700.0 / 13)
            #expect(front["abandon_rate"].numberValue == 200.0 / 13)
            #expect(abs(front["average_speed_of_answer_seconds"].numberValue! - 255.0 / 11) < 1e-3)
            #expect(front["p90_wait_seconds"] == .number(40))
            #expect(front["meets_target"] == .bool(false))

            let byDay = try await report(a, "group_by=day&from=\(day)&to=\(day)")
            #expect(byDay["groups"].count == 1)
            #expect(byDay["groups"][0]["date"] == .string(day.description))
            #expect(byDay["groups"][0]["offered"] == .number(14))
            #expect(byDay["groups"][0]["answered_within_threshold"] == .number(8))
            #expect(byDay["totals"]["offered"] == .number(14))

            let byAgent = try await report(a, "group_by=agent&from=\(day)&to=\(day)")
            let agents = Dictionary(uniqueKeysWithValues: (byAgent["groups"].arrayValue ?? []).map { ($0["agent_id"].uuid!, $0) })
            #expect(agents[x]?["answered"] == .number(7))  // 0, 5, 15, 20, 40, 30 (cancelled later), 0 (no team)
            #expect(agents[x]?["answered_within_threshold"] == .number(5))
            #expect(agents[x]?["abandoned"] == .number(0))
            #expect(agents[y]?["answered"] == .number(5))
            #expect(agents[y]?["name"] == .string("Y"))

            let teamDays = try await report(a, "team_id=\(team)&from=\(day.adding(days: -1))&to=\(day)")
            #expect(teamDays["team_id"].uuid == team)
            #expect(teamDays["groups"].count == 1)
            #expect(teamDays["totals"]["offered"] == .number(13))

            // History is read at the threshold of the moment: raise it and the same day improves.
            let settings = try await a.send(.PUT, "/api/settings", json: #"{"sla.threshold_seconds": 30, "sla.target_percent": 65}"#)
            #expect(settings.status == .ok, "\(settings.text)")
            let raised = try await report(a, "group_by=team&from=\(day)&to=\(day)")["groups"][0]
            #expect(raised["answered_within_threshold"] == .number(9))
            #expect(raised["service_level"].numberValue == 900.0 / 13)
            #expect(raised["meets_target"] == .bool(true))

            // The other tenant sees only its own abandoned call.
            let theirs = try await report(b, "group_by=team&from=\(day)&to=\(day)")
            #expect(theirs["groups"].count == 1)
            #expect(theirs["groups"][0]["team_id"].uuid == other)
            #expect(theirs["groups"][0]["service_level"] == .number(0))
            #expect(theirs["groups"][0]["p90_wait_seconds"] == .null)
            #expect(theirs["groups"][0]["average_speed_of_answer_seconds"] == .null)
        }
    }

    @Test func callsEndedThroughTheAPIAreCounted() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let team = try await a.createTeam("Solo", sector: "solo")
            let agent = try await a.createAgent("Only", sector: "solo", maxConcurrent: 1)
            let member = try await a.addMember(to: team)
            try await a.assign([agent], to: member, in: team)
            let first = try await a.createCall(#"{"sector":"solo","team_id":"\#(team)"}"#).data["id"].uuid!
            let waiting = try await a.createCall(#"{"sector":"solo","team_id":"\#(team)"}"#)
            #expect(waiting.data["status"] == .string("queued"), "\(waiting.text)")
            let abandoned = try await a.createCall(#"{"sector":"solo","team_id":"\#(team)"}"#).data["id"].uuid!
            #expect(try await a.send(.POST, "/api/calls/\(abandoned)/cancel").status == .ok)
            #expect(try await a.complete(first).status == .ok)  // the queued call is answered now
            try await aggregate(app)
            let today = Day(containing: Date())
            let figures = try await report(a, "group_by=team&from=\(today)&to=\(today)")["groups"][0]
            #expect(figures["offered"] == .number(2))  // the waiting call, answered, is still in progress
            #expect(figures["answered"] == .number(1))
            #expect(figures["abandoned"] == .number(1))
            #expect(figures["service_level"] == .number(50))
        }
    }

    @Test func badRequestsAreRefused() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let team = try await a.createTeam()
            for query in ["group_by=week", "group_by=team&team_id=\(team)", "team_id=\(team)&agent_id=\(UUID())",
                          "team_id=nope", "from=2026-02-30"] {
                let response = try await a.send(.GET, "/api/analytics/service-level?\(query)")
                #expect(response.status == .badRequest, "\(query): \(response.text)")
            }
            #expect(try await a.send(.GET, "/api/analytics/service-level?team_id=\(UUID())").status == .notFound)
            let other = try await APIClient.make(app)
            #expect(try await other.send(.GET, "/api/analytics/service-level?team_id=\(team)").status == .notFound)
            for bad in [#"{"sla.threshold_seconds": -1}"#, #"{"sla.threshold_seconds": 2.5}"#, #"{"sla.target_percent": 101}"#] {
                #expect(try await a.send(.PUT, "/api/settings", json: bad).status == .badRequest, "\(bad)")
            }
        }
    }
}
