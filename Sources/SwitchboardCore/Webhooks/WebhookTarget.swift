import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a webhook may point. A customer's URL is fetched by our server, from inside our network: without these
/// checks it could reach our database, a cloud metadata service or an admin port (server-side request forgery).
/// Checked when a subscription is saved and again before every delivery, since DNS can change.
enum WebhookTarget {
    struct Refusal: Error, Equatable {
        let message: String
    }

    /// Parses and checks `text`; `allowPrivate` lets loopback and private addresses through (and plain http to
    /// loopback), for tests and development.
    static func check(_ text: String, allowPrivate: Bool) throws -> URL {
        guard text.unicodeScalars.count <= 2_000, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              let host = url.host, !host.isEmpty
        else { throw Refusal(message: "url must be an absolute https URL") }
        guard url.user == nil, url.password == nil else { throw Refusal(message: "url must not carry credentials") }
        let addresses = resolve(host)
        guard !addresses.isEmpty else { throw Refusal(message: "url's host '\(host)' does not resolve") }
        switch scheme {
        case "https": break
        case "http":
            guard allowPrivate, addresses.allSatisfy({ classify($0) == .loopback }) else {
                throw Refusal(message: "url must use https (plain http only to loopback, with SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE=true)")
            }
        default:
            throw Refusal(message: "url must use https")
        }
        if !allowPrivate, let blocked = addresses.first(where: { classify($0) != .public }) {
            throw Refusal(message: "url's host '\(host)' resolves to a \(classify(blocked).rawValue) address, which webhooks may not reach")
        }
        return url
    }

    enum Kind: String {
        case `public`, loopback, `private`, linkLocal = "link-local", metadata, reserved
    }

    /// An address as bytes (4 for IPv4, 16 for IPv6).
    static func classify(_ address: [UInt8]) -> Kind {
        if address.count == 16 {
            if address[0..<10].allSatisfy({ $0 == 0 }) && address[10] == 0xFF && address[11] == 0xFF {
                return classify(Array(address[12..<16]))  // IPv4-mapped
            }
            if address[0..<15].allSatisfy({ $0 == 0 }) { return address[15] == 1 ? .loopback : .reserved }
            if address[0] & 0xFE == 0xFC {
                // fd00:ec2::254 is the AWS metadata service's IPv6 address.
                return address[0..<4] == [0xFD, 0x00, 0x0E, 0xC2] ? .metadata : .private
            }
            if address[0] == 0xFE && address[1] & 0xC0 == 0x80 { return .linkLocal }
            if address[0] == 0xFF { return .reserved }  // multicast
            return .public
        }
        guard address.count == 4 else { return .reserved }
        let (a, b) = (address[0], address[1])
        if address == [169, 254, 169, 254] || address == [100, 100, 100, 200] { return .metadata }
        switch a {
        case 127: return .loopback
        case 10: return .private
        case 172 where (16...31).contains(b): return .private
        case 192 where b == 168: return .private
        case 169 where b == 254: return .linkLocal
        case 100 where (64...127).contains(b): return .private  // carrier-grade NAT
        case 0, 224...255: return .reserved
        default: return .public
        }
    }

    /// Every address the host resolves to (a literal address resolves to itself).
    static func resolve(_ host: String) -> [[UInt8]] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
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
