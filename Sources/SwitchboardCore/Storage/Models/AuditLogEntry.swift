import FluentKit
import Foundation

final class AuditLogEntry: Model, TenantOwned, @unchecked Sendable {
    static let schema = "audit_log"
    static let entityName = "audit entry"
    static var tenantKey: KeyPath<AuditLogEntry, FieldProperty<AuditLogEntry, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String
    @Field(key: "actor") var actor: String
    @Field(key: "action") var action: String
    @Field(key: "entity_type") var entityType: String
    @Field(key: "entity_id") var entityId: String
    @Field(key: "outcome") var outcome: String
    /// How many denied requests this row stands for (1 for everything else).
    @Field(key: "occurrences") var occurrences: Int
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}
}
