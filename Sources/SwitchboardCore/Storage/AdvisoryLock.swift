import SQLKit

/// PostgreSQL's advisory locks, the one list of what they guard. Each is taken inside a transaction
/// (`pg_*_advisory_xact_lock`) and released by its commit or rollback, so a crashed process never holds one.
/// SQLite needs none: one process writes, through the write gate.
enum AdvisoryLock: Int32, CaseIterable {
    /// One process of a cluster aggregates at a time.
    case performanceAggregation = 4_242_001
    /// One process sweeps a tenant's queue at a time (keyed by tenant).
    case queueSweep = 4_242_002
    /// One process fans a tenant's events out to webhooks at a time (keyed by tenant).
    case webhookFanOut = 4_242_003
    /// Creating a subscription counts the tenant's others under this lock (keyed by tenant).
    case webhookSubscriptions = 4_242_004

    /// Takes the lock if it is free; false when another transaction holds it.
    static func tryTransactionLock(_ lock: AdvisoryLock, tenant: String? = nil, on sql: any SQLDatabase) async throws -> Bool {
        let row = try await sql.raw("SELECT pg_try_advisory_xact_lock(\(lock.arguments(tenant))) AS locked").first()
        return try row?.decode(column: "locked", as: Bool.self) == true
    }

    /// Waits for the lock.
    static func waitForTransactionLock(_ lock: AdvisoryLock, tenant: String? = nil, on sql: any SQLDatabase) async throws {
        try await sql.raw("SELECT pg_advisory_xact_lock(\(lock.arguments(tenant)))").run()
    }

    /// A lock of the whole cluster is one 64-bit key; a tenant's is the pair (lock, hash of the tenant).
    private func arguments(_ tenant: String?) -> SQLQueryString {
        guard let tenant else { return "CAST(\(bind: Int64(rawValue)) AS bigint)" }
        return "CAST(\(bind: rawValue) AS integer), hashtext(\(bind: tenant))"
    }
}
