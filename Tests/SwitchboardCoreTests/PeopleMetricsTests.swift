import Foundation
import Testing
import VaporTesting
@testable import SwitchboardCore

/// The people-side figures: time in each state cut at midnight UTC, talk and wrap-up from the calls, offers
/// from the offer log; and the same through the analytics API.
@Suite struct PeopleMetricsTests {
    private let day = Day("2026-11-02")!
    private func at(_ hour: Double, dayOffset: Int = 0) -> Date {
        day.adding(days: dayOffset).startDate.addingTimeInterval(hour * 3600)
    }

    @Test func timeIsSplitByStateAndDayAndOffersAreCounted() {
        let range = DayRange(from: day, to: day.adding(days: 1))
        let presence = [
            PeopleMetrics.Presence(presence: .offline, reason: nil, from: at(0), until: at(8)),
            PeopleMetrics.Presence(presence: .available, reason: nil, from: at(8), until: at(12)),
            PeopleMetrics.Presence(presence: .away, reason: "lunch", from: at(12), until: at(13)),
            // Available from 13:00 until 02:00 the next day: cut at midnight.
            PeopleMetrics.Presence(presence: .available, reason: nil, from: at(13), until: at(2, dayOffset: 1)),
            PeopleMetrics.Presence(presence: .offline, reason: nil, from: at(2, dayOffset: 1), until: nil),
        ]
        let handled = [
            // One hour of talk, then 10 minutes of wrap-up.
            PeopleMetrics.Handled(assignedAt: at(9), endedAt: at(10), wrapUpEnd: at(10 + 1.0 / 6)),
            // 23:30 to 00:30: half an hour each side of midnight.
            PeopleMetrics.Handled(assignedAt: at(23.5), endedAt: at(0.5, dayOffset: 1), wrapUpEnd: nil),
        ]
        let offers = [
            PeopleMetrics.Offer(offeredAt: at(9), resolvedAt: at(9).addingTimeInterval(12), outcome: .accepted),
            PeopleMetrics.Offer(offeredAt: at(11), resolvedAt: at(11).addingTimeInterval(20), outcome: .expired),
            PeopleMetrics.Offer(offeredAt: at(14), resolvedAt: at(14).addingTimeInterval(3), outcome: .rejected),
            PeopleMetrics.Offer(offeredAt: at(23.5), resolvedAt: at(23.5).addingTimeInterval(8), outcome: .accepted),
            PeopleMetrics.Offer(offeredAt: at(15), resolvedAt: at(15).addingTimeInterval(1), outcome: .withdrawn),
        ]
        let days = PeopleMetrics.daily(presence: presence, handled: handled, offers: offers, range: range, now: at(12, dayOffset: 1))
        #expect(days.map(\.date) == ["2026-11-02", "2026-11-03"])
        let first = days[0], second = days[1]
        #expect(first.offlineSeconds == 8 * 3600)
        #expect(first.awaySeconds == ["lunch": 3600])
        #expect(first.talkSeconds == 3600 + 1800)
        #expect(abs(first.wrapUpSeconds - 600) < 0.001)
        // Available 4 h + 11 h = 15 h present, less 1.5 h of talk and 10 min of wrap-up.
        #expect(abs(first.availableSeconds - (15 * 3600 - 5400 - 600)) < 0.001)
        #expect(first.offersMade == 5 && first.offersAccepted == 2 && first.offersRejected == 1 && first.offersMissed == 1)
        #expect(first.avgAnswerSeconds == 10)
        #expect(abs(first.occupancy! - 6000.0 / (15 * 3600)) < 1e-9)
        // The next day: 2 h available less half an hour of talk; offline from 02:00 until now (12:00).
        #expect(second.talkSeconds == 1800 && abs(second.availableSeconds - 5400) < 0.001)
        #expect(second.offlineSeconds == 10 * 3600 && second.offersMade == 0 && second.avgAnswerSeconds == nil)
        let total = PeopleDay.combine(days)
        #expect(total.talkSeconds == 3600 + 3600 && total.offersAccepted == 2 && total.avgAnswerSeconds == 10)
    }

    @Test func theAnalyticsAPIShowsAnAgentsAndItsTeamsDay() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let set = try await admin.send(.PUT, "/api/settings",
                                           json: #"{"routing.offer_timeout_seconds":20,"calls.wrap_up_seconds":30,"routing.max_missed_offers":0}"#)
            #expect(set.status == .ok)
            let team = try await admin.createTeam("Floor", sector: "billing")
            let member = try await admin.addMember(to: team, email: "p@example.com")
            let agent = try await admin.createAgent(maxConcurrent: 1)
            try await admin.assign([agent], to: member, in: team)
            let first = try #require(try await admin.createCall(#"{"team_id":"\#(team)"}"#).data["id"].uuid)
            #expect(try await admin.send(.POST, "/api/calls/\(first)/accept").status == .ok)
            #expect(try await admin.complete(first).status == .ok)
            #expect(try await admin.send(.POST, "/api/agents/\(agent)/wrap-up/end").status == .ok)
            let second = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await admin.send(.POST, "/api/calls/\(second)/reject").status == .ok)
            _ = try await admin.createCall(#"{"sector":"billing"}"#)
            #expect(try await app.offerTimer.handleDue(now: Date().addingTimeInterval(30), only: admin.clientId) == 1)
            _ = try await admin.send(.PUT, "/api/agents/\(agent)/presence", json: #"{"presence":"away","reason":"break"}"#)

            let series = try await admin.send(.GET, "/api/agents/\(agent)/metrics").data
            let totals = series["people"]["totals"]
            #expect(totals["offers_made"] == .number(3), "\(series["people"])")
            #expect(totals["offers_accepted"] == .number(1) && totals["offers_rejected"] == .number(1) && totals["offers_missed"] == .number(1))
            #expect(totals["avg_answer_seconds"].numberValue != nil && totals["talk_seconds"].numberValue != nil)
            #expect(totals["away_seconds"]["break"].numberValue != nil, "\(totals)")
            #expect(series["people"]["daily"].arrayValue?.count == 30)
            let teamSeries = try await admin.send(.GET, "/api/analytics/teams/\(team)/trends").data
            #expect(teamSeries["people"]["totals"]["offers_made"] == .number(3), "\(teamSeries["people"])")

            // The exports carry the same figures on the day's row (the agent's, and its team's sum).
            _ = try await aggregate(app)
            let today = try #require(series["people"]["daily"].arrayValue?.last)
            for level in ["agent", "team"] {
                let text = try await admin.send(.GET, "/api/analytics/export?level=\(level)&format=ndjson").text
                let row = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
                for column in ["offers_made", "offers_accepted", "offers_rejected", "offers_missed", "talk_seconds"] {
                    #expect(row[column] == today[column], "\(level) \(column): \(row)")
                }
                #expect(row["away_seconds"]["break"].numberValue != nil, "\(row)")
            }
            let csv = parseCSV(try await admin.send(.GET, "/api/analytics/export?level=agent").text)
            let header = try #require(csv.first), cells = try #require(csv.last)
            #expect(cells[header.firstIndex(of: "offers_made")!] == "3")
            #expect(cells[header.firstIndex(of: "away_seconds")!].hasPrefix("break="), "\(cells)")
        }
    }
}
