import Foundation
import JWT

enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case viewer, manager, admin

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .manager: 1
        case .admin: 2
        }
    }

    static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// The token's claims. All four are required; `exp` is checked on every request.
struct TenantClaims: JWTPayload, Equatable {
    static let maximumClientIdLength = 64

    var sub: SubjectClaim
    var clientId: String
    var role: Role
    var exp: ExpirationClaim

    enum CodingKeys: String, CodingKey {
        case sub
        case clientId = "client_id"
        case role
        case exp
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard !sub.value.isEmpty else { throw JWTError.claimVerificationFailure(failedClaim: sub, reason: "empty sub") }
        guard Self.isValidClientId(clientId) else {
            throw JWTError.generic(identifier: "client_id", reason: "client_id must be 1 to 64 characters")
        }
    }

    static func isValidClientId(_ clientId: String) -> Bool {
        !clientId.isEmpty && clientId.count <= maximumClientIdLength
    }
}
