import Crypto
import Foundation

/// Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed by the account's auth token, over
/// the full URL Twilio requested (query included) followed by every form parameter's name and value, sorted by name
/// (then value). The public URL is the one configured in Twilio's console, which is why it comes from
/// `SWITCHBOARD_PUBLIC_URL` and never from the request's own host (a proxy changes that). Pure.
enum TwilioSignature {
    static let header = "X-Twilio-Signature"

    static func compute(url: String, parameters: [(name: String, value: String)], authToken: String) -> String {
        var signed = url
        // As Twilio's own libraries do: each name once, its distinct values in order.
        for name in Set(parameters.map(\.name)).sorted() {
            for value in Set(parameters.filter { $0.name == name }.map(\.value)).sorted() {
                signed += name + value
            }
        }
        let code = HMAC<Insecure.SHA1>.authenticationCode(for: Array(signed.utf8), using: SymmetricKey(data: Array(authToken.utf8)))
        return Data(code).base64EncodedString()
    }

    /// Whether `signature` is the one Twilio would send; compared in constant time.
    static func isValid(_ signature: String?, url: String, parameters: [(name: String, value: String)], authToken: String) -> Bool {
        guard let signature, !signature.isEmpty else { return false }
        let expected = Array(compute(url: url, parameters: parameters, authToken: authToken).utf8)
        let given = Array(signature.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
