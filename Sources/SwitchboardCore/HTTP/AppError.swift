import Vapor

/// An error meant for the client: a status and a message that is safe to show.
struct AppError: Error, Sendable {
    let status: HTTPResponseStatus
    let message: String
    /// Set when a lookup failed because the id belongs to another tenant; the client sees a plain 404,
    /// the audit log records the attempt.
    var crossTenantProbe: CrossTenantProbe? = nil
    /// For 429: how long the client should wait, sent as `Retry-After`.
    var retryAfterSeconds: Int? = nil

    init(_ status: HTTPResponseStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    static func badRequest(_ message: String) -> AppError { AppError(.badRequest, message) }
    static func notFound(_ entity: String) -> AppError { AppError(.notFound, "\(entity) not found") }
    static func conflict(_ message: String) -> AppError { AppError(.conflict, message) }
    static func forbidden(_ message: String) -> AppError { AppError(.forbidden, message) }
    static func unauthorized(_ message: String) -> AppError { AppError(.unauthorized, message) }
}

struct CrossTenantProbe: Sendable {
    let entity: String
    let id: String
}
