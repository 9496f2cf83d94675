import Vapor

/// Who is calling and for which company. Every query runs in `scope`.
struct Tenant: Authenticatable, Sendable {
    let clientId: String
    let userId: String
    let role: Role
    /// An `agent` token's own agent: it sees only this agent's calls and events.
    var agentId: UUID? = nil

    var scope: TenantScope { TenantScope(clientId: clientId) }
}

extension Request {
    /// The authenticated tenant; routes behind `TenantAuthMiddleware` always have one.
    var tenant: Tenant {
        get throws {
            guard let tenant = auth.get(Tenant.self) else { throw AppError.unauthorized("missing bearer token") }
            return tenant
        }
    }
}
