import FluentKit
import Foundation
import SQLKit

/// The tenant's settings with defaults filled in, all-or-nothing updates and their audit trail.
struct SettingsService: Sendable {
    let store: Store
    let tenant: Tenant
    let book: LoadBook

    private var scope: TenantScope { tenant.scope }

    func all() async throws -> [String: JSONValue] {
        try await Self.effectiveSettings(scope: scope, on: store.db)
    }

    /// Validates every key first; then writes the changed ones and one audit row each, in one transaction.
    func update(_ changes: [String: JSONValue]) async throws -> [String: JSONValue] {
        let validated = try SettingsSchema.validate(changes)
        let scope = self.scope, tenant = self.tenant
        try await store.write { db in
            let stored = try await scope.query(Setting.self, on: db).filter(\.$key ~~ Array(validated.keys)).all()
            let storedByKey = Dictionary(uniqueKeysWithValues: stored.map { ($0.key, $0) })
            let now = Date()
            var changed: [String] = []
            for (key, value) in validated.sorted(by: { $0.key < $1.key }) {
                let oldText = storedByKey[key]?.value ?? SettingsSchema.byName[key]!.defaultValue.canonicalText
                let newText = value.canonicalText
                guard oldText != newText else { continue }
                let setting = storedByKey[key] ?? scope.owned(Setting())
                setting.key = key
                setting.value = newText
                setting.updatedBy = tenant.userId
                setting.updatedAt = now
                try await setting.save(on: db)
                let audit = scope.owned(SettingAudit())
                audit.key = key
                audit.oldValue = oldText
                audit.newValue = newText
                audit.changedBy = tenant.userId
                audit.changedAt = now
                try await audit.create(on: db)
                changed.append(key)
            }
            if !changed.isEmpty {
                try await EventOutbox.append([PendingEvent(.settingsUpdated, encoding: ["keys": changed])],
                                             clientId: tenant.clientId, on: db)
            }
        }
        // The pool TTL may have changed; the next route rebuilds pools under the new policy.
        await book.invalidate(tenant.clientId)
        return try await all()
    }

    func audit(key: String?, page: Page) async throws -> (entries: [SettingAuditDTO], total: Int) {
        var query = scope.query(SettingAudit.self, on: store.db)
        if let key { query = query.filter(\.$key == key) }
        let total = try await query.copy().count()
        let rows = try await query.sort(\.$changedAt, .descending).sort(\.$id)
            .range(page.offset..<(page.offset + page.limit)).all()
        return (try rows.map(SettingAuditDTO.init), total)
    }

    /// Read on every call (routing policy), so in SQL rather than through Fluent's reflective models.
    static func effectiveSettings(scope: TenantScope, on db: any Database) async throws -> [String: JSONValue] {
        try await effectiveSettings(scope: scope, on: db as! any SQLDatabase)
    }

    static func effectiveSettings(scope: TenantScope, on db: any SQLDatabase) async throws -> [String: JSONValue] {
        var settings = SettingsSchema.defaults
        for row in try await scope.select(from: Setting.schema, on: db).columns("key", "value").all() {
            let key: String = try row.decode("key")
            guard settings[key] != nil else { continue }
            settings[key] = try JSONValue(canonicalText: try row.decode("value"))
        }
        return settings
    }
}

extension RoutingPolicy {
    /// The tenant's routing policy as its settings say now; read per decision so a change applies to the next call.
    static func load(for clientId: String, on db: any Database) async throws -> RoutingPolicy {
        try await load(for: clientId, on: db as! any SQLDatabase)
    }

    static func load(for clientId: String, on db: any SQLDatabase) async throws -> RoutingPolicy {
        SettingsSchema.routingPolicy(from: try await SettingsService.effectiveSettings(scope: TenantScope(clientId: clientId), on: db))
    }
}

struct SettingAuditDTO: Encodable, Sendable {
    let id: UUID
    let key: String
    let oldValue: JSONValue
    let newValue: JSONValue
    let changedBy: String
    let changedAt: Date

    init(_ row: SettingAudit) throws {
        id = row.id!
        key = row.key
        oldValue = try JSONValue(canonicalText: row.oldValue)
        newValue = try JSONValue(canonicalText: row.newValue)
        changedBy = row.changedBy
        changedAt = row.changedAt
    }
}
