import Foundation
import NIOConcurrencyHelpers
import ServiceLifecycle
import Testing
import VaporTesting
@testable import SwitchboardCore

/// The process's background loops run as one service group: started at boot, stopped in reverse order of
/// registration at shutdown, each waited for (a pass in progress finishes).
@Suite struct BackgroundServicesTests {
    @Test func servicesStopInReverseOrderEachWaitedFor() async throws {
        let app = try await Application.make(.testing)
        let log = NIOLockedValueBox<[String]>([])
        let services = BackgroundServices(logger: app.logger)
        for name in ["first", "second", "third"] {
            services.add(PeriodicService(interval: .milliseconds(20), pass: {
                log.withLockedValue { if !$0.contains("pass \(name)") { $0.append("pass \(name)") } }
            }, finally: {
                // A slow stop: the next service must not be told to stop before this one has finished.
                try? await Task.sleep(for: .milliseconds(50))
                log.withLockedValue { $0.append("stopped \(name)") }
            }), named: name)
        }
        #expect(services.names == ["first", "second", "third"])
        try await services.didBootAsync(app)
        // Up to a minute: in CI's PostgreSQL pass, the test process's two cooperative threads were so busy starting
        // every suite at once that for 10 s no service's 20 ms sleep came back (the log was empty, and suites of pure
        // functions took 11 s), while this loop ran before and after.
        let passed = try await holdsEventually(within: 60, every: .milliseconds(10)) {
            log.withLockedValue { $0.filter { $0.hasPrefix("pass") }.count } == 3
        }
        #expect(passed, "each service passed once before the shutdown: \(log.withLockedValue { $0 })")
        await services.shutdownAsync(app)
        let stops = log.withLockedValue { $0.filter { $0.hasPrefix("stopped") } }
        #expect(stops == ["stopped third", "stopped second", "stopped first"])
        #expect(Set(log.withLockedValue { $0.filter { $0.hasPrefix("pass") } }) == ["pass first", "pass second", "pass third"])
        try await app.asyncShutdown()
    }

    @Test func theApplicationRegistersItsLoopsAsServices() async throws {
        try await withSwitchboard { app in
            let names = app.backgroundServices.names
            #expect(names.contains("event poll") && names.contains("denial log"))
            #expect(names.contains(TestDatabase.isPostgres ? "cluster notifications" : "WAL checkpoint"))
        }
    }
}
