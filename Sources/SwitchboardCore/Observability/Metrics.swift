import Foundation
import Prometheus
import NIOConcurrencyHelpers
import Vapor

/// The process's Prometheus registry and the instruments the product records into.
final class SwitchboardMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    private static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    func requestInstruments(method: String, route: String, status: Int) -> (Counter, ValueHistogram) {
        (
            registry.makeCounter(
                name: "switchboard_http_requests_total",
                labels: [("method", method), ("route", route), ("status", String(status))]
            ),
            registry.makeValueHistogram(
                name: "switchboard_http_request_duration_seconds",
                labels: [("method", method), ("route", route)],
                buckets: Self.latencyBuckets
            )
        )
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

/// Counts every request by its route pattern (not its concrete path, to keep label cardinality bounded). The
/// instruments of each (route, method, status) are looked up once and kept: the registry's lookup builds label
/// strings and takes a lock, a visible cost at thousands of requests a second.
struct RequestMetricsMiddleware: Middleware {
    let metrics: SwitchboardMetrics
    private let instruments = NIOLockedValueBox<[InstrumentKey: (Counter, ValueHistogram)]>([:])

    init(metrics: SwitchboardMetrics) {
        self.metrics = metrics
    }

    private struct InstrumentKey: Hashable {
        let route: ObjectIdentifier?
        let method: String
        let status: UInt
    }

    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        let start = ContinuousClock.now
        return next.respond(to: request).map { response in
            record(response, of: request, took: ContinuousClock.now - start)
            return response
        }
    }

    private func record(_ response: Response, of request: Request, took elapsed: Duration) {
        let key = InstrumentKey(route: request.route.map(ObjectIdentifier.init), method: request.method.rawValue,
                                status: response.status.code)
        let (counter, histogram) = instruments.withLockedValue { instruments in
            if let known = instruments[key] { return known }
            let route = request.route == nil ? "unmatched" : request.routePattern
            let made = metrics.requestInstruments(method: request.method.rawValue, route: route, status: Int(response.status.code))
            instruments[key] = made
            return made
        }
        counter.increment()
        histogram.record(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
