import FluentPostgresDriver
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SQLKit
import Vapor

/// Agents' loads as one process committed them, for the load books of the others: the call writer's statement
/// sends them with `pg_notify` (so they are delivered only if it commits), at most 30 agents a notification.
struct LoadNotification: Codable, Sendable {
    static let channel = "switchboard_loads"

    struct State: Codable, Sendable {
        let a: UUID
        let l: Int
        let m: Int
        let on: Bool
        /// Loads and limits per channel, in `CallChannel.allCases` order (null: no limit).
        let c: [Int]
        let k: [Int?]
        /// When its last call or after-call work ended, in seconds since 1970 (null: never).
        let i: Double?
    }

    let origin: String
    let clientId: String
    let states: [State]

    func apply(to book: LoadBook) {
        // Skip the book's own notifications: it already holds those values.
        guard origin != book.origin else { return }
        book.applyCommitted(clientId, states.map {
            LiveState(agentId: $0.a, load: $0.l, maxConcurrent: $0.m, isActive: $0.on, channelLoads: ChannelNumbers(loads: $0.c),
                      channelCapacity: ChannelNumbers(limits: $0.k), idleSince: $0.i.map(Date.init(timeIntervalSince1970:)))
        })
    }
}

/// What the server processes that share one PostgreSQL tell each other, over LISTEN/NOTIFY on one dedicated
/// connection: load-book invalidations (`switchboard_routing_pools`), committed loads (`switchboard_loads`) and new
/// events (`switchboard_events`, for the event streams). A change made through one process is then routed and
/// streamed by all the others at once rather than after the cache TTL or the poll. A reconnect drops every book
/// (changes may have been missed meanwhile).
final class ClusterNotifications: Service, Sendable {
    static let channel = "switchboard_routing_pools"

    private let configuration: PostgresConnection.Configuration
    private let eventLoopGroup: any EventLoopGroup
    private let pools: LoadBook
    private let events: EventHub
    private let logger: Logger

    init(url: String, eventLoopGroup: any EventLoopGroup, pools: LoadBook, events: EventHub, logger: Logger) throws {
        configuration = try SQLPostgresConfiguration(url: url).coreConfiguration
        self.eventLoopGroup = eventLoopGroup
        self.pools = pools
        self.events = events
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

    /// Listens while the process runs, reconnecting after a second when the connection drops.
    func run() async throws {
        let (configuration, group, pools, events, logger) = (self.configuration, self.eventLoopGroup, self.pools, self.events, self.logger)
        await runUntilShuttingDown {
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(
                        on: group.any(), configuration: configuration, id: 0, logger: logger
                    ).get()
                    pools.invalidateEverythingHere()
                    do {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                try await connection.listen(on: Self.channel) { notifications in
                                    for try await notification in notifications {
                                        pools.invalidateHere(notification.payload)
                                    }
                                }
                            }
                            group.addTask {
                                try await connection.listen(on: LoadNotification.channel) { notifications in
                                    let decoder = JSONDecoder()
                                    for try await notification in notifications {
                                        try? decoder.decode(LoadNotification.self, from: Data(notification.payload.utf8))
                                            .apply(to: pools)
                                    }
                                }
                            }
                            group.addTask {
                                try await connection.listen(on: EventOutbox.channel) { notifications in
                                    for try await notification in notifications { events.signal(notification: notification.payload) }
                                }
                            }
                            try await group.next()
                            group.cancelAll()
                        }
                    } catch {
                        if !Task.isCancelled {
                            logger.warning("routing invalidation listener stopped; reconnecting", metadata: ["error": "\(error)"])
                        }
                    }
                    try? await connection.close()
                } catch {
                    if !Task.isCancelled {
                        logger.warning("routing invalidation listener cannot connect; retrying", metadata: ["error": "\(error)"])
                    }
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
