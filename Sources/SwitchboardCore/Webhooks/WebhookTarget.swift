import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Where a webhook may point. A customer's URL is fetched by our server, from inside our network: without these
/// checks it could reach our database, a cloud metadata service or an admin port (server-side request forgery).
/// Checked when a subscription is saved and again before every delivery, since DNS can change; a delivery then
/// connects to the very address that was checked (a name that answers a public address to the check and a
/// private one to the connection, DNS rebinding, gets nowhere).
enum WebhookTarget {
    struct Refusal: Error, Equatable {
        let message: String
        /// The URL itself is unusable (its form, scheme or port), as opposed to what its name resolves to now.
        var isPermanent = false
    }

    /// A checked target: the URL as given (its host name is kept for TLS and `Host`), and the address to connect to.
    struct Checked: Sendable, Equatable {
        let url: URL
        let host: String
        let port: Int
        /// Every address was checked; a delivery connects to the first.
        let address: [UInt8]

        var addressText: String { WebhookTarget.text(of: address) }
        /// A literal address needs no look-up, so nothing to pin.
        var hostIsAddress: Bool { host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." } }
    }

    /// How a host name becomes addresses. The system's resolver blocks its thread, so the check runs it on a thread
    /// of its own rather than on the shared executor's few (2 here) or an event loop: a slow DNS server then stalls
    /// only the look-ups, never request handling.
    typealias Resolver = @Sendable (String) async -> [[UInt8]]

    /// Parses `text` and checks its form; nothing is resolved. Throws a permanent refusal.
    static func parse(_ text: String) throws -> (url: URL, scheme: String, host: String, port: Int) {
        guard text.unicodeScalars.count <= 2_000, !text.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }),
              let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else { throw Refusal(message: "url must be an absolute https URL", isPermanent: true) }
        guard url.user == nil, url.password == nil else {
            throw Refusal(message: "url must not carry credentials", isPermanent: true)
        }
        guard scheme == "https" || scheme == "http" else { throw Refusal(message: "url must use https", isPermanent: true) }
        // The HTTP client keeps a port in 16 bits and stops the process on anything larger: refused here, always.
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65_535).contains(port) else {
            throw Refusal(message: "url's port must be between 1 and 65535", isPermanent: true)
        }
        return (url, scheme, host, port)
    }

    /// Parses, resolves and checks `text`; `allowPrivate` lets loopback and private addresses through (and plain
    /// http to loopback), for tests and development.
    static func check(_ text: String, allowPrivate: Bool, resolve: Resolver = WebhookTarget.resolveOffExecutor) async throws -> Checked {
        let (url, scheme, host, port) = try parse(text)
        let addresses = await resolve(host)
        guard !addresses.isEmpty else { throw Refusal(message: "url's host '\(host)' does not resolve") }
        if scheme == "http" {
            guard allowPrivate, addresses.allSatisfy({ classify($0) == .loopback }) else {
                throw Refusal(message: "url must use https (plain http only to loopback, with SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE=true)",
                              isPermanent: !allowPrivate)
            }
        }
        if !allowPrivate, let blocked = addresses.first(where: { classify($0) != .public }) {
            throw Refusal(message: "url's host '\(host)' resolves to a \(classify(blocked).rawValue) address, which webhooks may not reach")
        }
        return Checked(url: url, host: host, port: port, address: addresses[0])
    }

    enum Kind: String {
        case `public`, loopback, `private`, linkLocal = "link-local", metadata, reserved
    }

    /// An address as bytes (4 for IPv4, 16 for IPv6).
    static func classify(_ address: [UInt8]) -> Kind {
        if address.count == 16 { return classify(ipv6: address) }
        guard address.count == 4 else { return .reserved }
        let (a, b, c) = (address[0], address[1], address[2])
        if address == [169, 254, 169, 254] || address == [100, 100, 100, 200] { return .metadata }
        switch a {
        case 127: return .loopback
        case 10: return .private
        case 172 where (16...31).contains(b): return .private
        case 192 where b == 168: return .private
        case 169 where b == 254: return .linkLocal
        case 100 where (64...127).contains(b): return .private  // carrier-grade NAT
        case 192 where b == 0 && c == 0: return .reserved       // IETF protocol assignments (RFC 6890)
        case 198 where b == 18 || b == 19: return .reserved     // benchmarking (RFC 2544)
        case 0, 224...255: return .reserved
        default: return .public
        }
    }

    private static func classify(ipv6 address: [UInt8]) -> Kind {
        let embedded = { (from: Int) in classify(Array(address[from..<from + 4])) }
        if address[0..<10].allSatisfy({ $0 == 0 }) && address[10] == 0xFF && address[11] == 0xFF {
            return embedded(12)  // IPv4-mapped
        }
        if address[0..<12].allSatisfy({ $0 == 0 }) {
            // ::1, ::, and the deprecated IPv4-compatible ::a.b.c.d, which some stacks still route as IPv4.
            if address[12..<15].allSatisfy({ $0 == 0 }) { return address[15] == 1 ? .loopback : .reserved }
            let inner = embedded(12)
            return inner == .public ? .reserved : inner
        }
        // NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48): the last four bytes are the IPv4 reached.
        if address[0..<4] == [0x00, 0x64, 0xFF, 0x9B] {
            if address[4..<12].allSatisfy({ $0 == 0 }) { return embedded(12) }
            if address[4..<6] == [0x00, 0x01] { return .private }
        }
        // 6to4 (2002::/16): bytes 2–5 are the IPv4 it tunnels to.
        if address[0] == 0x20 && address[1] == 0x02 { return embedded(2) }
        // Teredo (2001::/32) hides its IPv4 obfuscated; documentation (2001:db8::/32) is never a real host.
        if address[0..<4] == [0x20, 0x01, 0x00, 0x00] || address[0..<4] == [0x20, 0x01, 0x0D, 0xB8] { return .reserved }
        if address[0] & 0xFE == 0xFC {
            // fd00:ec2::254 is the AWS metadata service's IPv6 address.
            return address[0..<4] == [0xFD, 0x00, 0x0E, 0xC2] ? .metadata : .private
        }
        if address[0] == 0xFE && address[1] & 0xC0 == 0x80 { return .linkLocal }
        if address[0] == 0xFE && address[1] & 0xC0 == 0xC0 { return .private }  // site-local (fec0::/10, deprecated)
        if address[0] == 0xFF { return .reserved }  // multicast
        return .public
    }

    static func text(of address: [UInt8]) -> String {
        var bytes = address
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = address.count == 4 ? AF_INET : AF_INET6
        guard inet_ntop(family, &bytes, &buffer, socklen_t(buffer.count)) != nil else { return "" }
        return String(cString: buffer)
    }

    // MARK: Resolving

    /// At most this many look-ups wait on DNS at once; more are refused (and retried later) rather than queued.
    static let maxConcurrentLookups = 16
    /// A look-up that takes longer counts as not resolving; its thread finishes on its own.
    static let lookupTimeout: Duration = .seconds(5)
    private static let lookupsInFlight = NIOLockedValueBox(0)

    /// `blocking` (the system's resolver) on a thread of its own, bounded in number and in time.
    static func resolveOffExecutor(_ host: String) async -> [[UInt8]] {
        await resolveOffExecutor(host, timeout: lookupTimeout, blocking: resolve)
    }

    static func resolveOffExecutor(_ host: String, timeout: Duration,
                                   blocking: @escaping @Sendable (String) -> [[UInt8]]) async -> [[UInt8]] {
        guard lookupsInFlight.withLockedValue({ count in
            guard count < maxConcurrentLookups else { return false }
            count += 1
            return true
        }) else { return [] }
        let answer = LookupAnswer()
        let thread = Thread {
            answer.deliver(blocking(host))
            lookupsInFlight.withLockedValue { $0 -= 1 }
        }
        thread.stackSize = 256 * 1024
        return await withTaskGroup(of: [[UInt8]].self) { group in
            group.addTask { await answer.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                answer.deliver([])
                return []
            }
            thread.start()
            let first = await group.next() ?? []
            group.cancelAll()
            return first
        }
    }

    /// The one answer of a look-up, to whoever waits for it (the timeout may answer first).
    private final class LookupAnswer: Sendable {
        private let state = NIOLockedValueBox<(answer: [[UInt8]]?, waiter: CheckedContinuation<[[UInt8]], Never>?)>((nil, nil))

        func deliver(_ addresses: [[UInt8]]) {
            let waiter: CheckedContinuation<[[UInt8]], Never>? = state.withLockedValue { state in
                guard state.answer == nil else { return nil }
                state.answer = addresses
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: addresses)
        }

        func wait() async -> [[UInt8]] {
            await withCheckedContinuation { continuation in
                let ready: [[UInt8]]? = state.withLockedValue { state in
                    if let answer = state.answer { return answer }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    /// Every address the host resolves to (a literal address resolves to itself). Blocks its thread.
    static func resolve(_ host: String) -> [[UInt8]] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard !name.utf8.contains(0) else { return [] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let socketAddress = entry.pointee.ai_addr {
                switch Int32(entry.pointee.ai_family) {
                case AF_INET:
                    socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { ipv4 in
                        var raw = ipv4.pointee.sin_addr
                        addresses.append(withUnsafeBytes(of: &raw) { Array($0) })
                    }
                case AF_INET6:
                    socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { ipv6 in
                        var raw = ipv6.pointee.sin6_addr
                        addresses.append(withUnsafeBytes(of: &raw) { Array($0) })
                    }
                default: break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}
