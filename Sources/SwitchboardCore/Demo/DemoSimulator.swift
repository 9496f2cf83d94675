import FluentKit
import Foundation
import ServiceLifecycle
import Vapor

/// A stream of simulated calls for the demo tenant: new calls arrive every couple of seconds, active ones
/// complete after a while, and the aggregator runs often enough for the charts to move.
struct DemoSimulator: Service {
    let app: Application

    func run() async throws {
        var tick = 0
        while await sleepUnlessShuttingDown(for: .seconds(2)) {
            tick += 1
            do {
                try await Self.step(app)
                if tick % 15 == 0 { _ = await app.aggregator.runNow() }
            } catch {
                app.logger.warning("demo simulation step failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private static func step(_ app: Application) async throws {
        let tenant = DemoData.tenant
        let store = app.store()
        let calls = CallService(store: store, tenant: tenant, writer: app.callWriter)
        let teams = try await tenant.scope.query(Team.self, on: store.db).filter(\.$status == .active).all()
        let capabilities = ["french", "spanish", "german", "vip", "refunds", "hardware", "software", "enterprise"]
        for _ in 0..<Int.random(in: 1...3) {
            guard let team = teams.randomElement() else { break }
            var input = try WireJSON.decoder().decode(CreateCallInput.self, from: Data("{}".utf8))
            input.teamId = team.id
            input.channel = CallChannel.allCases.randomElement()!.rawValue
            input.capabilities = Bool.random() ? [capabilities.randomElement()!] : []
            _ = try await calls.create(input, idempotencyKey: nil)
        }
        let due = try await tenant.scope.query(Call.self, on: store.db)
            .filter(\.$status == .active)
            .filter(\.$assignedAt < Date().addingTimeInterval(-Double.random(in: 15...45)))
            .all()
        for call in due.shuffled().prefix(3) {
            let successful = Double.random(in: 0...1) < 0.75
            _ = try await calls.complete(call.id!, with: .init(
                outcome: successful ? .successful : .failed,
                resolved: successful ? Bool.random() || Bool.random() : Double.random(in: 0...1) < 0.2,
                satisfaction: Double.random(in: 0...1) < 0.6 ? (successful ? Int.random(in: 3...5) : Int.random(in: 1...3)) : nil,
                handlingTimeSeconds: Double.random(in: 60...420).rounded()
            ))
        }
    }
}

extension Application {
    /// `switchboard demo`: seed the demo tenant if it is empty, then keep calls flowing once the process serves.
    public func startDemo() async throws {
        if try await DemoData.seedIfEmpty(self) {
            logger.notice("seeded the demo tenant 'demo': 4 teams, 15 agents, 14 days of history")
        }
        backgroundServices.add(DemoSimulator(app: self), named: "demo simulator")
    }
}
