import FluentKit
import Foundation

enum AuditOutcome: String, Sendable {
    case ok, denied
}

struct AuditEntry: Sendable {
    /// Tenant recorded for requests that never proved a tenant (no or bad token).
    static let unauthenticatedClient = "-"

    let clientId: String
    let actor: String
    let action: String
    let entityType: String
    let entityId: String
    let outcome: AuditOutcome
}

/// Who did what to which entity, for every write and every denied request.
enum AuditLog {
    /// The columns of a row, but `client_id` (added by `TenantScope`).
    static let columns = ["id", "actor", "action", "entity_type", "entity_id", "outcome", "created_at"]

    static func record(_ entry: AuditEntry, on db: any Database) async throws {
        try await TenantScope(clientId: entry.clientId).insert(into: AuditLogEntry.schema, [
            ("id", UUID.timeOrdered()), ("actor", entry.actor), ("action", entry.action), ("entity_type", entry.entityType),
            ("entity_id", entry.entityId), ("outcome", entry.outcome.rawValue), ("created_at", Date()),
        ], on: db)
    }

    /// A successful write by `tenant`, recorded in the write's own transaction.
    static func record(
        _ action: String, _ entityType: String, id: UUID?, by tenant: Tenant, on db: any Database
    ) async throws {
        try await record(
            AuditEntry(
                clientId: tenant.clientId, actor: tenant.userId, action: action,
                entityType: entityType, entityId: id?.text ?? "-", outcome: .ok
            ),
            on: db
        )
    }
}
