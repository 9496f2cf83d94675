import JWT
import Vapor

/// Verifies the bearer token and puts the `Tenant` on the request; 401 otherwise.
///
/// The per-address budget for requests without a valid token (`SWITCHBOARD_UNAUTHENTICATED_RATE_LIMIT`) counts
/// failures, not newcomers: a request with no token, or with one that does not verify, spends from its client
/// address's bucket, and once the bucket is empty such requests are answered 429 (before any denial record). A token
/// that verifies (signature, algorithm, claims, lifetime: microseconds of HMAC) never spends, first time or not, so
/// a shift of agents signing in through one proxy is never throttled. Verified tokens are remembered as a speed-up.
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

    /// The tenant a token proves, and until when. Known tokens cost a dictionary lookup; others are verified and
    /// remembered; a token that fails spends from the address's bucket (429 when it is empty). Shared with the
    /// event stream, whose browsers send the token as a message rather than a header.
    static func verify(_ token: String, for request: Request) async throws -> (tenant: Tenant, expiresAt: Date) {
        let tokens = request.application.verifiedTokens
        if let known = tokens.entry(for: token) { return known }
        do {
            let (tenant, expiresAt) = try await verifyAfresh(token, for: request)
            tokens.remember(token, as: tenant, until: expiresAt)
            return (tenant, expiresAt)
        } catch {
            try spendUnauthenticatedAttempt(request)
            throw error
        }
    }

    private static func verifyAfresh(_ token: String, for request: Request) async throws -> (tenant: Tenant, expiresAt: Date) {
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
        return (Tenant(clientId: claims.clientId, userId: claims.sub.value, role: claims.role), claims.exp.value)
    }

    static func spendUnauthenticatedAttempt(_ request: Request) throws {
        if let limiter = request.application.unauthenticatedLimiter,
           let seconds = limiter.retryAfter(for: request.clientAddress) {
            var error = AppError(.tooManyRequests, "too many requests without a valid token from this address; retry in \(seconds) s")
            error.retryAfterSeconds = seconds
            throw error
        }
    }

    /// A header-less WebSocket spent from the budget while it waited for its token; once the token verifies, the
    /// spend is given back, as if the token had come in a header.
    static func refundUnauthenticatedAttempt(_ request: Request) {
        request.application.unauthenticatedLimiter?.refund(request.clientAddress)
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
