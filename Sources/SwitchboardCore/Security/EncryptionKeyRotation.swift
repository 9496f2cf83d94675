import FluentKit
import Foundation
import SQLKit

/// Re-seals every channel's credentials and every webhook's signing secrets, across all tenants, under a new key in
/// one transaction. If any of them does not open with the old key, nothing is changed.
enum EncryptionKeyRotation {
    struct WrongOldKey: Error, CustomStringConvertible {
        let channelId: UUID
        var description: String {
            "channel or webhook \(channelId) does not decrypt with the old key; nothing was changed"
        }
    }

    /// Re-seals every sealed value (channel credentials, webhook secrets) in one transaction; returns how many.
    static func rotate(in store: Store, from oldKey: [UInt8], to newKey: [UInt8]) async throws -> Int {
        let old = CredentialCipher(keyBytes: oldKey), new = CredentialCipher(keyBytes: newKey)
        return try await store.write { db in
            let sql = db as! any SQLDatabase
            var count = 0
            // A system task over every tenant, so it reads the tables with SQL rather than through TenantScope.
            for (table, column) in [(ChannelRecord.schema, "credentials_sealed"), (WebhookTables.webhooks, "secrets_sealed")] {
                let rows = try await sql.select().columns("id", "client_id", column)
                    .from(table).where(SQLIdentifier(column), .isNot, SQLLiteral.null).all()
                for row in rows {
                    let id: UUID = try row.decode("id")
                    let clientId: String = try row.decode("client_id")
                    let sealed: String = try row.decode(column)
                    let values: [String: String]
                    do {
                        values = try old.open(sealed, clientId: clientId, channelId: id)
                    } catch {
                        throw WrongOldKey(channelId: id)
                    }
                    try await sql.update(table)
                        .set(SQLIdentifier(column), to: try new.seal(values, clientId: clientId, channelId: id))
                        .where("id", .equal, id)
                        .run()
                }
                count += rows.count
            }
            return count
        }
    }
}
