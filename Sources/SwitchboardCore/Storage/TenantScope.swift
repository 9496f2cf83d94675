import FluentKit
import SQLKit
import Foundation

/// A table whose every row belongs to one tenant.
protocol TenantOwned: Model where IDValue == UUID {
    static var tenantKey: KeyPath<Self, FieldProperty<Self, String>> { get }
    /// How the entity is named in messages ("team not found").
    static var entityName: String { get }
    var clientId: String { get set }
}

/// The one way services reach tenant-owned rows. Every query starts here, so the tenant filter is
/// applied by construction; `Model.query(on:)` appears nowhere else in the product (a test checks).
struct TenantScope: Sendable {
    let clientId: String

    func query<M: TenantOwned>(_ type: M.Type, on db: any Database) -> QueryBuilder<M> {
        M.query(on: db).filter(M.tenantKey == clientId)
    }

    /// The tenant's row with this id, or a 404 that reads the same, and costs the same, whether the id is
    /// unknown or another tenant's. The miss is marked so that the denial log can tell later, off the
    /// request path, whether it was a probe for another tenant's id.
    func find<M: TenantOwned>(_ type: M.Type, _ id: UUID, on db: any Database) async throws -> M {
        if let model = try await query(M.self, on: db).filter(\M._$id == id).first() {
            return model
        }
        throw AppError.notFound(M.entityName, probing: M.schema, id)
    }

    /// The tenant's waiting calls (the load book's queue depth, `queue.depth_changed`).
    func queuedCallCount(on sql: any SQLDatabase) async throws -> Int {
        try await select(from: Call.schema, on: sql).column(SQLRaw("COUNT(*)"), as: "n")
            .where(status: .queued).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// A new row stamped with this tenant.
    func owned<M: TenantOwned>(_ model: M) -> M {
        model.clientId = clientId
        return model
    }
}

/// The same scoping for the few hot paths written in SQL (Fluent's per-row reflection is the dominant cost there).
extension TenantScope {
    /// `SELECT … FROM table WHERE client_id = <tenant>`; add columns and further filters.
    func select(from table: String, on db: any Database) -> SQLSelectBuilder {
        select(from: table, on: db as! any SQLDatabase)
    }

    func select(from table: String, on sql: any SQLDatabase) -> SQLSelectBuilder {
        sql.select().from(table).where("client_id", .equal, clientId)
    }

    /// One row into a tenant table; `client_id` is added here, so it cannot be forgotten.
    func insert(into table: String, _ values: [(String, any Encodable & Sendable)], on db: any Database) async throws {
        try await (db as! any SQLDatabase).insert(into: table)
            .columns(["client_id"] + values.map(\.0))
            .values([SQLBind(clientId)] + values.map { SQLBind($0.1) })
            .run()
    }

    /// Many rows, possibly of several tenants, in one statement (the call writer's group commit). Each row names
    /// its tenant, and `client_id` is added here as in `insert(into:_:on:)`.
    static func insert(
        into table: String, columns: [String], rows: [(clientId: String, values: [any Encodable & Sendable])],
        on sql: any SQLDatabase
    ) async throws {
        guard let query = insertQuery(into: table, columns: columns, rows: rows) else { return }
        try await sql.execute(sql: query) { _ in }
    }

    /// The statement `insert(into:columns:rows:on:)` runs, for embedding in a larger one; nil without rows.
    static func insertQuery(
        into table: String, columns: [String], rows: [(clientId: String, values: [any Encodable & Sendable])]
    ) -> (any SQLExpression)? {
        guard !rows.isEmpty else { return nil }
        return BoundStatement.insert(into: table, columns: columns, rows: rows)
    }
}
