import Foundation
import SQLKit


/// The conditional update of a batch's agents: net change of load per agent and channel, never past
/// `max_concurrent` nor past a channel's own limit, claims only on agents active and available (as stored, or made
/// available by the batch: an agent the batch claims and then sends away keeps its call), the batch's presence
/// changes, wrap-ups, missed offers and ended calls; `state_since` moves when the agent's state does.
struct LoadStatement {
    let values: [any SQLExpression]
    /// Agents the batch claims on (a positive change in any channel).
    let claims: Int
    let update: SQLQueryString

    static let deltaColumns = CallChannel.allCases.map { "d_\($0.rawValue)" }
    static let valuesColumns = "v(agent_id, delta, " + deltaColumns.joined(separator: ", ")
        + ", claim, presence, reason, wrap_op, wrap_at, missed, ended)"
    static let loadArray = "json_build_array(" + ChannelNumbers.loadColumns.joined(separator: ", ") + ")"
    static let capacityArray = "json_build_array(" + ChannelNumbers.capacityColumns.joined(separator: ", ") + ")"
    /// Whether the agent may be offered calls, as the statement leaves it (also PostgreSQL's notification `on`).
    static let routable = "(status = '\(ActiveStatus.active.rawValue)' AND presence = '\(AgentPresence.available.rawValue)')"

    private static let sets: String = CallChannel.allCases.map { channel -> String in
        let column = channel.loadColumn, delta = "v.d_\(channel.rawValue)"
        return "\(column) = CASE WHEN sector_agents.\(column) + \(delta) < 0 THEN 0 ELSE sector_agents.\(column) + \(delta) END"
    }.joined(separator: ", ")
    private static let limits: String = CallChannel.allCases.map { channel -> String in
        let delta = "v.d_\(channel.rawValue)"
        return "(\(delta) <= 0 OR sector_agents.\(channel.capacityColumn) IS NULL "
            + "OR sector_agents.\(channel.loadColumn) + \(delta) <= sector_agents.\(channel.capacityColumn))"
    }.joined(separator: " AND ")
    private static let returned = (ChannelNumbers.loadColumns + ChannelNumbers.capacityColumns).map { "sector_agents.\($0)" }
        .joined(separator: ", ")

    init(_ deltas: [(agent: LostClaims.Agent, delta: ChannelNumbers)], presence: [LostClaims.Agent: BatchPlan.PresenceChange],
         wrapUps: [LostClaims.Agent: BatchPlan.WrapUpMark] = [:],
         missedOffers: [LostClaims.Agent: BatchPlan.MissedOffers] = [:], callsEnded: [LostClaims.Agent: Date] = [:],
         claimed: Set<LostClaims.Agent> = [], at now: Date) {
        func isClaim(_ entry: (agent: LostClaims.Agent, delta: ChannelNumbers)) -> Bool {
            entry.delta.claims || claimed.contains(entry.agent)
        }
        values = deltas.map { entry in
            let change = presence[entry.agent]
            // wrap_op 0: no wrap-up change (wrap_at is then `now`, never NULL, so PostgreSQL types the column).
            let (wrapOp, wrapAt): (Int, Date) = switch wrapUps[entry.agent] {
            case .started(let until): (1, until)
            case .ended(let through): (2, through)
            case nil: (0, now)
            }
            // missed: -1 resets the count, 0 leaves it, n adds n.
            let missed = switch missedOffers[entry.agent] {
            case .reset: -1
            case .add(let count): count
            case nil: 0
            }
            return SQLGroupExpression([SQLBind(entry.agent.agentId), SQLBind(entry.delta.total)]
                + CallChannel.allCases.map { SQLBind(entry.delta[$0]) } + [SQLBind(isClaim(entry) ? 1 : 0)]
                + [SQLBind(change?.presence.rawValue), SQLBind(change?.reason), SQLBind(wrapOp), SQLBind(wrapAt), SQLBind(missed)]
                + [SQLBind(callsEnded[entry.agent] == nil ? 0 : 1)])
        }
        claims = deltas.filter(isClaim).count
        let available = AgentPresence.available.rawValue
        update = """
            UPDATE sector_agents SET current_load =
                CASE WHEN sector_agents.current_load + v.delta < 0 THEN 0 ELSE sector_agents.current_load + v.delta END,
                \(unsafeRaw: Self.sets),
                presence = COALESCE(v.presence, sector_agents.presence),
                presence_reason = CASE WHEN v.presence IS NULL THEN sector_agents.presence_reason ELSE v.reason END,
                missed_offers = CASE WHEN v.missed < 0 THEN 0 ELSE sector_agents.missed_offers + v.missed END,
                last_call_ended_at = CASE WHEN v.ended = 1 THEN \(bind: now) ELSE sector_agents.last_call_ended_at END,
                wrap_up_until = CASE
                    WHEN v.wrap_op = 1 AND (sector_agents.wrap_up_until IS NULL OR sector_agents.wrap_up_until < v.wrap_at)
                        THEN v.wrap_at
                    WHEN v.wrap_op = 2 AND sector_agents.wrap_up_until <= v.wrap_at THEN NULL
                    ELSE sector_agents.wrap_up_until END,
                state_since = CASE
                    WHEN v.presence IS NOT NULL AND v.presence <> sector_agents.presence THEN \(bind: now)
                    WHEN COALESCE(v.presence, sector_agents.presence) = '\(unsafeRaw: available)' AND v.wrap_op <> 0 THEN \(bind: now)
                    WHEN COALESCE(v.presence, sector_agents.presence) = '\(unsafeRaw: available)'
                        AND (sector_agents.current_load = 0) <> (sector_agents.current_load + v.delta <= 0) THEN \(bind: now)
                    ELSE sector_agents.state_since END
            FROM v
            WHERE sector_agents.id = v.agent_id AND (v.claim = 0 OR (sector_agents.status = '\(unsafeRaw: ActiveStatus.active.rawValue)'
                AND (sector_agents.presence = '\(unsafeRaw: available)' OR v.presence = '\(unsafeRaw: available)')
                AND sector_agents.current_load + v.delta <= sector_agents.max_concurrent AND \(unsafeRaw: Self.limits)))
            RETURNING sector_agents.id, sector_agents.client_id, sector_agents.current_load,
                sector_agents.max_concurrent, sector_agents.status, sector_agents.presence, sector_agents.last_call_ended_at,
                \(unsafeRaw: Self.returned)
            """
    }

    func run(on db: any SQLDatabase) async throws -> [CommittedLoad] {
        try await db.raw("WITH \(unsafeRaw: Self.valuesColumns) AS (VALUES \(SQLList(values))) \(update)").all().map { row in
            CommittedLoad(id: try row.decode("id"), clientId: try row.decode("client_id"),
                          currentLoad: try row.decode("current_load"), maxConcurrent: try row.decode("max_concurrent"),
                          status: try row.decode("status"), presence: try row.decode("presence"),
                          channelLoads: try ChannelNumbers(loadsFrom: row),
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
    let presence: String
    let channelLoads: ChannelNumbers
    let channelCapacity: ChannelNumbers

    enum CodingKeys: String, CodingKey {
        case id, clientId = "client_id", currentLoad = "current_load", maxConcurrent = "max_concurrent", status, presence,
             channelLoads = "channel_loads", channelCapacity = "channel_capacity"
    }

    init(id: UUID, clientId: String, currentLoad: Int, maxConcurrent: Int, status: String, presence: String,
         channelLoads: ChannelNumbers, channelCapacity: ChannelNumbers) {
        self.id = id
        self.clientId = clientId
        self.currentLoad = currentLoad
        self.maxConcurrent = maxConcurrent
        self.status = status
        self.presence = presence
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
        presence = try container.decode(String.self, forKey: .presence)
        channelLoads = ChannelNumbers(loads: try container.decode([Int].self, forKey: .channelLoads))
        channelCapacity = ChannelNumbers(limits: try container.decode([Int?].self, forKey: .channelCapacity))
    }

    var state: LiveState {
        LiveState(agentId: id, load: currentLoad, maxConcurrent: maxConcurrent,
                  isActive: status == ActiveStatus.active.rawValue && presence == AgentPresence.available.rawValue,
                  channelLoads: channelLoads, channelCapacity: channelCapacity)
    }
}
