import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Vapor
#if canImport(Glibc)
import Glibc
#endif

/// The proxies whose `X-Forwarded-For` is believed (`SWITCHBOARD_TRUSTED_PROXIES`: addresses and CIDR ranges,
/// comma-separated). Behind a load balancer every connection comes from the balancer, so without this the
/// unauthenticated budget, the audit log's denials and the logs would see one client.
///
/// The client is the right-most hop of `X-Forwarded-For` that is not a trusted proxy: each proxy appends the
/// address it received the connection from, so everything to the left of the first untrusted hop was written by
/// someone we do not trust, and a client cannot choose its own address. A peer that is not trusted is the client,
/// whatever it sends. `Forwarded` (RFC 7239) is ignored: one header, one rule.
public struct TrustedProxies: Sendable, Equatable {
    struct Range: Sendable, Equatable {
        let bytes: [UInt8]
        let prefixLength: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefixLength
            for index in bytes.indices where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                guard address[index] & mask == bytes[index] & mask else { return false }
                remaining -= bits
            }
            return true
        }
    }

    let ranges: [Range]

    public static let none = TrustedProxies(ranges: [])

    init(ranges: [Range]) { self.ranges = ranges }

    /// Parses the variable's value; a malformed entry is named in the error.
    public static func parse(_ text: String, variable: String = "SWITCHBOARD_TRUSTED_PROXIES") throws -> TrustedProxies {
        var ranges: [Range] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let bytes = address(String(parts[0])) else {
                throw ConfigurationError("\(variable) must list IP addresses or CIDR ranges (such as 10.0.0.0/8, 192.168.1.5, fd00::/8); '\(entry)' is neither")
            }
            let bits = bytes.count * 8
            let prefix = parts.count == 2 ? Int(parts[1]) : bits
            guard let prefix, (0...bits).contains(prefix) else {
                throw ConfigurationError("\(variable): the prefix length of '\(entry)' must be a whole number from 0 to \(bits)")
            }
            ranges.append(Range(bytes: bytes, prefixLength: prefix))
        }
        return TrustedProxies(ranges: ranges)
    }

    var isEmpty: Bool { ranges.isEmpty }

    func trusts(_ address: [UInt8]) -> Bool {
        ranges.contains { $0.contains(address) }
    }

    /// What the client address is, given the peer's and the `X-Forwarded-For` values in order of appearance.
    enum Resolution: Equatable {
        case peer(String)
        case forwarded(String)
        /// The peer is trusted but the header cannot be read: the peer it is.
        case malformedHeader(peer: String)

        var address: String {
            switch self {
            case .peer(let address), .forwarded(let address), .malformedHeader(peer: let address): address
            }
        }
    }

    func resolve(peer: String, forwardedFor values: [String]) -> Resolution {
        guard !ranges.isEmpty, let peerBytes = Self.address(peer), trusts(peerBytes), !values.isEmpty else { return .peer(peer) }
        let hops = values.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard hops.count <= 64 else { return .malformedHeader(peer: peer) }
        var parsed: [(text: String, bytes: [UInt8])] = []
        for hop in hops {
            guard let (text, bytes) = Self.hopAddress(hop) else { return .malformedHeader(peer: peer) }
            parsed.append((text, bytes))
        }
        for hop in parsed.reversed() where !trusts(hop.bytes) { return .forwarded(hop.text) }
        // Every hop is one of ours: the first is where the request came from.
        return parsed.first.map { .forwarded($0.text) } ?? .peer(peer)
    }

    /// A hop as proxies write it: an address, possibly with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`).
    static func hopAddress(_ hop: String) -> (String, [UInt8])? {
        var text = hop
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            text = String(text[text.index(after: text.startIndex)..<close])
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            text = String(text[..<colon])
        }
        guard let bytes = address(text) else { return nil }
        return (WebhookTarget.text(of: bytes), bytes)
    }

    /// An IPv4 or IPv6 address in its usual text form, as bytes; nil for anything else.
    static func address(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 45, !text.utf8.contains(0) else { return nil }
        var ipv4 = in_addr()
        if inet_pton(AF_INET, text, &ipv4) == 1 { return withUnsafeBytes(of: &ipv4) { Array($0) } }
        var ipv6 = in6_addr()
        if inet_pton(AF_INET6, text, &ipv6) == 1 {
            let bytes = withUnsafeBytes(of: &ipv6) { Array($0) }
            // An IPv4-mapped address is that IPv4 address (a dual-stack listener reports IPv4 peers so).
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12..<16]) }
            return bytes
        }
        return nil
    }
}

/// Logs a malformed `X-Forwarded-For` from a trusted proxy at most once a minute: a misconfigured proxy sends it
/// on every request.
final class ForwardedForWarnings: Sendable {
    private let lastWarning = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    func report(_ header: String, peer: String, logger: Logger, now: ContinuousClock.Instant = .now) -> Bool {
        let due = lastWarning.withLockedValue { last in
            if let last, now - last < .seconds(60) { return false }
            last = now
            return true
        }
        guard due else { return false }
        logger.warning("a trusted proxy sent an X-Forwarded-For that cannot be read; using the proxy's address",
                       metadata: ["peer": "\(peer)", "x_forwarded_for": "\(header.prefix(200))"])
        return true
    }
}

extension Request {
    private struct ClientAddressKey: StorageKey { typealias Value = String }

    /// The client's IP address as the unauthenticated budget, the audit log and the logs know it: the peer's, or,
    /// when the peer is a trusted proxy, the one `X-Forwarded-For` names (see `TrustedProxies`).
    var clientAddress: String {
        if let known = storage[ClientAddressKey.self] { return known }
        let peer = remoteAddress?.ipAddress ?? "unknown address"
        let proxies = application.trustedProxies
        guard !proxies.isEmpty else { return peer }
        let values = headers[.xForwardedFor]
        let resolution = proxies.resolve(peer: peer, forwardedFor: values)
        if case .malformedHeader = resolution {
            _ = application.forwardedForWarnings.report(values.joined(separator: ", "), peer: peer, logger: logger)
        }
        storage[ClientAddressKey.self] = resolution.address
        return resolution.address
    }
}

extension Application {
    private struct TrustedProxiesKey: StorageKey { typealias Value = TrustedProxies }
    private struct WarningsKey: StorageKey { typealias Value = ForwardedForWarnings }

    /// Set by `configure` from `SWITCHBOARD_TRUSTED_PROXIES`, before requests arrive.
    var trustedProxies: TrustedProxies {
        get { storage[TrustedProxiesKey.self] ?? .none }
        set { storage[TrustedProxiesKey.self] = newValue }
    }

    /// Made by `configure`, before requests arrive.
    var forwardedForWarnings: ForwardedForWarnings {
        get { storage[WarningsKey.self]! }
        set { storage[WarningsKey.self] = newValue }
    }
}
