import Foundation
import NIOCore
import NIOPosix

/// `SwitchboardBench scorer | book | aggregate [calls agents teams days] | hello [port [vapor]] | export [calls] | simulate [calls] | learning [calls [every]] | quality [calls [seeds]] | skills [calls [seeds]] | waits | seed-agents N [client_id]`
/// (build with `swift build -c release -Xswiftc -enable-testing --scratch-path .build-release`; see bench/run-all.sh)
@main
enum BenchEntrypoint {
    static func main() async throws {
        // As the service does (Sources/switchboard/Entrypoint.swift), so the hello ceiling is measured alike.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "scorer":
            ScorerBenchmark.run()
        case "book":
            BookBenchmark.run()
        case "aggregate":
            let numbers = arguments.dropFirst().compactMap(Int.init)
            try await AggregationBenchmark.run(
                calls: numbers.count > 0 ? numbers[0] : 1_000_000,
                agents: numbers.count > 1 ? numbers[1] : 1_000,
                teams: numbers.count > 2 ? numbers[2] : 50,
                days: numbers.count > 3 ? numbers[3] : 30
            )
        case "hello":
            try await HelloServer.run(port: arguments.count > 1 ? Int(arguments[1]) ?? 18080 : 18080,
                                      vaporServer: arguments.count > 2 && arguments[2] == "vapor")
        case "export":
            try await ExportBenchmark.run(calls: arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000)
        case "simulate":
            SimulationBenchmark.speed(calls: arguments.count > 1 ? Int(arguments[1]) ?? 100_000 : 100_000)
        case "quality":
            SimulationBenchmark.quality(calls: arguments.count > 1 ? Int(arguments[1]) ?? 1_500 : 1_500,
                                        seeds: arguments.count > 2 ? Int(arguments[2]) ?? 20 : 20)
        case "skills":
            SkillLearningBenchmark.run(calls: arguments.count > 1 ? Int(arguments[1]) ?? 1_500 : 1_500,
                                       seeds: arguments.count > 2 ? Int(arguments[2]) ?? 20 : 20)
        case "learning":
            SimulationBenchmark.learning(calls: arguments.count > 1 ? Int(arguments[1]) ?? 2_000 : 2_000,
                                         every: arguments.count > 2 ? Int(arguments[2]) ?? 1 : 1)
        case "waits":
            WaitEstimateBenchmark.run()
        case "seed-agents":
            try await SeedAgents.run(count: arguments.count > 1 ? Int(arguments[1]) ?? 10_000 : 10_000,
                                     clientId: arguments.count > 2 ? arguments[2] : "bench")
        default:
            print("usage: SwitchboardBench scorer | book | aggregate [calls agents teams days] | hello [port [vapor]] | export [calls] | simulate [calls] | learning [calls [every]] | quality [calls [seeds]] | skills [calls [seeds]] | waits | seed-agents N [client_id]")
            exit(2)
        }
    }
}
