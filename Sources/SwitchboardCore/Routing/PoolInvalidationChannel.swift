import FluentPostgresDriver
import Foundation
import Logging
import PostgresNIO
import SQLKit
import Vapor

/// Carries routing-pool invalidations between server processes that share one PostgreSQL: every process
/// NOTIFYs the tenant id after a change and LISTENs on one dedicated connection, so a change made through one
/// process is routed by all the others at once rather than after the cache TTL.
actor PoolInvalidationChannel {
    static let channel = "switchboard_routing_pools"

    private let configuration: PostgresConnection.Configuration
    private let eventLoopGroup: any EventLoopGroup
    private let pools: RoutingPoolCache
    private let logger: Logger
    private var listening: Task<Void, Never>?

    init(url: String, eventLoopGroup: any EventLoopGroup, pools: RoutingPoolCache, logger: Logger) throws {
        configuration = try SQLPostgresConfiguration(url: url).coreConfiguration
        self.eventLoopGroup = eventLoopGroup
        self.pools = pools
        self.logger = logger
    }

    /// Sends through the application's pool; delivered by PostgreSQL to every listener, this process included.
    static func notify(_ clientId: String, on store: Store, logger: Logger) async {
        do {
            try await store.sql.raw("SELECT pg_notify(\(bind: channel), \(bind: clientId))").run()
        } catch {
            logger.warning("could not notify other processes of a routing change", metadata: ["error": "\(error)"])
        }
    }

    func start() {
        guard listening == nil else { return }
        let (configuration, group, pools, logger) = (self.configuration, self.eventLoopGroup, self.pools, self.logger)
        listening = Task {
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(
                        on: group.any(), configuration: configuration, id: 0, logger: logger
                    ).get()
                    do {
                        try await connection.listen(on: Self.channel) { notifications in
                            for try await notification in notifications {
                                await pools.invalidateHere(notification.payload)
                            }
                        }
                    } catch {
                        if !Task.isCancelled {
                            logger.warning("routing invalidation listener stopped; reconnecting", metadata: ["error": "\(error)"])
                        }
                    }
                    try? await connection.close()
                } catch {
                    logger.warning("routing invalidation listener cannot connect; retrying", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    func stop() async {
        listening?.cancel()
        _ = await listening?.value
        listening = nil
    }
}

extension Application {
    private struct InvalidationChannelKey: StorageKey { typealias Value = PoolInvalidationChannel }

    var poolInvalidationChannel: PoolInvalidationChannel? {
        get { storage[InvalidationChannelKey.self] }
        set { storage[InvalidationChannelKey.self] = newValue }
    }
}

/// Starts the listener when the application boots (by either boot path) and stops it on shutdown.
struct PoolInvalidationLifecycle: LifecycleHandler {
    func didBoot(_ application: Application) throws {
        guard let channel = application.poolInvalidationChannel else { return }
        Task { await channel.start() }
    }

    func shutdownAsync(_ application: Application) async {
        await application.poolInvalidationChannel?.stop()
    }
}
