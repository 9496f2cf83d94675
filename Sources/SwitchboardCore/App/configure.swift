import Fluent
import JWT
import Vapor

/// Builds the application from a configuration: database, migrations, keys, middleware, routes, commands.
public func configure(_ app: Application, _ config: SwitchboardConfiguration) async throws {
    app.switchboardConfiguration = config
    app.routes.defaultMaxBodySize = ByteCount(value: BodyLimit.standard)
    app.switchboardServer = SwitchboardServer(application: app)
    app.servers.use { app in app.switchboardServer }
    app.unauthenticatedLimiter = config.unauthenticatedRateLimit.map { RateLimiter(limit: $0) }

    app.middleware = Middlewares()
    if !config.corsOrigins.isEmpty {
        app.middleware.use(VaryOriginMiddleware())
        app.middleware.use(CORSMiddleware(configuration: .init(
            allowedOrigin: .any(config.corsOrigins),
            allowedMethods: [.GET, .POST, .PUT, .DELETE, .OPTIONS],
            allowedHeaders: [.accept, .authorization, .contentType, .origin, "Idempotency-Key"],
            cacheExpiration: 600
        )))
    }
    app.middleware.use(SecurityHeadersMiddleware())
    app.middleware.use(RequestMetricsMiddleware(metrics: app.metrics))
    app.middleware.use(ErrorEnvelopeMiddleware())
    app.middleware.use(RequestLimitsMiddleware())
    app.middleware.use(DashboardFilesMiddleware(publicDirectory: app.directory.publicDirectory))

    try await DatabaseSelection.configure(app, for: config.database)
    app.migrations.add(SwitchboardMigrations.all)

    await app.jwt.keys.add(hmac: HMACKey(from: config.jwtSecret), digestAlgorithm: .sha256)
    _ = app.verifiedTokens
    _ = app.readCache  // created before requests arrive, as application storage is not for concurrent first use
    app.callWriter = CallWriter(store: app.store(), book: app.loadBook, metrics: app.metrics, logger: app.logger)
    app.aggregator = PerformanceAggregator(
        store: app.store(), book: app.loadBook, metrics: app.metrics,
        intervalSeconds: config.aggregationIntervalSeconds, logger: app.logger
    )
    app.lifecycle.use(AggregatorLifecycle())
    app.denialLog = DenialLog(logger: app.logger)
    app.denialLog.start(every: .seconds(1), to: app.store())
    app.lifecycle.use(DenialLogLifecycle())
    if case .postgres(let url) = config.database {
        let store = app.store(), logger = app.logger
        app.loadBook.broadcastInvalidations { clientId in
            await PoolInvalidationChannel.notify(clientId, on: store, logger: logger)
        }
        app.poolInvalidationChannel = try PoolInvalidationChannel(
            url: url, eventLoopGroup: app.eventLoopGroup, pools: app.loadBook, logger: app.logger)
        app.lifecycle.use(PoolInvalidationLifecycle())
    }

    try routes(app)
    app.routeMethods = RouteMethods(app.routes.all)

    app.asyncCommands.use(MigrateOnlyCommand(), as: "migrate")
    app.asyncCommands.use(TokenCommand(), as: "token")
    app.asyncCommands.use(RotateEncryptionKeyCommand(), as: "rotate-encryption-key")
}

extension Application {
    private struct CallWriterKey: StorageKey { typealias Value = CallWriter }

    var callWriter: CallWriter {
        get { storage[CallWriterKey.self]! }
        set { storage[CallWriterKey.self] = newValue }
    }

    private struct ConfigurationKey: StorageKey { typealias Value = SwitchboardConfiguration }

    public internal(set) var switchboardConfiguration: SwitchboardConfiguration {
        get { storage[ConfigurationKey.self]! }
        set { storage[ConfigurationKey.self] = newValue }
    }

    /// Migrates, then sets every agent's load from its active calls (a crash may have left them wrong).
    public func prepareDatabase() async throws {
        try await autoMigrate()
        let corrections = try await LoadLedger.reconcileAll(in: store())
        for correction in corrections {
            logger.warning("corrected agent load from active calls", metadata: [
                "agent_id": "\(correction.agentId)", "current_load": "\(correction.currentLoad)",
            ])
        }
    }
}
