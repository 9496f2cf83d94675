import Foundation
import Prometheus
import Vapor

/// The process's Prometheus registry and the instruments the product records into.
final class SwitchboardMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    private static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    func recordRequest(method: String, route: String, status: Int, seconds: Double) {
        registry.makeCounter(
            name: "switchboard_http_requests_total",
            labels: [("method", method), ("route", route), ("status", String(status))]
        ).increment()
        registry.makeValueHistogram(
            name: "switchboard_http_request_duration_seconds",
            labels: [("method", method), ("route", route)],
            buckets: Self.latencyBuckets
        ).record(seconds)
    }

    func counter(_ name: String, _ labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(name: name, labels: labels)
    }

    func gauge(_ name: String, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(name: name, labels: labels)
    }

    func histogram(_ name: String, buckets: [Double] = latencyBuckets) -> ValueHistogram {
        registry.makeValueHistogram(name: name, labels: [], buckets: buckets)
    }

    func recordRoutingDecision(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        histogram("switchboard_routing_decision_seconds")
            .record(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    func exposition() -> String {
        registry.emitToString()
    }
}

extension Application {
    private struct MetricsKey: StorageKey { typealias Value = SwitchboardMetrics }

    var metrics: SwitchboardMetrics {
        if let metrics = storage[MetricsKey.self] { return metrics }
        let metrics = SwitchboardMetrics()
        storage[MetricsKey.self] = metrics
        return metrics
    }
}

/// Counts every request by its route pattern (not its concrete path, to keep label cardinality bounded).
struct RequestMetricsMiddleware: AsyncMiddleware {
    let metrics: SwitchboardMetrics

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next.respond(to: request)
        let elapsed = ContinuousClock.now - start
        let route = request.route.map { "/" + $0.path.map(\.description).joined(separator: "/") } ?? "unmatched"
        metrics.recordRequest(
            method: request.method.rawValue,
            route: route,
            status: Int(response.status.code),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        )
        return response
    }
}
