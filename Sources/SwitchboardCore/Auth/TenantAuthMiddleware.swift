import JWT
import Vapor

/// Verifies the bearer token and puts the `Tenant` on the request; 401 otherwise.
///
/// The per-address budget for requests without a valid token (`SWITCHBOARD_UNAUTHENTICATED_RATE_LIMIT`) counts
/// failures, not newcomers: a request with no token, or with one that does not verify, spends from its client
/// address's bucket, and once the bucket is empty such requests are answered 429 (before any denial record). A token
/// that verifies (signature, algorithm, claims, lifetime: microseconds of HMAC) never spends, first time or not, so
/// a shift of agents signing in through one proxy is never throttled. Verified tokens are remembered as a speed-up.
/// A known token (nearly every request) is answered on the event loop; only a new one waits for its verification.
struct TenantAuthMiddleware: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        guard let token = request.headers.bearerToken else {
            do {
                try Self.spendUnauthenticatedAttempt(request)
            } catch {
                return request.eventLoop.makeFailedFuture(error)
            }
            return request.eventLoop.makeFailedFuture(AppError.unauthorized("missing bearer token"))
        }
        if let known = request.application.verifiedTokens.entry(for: token) {
            return Self.admit(known.tenant, request, next)
        }
        return request.eventLoop.makeFutureWithTask { try await Self.verify(token, for: request).tenant }
            .flatMap { Self.admit($0, request, next) }
    }

    private static func admit(_ tenant: Tenant, _ request: Request, _ next: any Responder) -> EventLoopFuture<Response> {
        request.auth.login(tenant)
        request.logger[metadataKey: "client_id"] = .string(tenant.clientId)
        return next.respond(to: request)
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
        if let agentId = claims.agentId {
            // Once per token (then remembered): the agent must be one of the tenant's.
            let found = try await TenantScope(clientId: claims.clientId).select(from: SectorAgent.schema, on: request.store.sql)
                .column("id").where("id", .equal, agentId).first()
            guard found != nil else { throw AppError.unauthorized("agent_id is not an agent of this tenant") }
        }
        return (Tenant(clientId: claims.clientId, userId: claims.sub.value, role: claims.role, agentId: claims.agentId),
                claims.exp.value)
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

/// Lets a request through only when the token's role is at least `minimum` (viewer < manager < admin), or, where
/// `agentsToo`, an agent token (which `AgentTokenFence` has already kept to its own agent).
struct RoleGuard: RequestCheck {
    let minimum: Role
    var agentsToo = false

    func check(_ request: Request) throws {
        let tenant = try request.tenant
        guard tenant.role >= minimum || (agentsToo && tenant.role == .agent) else {
            throw AppError.forbidden("this action needs the \(minimum.rawValue) role")
        }
    }
}

/// An agent's token reaches only its own desk: its agent (read, presence, the end of its wrap-up), its calls
/// (list, read, complete; another agent's call is then a 404, see `BatchWork.existing` and `CallService`), the
/// tenant's settings (read: its away reasons and wrap-up mode) and its own events on the stream. Anything else
/// is a 403.
struct AgentTokenFence: RequestCheck {
    func check(_ request: Request) throws {
        let tenant = try request.tenant
        guard tenant.role == .agent, let own = tenant.agentId else { return }
        let parts = request.url.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard Self.allows(request.method, parts, own: own) else {
            throw AppError.forbidden("an agent's token reaches only its own agent, calls and events")
        }
    }

    static func allows(_ method: HTTPMethod, _ parts: [String], own: UUID) -> Bool {
        let isOwn = parts.count > 2 && UUID(text: parts[2]) == own
        switch (method, parts.count) {
        case (.GET, 3) where parts[1] == "agents": return isOwn
        case (.PUT, 4) where parts[1] == "agents": return isOwn && parts[3] == "presence"
        case (.POST, 5) where parts[1] == "agents": return isOwn && parts[3] == "wrap-up" && parts[4] == "end"
        case (.GET, 2): return parts[1] == "calls" || parts[1] == "settings"
        case (.GET, 3): return parts[1] == "calls" && UUID(text: parts[2]) != nil
        case (.POST, 4): return parts[1] == "calls" && ["complete", "accept", "reject"].contains(parts[3])
        default: return false
        }
    }
}

/// The contract's read rule: viewers may only GET.
struct ReadOnlyForViewers: RequestCheck {
    func check(_ request: Request) throws {
        if request.method != .GET && request.method != .HEAD, try request.tenant.role == .viewer {
            throw AppError.forbidden("viewers may only read")
        }
    }
}

extension HTTPHeaders {
    /// The token of `Authorization: Bearer <token>`, by Vapor's rule (two words apart, the first `bearer` in any
    /// case), read from the header's bytes: Vapor's `bearerAuthorization` walks a whole token as characters, a
    /// visible share of a cheap request.
    var bearerToken: String? {
        guard let value = first(name: .authorization) else { return nil }
        let words = value.utf8.split(separator: UInt8(ascii: " "))
        guard words.count == 2, words[0].count == 6,
              zip(words[0], "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
        return String(Substring(words[1]))
    }
}
