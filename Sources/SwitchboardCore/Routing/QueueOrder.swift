import Foundation
import SQLKit

/// The order a queue hands out its calls: the highest effective priority first (the call's `priority`, plus one
/// for every `routing.priority_aging_seconds` it has waited, never capped, so no call starves), then the oldest,
/// then the smaller id. Every age is measured at one instant (`now`), so the order holds through a decision.
/// Pure, but for the same order said in SQL.
struct QueueOrder: Sendable {
    /// 0: priorities never age.
    let agingSeconds: Int
    let now: Date

    /// What a waiting call needs for its place.
    struct Entry: Sendable {
        let id: UUID
        let sector: String
        let priority: Int
        let createdAt: Date
    }

    func effectivePriority(priority: Int, createdAt: Date) -> Int {
        guard agingSeconds > 0 else { return priority }
        return priority + Int((max(0, now.timeIntervalSince(createdAt)) / Double(agingSeconds)).rounded(.down))
    }

    /// Whether `a` is handed out before `b`.
    func precedes(_ a: Entry, _ b: Entry) -> Bool {
        let (first, second) = (effectivePriority(priority: a.priority, createdAt: a.createdAt),
                               effectivePriority(priority: b.priority, createdAt: b.createdAt))
        if first != second { return first > second }
        if a.createdAt != b.createdAt { return a.createdAt < b.createdAt }
        return a.id < b.id
    }

    /// Each call's place among the waiting calls of its sector (1: next).
    func positions(_ calls: [Entry]) -> [UUID: Int] {
        var positions: [UUID: Int] = [:]
        for (_, sectorCalls) in Dictionary(grouping: calls, by: \.sector) {
            for (index, call) in sectorCalls.sorted(by: precedes).enumerated() { positions[call.id] = index + 1 }
        }
        return positions
    }

    /// A stored call's priority (NULL: the default, see `AddCallPriority`).
    static let storedPriority = "COALESCE(priority, \(CallLimits.defaultPriority))"

    /// A stored call's effective priority now, in SQL.
    func effectivePriority(postgres: Bool) -> SQLQueryString {
        guard agingSeconds > 0 else { return "\(unsafeRaw: Self.storedPriority)" }
        let aging = String(agingSeconds)
        return postgres
            ? "\(unsafeRaw: Self.storedPriority) + FLOOR(GREATEST(0, EXTRACT(EPOCH FROM (\(bind: now) - created_at))) / \(unsafeRaw: aging))"
            : "\(unsafeRaw: Self.storedPriority) + CAST(MAX(0, \(bind: now.timeIntervalSince1970) - created_at) / \(unsafeRaw: aging) AS INTEGER)"
    }

    /// The same order over the `calls` table.
    func ordering(_ query: SQLSelectBuilder, postgres: Bool) -> SQLSelectBuilder {
        query.orderBy(SQLOrderBy(expression: effectivePriority(postgres: postgres), direction: SQLDirection.descending))
        return query.orderBy("created_at").orderBy("id")
    }

    /// The stored calls that come after the stored call `lastId` in this order (`mixedPriorities`: as `ordering`
    /// says it; otherwise oldest first), in SQL: a page's cursor. Its place is read back from the row itself, as
    /// the export's cursor is (`CallExport`): calls created in one batch share their time to the last digit, and a
    /// time decoded and bound again could repeat or skip some of them at a page's edge.
    func after(_ lastId: UUID, mixedPriorities: Bool, postgres: Bool) -> SQLQueryString {
        let last = "FROM \(unsafeRaw: Call.schema) c WHERE c.id = \(bind: lastId)" as SQLQueryString
        guard mixedPriorities else { return "(created_at, id) > (SELECT c.created_at, c.id \(last))" }
        // Unqualified, the effective priority's columns are the cursor row's inside the subquery.
        let effective = effectivePriority(postgres: postgres)
        return "(-(\(effective)), created_at, id) > (SELECT -(\(effective)), c.created_at, c.id \(last))"
    }

    /// The stored waiting calls that go before `call` (whose effective priority is `effective`), in SQL.
    func precedes(_ call: Entry, postgres: Bool) -> SQLQueryString {
        let effective = String(effectivePriority(priority: call.priority, createdAt: call.createdAt))
        let stored = effectivePriority(postgres: postgres)
        return "(\(stored) > \(unsafeRaw: effective) OR (\(stored) = \(unsafeRaw: effective) AND created_at < \(bind: call.createdAt)))"
    }
}

extension QueueOrder.Entry {
    init(_ call: CallRow) {
        self.init(id: call.id, sector: call.sector, priority: call.priority, createdAt: call.createdAt)
    }
}

extension QueueOrder {
    /// The tenant's waiting calls, as their places need them.
    static func waiting(of clientId: String, on db: any SQLDatabase) async throws -> [Entry] {
        try await TenantScope(clientId: clientId).select(from: Call.schema, on: db)
            .columns("id", "sector", "priority", "created_at").where(status: .queued)
            .all().map { row in
                Entry(id: try row.decode("id"), sector: try row.decode("sector"),
                      priority: try row.decode(column: "priority", as: Int?.self) ?? CallLimits.defaultPriority,
                      createdAt: try row.decode("created_at"))
            }
    }

    /// How many of the tenant's stored waiting calls of the entry's sector go before it (`all`: every one of them),
    /// leaving out `excluding`. A count over `idx_calls_queued_sector`, which holds waiting calls only.
    func storedAhead(of entry: Entry, clientId: String, all: Bool = false, excluding: Set<UUID> = [], postgres: Bool,
                     on db: any SQLDatabase) async throws -> Int {
        var query = TenantScope(clientId: clientId).select(from: Call.schema, on: db)
            .column(SQLFunction("COUNT", args: SQLLiteral.all), as: "waiting")
            .where(status: .queued).where("sector", .equal, entry.sector)
        if !excluding.isEmpty { query = query.where("id", .notIn, Array(excluding)) }
        if !all { query = query.where(precedes(entry, postgres: postgres)) }
        return try await query.first()?.decode(column: "waiting", as: Int.self) ?? 0
    }

    /// A waiting call's effective priority, place and estimated wait, from its place and the tenant's book.
    static func place(_ call: inout CallDTO, at place: Int, in book: TenantBook, now: Date) {
        guard call.status == .queued else { return }
        let order = QueueOrder(agingSeconds: book.policy.priorityAgingSeconds, now: now)
        call.effectivePriority = order.effectivePriority(priority: call.priority, createdAt: call.createdAt)
        call.queuePosition = place
        call.estimatedWaitSeconds = book.estimatedWait(
            place: place, of: Entry(id: call.id, sector: call.sector, priority: call.priority, createdAt: call.createdAt),
            teamId: call.teamId, required: SkillRequirement(capabilities: call.requiredCapabilities, minimums: call.requiredLevels), now: now)
    }
}
