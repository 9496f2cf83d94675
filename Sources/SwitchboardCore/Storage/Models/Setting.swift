import FluentKit
import Foundation

/// A tenant's value for one setting key, as canonical JSON text. Keys never set are absent (defaults apply).
final class Setting: Model, TenantOwned, @unchecked Sendable {
    static let schema = "settings"
    static let entityName = "setting"
    static var tenantKey: KeyPath<Setting, FieldProperty<Setting, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String
    @Field(key: "key") var key: String
    @Field(key: "value") var value: String
    @Field(key: "updated_by") var updatedBy: String
    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}

final class SettingAudit: Model, TenantOwned, @unchecked Sendable {
    static let schema = "settings_audit"
    static let entityName = "settings audit entry"
    static var tenantKey: KeyPath<SettingAudit, FieldProperty<SettingAudit, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String
    @Field(key: "key") var key: String
    @Field(key: "old_value") var oldValue: String
    @Field(key: "new_value") var newValue: String
    @Field(key: "changed_by") var changedBy: String
    @Field(key: "changed_at") var changedAt: Date

    init() {}
}
