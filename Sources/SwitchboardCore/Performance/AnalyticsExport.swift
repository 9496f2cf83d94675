import Foundation
import NIOCore
import SQLKit

/// `GET /api/analytics/export?level=agent|team`: the daily rows of a range (default the last 30 days, as the
/// analytics endpoints), oldest day first, with each subject's name and sector; read a page at a time by keyset
/// on (date, subject).
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
                "calls_resolved", "avg_satisfaction", "avg_handling_time", "success_rate", "resolution_rate"]
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
                   m.resolution_rate
            FROM \(ident: level.table) m
            LEFT JOIN \(ident: subjectTable) s ON s.id = m.\(subject) AND s.client_id = m.client_id
            WHERE m.client_id = \(bind: scope.clientId)
              AND m.date >= \(bind: range.from.description) AND m.date <= \(bind: range.to.description)
            """
        if let subjectId { query = query + " AND m.\(subject) = \(bind: subjectId)" }
        if let cursor { query = query + " AND (m.date, m.\(subject)) > (\(bind: cursor.day), \(bind: cursor.subjectId))" }
        query = query + " ORDER BY m.date, m.\(subject) LIMIT \(literal: Self.pageSize)"
        return try await (store.db as! any SQLDatabase).raw(query).all().map { row in
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
            ])
        }
    }
}
