import Foundation
import SQLKit


/// PostgreSQL: a batch's events as common table expressions of its one statement. The call events come from the
/// batch; the load events from the `loads` CTE (the values the statement commits); the queue depth from the
/// tenant's waiting calls as the statement's snapshot saw them plus the batch's own change. Each tenant's numbers
/// are taken by one upsert of its `event_sequences` row, whose lock orders the commits of its numbers.
struct BatchEvents {
    let rows: [any SQLExpression]
    let queueChanges: [any SQLExpression]
    let now: Date

    init(_ events: [String: [PendingEvent]], queueChanges: [String: Int], at now: Date) {
        rows = events.flatMap { clientId, list in
            list.enumerated().map { index, event in
                SQLGroupExpression([SQLBind(clientId), SQLBind(Int64(index)), SQLBind(event.id), SQLBind(event.type.rawValue),
                                    SQLBind(event.data)])
            }
        }
        self.queueChanges = queueChanges.map { SQLGroupExpression([SQLBind($0.key), SQLBind(Int64($0.value))]) }
        self.now = now
    }

    func statement(withLoads: Bool) -> [SQLQueryString]? {
        guard !rows.isEmpty || withLoads || !queueChanges.isEmpty else { return nil }
        var ctes: [SQLQueryString] = []
        var sources: [SQLQueryString] = []
        if !rows.isEmpty {
            ctes.append("ev(client_id, ord, id, type, data) AS (VALUES \(SQLList(rows)))")
            sources.append("SELECT client_id::text, ord::bigint, id::uuid, type::text, data::text FROM ev")
        }
        if withLoads {
            sources.append("""
                SELECT client_id, 1000000 + row_number() OVER (PARTITION BY client_id ORDER BY id), gen_random_uuid(),
                    'agent.load_changed', json_build_object('agent_id', upper(id::text), 'channel_loads', json_build_object(\(
                        unsafeRaw: CallChannel.allCases.map { "'\($0.rawValue)', \($0.loadColumn)" }.joined(separator: ", "))),
                    'current_load', current_load, 'max_concurrent', max_concurrent)::text FROM loads
                """)
        }
        if !queueChanges.isEmpty {
            ctes.append("qd(client_id, delta) AS (VALUES \(SQLList(queueChanges)))")
            sources.append("""
                SELECT qd.client_id::text, 2000000, gen_random_uuid(), 'queue.depth_changed', json_build_object('queued',
                    GREATEST(0, (SELECT count(*) FROM calls WHERE calls.client_id = qd.client_id::text AND calls.status = \(unsafeRaw: CallStatus.queued.sqlLiteral))
                        + qd.delta::bigint))::text FROM qd
                """)
        }
        ctes.append("""
            events_numbered AS (SELECT client_id, id, type, data,
                    row_number() OVER (PARTITION BY client_id ORDER BY ord) AS n, count(*) OVER (PARTITION BY client_id) AS total
                FROM (\(sources.joined(separator: " UNION ALL "))) AS every_event(client_id, ord, id, type, data))
            """)
        ctes.append("""
            events_sequenced AS (INSERT INTO event_sequences AS s (client_id, last_sequence)
                SELECT DISTINCT client_id, total FROM events_numbered ORDER BY client_id
                ON CONFLICT (client_id) DO UPDATE SET last_sequence = s.last_sequence + excluded.last_sequence
                RETURNING client_id, last_sequence)
            """)
        ctes.append("""
            events_written AS (INSERT INTO events (client_id, sequence, id, type, occurred_at, data)
                SELECT e.client_id, q.last_sequence - e.total + e.n, e.id, e.type, \(bind: now), e.data
                FROM events_numbered e JOIN events_sequenced q ON q.client_id = e.client_id)
            """)
        ctes.append("""
            events_notified AS (SELECT pg_notify(\(bind: EventOutbox.channel), client_id || ' ' || last_sequence)
                FROM events_sequenced)
            """)
        return ctes
    }
}
