import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import Vapor
import VaporTesting
@testable import SwitchboardCore

/// Behind a load balancer (issue 29): the unauthenticated budget counts failures, not newcomers, and the client
/// address comes from `X-Forwarded-For` only when the peer is a trusted proxy.
@Suite struct ProxyTests {
    // MARK: Counting failures

    @Test func fiveHundredNewValidTokensFromOneAddressAreNeverThrottled() async throws {
        try await withSwitchboard { app in
            let owner = try await APIClient.make(app)
            var statuses: [UInt: Int] = [:]
            for index in 0..<500 {
                let agent = try await APIClient.make(app, clientId: owner.clientId, role: .viewer, subject: "agent\(index)")
                statuses[try await agent.send(.GET, "/api/teams").status.code, default: 0] += 1
            }
            #expect(statuses == [200: 500], "\(statuses)")
        }
    }

    /// A bucket that barely refills, so that counts do not depend on how fast the machine is.
    static let slowBudget = RateLimit(requestsPerSecond: 0.001, burst: 8)

    @Test func badTokensSpendTheBudgetAndAValidTokenStillPasses() async throws {
        try await withSwitchboard(configuring: { $0.unauthenticatedRateLimit = Self.slowBudget }) { app in
            let owner = try await APIClient.make(app)
            var statuses: [UInt: Int] = [:]
            for index in 0..<18 {
                let forged = APIClient(app: app, clientId: owner.clientId, role: .admin, token: "eyJhbGciOiJIUzI1NiJ9.e30.bad\(index)")
                statuses[try await forged.send(.GET, "/api/teams").status.code, default: 0] += 1
            }
            #expect(statuses == [401: 8, 429: 10], "\(statuses)")
            // The bucket is empty, yet a token that verifies goes through, new or known.
            #expect(try await owner.send(.GET, "/api/teams").status == .ok)
            let newcomer = try await APIClient.make(app, clientId: owner.clientId, role: .viewer, subject: "late")
            #expect(try await newcomer.send(.GET, "/api/teams").status == .ok)
        }
    }

    // MARK: Trusted proxies

    @Test func theClientIsTheRightMostUntrustedHop() throws {
        let proxies = try TrustedProxies.parse("10.0.0.0/8, 192.168.1.5, fd00::/8")
        #expect(proxies.resolve(peer: "10.1.2.3", forwardedFor: ["203.0.113.9"]) == .forwarded("203.0.113.9"))
        // A client's own X-Forwarded-For is to the left of what our proxy appended: never believed.
        #expect(proxies.resolve(peer: "10.1.2.3", forwardedFor: ["1.1.1.1, 203.0.113.9"]) == .forwarded("203.0.113.9"))
        #expect(proxies.resolve(peer: "10.1.2.3", forwardedFor: ["1.1.1.1", "203.0.113.9, 192.168.1.5"]) == .forwarded("203.0.113.9"))
        #expect(proxies.resolve(peer: "10.1.2.3", forwardedFor: ["203.0.113.9:5555"]) == .forwarded("203.0.113.9"))
        #expect(proxies.resolve(peer: "10.1.2.3", forwardedFor: ["[2001:db8::7]:443"]) == .forwarded("2001:db8::7"))
        #expect(proxies.resolve(peer: "fd12::1", forwardedFor: ["198.51.100.4"]) == .forwarded("198.51.100.4"))
        #expect(proxies.resolve(peer: "::ffff:10.0.0.9", forwardedFor: ["198.51.100.4"]) == .forwarded("198.51.100.4"))
        #expect(proxies.resolve(peer: "10.1.2.3", forwardedFor: ["10.9.9.9"]) == .forwarded("10.9.9.9"), "all ours: the first hop")
        // Not from a trusted proxy: the header is ignored.
        #expect(proxies.resolve(peer: "203.0.113.50", forwardedFor: ["1.2.3.4"]) == .peer("203.0.113.50"))
        #expect(proxies.resolve(peer: "10.1.2.3", forwardedFor: []) == .peer("10.1.2.3"))
        // Unreadable: the proxy's own address.
        for bad in ["not-an-ip", "1.2.3.4, ", "999.1.1.1", "1.2.3.4\u{0}"] {
            #expect(proxies.resolve(peer: "10.1.2.3", forwardedFor: [bad]) == .malformedHeader(peer: "10.1.2.3"), "\(bad)")
        }
        #expect(TrustedProxies.none.resolve(peer: "10.1.2.3", forwardedFor: ["1.2.3.4"]) == .peer("10.1.2.3"))
    }

    @Test(arguments: ["10.0.0.0/33", "bogus", "10.0.0.1/x", "fd00::/129", "10.0.0.0/8/8"])
    func aMalformedProxyListStopsStartUpNamingTheVariable(value: String) {
        #expect {
            _ = try SwitchboardConfiguration.fromEnvironment(["SWITCHBOARD_TRUSTED_PROXIES": value, "SWITCHBOARD_SQLITE_PATH": "/tmp/sb-proxy-\(UUID()).sqlite"])
        } throws: { error in
            (error as? ConfigurationError)?.description.contains("SWITCHBOARD_TRUSTED_PROXIES") == true
        }
    }

    @Test func warningsOfAMalformedHeaderComeAtMostOnceAMinute() {
        let warnings = ForwardedForWarnings()
        let logger = Logger(label: "test")
        let start = ContinuousClock.now
        #expect(warnings.report("x", peer: "10.0.0.1", logger: logger, now: start))
        #expect(!warnings.report("x", peer: "10.0.0.1", logger: logger, now: start + .seconds(59)))
        #expect(warnings.report("x", peer: "10.0.0.1", logger: logger, now: start + .seconds(61)))
    }

    /// Through a real socket from 127.0.0.1: with loopback trusted, two clients behind it have budgets of their
    /// own; without, the header changes nothing.
    @Test(arguments: [true, false])
    func eachClientBehindATrustedProxyHasItsOwnBudget(trusted: Bool) async throws {
        try await withSwitchboard(configuring: { config in
            config.unauthenticatedRateLimit = Self.slowBudget
            if trusted { config.trustedProxies = try! TrustedProxies.parse("127.0.0.1") }
        }) { app in
            let port = try await app.listenOnAnyPort()
            let client = HTTPClient(eventLoopGroupProvider: .shared(app.eventLoopGroup))
            func badRequest(from address: String) async throws -> HTTPResponseStatus {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/teams")
                request.headers.add(name: "Authorization", value: "Bearer not.a.token")
                request.headers.add(name: "X-Forwarded-For", value: address)
                // Generous: a parallel test's export can keep a debug build's event loop busy for seconds.
                return try await client.execute(request, timeout: .seconds(30)).status
            }
            // The client is shut down whatever happened (a client left running is a fatal error at its deinit).
            let answers = await outcome { () async throws -> ([UInt: Int], HTTPResponseStatus) in
                var flooder: [UInt: Int] = [:]
                for _ in 0..<12 { flooder[try await badRequest(from: "203.0.113.5").code, default: 0] += 1 }
                return (flooder, try await badRequest(from: "203.0.113.6"))
            }
            try await client.shutdown()
            let (flooder, bystander) = try answers.get()
            #expect(flooder == [401: 8, 429: 4], "\(flooder)")
            #expect(bystander == (trusted ? .unauthorized : .tooManyRequests))
        }
    }
}
