import FluentKit
import Foundation
import SQLKit
import Vapor
@testable import SwitchboardCore

/// Generates ended calls (default 1,000,000, 2 % abandoned in the queue over 30 days for 1,000 agents and 50 teams), then times a full
/// aggregation and an incremental one after 1,000 new calls. SQLite by default; PostgreSQL with DATABASE_URL.
enum AggregationBenchmark {
    static func run(calls: Int, agents: Int, teams: Int, days: Int) async throws {
        try await BenchDatabase.with { app, database in
            print("database: \(database.displayName)")
            let store = app.store()
            let clientId = "bench-\(UUID().uuidString.prefix(8))"
            let agentIds = (0..<agents).map { _ in UUID() }
            let teamIds = (0..<teams).map { _ in UUID() }
            try await seedCatalogue(store, clientId: clientId, agentIds: agentIds, teamIds: teamIds)

            let today = Day(containing: Date())
            var generator = SplitMix(seed: 7)
            let seedStart = ContinuousClock.now
            try await insertCalls(store, count: calls, clientId: clientId, agentIds: agentIds, teamIds: teamIds,
                                  days: (0..<days).map { today.adding(days: -$0) }, generator: &generator,
                                  completedAt: Date().addingTimeInterval(-3600))
            print("generated \(calls) completed calls over \(days) days for \(agents) agents and \(teams) teams in \(format(ContinuousClock.now - seedStart))")
            // Planner statistics as autovacuum (PostgreSQL) or PRAGMA optimize (SQLite) would leave them in a steady state.
            try await (store.db as! any SQLDatabase).raw("ANALYZE").run()

            let full = try await timed { try await PerformanceAggregator.aggregate(store: store, startedAt: Date()) }
            print("full aggregation:        \(format(full.1))  (\(full.0?.groups ?? 0) groups, \(full.0?.agentsRefreshed ?? 0) agents refreshed)")

            let again = try await timed { try await PerformanceAggregator.aggregate(store: store, startedAt: Date()) }
            print("incremental, no new calls: \(format(again.1))  (\(again.0?.groups ?? 0) groups)")

            try await insertCalls(store, count: 1_000, clientId: clientId, agentIds: agentIds, teamIds: teamIds,
                                  days: [today], generator: &generator, completedAt: Date())
            let incremental = try await timed { try await PerformanceAggregator.aggregate(store: store, startedAt: Date()) }
            print("incremental, 1,000 new calls: \(format(incremental.1))  (\(incremental.0?.groups ?? 0) groups)")
            for (name, result) in [("full", full.0), ("incremental", incremental.0)] {
                let phases = (result?.phasesMs ?? [:]).sorted { $0.key < $1.key }
                    .map { "\($0.key) \(String(format: "%.1f", $0.value)) ms" }.joined(separator: ", ")
                print("  \(name) by step: \(phases)")
            }
        }
    }

    static func seedCatalogue(_ store: Store, clientId: String, agentIds: [UUID], teamIds: [UUID]) async throws {
        try await store.write { db in
            let sql = db as! any SQLDatabase
            for (index, id) in teamIds.enumerated() {
                try await sql.insert(into: Team.schema).columns("id", "client_id", "name", "sector", "status", "created_at", "updated_at")
                    .values(SQLBind(id), SQLBind(clientId), SQLBind("Team \(index)"), SQLBind("billing"), SQLBind("active"),
                            SQLBind(Date()), SQLBind(Date())).run()
            }
            for start in stride(from: 0, to: agentIds.count, by: 200) {
                var insert = sql.insert(into: SectorAgent.schema).columns(
                    "id", "client_id", "name", "sector", "status", "priority", "capabilities", "max_concurrent",
                    "current_load", "success_rate", "avg_handling_time", "created_at", "updated_at")
                for (offset, id) in agentIds[start..<min(start + 200, agentIds.count)].enumerated() {
                    insert = insert.values([SQLBind(id), SQLBind(clientId), SQLBind("Agent \(start + offset)"), SQLBind("billing"),
                                            SQLBind("active"), SQLBind(5), SQLBind([String]()), SQLBind(10), SQLBind(0),
                                            SQLBind(0.5), SQLBind(180.0), SQLBind(Date()), SQLBind(Date())])
                }
                try await insert.run()
            }
        }
    }

    /// Calls are written day by day in time order, as they arrive in production, so a day's calls sit together
    /// in the table rather than being scattered through it.
    static func insertCalls(
        _ store: Store, count: Int, clientId: String, agentIds: [UUID], teamIds: [UUID], days: [Day],
        generator: inout SplitMix, completedAt: Date
    ) async throws {
        let columns = ["id", "client_id", "team_id", "agent_id", "sector", "capabilities", "channel", "status", "outcome",
                       "resolved", "satisfaction", "handling_time_seconds", "created_at", "assigned_at", "completed_at",
                       "call_day", "updated_at", "cancelled_at"]
        let ordered = days.sorted()
        var rows: [[any SQLExpression]] = []
        for (index, day) in ordered.enumerated() {
            let share = count / ordered.count + (index < count % ordered.count ? 1 : 0)
            for offset in 0..<share {
                let created = day.startDate.addingTimeInterval(Double(offset) * 80_000 / Double(max(share, 1)))
                let rated = generator.next() % 3 != 0
                // One call in 50 is abandoned in the queue; one in 5 waits up to two minutes before it is answered.
                if generator.next() % 50 == 0 {
                    rows.append([
                        SQLBind(UUID()), SQLBind(clientId), SQLBind(teamIds[Int(generator.next() % UInt64(teamIds.count))]),
                        SQLBind(nil as UUID?), SQLBind("billing"), SQLBind([String]()), SQLBind("voice"), SQLBind("cancelled"),
                        SQLBind(nil as String?), SQLBind(nil as Bool?), SQLBind(nil as Int?), SQLBind(nil as Double?),
                        SQLBind(created), SQLBind(nil as Date?), SQLBind(nil as Date?), SQLBind(day.description),
                        SQLBind(completedAt), SQLBind(completedAt),
                    ])
                    continue
                }
                let wait = generator.next() % 5 == 0 ? Double(1 + generator.next() % 120) : 0
                rows.append([
                    SQLBind(UUID()), SQLBind(clientId), SQLBind(teamIds[Int(generator.next() % UInt64(teamIds.count))]),
                    SQLBind(agentIds[Int(generator.next() % UInt64(agentIds.count))]), SQLBind("billing"), SQLBind([String]()),
                    SQLBind("voice"), SQLBind("completed"), SQLBind(generator.next() % 4 == 0 ? "failed" : "successful"),
                    SQLBind(generator.next() % 2 == 0), SQLBind(rated ? Int(generator.next() % 5) + 1 : nil as Int?),
                    SQLBind(Double(30 + generator.next() % 600)), SQLBind(created), SQLBind(created.addingTimeInterval(wait)),
                    SQLBind(completedAt), SQLBind(day.description), SQLBind(completedAt), SQLBind(nil as Date?),
                ])
                if rows.count == 10_000 {
                    try await write(rows, columns: columns, to: store)
                    rows.removeAll(keepingCapacity: true)
                }
            }
        }
        if !rows.isEmpty { try await write(rows, columns: columns, to: store) }
    }

    /// One transaction per 10,000 rows, 500 rows per INSERT (18 binds a row stays under both databases' limits).
    private static func write(_ rows: [[any SQLExpression]], columns: [String], to store: Store) async throws {
        let chunk = rows
        try await store.write { db in
            let sql = db as! any SQLDatabase
            for start in stride(from: 0, to: chunk.count, by: 500) {
                var insert = sql.insert(into: Call.schema).columns(columns)
                for row in chunk[start..<min(start + 500, chunk.count)] { insert = insert.values(row) }
                try await insert.run()
            }
        }
    }

    static func timed<T: Sendable>(_ body: () async throws -> T) async throws -> (T, Duration) {
        let start = ContinuousClock.now
        let value = try await body()
        return (value, ContinuousClock.now - start)
    }

    static func format(_ duration: Duration) -> String {
        let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return ms >= 1000 ? String(format: "%.2f s", ms / 1000) : String(format: "%.1f ms", ms)
    }
}

/// A migrated database for a benchmark, SQLite in a temporary file by default or PostgreSQL with DATABASE_URL,
/// removed (SQLite) and shut down afterwards.
enum BenchDatabase {
    static func with(_ body: (Application, SwitchboardConfiguration.DatabaseChoice) async throws -> Void) async throws {
        let environment = ProcessInfo.processInfo.environment
        let sqlitePath = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).sqlite").path
        let database: SwitchboardConfiguration.DatabaseChoice = environment["DATABASE_URL"].map { .postgres(url: $0) }
            ?? .sqlite(path: sqlitePath)
        let config = SwitchboardConfiguration(
            mode: .development, database: database, jwtSecret: String(repeating: "b", count: 40),
            encryptionKey: [UInt8](repeating: 1, count: 32)
        )
        var env = Environment.production
        env.arguments = ["bench"]
        let app = try await Application.make(env)
        app.logger.logLevel = .warning
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) } }
        do {
            try await configure(app, config)
            try await app.autoMigrate()
            try await body(app, database)
        } catch {
            try await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}
