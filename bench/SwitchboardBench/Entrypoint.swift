import Foundation

/// `swift run -c release SwitchboardBench scorer | aggregate [calls agents teams days]`
@main
enum BenchEntrypoint {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "scorer":
            ScorerBenchmark.run()
        case "aggregate":
            let numbers = arguments.dropFirst().compactMap(Int.init)
            try await AggregationBenchmark.run(
                calls: numbers.count > 0 ? numbers[0] : 1_000_000,
                agents: numbers.count > 1 ? numbers[1] : 1_000,
                teams: numbers.count > 2 ? numbers[2] : 50,
                days: numbers.count > 3 ? numbers[3] : 30
            )
        default:
            print("usage: SwitchboardBench scorer | aggregate [calls agents teams days]")
            exit(2)
        }
    }
}
