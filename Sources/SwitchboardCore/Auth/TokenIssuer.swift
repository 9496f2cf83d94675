import Foundation
import JWT
import Vapor

/// Signs tokens with the configured secret: for the `token` command, the development banner and tests.
enum TokenIssuer {
    static func issue(
        on app: Application, clientId: String, role: Role, subject: String = "cli", ttlSeconds: Int = 86_400,
        agentId: UUID? = nil
    ) async throws -> String {
        let claims = TenantClaims(
            sub: .init(value: subject),
            clientId: clientId,
            role: role,
            // Whole seconds: some JWT libraries reject fractional NumericDates.
            exp: .init(value: Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + Double(ttlSeconds)).rounded(.down))),
            agentId: agentId
        )
        return try await app.jwt.keys.sign(claims)
    }
}
