import Foundation
import NIOCore
import SQLKit

/// `GET /api/analytics/export?level=agent|team`: the daily rows of a range (default the last 30 days, as the
/// analytics endpoints), oldest day first, with each subject's name and sector and its people figures (a team's
/// summed over its assigned agents, as the trends answer them); read a page at a time by keyset on (date, subject).
struct AnalyticsExport: Sendable {
    let store: Store
    let scope: TenantScope
    let level: DailyRollup.Subject
    let range: DayRange
    let subjectId: UUID?
    let format: ExportFormat

    static let pageSize = 1_000

    var columns: [String] {
        let subject = level == .agent ? "agent" : "team"
        return ["date", "\(subject)_id", "\(subject)_name", "sector", "calls_handled", "calls_successful", "calls_failed",
                "calls_resolved", "avg_satisfaction", "avg_handling_time", "success_rate", "resolution_rate", "avg_wrap_up_time"]
            + PeopleDay.exportColumns
    }

    private var subjectTable: String { level == .agent ? SectorAgent.schema : Team.schema }

    func produce(_ write: StreamedBody.Write) async throws {
        try await ExportWriter.stream(columns: columns, format: format, pageSize: Self.pageSize, to: write,
                                      nextPage: { try await page(after: $0.map { ($0.day, $0.subjectId) }) },
                                      cells: \.cells)
    }

    private struct Row {
        let day: String
        let subjectId: UUID
        let cells: [ExportCell]
    }

    private func page(after cursor: (day: String, subjectId: UUID)?) async throws -> [Row] {
        let subject = SQLIdentifier(level.rawValue)
        var query: SQLQueryString = """
            SELECT m.date, m.\(subject) AS subject_id, s.name, s.sector, m.calls_handled, m.calls_successful,
                   m.calls_failed, m.calls_resolved, m.avg_satisfaction, m.avg_handling_time, m.success_rate,
                   m.resolution_rate, m.avg_wrap_up_time
            FROM \(ident: level.table) m
            LEFT JOIN \(ident: subjectTable) s ON s.id = m.\(subject) AND s.client_id = m.client_id
            WHERE m.client_id = \(bind: scope.clientId)
              AND m.date >= \(bind: range.from.description) AND m.date <= \(bind: range.to.description)
            """
        if let subjectId { query = query + " AND m.\(subject) = \(bind: subjectId)" }
        if let cursor { query = query + " AND (m.date, m.\(subject)) > (\(bind: cursor.day), \(bind: cursor.subjectId))" }
        query = query + " ORDER BY m.date, m.\(subject) LIMIT \(literal: Self.pageSize)"
        let rows = try await (store.db as! any SQLDatabase).raw(query).all().map { row in
            let day: String = try row.decode("date")
            let subjectId: UUID = try row.decode("subject_id")
            let counts = DailyCounts(
                callsHandled: try row.decode("calls_handled"), callsSuccessful: try row.decode("calls_successful"),
                callsFailed: try row.decode("calls_failed"), callsResolved: try row.decode("calls_resolved"),
                avgSatisfaction: try row.decode(column: "avg_satisfaction", as: Double?.self),
                satisfactionCount: 0, avgHandlingTime: try row.decode("avg_handling_time"))
            return Row(day: day, subjectId: subjectId, cells: [
                .text(day), .id(subjectId), .text(try row.decode(column: "name", as: String?.self)),
                .text(try row.decode(column: "sector", as: String?.self)),
                .integer(counts.callsHandled), .integer(counts.callsSuccessful), .integer(counts.callsFailed),
                .integer(counts.callsResolved), .number(counts.avgSatisfaction), .number(counts.avgHandlingTime),
                .number(try row.decode("success_rate")), .number(try row.decode("resolution_rate")),
                .number(try row.decode("avg_wrap_up_time")),
            ])
        }
        return try await withPeople(rows)
    }

    /// The page's rows with their subjects' people figures for their days, read for the page's days at once.
    private func withPeople(_ rows: [Row]) async throws -> [Row] {
        guard let first = rows.first.flatMap({ Day($0.day) }), let last = rows.last.flatMap({ Day($0.day) }) else { return rows }
        let subjects = Set(rows.map(\.subjectId))
        var agentsOf: [UUID: [UUID]] = [:]
        if level == .agent {
            for subject in subjects { agentsOf[subject] = [subject] }
        } else {
            for row in try await scope.select(from: TeamAgentAssignment.schema, on: store.sql).columns("team_id", "agent_id")
                .where("team_id", .in, Array(subjects)).all() {
                let teamId: UUID = try row.decode("team_id"), agentId: UUID = try row.decode("agent_id")
                if agentsOf[teamId]?.contains(agentId) != true { agentsOf[teamId, default: []].append(agentId) }
            }
        }
        let range = DayRange(from: first, to: last)
        let agentIds = Array(Set(agentsOf.values.joined()))
        let days = try await PeopleMetricsReader(clientId: scope.clientId, db: store.sql).days(of: agentIds, in: range)
        return rows.map { row in
            let index = Day(row.day).map(first.days(until:)) ?? 0
            let day = PeopleDay.combine((agentsOf[row.subjectId] ?? []).compactMap { days[$0]?[index] }, date: row.day)
            return Row(day: row.day, subjectId: row.subjectId, cells: row.cells + day.exportCells)
        }
    }
}

extension PeopleDay {
    static let exportColumns = ["available_seconds", "talk_seconds", "wrap_up_seconds", "away_seconds", "offline_seconds",
                                "occupancy", "offers_made", "offers_accepted", "offers_rejected", "offers_missed",
                                "avg_answer_seconds"]

    /// As the JSON answers them: seconds in tenths, occupancy to four places, away time by reason.
    var exportCells: [ExportCell] {
        let tenths = Self.tenths
        return [.number(tenths(availableSeconds)), .number(tenths(talkSeconds)), .number(tenths(wrapUpSeconds)),
                .amounts(awaySeconds.mapValues(tenths)), .number(tenths(offlineSeconds)),
                .number(roundedOccupancy), .integer(offersMade), .integer(offersAccepted),
                .integer(offersRejected), .integer(offersMissed), .number(avgAnswerSeconds.map(tenths))]
    }
}
