import Foundation
import JWT

/// viewer < manager < admin; `agent` is a person at its own desk, below them all: `AgentTokenFence` says what
/// it may do (its own agent, calls and events).
enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case agent, viewer, manager, admin

    private var rank: Int {
        switch self {
        case .agent: -1
        case .viewer: 0
        case .manager: 1
        case .admin: 2
        }
    }

    static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// The token's claims. `sub`, `client_id`, `role` and `exp` are required; `nbf` and `iat` are honoured when
/// present. The signature and `exp` are checked by jwt-kit, the rest by `check(now:maxLifetime:)`.
struct TenantClaims: JWTPayload, Equatable {
    static let maximumClientIdLength = 64
    static let maximumSubjectLength = 128
    /// How far apart the issuer's clock and ours may be.
    static let clockSkew: TimeInterval = 60

    var sub: SubjectClaim
    var clientId: String
    var role: Role
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim? = nil
    var iat: IssuedAtClaim? = nil
    /// The agent an `agent` token acts as (required with that role, refused with any other).
    var agentId: UUID? = nil

    enum CodingKeys: String, CodingKey {
        case sub
        case clientId = "client_id"
        case role
        case exp, nbf, iat
        case agentId = "agent_id"
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard Self.isValidSubject(sub.value) else {
            throw JWTError.claimVerificationFailure(failedClaim: sub, reason: "sub must be 1 to 128 of A-Z a-z 0-9 . _ - : @ + |")
        }
        guard Self.isValidClientId(clientId) else {
            throw JWTError.generic(identifier: "client_id", reason: "client_id must be 1 to 64 of A-Z a-z 0-9 . _ - : @")
        }
        guard (role == .agent) == (agentId != nil) else {
            throw JWTError.generic(identifier: "agent_id", reason: "agent_id goes with the agent role, and only with it")
        }
    }

    /// The time rules beyond `exp` (RFC 8725): not used before `nbf`, not issued in the future, and not valid for
    /// longer ahead than the server allows, so that a leaked long-lived token cannot outlive a policy.
    func check(now: Date, maxLifetime: TimeInterval) throws {
        if let nbf, nbf.value > now.addingTimeInterval(Self.clockSkew) {
            throw AppError.unauthorized("token not valid yet (nbf)")
        }
        if let iat, iat.value > now.addingTimeInterval(Self.clockSkew) {
            throw AppError.unauthorized("token issued in the future (iat)")
        }
        guard exp.value <= now.addingTimeInterval(maxLifetime + Self.clockSkew) else {
            throw AppError.unauthorized("token lifetime too long (exp is more than \(Int(maxLifetime)) s ahead)")
        }
    }

    /// Tenants are named by a short ASCII identifier, so that look-alikes (a trailing space, a NUL, another
    /// script's letters) can never be separate tenants.
    static func isValidClientId(_ clientId: String) -> Bool {
        isIdentifier(clientId, maxLength: maximumClientIdLength, extra: "._-:@")
    }

    static func isValidSubject(_ subject: String) -> Bool {
        isIdentifier(subject, maxLength: maximumSubjectLength, extra: "._-:@+|")
    }

    private static func isIdentifier(_ text: String, maxLength: Int, extra: String) -> Bool {
        let extraBytes = Set(extra.utf8)
        return !text.isEmpty && text.utf8.count <= maxLength && text.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || extraBytes.contains(byte)
        }
    }
}

/// The token's header, read before the signature is checked: only HS256 is accepted (RFC 8725 §3.1: the
/// algorithm is the server's choice, never the token's), and no `crit` extensions we do not understand.
enum TokenHeader {
    private struct Header: Decodable {
        let alg: String?
        let typ: String?
        let crit: [String]?
    }

    static func isAcceptable(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = base64URLDecoded(parts[0]),
              let header = try? JSONDecoder().decode(Header.self, from: data) else { return false }
        return header.alg == "HS256" && (header.typ == nil || header.typ?.uppercased() == "JWT") && header.crit == nil
    }

    private static func base64URLDecoded(_ text: Substring) -> Data? {
        guard text.utf8.count <= 1_024 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
