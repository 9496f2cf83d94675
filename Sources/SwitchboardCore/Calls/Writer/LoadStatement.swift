import Foundation
import SQLKit


/// The conditional load update of a batch: net change per agent and channel, never past `max_concurrent` nor
/// past a channel's own limit.
struct LoadStatement {
    let values: [any SQLExpression]
    /// Agents the batch claims on (a positive change in any channel).
    let claims: Int

    static let deltaColumns = CallChannel.allCases.map { "d_\($0.rawValue)" }
    static let loadArray = "json_build_array(" + ChannelNumbers.loadColumns.joined(separator: ", ") + ")"
    static let capacityArray = "json_build_array(" + ChannelNumbers.capacityColumns.joined(separator: ", ") + ")"
    static let valuesColumns = "v(agent_id, delta, " + deltaColumns.joined(separator: ", ") + ", claim)"

    let update: SQLQueryString = {
        let sets = CallChannel.allCases.map { channel -> String in
            let column = channel.loadColumn, delta = "v.d_\(channel.rawValue)"
            return "\(column) = CASE WHEN sector_agents.\(column) + \(delta) < 0 THEN 0 ELSE sector_agents.\(column) + \(delta) END"
        }.joined(separator: ", ")
        let limits = CallChannel.allCases.map { channel -> String in
            let delta = "v.d_\(channel.rawValue)"
            return "(\(delta) <= 0 OR sector_agents.\(channel.capacityColumn) IS NULL "
                + "OR sector_agents.\(channel.loadColumn) + \(delta) <= sector_agents.\(channel.capacityColumn))"
        }.joined(separator: " AND ")
        let returned = (ChannelNumbers.loadColumns + ChannelNumbers.capacityColumns).map { "sector_agents.\($0)" }
            .joined(separator: ", ")
        return SQLQueryString("""
            UPDATE sector_agents SET current_load =
                CASE WHEN sector_agents.current_load + v.delta < 0 THEN 0 ELSE sector_agents.current_load + v.delta END,
                \(unsafeRaw: sets)
            FROM v
            WHERE sector_agents.id = v.agent_id AND (v.claim = 0 OR (sector_agents.status = 'active'
                AND sector_agents.current_load + v.delta <= sector_agents.max_concurrent AND \(unsafeRaw: limits)))
            RETURNING sector_agents.id, sector_agents.client_id, sector_agents.current_load,
                sector_agents.max_concurrent, sector_agents.status, \(unsafeRaw: returned)
            """)
    }()

    init(_ deltas: [(agent: LostClaims.Agent, delta: ChannelNumbers)]) {
        values = deltas.map { entry in
            SQLGroupExpression([SQLBind(entry.agent.agentId), SQLBind(entry.delta.total)]
                + CallChannel.allCases.map { SQLBind(entry.delta[$0]) } + [SQLBind(entry.delta.claims ? 1 : 0)])
        }
        claims = deltas.filter { $0.delta.claims }.count
    }

    func run(on db: any SQLDatabase) async throws -> [CommittedLoad] {
        try await db.raw("WITH \(unsafeRaw: Self.valuesColumns) AS (VALUES \(SQLList(values))) \(update)").all().map { row in
            CommittedLoad(id: try row.decode("id"), clientId: try row.decode("client_id"),
                          currentLoad: try row.decode("current_load"), maxConcurrent: try row.decode("max_concurrent"),
                          status: try row.decode("status"), channelLoads: try ChannelNumbers(loadsFrom: row),
                          channelCapacity: try ChannelNumbers(capacityFrom: row))
        }
    }
}

/// An agent's load as a batch committed it.
struct CommittedLoad: Decodable {
    let id: UUID
    let clientId: String
    let currentLoad: Int
    let maxConcurrent: Int
    let status: String
    let channelLoads: ChannelNumbers
    let channelCapacity: ChannelNumbers

    enum CodingKeys: String, CodingKey {
        case id, clientId = "client_id", currentLoad = "current_load", maxConcurrent = "max_concurrent", status,
             channelLoads = "channel_loads", channelCapacity = "channel_capacity"
    }

    init(id: UUID, clientId: String, currentLoad: Int, maxConcurrent: Int, status: String, channelLoads: ChannelNumbers,
         channelCapacity: ChannelNumbers) {
        self.id = id
        self.clientId = clientId
        self.currentLoad = currentLoad
        self.maxConcurrent = maxConcurrent
        self.status = status
        self.channelLoads = channelLoads
        self.channelCapacity = channelCapacity
    }

    /// PostgreSQL's JSON: the channels as arrays in `CallChannel.allCases` order (null for no limit).
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(UUID.self, forKey: .id)
        clientId = try container.decode(String.self, forKey: .clientId)
        currentLoad = try container.decode(Int.self, forKey: .currentLoad)
        maxConcurrent = try container.decode(Int.self, forKey: .maxConcurrent)
        status = try container.decode(String.self, forKey: .status)
        channelLoads = ChannelNumbers(loads: try container.decode([Int].self, forKey: .channelLoads))
        channelCapacity = ChannelNumbers(limits: try container.decode([Int?].self, forKey: .channelCapacity))
    }

    var state: LiveState {
        LiveState(agentId: id, load: currentLoad, maxConcurrent: maxConcurrent, isActive: status == ActiveStatus.active.rawValue,
                  channelLoads: channelLoads, channelCapacity: channelCapacity)
    }
}
