import FluentKit
import Foundation

enum ActiveStatus: String, Codable, Sendable, CaseIterable {
    case active, inactive
}

// Fluent models are reference types mutated only inside one request's task; Fluent requires the
// `@unchecked Sendable` conformance on them, and it is used on models only.
final class Team: Model, TenantOwned, @unchecked Sendable {
    static let schema = "teams"
    static let entityName = "team"
    static var tenantKey: KeyPath<Team, FieldProperty<Team, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String

    @Field(key: "name") var name: String
    @Field(key: "sector") var sector: String
    @OptionalField(key: "description") var description: String?
    @Enum(key: "status") var status: ActiveStatus

    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}

    init(name: String, sector: String, description: String?) {
        self.name = name
        self.sector = sector
        self.description = description
        self.status = .active
    }
}
