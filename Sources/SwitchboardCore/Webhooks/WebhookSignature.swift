import Crypto
import Foundation
import NIOCore

/// Standard Webhooks (https://www.standardwebhooks.com) signing: `webhook-signature` is `v1,<base64 HMAC-SHA256>`
/// of `<webhook-id>.<webhook-timestamp>.<body>`, keyed by the bytes behind `whsec_`; several signatures,
/// space-separated, while a rotated secret overlaps with its successor. Receivers verify with the specification's
/// published libraries.
enum WebhookSignature {
    static let secretPrefix = "whsec_"

    /// A new secret: 32 random bytes.
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return secretPrefix + Data(bytes).base64EncodedString()
    }

    static func key(of secret: String) -> SymmetricKey? {
        guard secret.hasPrefix(secretPrefix), let bytes = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))) else {
            return nil
        }
        return SymmetricKey(data: bytes)
    }

    /// The `webhook-signature` header for `body`, one `v1,` signature per secret (newest first).
    static func header(id: String, timestamp: Int, body: [UInt8], secrets: [String]) -> String {
        var signed = Array("\(id).\(timestamp).".utf8)
        signed += body
        return secrets.compactMap(key(of:)).map { key in
            "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
        }.joined(separator: " ")
    }
}

/// When a failed delivery is tried again, and when a subscription has failed enough.
enum WebhookPolicy {
    /// About a day in all: 9 attempts (the first, then one after each wait).
    static let defaultRetrySeconds: [Double] = [10, 60, 300, 1_800, 3_600, 7_200, 21_600, 43_200]
    /// A receiver has this long to answer.
    static let timeout: TimeAmount = .seconds(5)

    /// The wait before attempt `attempts + 1`, nil when every retry is spent; ±20 % jitter, so that receivers
    /// that failed together are not retried in one burst.
    static func nextWait(afterAttempts attempts: Int, schedule: [Double], jitter: Double = Double.random(in: -0.2...0.2)) -> Double? {
        guard attempts >= 1, attempts <= schedule.count else { return nil }
        return schedule[attempts - 1] * (1 + jitter)
    }
}
