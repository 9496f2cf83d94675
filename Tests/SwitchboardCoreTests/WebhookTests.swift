import Foundation
import NIOConcurrencyHelpers
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

@Suite struct WebhookTests {
    @Test func signaturesFollowStandardWebhooks() {
        // The specification's published example (its libraries' own test vector).
        let header = WebhookSignature.header(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                                             body: Array(#"{"test": 2432232314}"#.utf8),
                                             secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        #expect(header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        let two = WebhookSignature.header(id: "m", timestamp: 1, body: [], secrets: [WebhookSignature.newSecret(), WebhookSignature.newSecret()])
        #expect(two.split(separator: " ").count == 2 && two.split(separator: " ").allSatisfy { $0.hasPrefix("v1,") })
        #expect(WebhookSignature.newSecret().hasPrefix("whsec_"))
        #expect(WebhookSignature.newSecret() != WebhookSignature.newSecret())
    }

    @Test func retriesBackOffWithJitterThenStop() {
        let schedule = [10.0, 60, 300]
        #expect(WebhookPolicy.nextWait(afterAttempts: 1, schedule: schedule, jitter: 0) == 10)
        #expect(WebhookPolicy.nextWait(afterAttempts: 3, schedule: schedule, jitter: 0.2) == 360)
        #expect(WebhookPolicy.nextWait(afterAttempts: 4, schedule: schedule) == nil)
        let waits = (0..<200).compactMap { _ in WebhookPolicy.nextWait(afterAttempts: 2, schedule: schedule) }
        #expect(waits.allSatisfy { (48...72).contains($0) } && Set(waits).count > 1)
        #expect(WebhookPolicy.defaultRetrySeconds.reduce(0, +) > 20 * 3600 && WebhookPolicy.defaultRetrySeconds.count == 8)
    }

    @Test func addressesAreClassified() {
        #expect(WebhookTarget.classify([127, 0, 0, 1]) == .loopback)
        #expect(WebhookTarget.classify([10, 1, 2, 3]) == .private)
        #expect(WebhookTarget.classify([172, 20, 0, 1]) == .private)
        #expect(WebhookTarget.classify([172, 32, 0, 1]) == .public)
        #expect(WebhookTarget.classify([192, 168, 1, 1]) == .private)
        #expect(WebhookTarget.classify([169, 254, 169, 254]) == .metadata)
        #expect(WebhookTarget.classify([169, 254, 1, 1]) == .linkLocal)
        #expect(WebhookTarget.classify([100, 64, 0, 1]) == .private)
        #expect(WebhookTarget.classify([0, 0, 0, 0]) == .reserved)
        #expect(WebhookTarget.classify([93, 184, 216, 34]) == .public)
        var loopback6 = [UInt8](repeating: 0, count: 16)
        loopback6[15] = 1
        #expect(WebhookTarget.classify(loopback6) == .loopback)
        #expect(WebhookTarget.classify([0xFE, 0x80] + [UInt8](repeating: 0, count: 14)) == .linkLocal)
        #expect(WebhookTarget.classify([0xFD, 0x12] + [UInt8](repeating: 0, count: 14)) == .private)
        #expect(WebhookTarget.classify([0xFD, 0x00, 0x0E, 0xC2] + [UInt8](repeating: 0, count: 11) + [0x54]) == .metadata)
        let mapped = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 127, 0, 0, 1]
        #expect(WebhookTarget.classify(mapped) == .loopback, "IPv4-mapped loopback")
        #expect(WebhookTarget.classify([0x26, 0x06, 0x28, 0x00] + [UInt8](repeating: 1, count: 12)) == .public)
    }

    @Test func unsafeTargetsAreRefused() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            for url in ["http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://localhost/hook", "https://10.0.0.5/hook",
                        "https://192.168.1.10/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]/hook",
                        "https://[fe80::1]/hook", "ftp://example.com/hook", "https://user:pw@127.0.0.1/x", "not a url",
                        "https://0.0.0.0/hook", "https://100.100.100.200/x"] {
                let response = try await admin.send(.POST, "/api/webhooks", json: #"{"url": "\#(url)", "events": ["*"]}"#)
                #expect(response.status == .badRequest, "\(url): \(response.text)")
            }
            // With private targets allowed, loopback over plain http is accepted (tests, development) …
            #expect(try await WebhookTarget.check("http://127.0.0.1:9/hook", allowPrivate: true).port == 9)
            // … but plain http to anything else never is.
            await #expect(throws: WebhookTarget.Refusal.self) { try await WebhookTarget.check("http://10.0.0.5/hook", allowPrivate: true) }
            let listed = try await admin.send(.GET, "/api/webhooks")
            #expect(listed.json["meta"]["total"] == .number(0), "nothing half-written")
        }
    }

    @Test func subscriptionsAreAdminOnlyValidatedAndTenantScoped() async throws {
        try await withSwitchboard(configuring: { $0.webhookAllowPrivate = true }) { app in
            let admin = try await APIClient.make(app)
            let other = try await APIClient.make(app)
            let manager = try await admin.as(.manager)
            let body = #"{"url": "http://127.0.0.1:9/hook", "events": ["call.*", "queue.depth_changed"], "description": "CRM"}"#
            #expect(try await manager.send(.POST, "/api/webhooks", json: body).status == .forbidden)
            #expect(try await manager.send(.GET, "/api/webhooks").status == .forbidden)
            for bad in [#"{"url": "http://127.0.0.1:9/hook", "events": ["call.nope"]}"#, #"{"url": "http://127.0.0.1:9/hook", "events": []}"#,
                        #"{"url": "http://127.0.0.1:9/hook"}"#, #"{"events": ["*"]}"#] {
                #expect(try await admin.send(.POST, "/api/webhooks", json: bad).status == .badRequest, "\(bad)")
            }
            let created = try await admin.send(.POST, "/api/webhooks", json: body)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.data["id"].uuid)
            let secret = try #require(created.data["secret"].stringValue)
            #expect(secret.hasPrefix("whsec_"))
            #expect(created.data["events"] == .array([.string("call.*"), .string("queue.depth_changed")]))
            #expect(created.data["active"] == .bool(true) && created.data["disabled_reason"] == .null)
            // The secret is never shown again, and is stored sealed.
            let read = try await admin.send(.GET, "/api/webhooks/\(id)")
            #expect(read.data["secret"] == .null && read.data["url"] == .string("http://127.0.0.1:9/hook"))
            let stored = try await app.store().sql.raw("SELECT secrets_sealed FROM webhooks WHERE id = \(bind: id)").first()?
                .decode(column: "secrets_sealed", as: String.self)
            #expect(stored?.hasPrefix("v1:") == true && stored?.contains(secret) == false)
            // Another tenant neither sees nor touches it.
            #expect(try await other.send(.GET, "/api/webhooks/\(id)").status == .notFound)
            #expect(try await other.send(.PATCH, "/api/webhooks/\(id)", json: #"{"active": false}"#).status == .notFound)
            #expect(try await other.send(.DELETE, "/api/webhooks/\(id)").status == .notFound)
            #expect(try await other.send(.GET, "/api/webhooks/\(id)/deliveries").status == .notFound)
            #expect(try await other.send(.GET, "/api/webhooks").json["meta"]["total"] == .number(0))

            let patched = try await admin.send(.PATCH, "/api/webhooks/\(id)", json: #"{"active": false, "events": ["*"]}"#)
            #expect(patched.data["active"] == .bool(false) && patched.data["events"] == .array([.string("*")]))
            let rotated = try await admin.send(.POST, "/api/webhooks/\(id)/rotate-secret")
            #expect(rotated.data["secret"].stringValue?.hasPrefix("whsec_") == true && rotated.data["secret"].stringValue != secret)
            #expect(try await admin.send(.DELETE, "/api/webhooks/\(id)").status == .ok)
            #expect(try await admin.send(.GET, "/api/webhooks/\(id)").status == .notFound)
        }
    }

    /// Tenant A's subscription gets deliveries for A's events only, in outbox order (the fan-out, without sending).
    @Test func deliveriesAreMadeOnlyFromTheTenantsOwnEvents() async throws {
        try await withSwitchboard(configuring: { $0.webhookAllowPrivate = true }) { app in
            let a = try await APIClient.make(app), b = try await APIClient.make(app)
            // A port nobody listens on: deliveries are made and attempted, and wait for their retries.
            let port = try freePort()
            let hook = try await a.send(.POST, "/api/webhooks", json: #"{"url": "http://127.0.0.1:\#(port)/h", "events": ["call.created"]}"#)
            let id = try #require(hook.data["id"].uuid)
            for client in [a, b] {
                _ = try await client.createAgent()
                for _ in 0..<3 { _ = try await client.createCall(#"{"sector": "billing"}"#) }
            }
            await app.webhookDeliverer.tick()
            let deliveries = try await a.send(.GET, "/api/webhooks/\(id)/deliveries?limit=50")
            let rows = deliveries.data.arrayValue ?? []
            #expect(rows.count == 3, "\(deliveries.text)")
            #expect(rows.allSatisfy { $0["event_type"] == .string("call.created") && $0["attempts"] == .number(1) })
            #expect(rows.allSatisfy { $0["status"] == .string("pending") && $0["last_error"].stringValue != nil })
            let payloads = try await app.store().sql.raw("SELECT client_id, payload FROM webhook_deliveries WHERE webhook_id = \(bind: id)").all()
            #expect(payloads.count == 3)
            for row in payloads {
                #expect(try row.decode(column: "client_id", as: String.self) == a.clientId)
                let event = try JSONDecoder().decode(JSONValue.self, from: Data(try row.decode(column: "payload", as: String.self).utf8))
                #expect(event["client_id"] == .string(a.clientId) && event["type"] == .string("call.created"))
            }
            let sequences = rows.compactMap { $0["sequence"].numberValue }.sorted()
            #expect(Set(sequences).count == 3)
        }
    }

    @Test func aSlowSubscriberIsDroppedAndNeverHoldsTheSignal() throws {
        let hub = EventHub(metrics: SwitchboardMetrics(), polling: nil, lagLimit: 100, lagGrace: .zero)
        let closed = NIOLockedValueBox<[EventStreamSession.CloseReason]>([])
        let behind = EventHub.Subscriber(clientId: "t", position: 10) { reason in closed.withLockedValue { $0.append(reason) } }
        let keeping = EventHub.Subscriber(clientId: "t", position: 950) { _ in Issue.record("a subscriber within the bound was closed") }
        try hub.add(keeping)
        try hub.add(behind)
        hub.signal("t", upTo: 1_000)
        #expect(closed.withLockedValue { $0 } == [.tooSlow])
        hub.remove(behind)
        hub.remove(keeping)

        // A burst (a bulk import) puts a reader far behind for a moment: it is not dropped within the grace.
        let patient = EventHub(metrics: SwitchboardMetrics(), polling: nil, lagLimit: 100, lagGrace: .seconds(60))
        let reading = EventHub.Subscriber(clientId: "t", position: 0) { _ in Issue.record("dropped within the grace") }
        try patient.add(reading)
        patient.signal("t", upTo: 5_000)
        #expect(!reading.isStalled(lag: 4_900, limit: 100, grace: .seconds(60)))
        #expect(reading.isStalled(lag: 4_900, limit: 100, grace: .seconds(60), now: .now + .seconds(61)))
        #expect(!reading.isStalled(lag: 50, limit: 100, grace: .seconds(60)), "caught up: the clock starts again")
        patient.remove(reading)
    }
}
