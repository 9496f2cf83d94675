import JWT
import Vapor

/// Verifies the bearer token and puts the `Tenant` on the request; 401 otherwise.
struct TenantAuthMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        guard let bearer = request.headers.bearerAuthorization else {
            throw AppError.unauthorized("missing bearer token")
        }
        let tokens = request.application.verifiedTokens
        let tenant: Tenant
        if let known = tokens.tenant(for: bearer.token) {
            tenant = known
        } else {
            let claims: TenantClaims
            do {
                claims = try await request.jwt.verify(bearer.token, as: TenantClaims.self)
            } catch let error as JWTError where error.errorType == .claimVerificationFailure && "\(error)".contains("exp") {
                throw AppError.unauthorized("token expired")
            } catch {
                throw AppError.unauthorized("invalid token")
            }
            tenant = Tenant(clientId: claims.clientId, userId: claims.sub.value, role: claims.role)
            tokens.remember(bearer.token, as: tenant, until: claims.exp.value)
        }
        request.auth.login(tenant)
        request.logger[metadataKey: "client_id"] = .string(tenant.clientId)
        return try await next.respond(to: request)
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
