import JWT
import Vapor

/// Verifies the bearer token and puts the `Tenant` on the request; 401 otherwise.
///
/// A request whose token is not already known to be valid first spends a token from its client address's
/// bucket: without one it is refused with 429 before it costs a signature check or a denial record. Valid
/// tokens are verified once and then known, so clients with tokens never meet this limit.
struct TenantAuthMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        guard let bearer = request.headers.bearerAuthorization else {
            try Self.spendUnauthenticatedAttempt(request)
            throw AppError.unauthorized("missing bearer token")
        }
        let tenant = try await Self.verify(bearer.token, for: request).tenant
        request.auth.login(tenant)
        request.logger[metadataKey: "client_id"] = .string(tenant.clientId)
        return try await next.respond(to: request)
    }

    /// The tenant a token proves, and until when. Known tokens cost a dictionary lookup; others spend from the
    /// address's bucket first, then are verified and remembered. Shared with the event stream, whose browsers
    /// send the token as a message rather than a header.
    static func verify(_ token: String, for request: Request) async throws -> (tenant: Tenant, expiresAt: Date) {
        let tokens = request.application.verifiedTokens
        if let known = tokens.entry(for: token) { return known }
        try spendUnauthenticatedAttempt(request)
        guard TokenHeader.isAcceptable(token) else { throw AppError.unauthorized("invalid token") }
        let claims: TenantClaims
        do {
            claims = try await request.jwt.verify(token, as: TenantClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure && "\(error)".contains("exp") {
            throw AppError.unauthorized("token expired")
        } catch {
            throw AppError.unauthorized("invalid token")
        }
        try claims.check(now: Date(), maxLifetime: TimeInterval(request.application.switchboardConfiguration.maxTokenLifetimeSeconds))
        let tenant = Tenant(clientId: claims.clientId, userId: claims.sub.value, role: claims.role)
        tokens.remember(token, as: tenant, until: claims.exp.value)
        return (tenant, claims.exp.value)
    }

    static func spendUnauthenticatedAttempt(_ request: Request) throws {
        if let limiter = request.application.unauthenticatedLimiter,
           let seconds = limiter.retryAfter(for: request.clientAddress) {
            var error = AppError(.tooManyRequests, "too many requests without a valid token from this address; retry in \(seconds) s")
            error.retryAfterSeconds = seconds
            throw error
        }
    }
}

/// Lets a request through only when the token's role is at least `minimum` (viewer < manager < admin).
struct RoleGuard: AsyncMiddleware {
    let minimum: Role

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let tenant = try request.tenant
        guard tenant.role >= minimum else {
            throw AppError.forbidden("this action needs the \(minimum.rawValue) role")
        }
        return try await next.respond(to: request)
    }
}

/// The contract's read rule: viewers may only GET.
struct ReadOnlyForViewers: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if request.method != .GET && request.method != .HEAD, try request.tenant.role == .viewer {
            throw AppError.forbidden("viewers may only read")
        }
        return try await next.respond(to: request)
    }
}
