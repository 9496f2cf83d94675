import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Vapor


/// Every background loop of the process, as the services of one `ServiceGroup`: registered while the application
/// is configured (and by `serve` and `demo` before it boots), started together when it boots, and at shutdown
/// stopped in the reverse order of their registration, each waited for, before the databases close under them.
final class BackgroundServices: LifecycleHandler, Sendable {
    private struct State {
        var services: [(name: String, service: any Service)] = []
        var group: ServiceGroup?
        var running: Task<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())
    private let logger: Logger
    /// After this, a service still stopping is cancelled.
    static let gracePeriod: Duration = .seconds(10)

    init(logger: Logger) { self.logger = logger }

    /// Registers a service to start when the application boots.
    func add(_ service: any Service, named name: String) {
        state.withLockedValue { state in
            precondition(state.group == nil, "background service '\(name)' registered after the application booted")
            state.services.append((name, service))
        }
    }

    var names: [String] { state.withLockedValue { $0.services.map(\.name) } }

    func didBootAsync(_ application: Application) async throws {
        let logger = self.logger
        let group: ServiceGroup? = state.withLockedValue { state in
            guard state.group == nil, !state.services.isEmpty else { return nil }
            var configuration = ServiceGroupConfiguration(
                services: state.services.map { entry in
                    // A loop that ends or fails on its own leaves the others running; each logs its own failures.
                    .init(service: entry.service, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore,
                          serviceName: entry.name)
                },
                logger: logger)
            configuration.maximumGracefulShutdownDuration = Self.gracePeriod
            let group = ServiceGroup(configuration: configuration)
            state.group = group
            return group
        }
        guard let group else { return }
        let running = Task {
            do {
                try await group.run()
            } catch {
                logger.error("background services stopped", metadata: ["error": "\(error)"])
            }
        }
        state.withLockedValue { $0.running = running }
    }

    func shutdownAsync(_ application: Application) async {
        let (group, running) = state.withLockedValue { ($0.group, $0.running) }
        await group?.triggerGracefulShutdown()
        await running?.value
    }
}

/// Runs `work` in a task of its own until it ends, or until the process begins shutting down gracefully or this task
/// is cancelled, either of which cancels it; returns when it has ended. The one way a service here stops what it is
/// doing at shutdown, with fewer moving parts than the library's `cancelWhenGracefulShutdown` (a task group racing
/// the work against a waiting actor).
func runUntilShuttingDown(_ work: @escaping @Sendable () async -> Void) async {
    guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
    let task = Task { await work() }
    await withTaskCancellationOrGracefulShutdownHandler {
        await task.value
    } onCancelOrGracefulShutdown: {
        task.cancel()
    }
}

/// Sleeps for `interval`; false when the process began shutting down gracefully or the task was cancelled (at once,
/// or during the sleep).
func sleepUnlessShuttingDown(for interval: Duration) async -> Bool {
    await runUntilShuttingDown { try? await Task.sleep(for: interval) }
    return !Task.isShuttingDownGracefully && !Task.isCancelled
}

/// A pass every `interval` until graceful shutdown (a pass in progress finishes first), then `finally` once.
struct PeriodicService: Service {
    let interval: Duration
    let pass: @Sendable () async -> Void
    var finally: @Sendable () async -> Void = {}

    init(interval: Duration, pass: @escaping @Sendable () async -> Void,
         finally: @escaping @Sendable () async -> Void = {}) {
        self.interval = interval
        self.pass = pass
        self.finally = finally
    }

    /// A pass that may fail: the failure is logged (`failure` says what failed and what happens next) and the
    /// service goes on, so the next pass tries again.
    init(interval: Duration, logger: Logger, failure: String,
         _ pass: @escaping @Sendable () async throws -> Void) {
        self.init(interval: interval, pass: {
            do {
                try await pass()
            } catch {
                logger.warning("\(failure)", metadata: ["error": "\(error)"])
            }
        })
    }

    func run() async throws {
        while await sleepUnlessShuttingDown(for: interval) { await pass() }
        await finally()
    }
}

extension Application {
    private struct BackgroundServicesKey: StorageKey { typealias Value = BackgroundServices }

    var backgroundServices: BackgroundServices {
        get { storage[BackgroundServicesKey.self]! }
        set { storage[BackgroundServicesKey.self] = newValue }
    }
}
