import Crypto
import Foundation

/// Seals channel credentials with AES-256-GCM. Each seal uses a fresh random nonce, and the tenant and channel
/// id are authenticated data, so a ciphertext copied to another row or tenant fails to open.
struct CredentialCipher: Sendable {
    private static let versionPrefix = "v1:"
    private let key: SymmetricKey

    init(keyBytes: [UInt8]) {
        key = SymmetricKey(data: keyBytes)
    }

    struct Unreadable: Error {}

    func seal(_ credentials: [String: String], clientId: String, channelId: UUID) throws -> String {
        let plaintext = try WireJSON.literalEncoder().encode(credentials)
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Self.context(clientId, channelId))
        return Self.versionPrefix + box.combined!.base64EncodedString()
    }

    func open(_ sealed: String, clientId: String, channelId: UUID) throws -> [String: String] {
        guard sealed.hasPrefix(Self.versionPrefix),
              let combined = Data(base64Encoded: String(sealed.dropFirst(Self.versionPrefix.count)))
        else { throw Unreadable() }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            let plaintext = try AES.GCM.open(box, using: key, authenticating: Self.context(clientId, channelId))
            return try JSONDecoder().decode([String: String].self, from: plaintext)
        } catch {
            throw Unreadable()
        }
    }

    private static func context(_ clientId: String, _ channelId: UUID) -> Data {
        Data("switchboard.channel|\(clientId)|\(channelId.text.lowercased())".utf8)
    }
}
