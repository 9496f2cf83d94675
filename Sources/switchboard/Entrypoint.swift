import Logging
import NIOCore
import NIOPosix
import SwitchboardCore
import Vapor

@main
enum Entrypoint {
    static func main() async throws {
        // Swift Concurrency's jobs run on NIO's event loops instead of a separate pool: a request no longer hops
        // between threads (and wakes one) at every `await` between Vapor, the handlers and the database drivers.
        // The profiles in docs/PERFORMANCE.md show those hand-offs were the largest cost of a call.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        var env = try Environment.detect()
        try LoggingSystem.bootstrap(from: &env)

        let config: SwitchboardConfiguration
        do {
            config = try SwitchboardConfiguration.fromEnvironment()
        } catch {
            FileHandle.standardError.write(Data("switchboard: \(error)\n".utf8))
            exit(1)
        }

        // `demo` is `serve` plus a seeded, simulated demo tenant.
        let isDemo = env.arguments.dropFirst().first == "demo"
        if isDemo { env.arguments[1] = "serve" }

        let app = try await Application.make(env)
        do {
            try await configure(app, config)
            let command = env.arguments.dropFirst().first ?? "serve"
            if command == "serve" || command.hasPrefix("-") {
                try await app.prepareToServe(arguments: env.arguments)
                if isDemo { try await app.startDemo() }
            }
            try await app.execute()
            await app.stopServing()
        } catch {
            // A mistake on the command line or an unreachable database: one clear line and exit 1, no backtrace.
            FileHandle.standardError.write(Data("switchboard: \(describeFailure(error, config: config))\n".utf8))
            try? await app.asyncShutdown()
            exit(1)
        }
        try await app.asyncShutdown()
    }
}
