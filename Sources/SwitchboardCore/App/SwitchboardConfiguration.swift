import Foundation
import NIOCore

/// Everything the service reads from its environment, read once at start-up.
/// The variable names are part of the contract ("Running it").
public struct SwitchboardConfiguration: Sendable {
    public enum Mode: String, Sendable {
        case development, production
    }

    public enum DatabaseChoice: Sendable, Equatable {
        case sqlite(path: String)
        case postgres(url: String)

        public var displayName: String {
            switch self {
            case .sqlite(let path): return "SQLite at \(path)"
            case .postgres(let url): return "PostgreSQL at \(Self.redacted(url))"
            }
        }

        /// Hides the password of a connection URL so it can be printed and logged.
        static func redacted(_ url: String) -> String {
            guard var components = URLComponents(string: url), components.password != nil else { return url }
            components.password = "***"
            return components.string ?? "(unprintable URL)"
        }
    }

    public static let minimumSecretLength = 32
    public static let defaultMaxTokenLifetimeSeconds = 86_400
    public static let encryptionKeyLength = 32

    public var mode: Mode
    public var database: DatabaseChoice
    public var jwtSecret: String
    /// Raw 32-byte AES-256 key.
    public var encryptionKey: [UInt8]
    public var aggregationIntervalSeconds: Int
    public var corsOrigins: [String]
    /// Per-tenant API rate limit; nil turns it off.
    public var rateLimit: RateLimit?
    /// Per-client-address limit on requests that carry no valid token, applied before authentication.
    public var unauthenticatedRateLimit: RateLimit?
    /// The longest a token may live: a token whose `exp` is further ahead (beyond the clock skew) is refused.
    public var maxTokenLifetimeSeconds: Int
    /// On SIGTERM, how long requests in progress may take to finish before their connections are closed.
    public var shutdownGraceSeconds: Int
    /// At start-up, how long to keep trying an unreachable PostgreSQL before giving up (0: try once).
    public var databaseWaitSeconds: Int
    /// Requests answered at once, server-wide; beyond it, 503 with `Retry-After` at once.
    public var maxInFlight: Int
    /// Where development mode keeps the secrets it generated, when it did.
    public var generatedSecretsFile: String?
    /// The folder holding `Public/` and `docs/openapi.yaml`; nil to look for it (see `AssetLocation`).
    public var assetsDirectory: String?
    /// Webhook delivery: whether targets on loopback and private networks are allowed (tests, development).
    public var webhookAllowPrivate: Bool = false
    /// Seconds to wait before each retry of a failed delivery (so its count + 1 attempts in all).
    public var webhookRetrySeconds: [Double] = WebhookPolicy.defaultRetrySeconds
    /// A subscription whose deliveries failed (every retry spent) this many times in a row is disabled.
    public var webhookDisableAfter: Int = 5
    /// Subscriptions one tenant may hold: each multiplies every event into a delivery and a request.
    public var maxWebhooksPerTenant: Int = 50
    /// Event streams open at once, per tenant (every agent's desk and every wallboard holds one) and per token.
    public var maxStreamsPerTenant: Int = 1_000
    public var maxStreamsPerToken: Int = 5
    /// PostgreSQL: how long a change's commit may take to be confirmed before the change is answered as unconfirmed
    /// (503, see `Store.committingOnOneConnection`). Below the 2 s in which every request is answered while the
    /// database is down; not read from the environment.
    public var commitConfirmationTimeout: TimeAmount = .milliseconds(1_500)
    /// Proxies whose `X-Forwarded-For` names the client (see `TrustedProxies`); none by default.
    public var trustedProxies: TrustedProxies = .none
    /// `SWITCHBOARD_PUBLIC_URL`: the address the world reaches this service at (`https://host[/prefix]`, no
    /// trailing slash). Phone providers' webhooks are signed over it, and their URLs are built from it; Twilio
    /// channels need it. Nil: unset.
    public var publicURL: String?

    public init(
        mode: Mode,
        database: DatabaseChoice,
        jwtSecret: String,
        encryptionKey: [UInt8],
        aggregationIntervalSeconds: Int = 60,
        corsOrigins: [String] = [],
        rateLimit: RateLimit? = nil,
        unauthenticatedRateLimit: RateLimit? = RateLimit.defaultUnauthenticatedLimit,
        maxTokenLifetimeSeconds: Int = defaultMaxTokenLifetimeSeconds,
        shutdownGraceSeconds: Int = 10,
        databaseWaitSeconds: Int = 30,
        maxInFlight: Int = 64,
        generatedSecretsFile: String? = nil,
        assetsDirectory: String? = nil
    ) {
        self.mode = mode
        self.database = database
        self.jwtSecret = jwtSecret
        self.encryptionKey = encryptionKey
        self.aggregationIntervalSeconds = aggregationIntervalSeconds
        self.corsOrigins = corsOrigins
        self.rateLimit = rateLimit
        self.unauthenticatedRateLimit = unauthenticatedRateLimit
        self.maxTokenLifetimeSeconds = maxTokenLifetimeSeconds
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.databaseWaitSeconds = databaseWaitSeconds
        self.maxInFlight = maxInFlight
        self.generatedSecretsFile = generatedSecretsFile
        self.assetsDirectory = assetsDirectory
    }

    /// Reads the contract's variables. Production refuses weak or missing secrets; development generates
    /// missing ones and keeps them beside the SQLite file so tokens survive restarts.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> SwitchboardConfiguration {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }

        let mode: Mode
        switch value("SWITCHBOARD_ENV")?.lowercased() {
        case nil, "development", "dev": mode = .development
        case "production", "prod": mode = .production
        case let other?:
            throw ConfigurationError("SWITCHBOARD_ENV must be 'production' or 'development', not '\(other)'")
        }

        let sqlitePath = value("SWITCHBOARD_SQLITE_PATH") ?? "./switchboard.sqlite"
        let database: DatabaseChoice
        if let url = value("DATABASE_URL") {
            guard let scheme = URLComponents(string: url)?.scheme, ["postgres", "postgresql"].contains(scheme) else {
                throw ConfigurationError("DATABASE_URL must be a postgres://user:pass@host:port/db URL")
            }
            database = .postgres(url: url)
        } else {
            database = .sqlite(path: sqlitePath)
        }

        /// A whole number in `range`, or `defaultValue` when the variable is unset.
        func wholeNumber(_ name: String, in range: ClosedRange<Int>, default defaultValue: Int, of unit: String? = "seconds") throws -> Int {
            guard let raw = value(name) else { return defaultValue }
            guard let number = Int(raw), range.contains(number) else {
                let what = unit.map { "a whole number of \($0)" } ?? "a whole number"
                throw ConfigurationError("\(name) must be \(what) from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }

        let interval = try wholeNumber("SWITCHBOARD_AGGREGATION_INTERVAL", in: 1...86_400, default: 60)
        let corsOrigins = (value("SWITCHBOARD_CORS_ORIGINS") ?? "")
            .split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }

        var rateLimit: RateLimit? = RateLimit.defaultLimit
        if let raw = value("SWITCHBOARD_RATE_LIMIT") {
            rateLimit = try RateLimit.parse(raw, variable: "SWITCHBOARD_RATE_LIMIT")
        }
        var unauthenticatedRateLimit = RateLimit.defaultUnauthenticatedLimit
        if let raw = value("SWITCHBOARD_UNAUTHENTICATED_RATE_LIMIT") {
            unauthenticatedRateLimit = try RateLimit.parse(raw, variable: "SWITCHBOARD_UNAUTHENTICATED_RATE_LIMIT")
        }
        let maxTokenLifetime = try wholeNumber("SWITCHBOARD_MAX_TOKEN_LIFETIME", in: 60...31_536_000,
                                               default: defaultMaxTokenLifetimeSeconds)
        let shutdownGrace = try wholeNumber("SWITCHBOARD_SHUTDOWN_GRACE", in: 0...600, default: 10)
        let databaseWait = try wholeNumber("SWITCHBOARD_DATABASE_WAIT", in: 0...3_600, default: 30)
        let maxInFlight = try wholeNumber("SWITCHBOARD_MAX_IN_FLIGHT", in: 1...100_000, default: 64, of: nil)

        var assetsDirectory: String? = nil
        if let folder = value("SWITCHBOARD_ASSETS_DIR") {
            guard AssetLocation.holdsAssets(folder) else {
                throw ConfigurationError("SWITCHBOARD_ASSETS_DIR must be a folder holding Public/index.html and docs/openapi.yaml")
            }
            assetsDirectory = folder
        }

        var jwtSecret = value("SWITCHBOARD_JWT_SECRET")
        if let secret = jwtSecret, secret.count < minimumSecretLength {
            throw ConfigurationError("SWITCHBOARD_JWT_SECRET must be at least \(minimumSecretLength) characters")
        }
        var encryptionKey: [UInt8]? = nil
        if let raw = value("SWITCHBOARD_ENCRYPTION_KEY") {
            encryptionKey = try parseEncryptionKey(raw, variable: "SWITCHBOARD_ENCRYPTION_KEY")
        }

        var generatedSecretsFile: String? = nil
        if jwtSecret == nil || encryptionKey == nil {
            guard mode == .development else {
                let missing = jwtSecret == nil ? "SWITCHBOARD_JWT_SECRET" : "SWITCHBOARD_ENCRYPTION_KEY"
                throw ConfigurationError("\(missing) is required when SWITCHBOARD_ENV=production")
            }
            let file = DevelopmentSecrets.path(besideDatabaseAt: sqlitePath)
            let secrets = try DevelopmentSecrets.loadOrCreate(at: file)
            jwtSecret = jwtSecret ?? secrets.jwtSecret
            encryptionKey = try encryptionKey ?? parseEncryptionKey(secrets.encryptionKey, variable: file)
            generatedSecretsFile = file
        }

        let allowPrivate: Bool
        switch value("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE")?.lowercased() {
        case nil, "false", "0", "no": allowPrivate = false
        case "true", "1", "yes": allowPrivate = true
        case let other?: throw ConfigurationError("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE must be true or false, not '\(other)'")
        }
        var retrySeconds = WebhookPolicy.defaultRetrySeconds
        if let raw = value("SWITCHBOARD_WEBHOOK_RETRY_SECONDS") {
            let parts = raw.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...20).contains(parts.count), parts.allSatisfy({ $0 != nil && $0! > 0 && $0! <= 604_800 }) else {
                throw ConfigurationError("SWITCHBOARD_WEBHOOK_RETRY_SECONDS must list 1 to 20 waits in seconds (such as 5,30,120)")
            }
            retrySeconds = parts.map { $0! }
        }
        let disableAfter = try wholeNumber("SWITCHBOARD_WEBHOOK_DISABLE_AFTER", in: 1...1_000, default: 5, of: "failed deliveries")
        let maxWebhooks = try wholeNumber("SWITCHBOARD_MAX_WEBHOOKS_PER_TENANT", in: 1...10_000, default: 50, of: "subscriptions")
        let maxStreamsPerTenant = try wholeNumber("SWITCHBOARD_MAX_STREAMS_PER_TENANT", in: 1...1_000_000, default: 1_000, of: "streams")
        let maxStreamsPerToken = try wholeNumber("SWITCHBOARD_MAX_STREAMS_PER_TOKEN", in: 1...10_000, default: 5, of: "streams")
        let trustedProxies = try value("SWITCHBOARD_TRUSTED_PROXIES").map { try TrustedProxies.parse($0) } ?? .none
        let publicURL = try value("SWITCHBOARD_PUBLIC_URL").map(parsePublicURL)

        var configuration = SwitchboardConfiguration(
            mode: mode,
            database: database,
            jwtSecret: jwtSecret!,
            encryptionKey: encryptionKey!,
            aggregationIntervalSeconds: interval,
            corsOrigins: corsOrigins,
            rateLimit: rateLimit,
            unauthenticatedRateLimit: unauthenticatedRateLimit,
            maxTokenLifetimeSeconds: maxTokenLifetime,
            shutdownGraceSeconds: shutdownGrace,
            databaseWaitSeconds: databaseWait,
            maxInFlight: maxInFlight,
            generatedSecretsFile: generatedSecretsFile,
            assetsDirectory: assetsDirectory
        )
        configuration.webhookAllowPrivate = allowPrivate
        configuration.webhookRetrySeconds = retrySeconds
        configuration.webhookDisableAfter = disableAfter
        configuration.maxWebhooksPerTenant = maxWebhooks
        configuration.maxStreamsPerTenant = maxStreamsPerTenant
        configuration.maxStreamsPerToken = maxStreamsPerToken
        configuration.trustedProxies = trustedProxies
        configuration.publicURL = publicURL
        return configuration
    }

    /// An absolute http(s) URL with a host, and no query, fragment or credentials; its trailing slash dropped.
    public static func parsePublicURL(_ raw: String) throws -> String {
        guard let url = URLComponents(string: raw), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil, url.user == nil, url.password == nil
        else {
            throw ConfigurationError("SWITCHBOARD_PUBLIC_URL must be the http(s) address this service is reached at, "
                + "such as https://switchboard.example.com, without a query")
        }
        var text = raw
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    public static func parseEncryptionKey(_ base64: String, variable: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: base64), data.count == encryptionKeyLength else {
            throw ConfigurationError("\(variable) must be the base64 encoding of exactly \(encryptionKeyLength) bytes (try: openssl rand -base64 32)")
        }
        return Array(data)
    }
}

/// `SWITCHBOARD_RATE_LIMIT` (per tenant) and `SWITCHBOARD_UNAUTHENTICATED_RATE_LIMIT` (per client address, for
/// requests without a valid token): `REQUESTS_PER_SECOND[/BURST]`, or `off`.
public struct RateLimit: Sendable, Equatable {
    public var requestsPerSecond: Double
    public var burst: Int

    public init(requestsPerSecond: Double, burst: Int) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }

    public static let defaultLimit: RateLimit? = RateLimit(requestsPerSecond: 1_000, burst: 2_000)
    public static let defaultUnauthenticatedLimit: RateLimit? = RateLimit(requestsPerSecond: 10, burst: 20)

    static func parse(_ text: String, variable: String = "SWITCHBOARD_RATE_LIMIT") throws -> RateLimit? {
        if text.lowercased() == "off" { return nil }
        let parts = text.split(separator: "/").map { $0.trimmingCharacters(in: .whitespaces) }
        guard (1...2).contains(parts.count), let rate = Double(parts[0]), rate > 0, rate.isFinite,
              let burst = parts.count == 2 ? Int(parts[1]) : Int(max(1, (rate * 2).rounded())), burst >= 1
        else {
            throw ConfigurationError("\(variable) must be REQUESTS_PER_SECOND[/BURST] (such as 50/100) or off")
        }
        return RateLimit(requestsPerSecond: rate, burst: burst)
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
