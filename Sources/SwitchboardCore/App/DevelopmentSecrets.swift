import Foundation

/// Secrets generated in development mode, kept in a 0600 file beside the SQLite database so that
/// tokens printed at start-up keep working after a restart.
struct DevelopmentSecrets: Codable {
    var jwtSecret: String
    var encryptionKey: String

    static func path(besideDatabaseAt sqlitePath: String) -> String {
        sqlitePath + ".secrets.json"
    }

    static func loadOrCreate(at path: String) throws -> DevelopmentSecrets {
        if let data = FileManager.default.contents(atPath: path) {
            do {
                return try JSONDecoder().decode(DevelopmentSecrets.self, from: data)
            } catch {
                throw ConfigurationError("\(path) is not a valid secrets file; delete it to generate new secrets")
            }
        }
        let secrets = DevelopmentSecrets(
            jwtSecret: randomBytes(48).base64EncodedString(),
            encryptionKey: randomBytes(32).base64EncodedString()
        )
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let data = try JSONEncoder().encode(secrets)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("could not write development secrets to \(path)")
        }
        return secrets
    }

    private static func randomBytes(_ count: Int) -> Data {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}
