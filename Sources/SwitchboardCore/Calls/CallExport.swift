import Foundation
import NIOCore
import SQLKit

/// `GET /api/calls/export`: the calls `GET /api/calls` lists with the same filters, newest first, read a page at a
/// time by keyset on (created_at, id) (over `idx_calls_client_created`, or the agent's or team's index when filtered by
/// one), so memory stays one page whatever the count.
/// Calls created after the export began are not in it; a call may show a later state than when the export began.
struct CallExport: Sendable {
    let store: Store
    let scope: TenantScope
    let filter: CallService.ListFilter
    let format: ExportFormat
    var pageSize = 1_000
    static let columns = ["id", "status", "agent_id", "team_id", "sector", "channel", "capabilities", "external_ref",
                          "outcome", "resolved", "satisfaction", "handling_time_seconds", "created_at", "assigned_at",
                          "completed_at", "cancelled_at", "priority", "callback_phone", "customer_ref",
                          "preferred_agent_id"]

    static func cells(_ call: CallRow) -> [ExportCell] {
        [.id(call.id), .text(call.status.rawValue), .id(call.agentId), .id(call.teamId), .text(call.sector),
         .text(call.channel.rawValue), .list(call.capabilities), .text(call.externalRef), .text(call.outcome?.rawValue),
         .flag(call.resolved), .integer(call.satisfaction), .number(call.handlingTimeSeconds), .time(call.createdAt),
         .time(call.assignedAt), .time(call.completedAt), .time(call.cancelledAt), .integer(call.priority),
         .text(call.callbackPhone), .text(call.customerRef), .id(call.preferredAgentId)]
    }

    func produce(_ write: StreamedBody.Write) async throws {
        try await ExportWriter.stream(columns: Self.columns, format: format, pageSize: pageSize, to: write,
                                      nextPage: { try await page(after: $0?.id) }, cells: Self.cells)
    }

    /// The page after the call `lastId` (the last of the previous page), in (created_at, id) descending order.
    private func page(after lastId: UUID?) async throws -> [CallRow] {
        var query = filter.narrowing(scope.select(from: Call.schema, on: store.db).columns(CallRow.columns.map { SQLIdentifier($0) }))
        if let lastId {
            // The cursor's time is read back from the row itself: a time decoded into a `Date` and bound again can
            // come back one unit in the last place off (Date counts from 2001, SQLite from 1970), which would
            // repeat or skip the rows at each page boundary.
            query = query.where("""
                (created_at, id) < ((SELECT c.created_at FROM calls c WHERE c.id = \(bind: lastId)), \(bind: lastId))
                """ as SQLQueryString)
        }
        return try await query.orderBy("created_at", .descending).orderBy("id", .descending)
            .limit(pageSize).all().map(CallRow.init)
    }
}
