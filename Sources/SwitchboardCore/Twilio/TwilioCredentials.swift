import Foundation

/// A Twilio channel's credentials: exactly the account's SID and auth token (the token keys every request
/// signature). Pure.
struct TwilioCredentials: Sendable, Equatable {
    static let keys = ["account_sid", "auth_token"]

    let accountSid: String
    let authToken: String

    init(accountSid: String, authToken: String) {
        self.accountSid = accountSid
        self.authToken = authToken
    }

    /// From a channel's credentials (as given, or as unsealed): a 400 naming what is wrong.
    init(validating credentials: [String: String]) throws {
        if let stranger = credentials.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw AppError.badRequest("credentials.\(stranger) is not a Twilio credential; a Twilio channel takes exactly account_sid and auth_token")
        }
        guard let sid = credentials["account_sid"], Self.whole(sid, "AC[0-9a-fA-F]{32}") else {
            throw AppError.badRequest("credentials.account_sid must be a Twilio account SID: AC and 32 hexadecimal digits")
        }
        guard let token = credentials["auth_token"], Self.whole(token, "[0-9a-fA-F]{32}") else {
            throw AppError.badRequest("credentials.auth_token must be a Twilio auth token: 32 hexadecimal digits")
        }
        self.init(accountSid: sid, authToken: token)
    }

    private static func whole(_ text: String, _ pattern: String) -> Bool {
        text.range(of: "\\A(?:" + pattern + ")\\z", options: .regularExpression) != nil
    }
}
