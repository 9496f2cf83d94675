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
    static func record(_ entry: AuditEntry, on db: any Database) async throws {
        let row = AuditLogEntry()
        row.clientId = entry.clientId
        row.actor = entry.actor
        row.action = entry.action
        row.entityType = entry.entityType
        row.entityId = entry.entityId
        row.outcome = entry.outcome.rawValue
        try await row.create(on: db)
    }

    /// A successful write by `tenant`, recorded in the write's own transaction.
    static func record(
        _ action: String, _ entityType: String, id: UUID?, by tenant: Tenant, on db: any Database
    ) async throws {
        try await record(
            AuditEntry(
                clientId: tenant.clientId, actor: tenant.userId, action: action,
                entityType: entityType, entityId: id?.uuidString ?? "-", outcome: .ok
            ),
            on: db
        )
    }
}
