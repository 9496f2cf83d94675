import FluentKit
import Foundation

final class SectorAgent: Model, TenantOwned, @unchecked Sendable {
    static let schema = "sector_agents"
    static let entityName = "agent"
    static var tenantKey: KeyPath<SectorAgent, FieldProperty<SectorAgent, String>> { \.$clientId }

    @ID(key: .id) var id: UUID?
    @Field(key: "client_id") var clientId: String

    @OptionalField(key: "external_id") var externalId: String?
    @Field(key: "name") var name: String
    @Field(key: "sector") var sector: String
    @Enum(key: "status") var status: ActiveStatus
    @Field(key: "priority") var priority: Int
    @Field(key: "capabilities") var capabilities: [String]
    @Field(key: "max_concurrent") var maxConcurrent: Int
    /// Active calls now. Written only by the call lifecycle's atomic SQL, never by a client.
    @Field(key: "current_load") var currentLoad: Int
    @Field(key: "success_rate") var successRate: Double
    @Field(key: "avg_handling_time") var avgHandlingTime: Double

    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}
