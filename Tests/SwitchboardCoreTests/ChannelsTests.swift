import FluentKit
import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

@Suite("Channels and encrypted credentials")
struct ChannelsTests {
    static let secret = "sk_live_TOP-SECRET-\(UUID().uuidString)"

    static let validConfigs: [(String, String)] = [
        ("voice", #"{"provider":"vonage","phone_number":"+442071838750"}"#),
        ("sms", #"{"provider":"vonage","sender":"ACME"}"#),
        ("whatsapp", #"{"business_number":"+14155550100","account_id":"waba-1"}"#),
        ("email", #"{"imap_host":"imap.example.com","smtp_host":"smtp.example.com","smtp_port":465,"address":"help@example.com"}"#),
        ("webchat", ##"{"allowed_origins":["https://shop.example.com"],"widget_colour":"#1a73e8"}"##),
    ]

    static let invalidConfigs: [(String, String, String)] = [
        ("voice", #"{"provider":"vonage","phone_number":"020 7183 8750"}"#, "config.phone_number"),
        ("voice", #"{"phone_number":"+442071838750"}"#, "config.provider"),
        ("sms", #"{"provider":"vonage","sender":""}"#, "config.sender"),
        ("whatsapp", #"{"business_number":"+14155550100"}"#, "config.account_id"),
        ("email", #"{"imap_host":"imap example","smtp_host":"smtp.example.com","address":"help@example.com"}"#, "config.imap_host"),
        ("email", #"{"imap_host":"i.example.com","smtp_host":"s.example.com","smtp_port":70000,"address":"help@example.com"}"#, "config.smtp_port"),
        ("webchat", #"{"allowed_origins":["javascript:alert(1)"]}"#, "config.allowed_origins"),
        ("webchat", #"{"allowed_origins":["https://a.example"],"widget_colour":"blue"}"#, "config.widget_colour"),
        ("voice", #"{"provider":"vonage","phone_number":"+442071838750","colour":"red"}"#, "config.colour"),
    ]

    @Test func everyTypeAcceptsItsConfigAndRejectsBadOnes() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            for (index, (type, config)) in Self.validConfigs.enumerated() {
                let response = try await admin.send(.POST, "/api/channels",
                                                    json: #"{"type":"\#(type)","name":"c\#(index)","config":\#(config)}"#)
                #expect(response.status == .created, "\(type): \(response.text)")
                #expect(response.data["credentials_set"] == .bool(false))
            }
            #expect(try await admin.send(.GET, "/api/channels?type=email").data[0]["config"]["smtp_port"] == .number(465))
            #expect(try await admin.send(.GET, "/api/channels?type=webchat").data[0]["config"]["widget_colour"] == .string("#1A73E8"))
            for (type, config, field) in Self.invalidConfigs {
                let response = try await admin.send(.POST, "/api/channels", json: #"{"type":"\#(type)","name":"bad","config":\#(config)}"#)
                #expect(response.status == .badRequest, "\(type) \(config)")
                #expect(response.error?.contains(field) == true, "\(response.error ?? "")")
            }
            #expect(try await admin.send(.POST, "/api/channels", json: #"{"type":"fax","name":"x","config":{}}"#).status == .badRequest)
            #expect(try await admin.send(.GET, "/api/channels").data.count == 5, "nothing half-written")
        }
    }

    @Test func credentialsAreWriteOnlyAndEncryptedAtRest() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("channels-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        try await withSwitchboard(sqlitePath: path) { app in
            let admin = try await APIClient.make(app)
            let created = try await admin.send(.POST, "/api/channels", json: """
                {"type":"voice","name":"Main line","config":{"provider":"vonage","phone_number":"+442071838750"},
                 "credentials":{"api_key":"\(Self.secret)"}}
                """)
            #expect(created.status == .created)
            #expect(created.data["credentials_set"] == .bool(true))
            let id = try #require(created.data["id"].uuid)
            var texts = [created.text]
            texts.append(try await admin.send(.GET, "/api/channels/\(id)").text)
            texts.append(try await admin.send(.GET, "/api/channels").text)
            texts.append(try await admin.send(.PUT, "/api/channels/\(id)", json: #"{"name":"Main"}"#).text)
            let test = try await admin.send(.POST, "/api/channels/\(id)/test")
            texts.append(test.text)
            #expect(test.data["ok"] == .bool(true), "\(test.text)")
            #expect(test.data["network_call_made"] == .bool(false))
            for text in texts { #expect(!text.contains(Self.secret)) }

            let audit = try await TenantScope(clientId: admin.clientId).query(AuditLogEntry.self, on: app.db).all()
            #expect(audit.contains { $0.action == "channel.credentials_changed" })
            #expect(!audit.contains { "\($0.action)\($0.entityId)".contains(Self.secret) })

            if !TestDatabase.isPostgres {
                // The database and its write-ahead log, byte for byte.
                let bytes = ["", "-wal"].reduce(into: Data()) { $0.append(FileManager.default.contents(atPath: path + $1) ?? Data()) }
                #expect(bytes.range(of: Data(Self.secret.utf8)) == nil, "plaintext credential in the database files")
                #expect(bytes.range(of: Data("+442071838750".utf8)) != nil, "the search works: the config is stored in clear")
            }
            let stored = try await TenantScope(clientId: admin.clientId).find(ChannelRecord.self, id, on: app.db)
            #expect(stored.credentialsSealed?.contains(Self.secret) == false)
            #expect(stored.credentialsSealed?.hasPrefix("v1:") == true)

            // Removing credentials.
            let cleared = try await admin.send(.PUT, "/api/channels/\(id)", json: #"{"credentials":null}"#)
            #expect(cleared.data["credentials_set"] == .bool(false))
            let incomplete = try await admin.send(.POST, "/api/channels/\(id)/test")
            #expect(incomplete.data["ok"] == .bool(false))
        }
    }

    @Test func eachSealUsesAFreshNonce() throws {
        let cipher = CredentialCipher(keyBytes: TestDatabase.encryptionKey)
        let id = UUID()
        let first = try cipher.seal(["api_key": "k"], clientId: "t", channelId: id)
        let second = try cipher.seal(["api_key": "k"], clientId: "t", channelId: id)
        #expect(first != second)
        #expect(try cipher.open(first, clientId: "t", channelId: id) == ["api_key": "k"])
        #expect(throws: CredentialCipher.Unreadable.self) { try cipher.open(first, clientId: "other", channelId: id) }
        #expect(throws: CredentialCipher.Unreadable.self) { try cipher.open(first, clientId: "t", channelId: UUID()) }
        #expect(throws: CredentialCipher.Unreadable.self) {
            try CredentialCipher(keyBytes: [UInt8](repeating: 9, count: 32)).open(first, clientId: "t", channelId: id)
        }
    }

    @Test func tamperedOrMovedCiphertextFailsCleanly() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let body = #"{"type":"sms","name":"N","config":{"provider":"p","sender":"S"},"credentials":{"api_key":"abc"}}"#
            let first = try #require(try await admin.send(.POST, "/api/channels", json: body).data["id"].uuid)
            let other = try await APIClient.make(app)
            let theirs = try #require(try await other.send(.POST, "/api/channels", json: body).data["id"].uuid)

            let sql = app.db as! any SQLDatabase
            // Moved: tenant B's ciphertext copied onto tenant A's row.
            let theirSealed = try await TenantScope(clientId: other.clientId).find(ChannelRecord.self, theirs, on: app.db).credentialsSealed!
            try await sql.update("channels").set("credentials_sealed", to: theirSealed).where("id", .equal, first).run()
            let moved = try await admin.send(.POST, "/api/channels/\(first)/test")
            #expect(moved.status == .ok)
            #expect(moved.data["ok"] == .bool(false))
            #expect(moved.data["checks"][1]["check"] == .string("credentials_decrypt"))

            // Tampered: one character of the ciphertext changed.
            var tampered = Array(theirSealed)
            tampered[10] = tampered[10] == "A" ? "B" : "A"
            try await sql.update("channels").set("credentials_sealed", to: String(tampered)).where("id", .equal, theirs).run()
            let broken = try await other.send(.POST, "/api/channels/\(theirs)/test")
            #expect(broken.status == .ok)
            #expect(broken.data["ok"] == .bool(false))
            #expect(try await other.send(.GET, "/api/channels/\(theirs)").status == .ok)
        }
    }

    @Test func keyRotationRoundTripAndWrongKey() async throws {
        try await withSwitchboard(isolated: true) { app in
            let admin = try await APIClient.make(app)
            let id = try #require(try await admin.send(.POST, "/api/channels", json: """
                {"type":"email","name":"Support","config":{"imap_host":"i.example.com","smtp_host":"s.example.com","address":"a@example.com"},
                 "credentials":{"username":"u","password":"p@ss"}}
                """).data["id"].uuid)
            let scope = TenantScope(clientId: admin.clientId)
            let before = try await scope.find(ChannelRecord.self, id, on: app.db).credentialsSealed
            // A webhook's signing secret is sealed with the same key and re-sealed with the channels.
            let hook = try await admin.send(.POST, "/api/webhooks", json: #"{"url": "https://93.184.216.34/h", "events": ["*"]}"#)
            let hookId = try #require(hook.data["id"].uuid, "\(hook.text)")
            let secret = try #require(hook.data["secret"].stringValue)
            func sealedSecret() async throws -> String {
                try await (app.db as! any SQLDatabase).raw("SELECT secrets_sealed FROM webhooks WHERE id = \(bind: hookId)").first()!
                    .decode(column: "secrets_sealed", as: String.self)
            }
            let hookBefore = try await sealedSecret()

            let wrong = [UInt8](repeating: 3, count: 32), newKey = [UInt8](repeating: 5, count: 32)
            await #expect(throws: EncryptionKeyRotation.WrongOldKey.self) {
                try await EncryptionKeyRotation.rotate(in: app.store(), from: wrong, to: newKey)
            }
            #expect(try await scope.find(ChannelRecord.self, id, on: app.db).credentialsSealed == before, "a wrong old key changes nothing")

            #expect(try await sealedSecret() == hookBefore)
            let count = try await EncryptionKeyRotation.rotate(in: app.store(), from: TestDatabase.encryptionKey, to: newKey)
            #expect(count == 2)
            #expect(try CredentialCipher(keyBytes: newKey).open(try await sealedSecret(), clientId: admin.clientId, channelId: hookId)
                    == ["current": secret])
            let after = try #require(try await scope.find(ChannelRecord.self, id, on: app.db).credentialsSealed)
            #expect(after != before)
            #expect(try CredentialCipher(keyBytes: newKey).open(after, clientId: admin.clientId, channelId: id)
                    == ["username": "u", "password": "p@ss"])
            // The running server still has the old key, so its test now reports the mismatch.
            #expect(try await admin.send(.POST, "/api/channels/\(id)/test").data["ok"] == .bool(false))
            _ = try await EncryptionKeyRotation.rotate(in: app.store(), from: newKey, to: TestDatabase.encryptionKey)
            #expect(try await admin.send(.POST, "/api/channels/\(id)/test").data["ok"] == .bool(true))
        }
    }

    @Test func onlyAdminsWriteAndTenantsAreIsolated() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let id = try #require(try await admin.send(.POST, "/api/channels", json: #"{"type":"webchat","name":"W","config":{"allowed_origins":["https://a.example"]}}"#).data["id"].uuid)
            for role in [Role.viewer, .manager] {
                let user = try await admin.as(role)
                #expect(try await user.send(.GET, "/api/channels/\(id)").status == .ok)
                #expect(try await user.send(.POST, "/api/channels", json: #"{"type":"webchat","name":"X","config":{}}"#).status == .forbidden)
                #expect(try await user.send(.PUT, "/api/channels/\(id)", json: #"{"name":"Y"}"#).status == .forbidden)
                #expect(try await user.send(.DELETE, "/api/channels/\(id)").status == .forbidden)
                #expect(try await user.send(.POST, "/api/channels/\(id)/test").status == .forbidden)
            }
            let intruder = try await APIClient.make(app)
            for (method, path, body) in [(HTTPMethod.GET, "/api/channels/\(id)", nil as String?),
                                         (.PUT, "/api/channels/\(id)", #"{"name":"pwned"}"#),
                                         (.DELETE, "/api/channels/\(id)", nil),
                                         (.POST, "/api/channels/\(id)/test", nil)] {
                #expect(try await intruder.send(method, path, json: body).status == .notFound, "\(method) \(path)")
            }
            #expect(try await intruder.send(.GET, "/api/channels").data.count == 0)
            #expect(try await admin.send(.GET, "/api/channels/\(id)").data["name"] == .string("W"))
            #expect(try await admin.send(.DELETE, "/api/channels/\(id)").status == .ok)
            #expect(try await admin.send(.GET, "/api/channels/\(id)").status == .notFound)
        }
    }

    @Test func typeCannotChangeAndNamesAreUnique() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let id = try #require(try await admin.send(.POST, "/api/channels", json: #"{"type":"sms","name":"S","config":{"provider":"p","sender":"S"}}"#).data["id"].uuid)
            #expect(try await admin.send(.PUT, "/api/channels/\(id)", json: #"{"type":"voice"}"#).status == .badRequest)
            #expect(try await admin.send(.POST, "/api/channels", json: #"{"type":"sms","name":"S","config":{"provider":"p","sender":"S"}}"#).status == .conflict)
            #expect(try await admin.send(.PUT, "/api/channels/\(id)", json: #"{"config":{"provider":"p"}}"#).status == .badRequest)
        }
    }
}

@Suite("CORS and security headers")
struct HeadersTests {
    @Test func securityHeadersOnEveryAnswer() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            for response in [try await client.send(.GET, "/api/teams"), try await client.send(.GET, "/api/nowhere"),
                             try await client.send(.GET, "/health", authorized: false)] {
                #expect(response.headers.first(name: "X-Content-Type-Options") == "nosniff")
                #expect(response.headers.first(name: "X-Frame-Options") == "DENY")
                #expect(response.headers.first(name: "Content-Security-Policy")?.contains("default-src 'self'") == true)
            }
            #expect(try await client.send(.GET, "/api/teams").headers.first(name: "Cache-Control") == "no-store")
            let cross = try await client.send(.GET, "/api/teams", headers: [("Origin", "https://evil.example")])
            #expect(cross.headers.first(name: "Access-Control-Allow-Origin") == nil, "no origin is allowed by default")
        }
    }

    @Test func configuredOriginsAreAllowed() async throws {
        let config = SwitchboardConfiguration(
            mode: .development,
            database: .sqlite(path: FileManager.default.temporaryDirectory.appendingPathComponent("cors-\(UUID()).sqlite").path),
            jwtSecret: TestDatabase.jwtSecret, encryptionKey: TestDatabase.encryptionKey,
            corsOrigins: ["https://ops.example.com"]
        )
        let app = try await Application.make(.testing)
        do {
            try await configure(app, config)
            try await app.autoMigrate()
            let preflight = try await app.testing().sendRequest(.OPTIONS, "/api/teams", headers: [
                "Origin": "https://ops.example.com", "Access-Control-Request-Method": "POST",
            ])
            #expect(preflight.headers.first(name: "Access-Control-Allow-Origin") == "https://ops.example.com")
            let other = try await app.testing().sendRequest(.OPTIONS, "/api/teams", headers: [
                "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            ])
            #expect(other.headers.first(name: "Access-Control-Allow-Origin") != "https://evil.example")
        } catch {
            try await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}
