import FluentKit
import Foundation
import Vapor

/// Turns every thrown error into the contract's error envelope. Client mistakes keep their status;
/// database trouble becomes a 503 with a generic message; anything else is a logged 500 without details.
struct ErrorEnvelopeMiddleware: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).recover { error in answer(error, to: request) }
    }

    private func answer(_ error: any Error, to request: Request) -> Response {
        request.logger[metadataKey: "client_address"] = .string(request.clientAddress)
        var (status, message) = Self.classify(error, logger: request.logger)
        recordDenial(of: request, status: status, error: error)
        var headers = HTTPHeaders()
        if status == .notFound, request.route == nil,
           let allowed = request.application.routeMethods?.allowed(for: request.url.path), !allowed.isEmpty {
            status = .methodNotAllowed
            message = "method \(request.method.rawValue) not allowed here; allowed: \(allowed.joined(separator: ", "))"
            headers.replaceOrAdd(name: .allow, value: allowed.joined(separator: ", "))
        }
        let body = (try? WireJSON.encoder().encode(ErrorBody(error: message, rowErrors: (error as? AppError)?.rowErrors))) ?? Data()
        headers.contentType = .json
        if let retryAfter = (error as? AppError)?.retryAfterSeconds {
            headers.replaceOrAdd(name: .retryAfter, value: String(retryAfter))
        }
        if status == .unauthorized {
            headers.replaceOrAdd(name: .wwwAuthenticate, value: "Bearer")
        }
        return Response(status: status, headers: headers, body: .init(data: body))
    }

    static func classify(_ error: any Error, logger: Logger) -> (HTTPResponseStatus, String) {
        switch error {
        case let error as AppError:
            logger.debug("client error", metadata: ["status": "\(error.status.code)", "error": "\(error.message)"])
            return (error.status, error.message)
        case let error as DecodingError:
            return (.badRequest, describe(error))
        case let error as any DatabaseError where error.isConstraintFailure:
            logger.warning("constraint failure", metadata: ["error": "\(String(reflecting: error))"])
            return (.conflict, "the request conflicts with existing data")
        case let error as any DatabaseError:
            logger.error("database error", metadata: ["error": "\(String(reflecting: error))"])
            return (.serviceUnavailable, "the database is unavailable; try again shortly")
        case let error as any AbortError:
            return (error.status, abortMessage(error))
        default:
            if isDatabaseFailure(error) {
                logger.error("database failure", metadata: ["error": "\(String(reflecting: error))"])
                return (.serviceUnavailable, "the database is unavailable; try again shortly")
            }
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return (.internalServerError, "internal error")
        }
    }

    private static func abortMessage(_ error: any AbortError) -> String {
        switch error.status {
        case .notFound: return "not found"
        case .payloadTooLarge: return "request body too large (limit \(BodyLimit.describe(BodyLimit.standard)))"
        case .methodNotAllowed: return "method not allowed"
        case .unauthorized: return "missing or invalid bearer token"
        default: return error.reason
        }
    }

    /// Driver errors that do not conform to `DatabaseError` (pool timeouts, closed connections).
    private static func isDatabaseFailure(_ error: any Error) -> Bool {
        let typeName = String(describing: type(of: error))
        return ["PSQLError", "SQLiteError", "ConnectionPoolError", "ConnectionPoolTimeoutError", "PostgresError"]
            .contains { typeName.contains($0) }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            var keys = codingPath
            if let last { keys.append(last) }
            let rendered = keys.map { key -> String in
                if let index = key.intValue { return "[\(index)]" }
                return "." + WireJSON.snakeCase(key.stringValue)
            }.joined()
            let trimmed = rendered.hasPrefix(".") ? String(rendered.dropFirst()) : rendered
            return trimmed.isEmpty ? "body" : trimmed
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "field '\(path(context.codingPath, key))' is required"
        case .valueNotFound(_, let context):
            return "field '\(path(context.codingPath))' must not be null"
        case .typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' must be \(typeDescription(type))"
        case .dataCorrupted(let context):
            // Foundation reports numbers it cannot represent (1e30 for an Int) as unparseable JSON.
            if context.codingPath.isEmpty { return "malformed JSON body (or a number out of range)" }
            let description = context.debugDescription
            let detail = description.contains("UUID") ? "a valid UUID"
                : description.hasPrefix("a ") || description.hasPrefix("an ") ? description : "valid"
            return "field '\(path(context.codingPath))' must be \(detail)"
        @unknown default:
            return "invalid JSON body"
        }
    }

    private static func typeDescription(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.contains("String") || name.contains("UUID") { return "a string" }
        if name.contains("Int") { return "an integer" }
        if name.contains("Double") || name.contains("Float") { return "a number" }
        if name.contains("Bool") { return "a boolean" }
        if name.contains("Array") { return "an array" }
        if name.contains("Dictionary") { return "an object" }
        return "of type \(name)"
    }

    /// 401/403 and cross-tenant 404s are security events for the audit log; the denial log counts them and
    /// writes them later, in bulk, so recording costs the request nothing.
    private func recordDenial(of request: Request, status: HTTPResponseStatus, error: any Error) {
        let tenant = request.auth.get(Tenant.self)
        let log = request.application.denialLog
        if status == .notFound, let miss = (error as? AppError)?.lookupMiss, let tenant {
            log.recordMiss(.init(clientId: tenant.clientId, actor: tenant.userId, table: miss.table,
                                 entity: miss.entity, id: miss.id))
            return
        }
        guard status == .unauthorized || status == .forbidden else { return }
        log.record(.init(
            clientId: tenant?.clientId ?? AuditEntry.unauthenticatedClient,
            actor: tenant?.userId ?? "anonymous from \(request.clientAddress)",
            action: "denied.\(status.code)",
            entityType: "request",
            entityId: "\(request.method.rawValue) \(request.routePattern)"
        ))
    }
}

extension Request {
    /// The matched route as declared (`/api/teams/:id`), bounded whatever path was sent.
    var routePattern: String {
        guard let route else { return "(no route)" }
        return "/" + route.path.map(\.description).joined(separator: "/")
    }
}
