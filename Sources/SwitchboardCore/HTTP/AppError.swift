import Vapor

/// An error meant for the client: a status and a message that is safe to show.
struct AppError: Error, Sendable {
    let status: HTTPResponseStatus
    let message: String
    /// Set when a lookup by id found nothing for the tenant; the client sees a plain 404, and the denial log
    /// records the attempt if the id turns out to be another tenant's.
    var lookupMiss: LookupMiss? = nil
    /// For 429: how long the client should wait, sent as `Retry-After`.
    var retryAfterSeconds: Int? = nil
    /// For a refused bulk request: what is wrong with which row.
    var rowErrors: [RowError]? = nil

    init(_ status: HTTPResponseStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    static func badRequest(_ message: String) -> AppError { AppError(.badRequest, message) }
    static func notFound(_ entity: String) -> AppError { AppError(.notFound, "\(entity) not found") }

    /// A 404 for an id looked up in `table`, marked so that the denial log can tell, off the request path, whether
    /// it was a probe for another tenant's id.
    static func notFound(_ entity: String, probing table: String, _ id: UUID) -> AppError {
        var error = AppError.notFound(entity)
        error.lookupMiss = LookupMiss(table: table, entity: entity, id: id)
        return error
    }
    static func conflict(_ message: String) -> AppError { AppError(.conflict, message) }
    static func forbidden(_ message: String) -> AppError { AppError(.forbidden, message) }
    static func unauthorized(_ message: String) -> AppError { AppError(.unauthorized, message) }
}

struct LookupMiss: Sendable {
    let table: String
    let entity: String
    let id: UUID
}
