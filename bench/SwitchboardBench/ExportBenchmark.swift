import AsyncHTTPClient
import Foundation
import NIOCore
import SQLKit
import Vapor
@testable import SwitchboardCore

/// `SwitchboardBench export [calls]`: writes the calls (default 1,000,000) for one tenant, then downloads
/// `GET /api/calls/export` as CSV through the service's own HTTP server, reading and dropping each chunk as it
/// arrives, and reports how much the process grew meanwhile (VmRSS before and after, VmHWM reset before the
/// download). SQLite by default; PostgreSQL with DATABASE_URL.
enum ExportBenchmark {
    static func run(calls: Int, port: Int = 18_097) async throws {
        try await BenchDatabase.with { app, database in
            print("database: \(database.displayName)")
            let store = app.store()
            let clientId = "bench-\(UUID().uuidString.prefix(8))"
            let agentIds = (0..<100).map { _ in UUID() }
            let teamIds = (0..<10).map { _ in UUID() }
            try await AggregationBenchmark.seedCatalogue(store, clientId: clientId, agentIds: agentIds, teamIds: teamIds)
            var generator = SplitMix(seed: 11)
            let today = Day(containing: Date())
            let seeding = ContinuousClock.now
            try await AggregationBenchmark.insertCalls(
                store, count: calls, clientId: clientId, agentIds: agentIds, teamIds: teamIds,
                days: (0..<30).map { today.adding(days: -$0) }, generator: &generator, completedAt: Date())
            try await (store.db as! any SQLDatabase).raw("ANALYZE").run()
            print("generated \(calls) calls in \(AggregationBenchmark.format(ContinuousClock.now - seeding))")

            try await app.server.start(address: .hostname("127.0.0.1", port: port))
            let token = try await TokenIssuer.issue(on: app, clientId: clientId, role: .viewer, subject: "bench")
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/calls/export")
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Accept", value: "text/csv")

            resetPeakMemory()
            let before = memory("VmRSS")
            let started = ContinuousClock.now
            let response = try await app.http.client.shared.execute(request, timeout: .minutes(10))
            var bytes = 0
            var lines = 0
            for try await buffer in response.body {
                bytes += buffer.readableBytes
                lines += buffer.readableBytesView.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            }
            let elapsed = ContinuousClock.now - started
            let after = memory("VmRSS")
            let peak = memory("VmHWM")
            await app.server.shutdown()
            guard response.status == .ok, lines == calls + 1 else {
                throw BenchFailure("export answered \(response.status) with \(lines) lines for \(calls) calls")
            }
            print(String(format: "exported %d calls (%.1f MB of CSV) in %@, %.0f calls/s",
                         calls, Double(bytes) / 1_048_576, AggregationBenchmark.format(elapsed),
                         Double(calls) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)))
            print(String(format: "process memory: RSS %.1f MB before, %.1f MB after, peak %.1f MB during: grew %.1f MB",
                         before, after, peak, peak - before))
        }
    }

    /// Resets VmHWM to the current RSS (Linux: writing 5 to clear_refs), so the peak is the download's own.
    private static func resetPeakMemory() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// A `/proc/self/status` figure in MB.
    private static func memory(_ field: String) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kilobytes = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
