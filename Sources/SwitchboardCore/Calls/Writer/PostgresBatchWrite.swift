import Foundation
import NIOConcurrencyHelpers
import PostgresNIO
import SQLKit


/// PostgreSQL: several processes, many connections. A batch is one statement of data-modifying CTEs (one round
/// trip, atomic on its own, no BEGIN and COMMIT), which refuses everything if any load claim or call change is
/// refused. Its reads need no transaction around them, since that one statement checks them again. Its requests
/// are answered once the statement's commit is confirmed, while the next batch is already being decided.
final class PostgresBatchWrite: BatchWriting {
    let store: Store
    let book: LoadBook
    /// Batches whose commits may not be confirmed yet.
    private let unsettled = NIOLockedValueBox<[BatchAnswer]>([])

    init(store: Store, book: LoadBook) {
        self.store = store
        self.book = book
    }

    func settlePrevious() async {
        for previous in unsettled.withLockedValue({ $0 }) { await previous.settled() }
    }

    func commit(
        answering continuations: [CheckedContinuation<ChangeAnswer, any Error>], plan: BatchPlan, clientIds: Set<String>,
        _ decideAndWrite: @escaping @Sendable (any SQLDatabase) async throws -> [Result<ChangeAnswer, any Error>],
        committed: ([Result<ChangeAnswer, any Error>]) -> Void
    ) async throws {
        let answer = BatchAnswer(continuations, book: book, clientIds: clientIds)
        let results = try await store.committingOnOneConnection(decideAndWrite, committed: answer.committed)
        committed(results)
        unsettled.withLockedValue { batches in
            batches.removeAll { $0.isSettled }
            batches.append(answer)
        }
        answer.written(results)
    }

    /// `WITH v …, loads AS (UPDATE …), c0 AS (UPDATE calls …), … , i0 AS (INSERT …), … SELECT <checked loads>`.
    /// Data-modifying CTEs all run, on one snapshot; the final SELECT turns a refused claim or change into an
    /// error (a cast that fails at run time), which aborts the whole statement.
    func write(_ statements: BatchStatements, plan: BatchPlan, on db: any SQLDatabase) async throws -> [CommittedLoad] {
        var ctes: [SQLQueryString] = []
        var checks: [SQLQueryString] = []
        let loads = statements.loads
        if let loads {
            ctes.append("\(unsafeRaw: LoadStatement.valuesColumns) AS (VALUES \(SQLList(loads.values))), loads AS (\(loads.update))")
            checks.append("(SELECT count(*) FROM loads JOIN v ON v.agent_id = loads.id WHERE v.claim > 0) = \(literal: loads.claims)")
            // Other processes' books learn the committed loads (delivered only if this statement commits), in
            // notifications of at most 30 agents: at most ~175 bytes each (three-digit loads and limits on every
            // channel), so ~5,300 bytes, under PostgreSQL's 8,000-byte payload limit (60 could pass it).
            ctes.append("""
                notified AS (SELECT pg_notify(\(bind: LoadNotification.channel), json_build_object(
                    'origin', \(bind: plan.origin), 'clientId', client_id, 'states', json_agg(json_build_object(
                        'a', id, 'l', current_load, 'm', max_concurrent, 'on', \(unsafeRaw: LoadStatement.routable),
                        'c', \(unsafeRaw: LoadStatement.loadArray), 'k', \(unsafeRaw: LoadStatement.capacityArray),
                        'i', extract(epoch FROM last_call_ended_at))))::text)
                    FROM (SELECT loads.*, (row_number() OVER (PARTITION BY client_id ORDER BY id) - 1) / 30 AS chunk
                          FROM loads) AS numbered
                    GROUP BY client_id, chunk)
                """)
            checks.append("(SELECT count(*) FROM notified) >= 0")
        }
        for (index, change) in statements.changes.enumerated() {
            ctes.append("\(unsafeRaw: "c\(index)") AS (\(change))")
            checks.append("(SELECT count(*) FROM \(unsafeRaw: "c\(index)")) = 1")
        }
        for (index, update) in statements.unchecked.enumerated() { ctes.append("\(unsafeRaw: "u\(index)") AS (\(update))") }
        for (index, insert) in statements.inserts.enumerated() { ctes.append("\(unsafeRaw: "i\(index)") AS (\(insert))") }
        let events = BatchEvents(statements.events, queueChanges: statements.queueChanges, at: statements.now)
        if let outbox = events.statement(withLoads: loads != nil) {
            ctes.append(contentsOf: outbox)
            checks.append("(SELECT count(*) FROM events_notified) >= 0")
        }
        guard !ctes.isEmpty else { return [] }  // every change of the batch was refused or replayed
        let checked: SQLQueryString = checks.isEmpty ? "TRUE" : checks.joined(separator: " AND ")
        let rows: SQLQueryString = loads == nil ? "'[]'" : """
            (SELECT COALESCE(json_agg(json_build_object('id', id, 'client_id', client_id, 'current_load', current_load,
                'max_concurrent', max_concurrent, 'status', status, 'presence', presence, 'channel_loads', \(unsafeRaw: LoadStatement.loadArray),
                'channel_capacity', \(unsafeRaw: LoadStatement.capacityArray)))::text, '[]') FROM loads)
            """
        let statement: SQLQueryString = """
            WITH \(ctes.joined(separator: ", "))
            SELECT CASE WHEN \(checked) THEN \(rows) ELSE ('refused by the database: ' || now())::int::text END AS loads
            """
        do {
            guard let text = try await db.raw(statement).first()?.decode(column: "loads", as: String.self) else { return [] }
            return try JSONDecoder().decode([CommittedLoad].self, from: Data(text.utf8))
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "22P02" {
            // A claim or a change was refused: decide again with every agent of the batch refreshed.
            throw BatchRefused()
        }
    }
}
