import Fluent
import JWT
import SQLKit
import Vapor

/// Builds the application from a configuration: database, migrations, keys, middleware, routes, commands.
public func configure(_ app: Application, _ config: SwitchboardConfiguration) async throws {
    app.switchboardConfiguration = config
    app.storeSettings = .init(commitConfirmationTimeout: config.commitConfirmationTimeout)
    app.routes.defaultMaxBodySize = ByteCount(value: BodyLimit.standard)
    var timeouts = SwitchboardServer.Timeouts()
    timeouts.shutdownGrace = .seconds(config.shutdownGraceSeconds)
    app.switchboardServer = SwitchboardServer(application: app, timeouts: timeouts, maxInFlight: config.maxInFlight)
    app.servers.use { app in app.switchboardServer }
    app.responder.use { app in TargetRouter(routes: app.routes, middleware: app.middleware.resolve()) }
    app.unauthenticatedLimiter = config.unauthenticatedRateLimit.map { RateLimiter(limit: $0) }
    app.trustedProxies = config.trustedProxies
    app.forwardedForWarnings = ForwardedForWarnings()

    app.middleware = Middlewares()
    if !config.corsOrigins.isEmpty {
        app.middleware.use(VaryOriginMiddleware())
        app.middleware.use(CORSMiddleware(configuration: .init(
            allowedOrigin: .any(config.corsOrigins),
            allowedMethods: [.GET, .POST, .PUT, .PATCH, .DELETE, .OPTIONS],
            allowedHeaders: [.accept, .authorization, .contentType, .origin, "Idempotency-Key"],
            cacheExpiration: 600
        )))
    }
    app.middleware.use(SecurityHeadersMiddleware())
    app.middleware.use(RequestMetricsMiddleware(metrics: app.metrics))
    app.middleware.use(ErrorEnvelopeMiddleware())
    app.middleware.use(RequestLimitsMiddleware())
    if let assets = config.assetsDirectory ?? AssetLocation.locate() {
        app.directory = DirectoryConfiguration(workingDirectory: assets)
    } else {
        app.logger.warning("""
            the dashboard and /openapi.yaml are not served: no Public/ and docs/openapi.yaml in the working directory \
            or above the executable; set SWITCHBOARD_ASSETS_DIR to the folder that holds them
            """)
    }
    app.middleware.use(DashboardFilesMiddleware(publicDirectory: app.directory.publicDirectory))

    app.backgroundServices = BackgroundServices(logger: app.logger)
    try await DatabaseSelection.configure(app, for: config.database)
    app.migrations.add(SwitchboardMigrations.all)
    app.fluent.migrationLogLevel = .debug

    await app.jwt.keys.add(hmac: HMACKey(from: config.jwtSecret), digestAlgorithm: .sha256)
    _ = app.verifiedTokens
    _ = app.readCache  // created before requests arrive, as application storage is not for concurrent first use
    app.suggestionEffects = SuggestionEffects()
    let store = app.store(), logger = app.logger
    app.eventHub = EventHub(metrics: app.metrics, polling: EventHub.Polling(
        interval: app.writeGate == nil ? .seconds(1) : .milliseconds(100), database: { store.sql }, logger: logger),
        limits: .init(perTenant: config.maxStreamsPerTenant, perToken: config.maxStreamsPerToken))
    if let poll = app.eventHub.pollingService { app.backgroundServices.add(poll, named: "event poll") }
    app.callWriter = CallWriter(store: app.store(), book: app.loadBook, events: app.eventHub, metrics: app.metrics, logger: app.logger)
    app.aggregator = PerformanceAggregator(
        store: app.store(), book: app.loadBook, metrics: app.metrics,
        intervalSeconds: config.aggregationIntervalSeconds, logger: app.logger
    )
    app.webhookDeliverer = WebhookDeliverer(
        store: store, cipher: CredentialCipher(keyBytes: config.encryptionKey),
        settings: .init(allowPrivate: config.webhookAllowPrivate, retrySeconds: config.webhookRetrySeconds,
                        disableAfter: config.webhookDisableAfter, tick: .milliseconds(250)),
        eventLoopGroup: app.eventLoopGroup, metrics: app.metrics, logger: logger)
    app.denialLog = DenialLog(logger: app.logger)
    app.backgroundServices.add(app.denialLog.service(every: .seconds(1), to: app.store()), named: "denial log")
    if case .postgres(let url) = config.database {
        app.loadBook.broadcastInvalidations { clientId in
            await ClusterNotifications.notify(clientId, on: store, logger: logger)
        }
        app.backgroundServices.add(try ClusterNotifications(
            url: url, eventLoopGroup: app.eventLoopGroup, pools: app.loadBook, events: app.eventHub, logger: app.logger),
            named: "cluster notifications")
    }
    // After the databases' handlers, so that its services stop before the databases close.
    app.lifecycle.use(app.backgroundServices)

    try routes(app)
    app.routeMethods = RouteMethods(app.routes.all)

    app.asyncCommands.use(MigrateOnlyCommand(), as: "migrate")
    app.asyncCommands.use(TokenCommand(), as: "token")
    app.asyncCommands.use(RotateEncryptionKeyCommand(), as: "rotate-encryption-key")
    app.asyncCommands.use(BackupCommand(), as: "backup")
}

extension Application {
    /// The first step of a graceful stop (SIGTERM, SIGINT): stop taking requests and let those in progress finish
    /// (up to `SWITCHBOARD_SHUTDOWN_GRACE`), before `asyncShutdown` stops the background workers and closes the
    /// databases under them.
    public func stopServing() async {
        // Live streams never end on their own: they are told the server is going away (1001) first, so the
        // server's grace is spent on requests, not on waiting for dashboards to hang up.
        await eventHub.stop()
        await switchboardServer.shutdown()
    }

    /// PostgreSQL may still be starting (a deploy, a failover): try it for `SWITCHBOARD_DATABASE_WAIT` seconds,
    /// saying so once a second, before giving up with the last error.
    func waitForDatabase() async throws {
        let config = switchboardConfiguration
        guard case .postgres = config.database else { return }
        let deadline = ContinuousClock.now + .seconds(config.databaseWaitSeconds)
        while true {
            do {
                try await (db as! any SQLDatabase).raw("SELECT 1").run()
                return
            } catch {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { throw error }
                logger.warning("\(config.database.displayName) is not reachable yet; retrying for \(left.components.seconds) s more",
                               metadata: ["reason": "\(describeFailure(error, config: config))"])
                try await Task.sleep(for: min(.seconds(1), left))
            }
        }
    }

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
        try await waitForDatabase()
        // Fluent logs two lines per migration; one line saying what this start applied is what an operator reads.
        try await migrator.setupIfNeeded().get()
        let pending = try await migrator.previewPrepareBatch().get().map { String(describing: type(of: $0.0)) }
        try await autoMigrate()
        if !pending.isEmpty {
            logger.info("database migrated: applied \(pending.count) migration(s), \(pending.first!)…\(pending.last!)")
        }
        let corrections = try await LoadReconciliation.reconcileAll(in: store())
        for correction in corrections {
            logger.warning("corrected agent load from active calls", metadata: [
                "agent_id": "\(correction.agentId)", "current_load": "\(correction.currentLoad)",
                "channel_loads": "\(correction.channelLoads.loadsDescription)",
            ])
        }
    }
}
