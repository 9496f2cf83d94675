import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import SQLKit
import Testing
import Vapor
import VaporTesting
@testable import SwitchboardCore

/// What the second security probe found (issue 27), one regression test an item; each runs on both databases.
@Suite struct SecondProbeTests {
    // MARK: 1. Webhook ports

    @Test func webhookPortsOutsideSixteenBitsAreRefusedWhenSaved() async throws {
        try await withSwitchboard(configuring: { $0.webhookAllowPrivate = true }) { app in
            let admin = try await APIClient.make(app)
            for port in ["0", "65536", "99999", "4294967297"] {
                let response = try await admin.send(.POST, "/api/webhooks", json: #"{"url": "http://127.0.0.1:\#(port)/h", "events": ["*"]}"#)
                #expect(response.status == .badRequest, "port \(port): \(response.text)")
            }
            #expect(try await admin.send(.POST, "/api/webhooks", json: #"{"url": "http://127.0.0.1:65535/h", "events": ["*"]}"#).status == .created)
            #expect(throws: WebhookTarget.Refusal.self) { try WebhookTarget.parse("https://example.com:0/h") }
            #expect(try WebhookTarget.parse("https://example.com/h").port == 443)
        }
    }

    /// A row written before the check existed (or by hand) is attempted once, fails for good with the reason, and
    /// the deliverer goes on; before the fix the HTTP client stopped the process on it, at every start.
    @Test func aStoredWebhookWithABadPortFailsItsDeliveryInsteadOfStoppingTheProcess() async throws {
        // A database of its own: its rounds fan out and attempt every tenant's deliveries, other tests' included.
        try await withSwitchboard(isolated: true, configuring: { $0.webhookAllowPrivate = true }) { app in
            let admin = try await APIClient.make(app)
            let created = try await admin.send(.POST, "/api/webhooks", json: #"{"url": "http://127.0.0.1:9/h", "events": ["call.created"]}"#)
            let hookId = try #require(created.data["id"].uuid)
            try await app.store().sql.raw("UPDATE webhooks SET url = 'http://127.0.0.1:99999/h' WHERE id = \(bind: hookId)").run()
            _ = try await admin.createAgent(maxConcurrent: 1)
            #expect(try await admin.createCall(#"{"sector": "billing"}"#).status == .created)
            await app.webhookDeliverer.tick()  // fans out and attempts
            await app.webhookDeliverer.tick()  // and again, as after a restart: nothing is left to stop the process
            let rows = try await app.store().sql.raw("""
                SELECT status, attempts, last_error FROM webhook_deliveries WHERE webhook_id = \(bind: hookId)
                """).all()
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(try row.decode(column: "status", as: String.self) == "failed")
            #expect(try row.decode(column: "attempts", as: Int.self) == 1)
            #expect(try row.decode(column: "last_error", as: String.self).contains("port"))
        }
    }

    // MARK: 6, 7. Where a delivery connects

    @Test func specialRangesAreRefusedIncludingIPv4HiddenInIPv6() {
        func v6(_ hex: String) -> [UInt8] {
            var address = in6_addr()
            #expect(inet_pton(AF_INET6, hex, &address) == 1, "\(hex)")
            return withUnsafeBytes(of: &address) { Array($0) }
        }
        for (text, expected) in [("::127.0.0.1", WebhookTarget.Kind.loopback), ("::10.0.0.1", .private), ("::8.8.8.8", .reserved),
                                 ("64:ff9b::7f00:1", .loopback), ("64:ff9b::a00:1", .private), ("64:ff9b::808:808", .public),
                                 ("2002:7f00:1::", .loopback), ("2002:c0a8:101::1", .private), ("2002:808:808::1", .public),
                                 ("fec0::1", .private), ("2001:db8::1", .reserved), ("2001:0:4136:e378::1", .reserved)] {
            #expect(WebhookTarget.classify(v6(text)) == expected, "\(text)")
        }
        #expect(WebhookTarget.classify([192, 0, 0, 8]) == .reserved)
        #expect(WebhookTarget.classify([192, 0, 2, 1]) == .public, "only 192.0.0.0/24 of 192.0.x is special here")
        #expect(WebhookTarget.classify([198, 18, 0, 1]) == .reserved)
        #expect(WebhookTarget.classify([198, 19, 255, 255]) == .reserved)
        #expect(WebhookTarget.classify([198, 20, 0, 1]) == .public)
    }

    @Test(arguments: ["https://[::127.0.0.1]/h", "https://[64:ff9b::7f00:1]/h", "https://[2002:a00:1::]/h", "https://[fec0::1]/h",
                      "https://192.0.0.8/h", "https://198.18.0.1/h"])
    func webhookTargetsInSpecialRangesAreRefused(url: String) async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let response = try await admin.send(.POST, "/api/webhooks", json: #"{"url": "\#(url)", "events": ["*"]}"#)
            #expect(response.status == .badRequest, "\(url): \(response.text)")
        }
    }

    /// The address checked is the address connected to: the name here resolves only through the check's own
    /// resolver (the system's knows nothing of it), so a delivery that arrives was sent to the checked address,
    /// with the name still in `Host`.
    @Test func aDeliveryConnectsToTheAddressThatWasChecked() async throws {
        try await withSwitchboard(configuring: { $0.webhookAllowPrivate = true }) { app in
            let admin = try await APIClient.make(app)
            let receiver = try await HookReceiver.start()
            let name = "hooks-\(UUID().uuidString.prefix(8).lowercased()).invalid"
            let created = try await admin.send(.POST, "/api/webhooks", json: #"{"url": "http://127.0.0.1:\#(receiver.port)/h", "events": ["*"]}"#)
            let hookId = try #require(created.data["id"].uuid)
            try await app.store().sql.raw("UPDATE webhooks SET url = \(bind: "http://\(name):\(receiver.port)/h") WHERE id = \(bind: hookId)").run()
            let lookups = NIOLockedValueBox(0)
            let deliverer = WebhookDeliverer(
                store: app.store(), cipher: CredentialCipher(keyBytes: TestDatabase.encryptionKey),
                settings: .init(allowPrivate: true, retrySeconds: [10], disableAfter: 5, tick: .seconds(1)),
                eventLoopGroup: app.eventLoopGroup, metrics: app.metrics, logger: app.logger,
                resolve: { host in
                    lookups.withLockedValue { $0 += 1 }
                    return host == name ? [[127, 0, 0, 1]] : []
                })
            _ = try await admin.send(.POST, "/api/webhooks/\(hookId)/test")
            let deliveryId = try #require(try await app.store().sql.raw("SELECT id FROM webhook_deliveries WHERE webhook_id = \(bind: hookId)")
                .first()?.decode(column: "id", as: UUID.self))
            let delivery = try await deliverer.attemptNow(deliveryId)
            try await receiver.stop()
            #expect(delivery.status == .delivered, "\(delivery)")
            #expect(lookups.withLockedValue { $0 } == 1, "one look-up: the connection used its answer")
            #expect(receiver.hosts == ["\(name):\(receiver.port)"])
        }
    }

    @Test func aSlowLookUpNeverHoldsTheSharedExecutor() async throws {
        // Six look-ups held by a slow DNS server (here: a gate), more than the shared executor has threads (2 here):
        // other work still runs, because each look-up blocks a thread of its own. Had they run on the executor, the
        // task below could not start, and the timer (on a Dispatch queue, outside the executor) would answer first.
        let gate = DispatchSemaphore(value: 0)
        let held: @Sendable (String) -> [[UInt8]] = { _ in
            gate.wait()
            return [[127, 0, 0, 1]]
        }
        let lookups = (0..<6).map { _ in Task { await WebhookTarget.resolveOffExecutor("slow.test", timeout: .seconds(60), blocking: held) } }
        let ranMeanwhile = await withCheckedContinuation { (answer: CheckedContinuation<Bool, Never>) in
            let answered = NIOLockedValueBox(false)
            let finish: @Sendable (Bool) -> Void = { ran in
                if answered.withLockedValue({ done in defer { done = true }; return !done }) { answer.resume(returning: ran) }
            }
            Task.detached { finish(true) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 20) { finish(false) }
        }
        for _ in 0..<6 { gate.signal() }
        #expect(ranMeanwhile, "other work waited for the look-ups")
        for lookup in lookups { #expect(await lookup.value == [[127, 0, 0, 1]]) }
        // A look-up slower than its time limit counts as not resolving (its thread finishes on its own later).
        let late = DispatchSemaphore(value: 0)
        let timedOut = await WebhookTarget.resolveOffExecutor("slow.test", timeout: .milliseconds(200)) { _ in
            late.wait()
            return [[127, 0, 0, 1]]
        }
        late.signal()
        #expect(timedOut.isEmpty)
    }

    // MARK: 4. Fan-out

    @Test func subscriptionsPerTenantAreCappedByTheServer() async throws {
        try await withSwitchboard(configuring: { $0.webhookAllowPrivate = true; $0.maxWebhooksPerTenant = 3 }) { app in
            let admin = try await APIClient.make(app), other = try await APIClient.make(app)
            let body = #"{"url": "http://127.0.0.1:9/h", "events": ["*"]}"#
            for _ in 0..<3 { #expect(try await admin.send(.POST, "/api/webhooks", json: body).status == .created) }
            let refused = try await admin.send(.POST, "/api/webhooks", json: body)
            #expect(refused.status == .conflict)
            #expect(refused.error?.contains("(3)") == true)
            #expect(try await admin.send(.GET, "/api/webhooks").json["meta"]["total"] == .number(3), "nothing half-written")
            #expect(try await other.send(.POST, "/api/webhooks", json: body).status == .created, "another tenant's room is its own")
        }
    }

    @Test func oneTenantsFanOutIsBoundedPerRoundAndClaimsTakeTurns() async throws {
        // A database of its own: the rounds and claims of tests beside it would reach these tenants' rows.
        try await withSwitchboard(isolated: true, configuring: { $0.webhookAllowPrivate = true }) { app in
            let busy = try await APIClient.make(app), quiet = try await APIClient.make(app)
            for _ in 0..<5 {
                #expect(try await busy.send(.POST, "/api/webhooks", json: #"{"url": "http://127.0.0.1:9/h", "events": ["*"]}"#).status == .created)
            }
            #expect(try await quiet.send(.POST, "/api/webhooks", json: #"{"url": "http://127.0.0.1:9/h", "events": ["*"]}"#).status == .created)
            // Ten events for the busy tenant (fifty deliveries), one for the quiet one.
            for index in 0..<10 { _ = try await busy.send(.POST, "/api/teams", json: #"{"name": "T\#(index)", "sector": "s"}"#) }
            _ = try await quiet.send(.POST, "/api/teams", json: #"{"name": "Q", "sector": "s"}"#)
            let store = app.store()
            func deliveries(_ client: APIClient) async throws -> Int {
                try await store.sql.raw("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE client_id = \(bind: client.clientId)")
                    .first()!.decode(column: "n", as: Int.self)
            }
            // A round writes at most the limit's worth of rows for a tenant (whole events only), then moves on.
            try await store.write { db in try await WebhookDeliverer.fanOut(busy.clientId, on: db as! any SQLDatabase, limit: 12) }
            let firstRound = try await deliveries(busy)
            #expect(firstRound == 10, "two events of five deliveries fit in twelve rows, not \(firstRound)")
            try await store.write { db in try await WebhookDeliverer.fanOut(busy.clientId, on: db as! any SQLDatabase, limit: 1_000) }
            try await store.write { db in try await WebhookDeliverer.fanOut(quiet.clientId, on: db as! any SQLDatabase, limit: 1_000) }
            #expect(try await deliveries(busy) == 50)
            #expect(try await deliveries(quiet) == 1)
            // Claims take turns: the quiet tenant's one delivery is among the first four claimed, before most of
            // the busy tenant's fifty older ones.
            try await store.sql.raw("UPDATE webhook_deliveries SET next_attempt_at = \(bind: Date().addingTimeInterval(-60)) WHERE client_id = \(bind: busy.clientId)").run()
            let claimed = try await store.write { db in
                try await WebhookDeliverer.claimDue(on: db as! any SQLDatabase, limit: 4)
            }
            #expect(claimed.count == 4)
            #expect(claimed.contains { $0.clientId == quiet.clientId })
            #expect(claimed.filter { $0.clientId == busy.clientId }.count == 3)
        }
    }

    // MARK: 2, 5. The event stream

    @Test(arguments: [(fragments: 12, size: 1_024), (fragments: 40, size: 8)])
    func aMessageAssembledFromFragmentsIsBounded(fragments: Int, size: Int) async throws {
        try await withSwitchboard { app in
            let port = try await app.listenOnAnyPort()
            let socket = NIOLockedValueBox<WebSocket?>(nil)
            try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/api/events/stream", on: app.eventLoopGroup) { ws in
                socket.withLockedValue { $0 = ws }
                let piece = [UInt8](repeating: UInt8(ascii: "a"), count: size)
                ws.send(raw: piece, opcode: .text, fin: false)
                for index in 1..<fragments { ws.send(raw: piece, opcode: .continuation, fin: index == fragments - 1) }
            }.get()
            _ = try await holdsEventually(within: 30) { socket.withLockedValue { $0?.isClosed } == true }
            let ws = try #require(socket.withLockedValue { $0 })
            #expect(ws.isClosed)
            #expect(ws.closeCode == .messageTooLarge, "\(String(describing: ws.closeCode))")
        }
    }

    @Test func streamsAreCappedPerTokenAndPerTenant() async throws {
        try await withSwitchboard(configuring: { $0.maxStreamsPerToken = 2; $0.maxStreamsPerTenant = 3 }) { app in
            let port = try await app.listenOnAnyPort()
            let viewer = try await APIClient.make(app, role: .viewer, subject: "wallboard")
            var open: [StreamProbe] = []
            for _ in 0..<2 {
                let probe = try await StreamProbe.connect(port: port, bearer: viewer.token, on: app.eventLoopGroup)
                try await probe.wait { $0.contains { $0["type"] == .string("ready") } }
                open.append(probe)
            }
            // A third by header: refused before the upgrade.
            await #expect(throws: (any Error).self) {
                _ = try await StreamProbe.connect(port: port, bearer: viewer.token, on: app.eventLoopGroup)
            }
            // A third by first message: closed with 4029.
            let third = try await StreamProbe.connect(port: port, firstMessage: #"{"token": "\#(viewer.token)"}"#, on: app.eventLoopGroup)
            try await third.waitForClose()
            #expect(third.closeCode == .unknown(4029))
            // Another token of the tenant fits once more, then the tenant is full.
            let second = try await APIClient.make(app, clientId: viewer.clientId, role: .viewer, subject: "desk")
            let fits = try await StreamProbe.connect(port: port, bearer: second.token, on: app.eventLoopGroup)
            try await fits.wait { $0.contains { $0["type"] == .string("ready") } }
            let thirdToken = try await APIClient.make(app, clientId: viewer.clientId, role: .viewer, subject: "another")
            let full = try await StreamProbe.connect(port: port, firstMessage: #"{"token": "\#(thirdToken.token)"}"#, on: app.eventLoopGroup)
            try await full.waitForClose()
            #expect(full.closeCode == .unknown(4029))
            // Closing one frees its place, as soon as the server has seen the close (a loaded machine may take a
            // while: until then the upgrade is refused).
            await open[0].close()
            let again = try #require(try await eventually(within: 15, every: .milliseconds(100)) {
                try? await StreamProbe.connect(port: port, bearer: viewer.token, on: app.eventLoopGroup)
            })
            try await again.wait { $0.contains { $0["type"] == .string("ready") } }
            #expect(!again.isClosed)
            for probe in open + [fits, again] { await probe.close() }
        }
    }

    /// Forty sockets of one tenant are served by a handful of outbox reads, not forty per wake-up.
    @Test func aTenantsNewEventsAreReadOnceForAllItsStreams() async throws {
        try await withSwitchboard { app in
            let port = try await app.listenOnAnyPort()
            let admin = try await APIClient.make(app)
            var probes: [StreamProbe] = []
            for index in 0..<40 {
                let viewer = try await APIClient.make(app, clientId: admin.clientId, role: .viewer, subject: "screen\(index)")
                probes.append(try await StreamProbe.connect(port: port, bearer: viewer.token, on: app.eventLoopGroup))
            }
            for probe in probes { try await probe.wait { $0.contains { $0["type"] == .string("ready") } } }
            let before = try await outboxReads(app)
            _ = try await admin.createAgent(maxConcurrent: 1)
            #expect(try await admin.createCall(#"{"sector": "billing"}"#).status == .created)
            for probe in probes {
                let received = try await probe.wait { $0.contains { $0["type"] == .string("call.assigned") } }
                #expect(received.contains { $0["type"] == .string("call.assigned") })
            }
            let after = try await outboxReads(app)
            #expect(after.subscriber == before.subscriber, "no subscriber read the outbox itself")
            #expect(after.feed - before.feed <= 10, "reads by the feed: \(after.feed - before.feed)")
            for probe in probes { await probe.close() }
        }
    }

    // MARK: 3. CSV

    @Test func aCSVHeaderOfManyColumnsIsRefusedWhileItIsRead() async throws {
        try await withSwitchboard { app in
            let manager = try await APIClient.make(app).as(.manager)
            let teamId = try await manager.createTeam()
            let header = (0..<100_000).map { "c\($0)" }.joined(separator: ",")
            let response = try await manager.send(.POST, "/api/teams/\(teamId)/members/bulk", headers: [("Content-Type", "text/csv")],
                                                  body: header + "\n")
            #expect(response.status == .badRequest)
            #expect(response.error?.contains("more than 64 cells") == true, "\(response.error ?? "")")
            // Repeated names are still found, now with a set.
            #expect(throws: CSVTable.ParseError(message: "the header names 'email' twice")) {
                try CSVTable.parse("email,name,email\n", maxRows: 10)
            }
        }
    }

    // MARK: 8, 9. Text the database cannot hold

    @Test(arguments: ["/api/teams?sector=a%00b", "/api/agents?sector=%00", "/api/settings/audit?key=business%00x",
                      "/api/teams?sector=%01"])
    func aControlCharacterInAFilterIs400NamingIt(path: String) async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let response = try await admin.send(.GET, path)
            #expect(response.status == .badRequest, "\(path): \(response.text)")
            let name = path.contains("key=") ? "key" : "sector"
            #expect(response.error == "\(name) must not contain control characters")
        }
    }

    @Test func settingsRefuseControlCharactersAndUnknownZones() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            for body in [#"{"business.timezone": "UTC\u0000junk"}"#, #"{"business.timezone": "UTC\u0001"}"#,
                         #"{"business.timezone": "Mars/Olympus"}"#, #"{"notifications.email": ["a\u0007@example.com"]}"#] {
                let response = try await admin.send(.PUT, "/api/settings", json: body)
                #expect(response.status == .badRequest, "\(body): \(response.text)")
            }
            #expect(throws: AppError.self) { try SettingsSchema.validate(["business.timezone": .string("UTC\u{0}junk")]) }
            #expect(try SettingsSchema.validate(["business.timezone": .string("Europe/Paris")])["business.timezone"] == .string("Europe/Paris"))
            let read = try await admin.send(.GET, "/api/settings")
            #expect(read.data["business.timezone"] == .string("UTC"), "nothing was stored: \(read.text)")
            let named = try await admin.send(.POST, "/api/teams", json: #"{"name": "a\u0000b", "sector": "s"}"#)
            #expect(named.status == .badRequest)
            #expect(named.error?.contains("name") == true)
        }
    }

    // MARK: 10. Chunked bodies

    @Test func aChunkedBodyIsLimitedByTheBytesReceived() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let port = try await app.listenOnAnyPort()
            let client = HTTPClient(eventLoopGroupProvider: .shared(app.eventLoopGroup))
            func post(_ path: String, bytes: Int) async throws -> HTTPResponseStatus {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(admin.token)")
                request.headers.add(name: "Content-Type", value: "application/json")
                let chunk = ByteBuffer(repeating: UInt8(ascii: " "), count: 10_000)
                let chunks = bytes / 10_000
                // No declared length: sent chunked.
                request.body = .stream(AsyncStream<ByteBuffer> { continuation in
                    for _ in 0..<chunks { continuation.yield(chunk) }
                    continuation.finish()
                }, length: .unknown)
                // Generous: the whole suite runs in parallel on two cores, and a status is all this test reads.
                let response = try await client.execute(request, timeout: .seconds(60))
                return response.status
            }
            // The client is shut down whatever happened (a client left running is a fatal error at its deinit).
            let teams = await outcome { try await post("/api/teams", bytes: 500_000) }
            let bulk = await outcome { try await post("/api/teams/\(UUID())/members/bulk", bytes: 500_000) }
            try await client.shutdown()
            // A server that refuses while the body still streams may close the connection before the client reads
            // the 413: either way, nothing was created.
            if case .success(let status) = teams { #expect(status == .payloadTooLarge) }
            #expect(try await admin.send(.GET, "/api/teams").data.arrayValue?.isEmpty == true)
            #expect(try bulk.get() != .payloadTooLarge, "a bulk route takes up to a megabyte")
        }
    }
}

private func outboxReads(_ app: Application) async throws -> (feed: Int, subscriber: Int) {
    let text = try await app.testing().sendRequest(.GET, "/metrics").body.string
    func value(_ reader: String) -> Int {
        let prefix = #"switchboard_event_stream_outbox_reads_total{reader="\#(reader)"} "#
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
    }
    return (value("feed"), value("subscriber"))
}

/// A webhook receiver on loopback that answers 200 and remembers each request's `Host`.
final class HookReceiver: Sendable {
    let port: Int
    private let app: Application
    private let received = NIOLockedValueBox<[String]>([])

    private init(port: Int, app: Application) {
        self.port = port
        self.app = app
    }

    static func start() async throws -> HookReceiver {
        let app = try await Application.make(.testing)
        app.logger.logLevel = .error
        let receiver = HookReceiver(port: try freePort(), app: app)
        app.post("h") { req -> HTTPStatus in
            receiver.received.withLockedValue { $0.append(req.headers.first(name: .host) ?? "") }
            return .ok
        }
        try await app.server.start(address: .hostname("127.0.0.1", port: receiver.port))
        return receiver
    }

    var hosts: [String] { received.withLockedValue { $0 } }

    func stop() async throws {
        await app.server.shutdown()
        try await app.asyncShutdown()
    }
}
