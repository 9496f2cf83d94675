import FluentKit
import Foundation
import SQLKit

/// Re-seals every channel's credentials, across all tenants, under a new key in one transaction.
/// If any credential does not open with the old key, nothing is changed.
enum EncryptionKeyRotation {
    struct WrongOldKey: Error, CustomStringConvertible {
        let channelId: UUID
        var description: String {
            "channel \(channelId) does not decrypt with the old key; nothing was changed"
        }
    }

    static func rotate(in store: Store, from oldKey: [UInt8], to newKey: [UInt8]) async throws -> Int {
        let old = CredentialCipher(keyBytes: oldKey), new = CredentialCipher(keyBytes: newKey)
        return try await store.write { db in
            let sql = db as! any SQLDatabase
            // A system task over every tenant, so it reads the table with SQL rather than through TenantScope.
            let rows = try await sql.select().columns("id", "client_id", "credentials_sealed")
                .from(ChannelRecord.schema).where(SQLIdentifier("credentials_sealed"), .isNot, SQLLiteral.null).all()
            for row in rows {
                let id: UUID = try row.decode("id")
                let clientId: String = try row.decode("client_id")
                let sealed: String = try row.decode("credentials_sealed")
                let credentials: [String: String]
                do {
                    credentials = try old.open(sealed, clientId: clientId, channelId: id)
                } catch {
                    throw WrongOldKey(channelId: id)
                }
                try await sql.update(ChannelRecord.schema)
                    .set("credentials_sealed", to: try new.seal(credentials, clientId: clientId, channelId: id))
                    .where("id", .equal, id)
                    .run()
            }
            return rows.count
        }
    }
}
