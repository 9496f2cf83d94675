import FluentKit
import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// The load book and the group commit: what they decide in memory must be what the database records.
@Suite("Load book and group commit")
struct LoadBookTests {
    @Test func threeHundredCallsOverFiftySlotsQueueAndDrainInArrivalOrder() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            var agents: [UUID] = []
            for index in 0..<5 { agents.append(try await client.createAgent("A\(index)", maxConcurrent: 10)) }
            let statuses = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<300 {
                    group.addTask { try await client.createCall(#"{"sector":"billing"}"#).data["status"].stringValue }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == "active" }.count == 50)
            #expect(statuses.filter { $0 == "queued" }.count == 250)

            let sql = app.db as! any SQLDatabase
            func ids(_ status: CallStatus) async throws -> [UUID] {
                try await sql.select().column("id").from(Call.schema)
                    .where("client_id", .equal, client.clientId).where("status", .equal, status.rawValue)
                    .orderBy("created_at").orderBy("id").all()
                    .map { try $0.decode(column: "id", as: UUID.self) }
            }
            #expect(try await ids(.active).count == 50)
            let queued = try await ids(.queued)
            #expect(queued.count == 250)
            let stamps = try await sql.select().column("created_at").from(Call.schema)
                .where("client_id", .equal, client.clientId).orderBy("created_at").all()
                .map { try $0.decode(column: "created_at", as: Date.self) }
            #expect(Set(stamps).count == 300, "every call has its own arrival time, even within one batch")

            // Each round completes every active call one at a time; the freed slots must go to the next 50
            // calls in arrival order, and nothing may be left over at the end.
            for round in 0..<5 {
                for call in try await ids(.active) {
                    let completed = try await client.complete(call)
                    try #require(completed.status == .ok, "\(completed.text)")
                }
                let nowActive = Set(try await ids(.active))
                #expect(nowActive == Set(queued[(round * 50)..<((round + 1) * 50)]), "round \(round)")
            }
            for call in try await ids(.active) { _ = try await client.complete(call) }
            #expect(try await ids(.queued).isEmpty)
            #expect(try await ids(.active).isEmpty)
            for agent in agents { #expect(try await client.agent(agent)["current_load"] == .number(0)) }
        }
    }

    /// A seeded random mix of creations (some concurrent, so batches hold several), completions, cancels, agent
    /// edits and deactivations; afterwards the book, the agents' loads and the active calls all agree, and no
    /// queued call waits while an agent of its sector has room.
    @Test(arguments: [UInt64(7), 20_261_125])
    func bookAndDatabaseAgreeAfterARandomMix(seed: UInt64) async throws {
        try await withSwitchboard { app in
            var random = SeededRandom(seed: seed)
            let client = try await APIClient.make(app)
            let sectors = ["billing", "support"]
            var agents: [(id: UUID, sector: String)] = []
            for index in 0..<8 {
                let sector = sectors[index % 2]
                agents.append((try await client.createAgent("A\(index)", sector: sector, maxConcurrent: Int.random(in: 1...3, using: &random)), sector))
            }
            let team = try await client.createTeam(sector: "billing")
            let member = try await client.addMember(to: team)
            try await client.assign([agents[0].id, agents[2].id], to: member, in: team)
            var calls: [UUID] = []

            // The last 15 steps only create and complete, so the book compared below was kept by the writer in
            // memory, not just read back from the database after an agent edit dropped it.
            for step in 0..<135 {
                switch step < 120 ? Int.random(in: 0..<10, using: &random) : Int.random(in: 0..<6, using: &random) {
                case 0..<4:
                    let count = Int.random(in: 1...6, using: &random)
                    let bodies = (0..<count).map { _ in
                        Bool.random(using: &random) ? #"{"team_id":"\#(team)"}"# : #"{"sector":"\#(sectors.randomElement(using: &random)!)"}"#
                    }
                    let created = try await withThrowingTaskGroup(of: UUID?.self) { group in
                        for body in bodies { group.addTask { try await client.createCall(body).data["id"].uuid } }
                        return try await group.reduce(into: [UUID]()) { if let id = $1 { $0.append(id) } }
                    }
                    calls += created
                case 4..<6:
                    if let call = calls.randomElement(using: &random) { _ = try await client.complete(call) }
                case 6:
                    if let call = calls.randomElement(using: &random) { _ = try await client.send(.POST, "/api/calls/\(call)/cancel") }
                case 7:
                    let agent = agents.randomElement(using: &random)!
                    _ = try await client.send(.PUT, "/api/agents/\(agent.id)",
                                              json: #"{"max_concurrent":\#(Int.random(in: 1...4, using: &random))}"#)
                case 8:
                    let agent = agents.randomElement(using: &random)!
                    _ = try await client.send(.DELETE, "/api/agents/\(agent.id)")
                default:
                    let agent = agents.randomElement(using: &random)!
                    _ = try await client.send(.PUT, "/api/agents/\(agent.id)", json: #"{"status":"active"}"#)
                }
            }

            let sql = app.db as! any SQLDatabase
            let activeByAgent = try await sql.select().column("agent_id").column(SQLRaw("COUNT(*)"), as: "n").from(Call.schema)
                .where("client_id", .equal, client.clientId).where("status", .equal, "active").groupBy("agent_id").all()
                .reduce(into: [UUID: Int]()) { $0[try $1.decode(column: "agent_id", as: UUID.self)] = try $1.decode(column: "n", as: Int.self) }
            let queuedSectors = Set(try await sql.select().column("sector").from(Call.schema)
                .where("client_id", .equal, client.clientId).where("status", .equal, "queued").all()
                .map { try $0.decode(column: "sector", as: String.self) })
            let book = try #require(app.loadBook.peek(client.clientId), "the writer keeps the tenant's book")
            for agent in agents {
                let row = try await client.agent(agent.id)
                let load = try #require(row["current_load"].intValue)
                #expect(load == activeByAgent[agent.id, default: 0], "the agent's load is its number of active calls")
                let booked = book.agent(agent.id)
                #expect(booked?.load == load, "the book holds the committed load")
                #expect(booked?.maxConcurrent == row["max_concurrent"].intValue)
                #expect(booked?.isActive == (row["status"] == .string("active")))
                if row["status"] == .string("active"), load < row["max_concurrent"].intValue ?? 0 {
                    #expect(!queuedSectors.contains(agent.sector), "a call waits while \(agent.sector) has room")
                }
            }
        }
    }

    /// Two server processes over one PostgreSQL (two applications here): a catalogue change made through one
    /// drops the other's book, and the loads one commits reach the other's book through NOTIFY.
    @Test(.enabled(if: TestDatabase.isPostgres))
    func anotherProcessHearsCatalogueChangesAndCommittedLoads() async throws {
        try await withSwitchboard { first in
            try await withSwitchboard { second in
                let viaFirst = try await APIClient.make(first)
                let viaSecond = APIClient(app: second, clientId: viaFirst.clientId, role: .admin, token: viaFirst.token)
                let agent = try await viaFirst.createAgent(maxConcurrent: 3)
                func secondLoadsItsBook() async throws {
                    let route = try await viaSecond.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
                    try #require(route.data["agent_id"].uuid == agent)
                }
                try await secondLoadsItsBook()
                _ = try await viaFirst.createAgent("Another", sector: "support")
                #expect(try await holdsEventually(every: .milliseconds(50)) { second.loadBook.peek(viaFirst.clientId) == nil },
                        "the catalogue change made through the first process drops the second's book")
                try await secondLoadsItsBook()
                #expect(second.loadBook.peek(viaFirst.clientId)?.agent(agent)?.load == 0)
                _ = try await viaFirst.createCall(#"{"sector":"billing"}"#)
                #expect(try await holdsEventually(every: .milliseconds(50)) { second.loadBook.peek(viaFirst.clientId)?.agent(agent)?.load == 1 },
                        "the load the first process committed reaches the second's book")
            }
        }
    }

    @Test func aZeroCacheTTLReadsTheBookForEveryBatchAndStillRoutes() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let settings = try await client.send(.PUT, "/api/settings", json: #"{"routing.cache_ttl_seconds":0}"#)
            try #require(settings.status == .ok, "\(settings.text)")
            let agent = try await client.createAgent(maxConcurrent: 2)
            let calls = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<5 { group.addTask { try await client.createCall(#"{"sector":"billing"}"#).data["status"].stringValue } }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(calls.filter { $0 == "active" }.count == 2)
            #expect(calls.filter { $0 == "queued" }.count == 3)
            #expect(try await client.agent(agent)["current_load"] == .number(2))
            let route = try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
            #expect(route.data["strategy"] == .string("none"), "the dry run reads the book afresh and sees the agent full")
        }
    }

    /// The decision log's text is what the interpolating writer before it wrote, piece for piece (rows already
    /// stored and rows written now read the same), and a number is `Double.description` whatever its size or sign.
    @Test func decisionLogCandidatesAreWrittenAsBefore() throws {
        let agentId = try #require(UUID(uuidString: "0C6F0F3E-9B1D-4C57-8F55-7B0E2A9D3C11"))
        func factor(_ value: Double, _ contribution: Double) -> ScoreFactor { ScoreFactor(value: value, contribution: contribution) }
        let plain = ScoredCandidate(agentId: agentId, score: 76, currentLoad: 2, maxConcurrent: 100, priority: 10,
                                    breakdown: ScoreBreakdown(successRate: factor(0.5, 20), priority: factor(1, 25), load: factor(0.02, 19.6),
                                                              handlingTime: factor(0.4, 6), capabilities: factor(-0.0, 0)))
        var learning = LearningTerm(estimate: 0.8734177215189873, callsObserved: 12, explored: false, optimismBonus: 0.1)
        learning.capabilities = [LearnedCapabilityTerm(capability: "fr\"ench", level: 3, estimate: 0.9, callsObserved: 4)]
        let learned = ScoredCandidate(agentId: agentId, score: 1e15 + 0.5, currentLoad: 0, maxConcurrent: 3, priority: 5,
                                      breakdown: ScoreBreakdown(successRate: factor(0.8734177215189873, 34.936708860759495),
                                                                priority: factor(0.5, 12.5), load: factor(1, 20), handlingTime: factor(1e16, -2),
                                                                capabilities: factor(.nan, 5), learning: learning),
                                      channelSlots: ChannelSlot(channel: .voice, load: 1, capacity: 2))
        let channelOnly = ScoredCandidate(agentId: agentId, score: -3, currentLoad: 1, maxConcurrent: 2, priority: 1,
                                          breakdown: plain.breakdown, channelSlots: ChannelSlot(channel: .sms, load: 1, capacity: 2))
        let unlimited = ScoredCandidate(agentId: agentId, score: 2e-05, currentLoad: 1, maxConcurrent: 2, priority: 1,
                                        breakdown: plain.breakdown, channelSlots: ChannelSlot(channel: .email, load: 1, capacity: nil))
        let id = agentId.uuidString
        #expect(DecisionJSON.candidates([plain, learned, channelOnly, unlimited]) == """
            [["\(id)",76.0,2,100,10,0.5,20.0,1.0,25.0,0.02,19.6,0.4,6.0,-0.0,0.0],\
            ["\(id)",1000000000000000.5,0,3,5,0.8734177215189873,34.936708860759495,0.5,12.5,1.0,20.0,1e+16,-2.0,0,5.0,\
            {"l":[0.8734177215189873,12,0,0.1],"k":[["fr\\"ench",3,0.9,4]],"c":["voice",1,2]}],\
            ["\(id)",-3.0,1,2,1,0.5,20.0,1.0,25.0,0.02,19.6,0.4,6.0,-0.0,0.0,{"c":["sms",1,2]}],\
            ["\(id)",2e-05,1,2,1,0.5,20.0,1.0,25.0,0.02,19.6,0.4,6.0,-0.0,0.0]]
            """)
        var generator = SeededGenerator(seed: 25)
        let wholes = (0..<2_000).map { _ in Double(Int.random(in: -2_000_000_000...2_000_000_000, using: &generator)) }
        let powers = (0...20).flatMap { exponent in [pow(10, Double(exponent)), pow(10, Double(exponent)) - 1, -pow(10, Double(exponent))] }
        let fractions = (0..<2_000).map { _ in Double.random(in: -1e6...1e6, using: &generator) }
        for value in wholes + powers + fractions + [0, -0.0, 0.5, 1e-300, 9.007199254740993e15, .infinity, -.nan] {
            var written = ""
            DecisionJSON.appendNumber(value, to: &written)
            #expect(written == (value.isFinite ? value.description : "0"), "\(value)")
        }
    }

    @Test func decisionLogJSONReadsBackAsTheEncoderWouldWriteIt() throws {
        let candidate = RoutingCandidate(id: UUID(), isActive: true, priority: 7, currentLoad: 2, maxConcurrent: 5,
                                         successRate: 0.8125, avgHandlingTime: 1e-5)
        let scored = AgentScorer.explain(candidate, capabilities: 2, weights: .contractDefaults)
        #expect(try DecisionJSON.candidates(from: DecisionJSON.candidates([scored, scored])) == [scored, scored])
        #expect(try DecisionJSON.candidates(from: DecisionJSON.candidates([])) == [])
        // Rows written before the positional form keep reading the same.
        let keyed = String(decoding: try WireJSON.encoder().encode([scored]), as: UTF8.self)
        #expect(try DecisionJSON.candidates(from: keyed) == [scored])
        let request = try WireJSON.decoder().decode(
            RoutingDecisionLog.RequestRecord.self,
            from: Data(DecisionJSON.request(teamId: nil, sector: "bil\"ling\n\u{1}", capabilities: ["a\\b", "é"]).utf8))
        #expect(request.sector == "bil\"ling\n\u{1}")
        #expect(request.capabilities == ["a\\b", "é"])
        #expect(request.teamId == nil)
    }
}

/// SplitMix64: the same seed gives the same run.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Random and time-ordered ids")
struct GeneratedUUIDTests {
    @Test func versionFourWithTheRFCVariantAndNoRepeats() {
        expectDistinct((0..<2_000).map { _ in UUID.random() }, version: "4")
    }

    /// No repeats; the version nibble and RFC variant on the first fifty.
    private func expectDistinct(_ ids: [UUID], version: Character, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Set(ids).count == ids.count, sourceLocation: sourceLocation)
        for id in ids.prefix(50) {
            let text = id.uuidString
            #expect(Array(text)[14] == version, "version nibble of \(text)", sourceLocation: sourceLocation)
            #expect("89AB".contains(Array(text)[19]), "variant of \(text)", sourceLocation: sourceLocation)
        }
    }

    /// The dashboard shows a call by the first eight characters of its id: calls keep random ids, which differ there.
    @Test func callsKeepRandomIds() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            _ = try await client.send(.POST, "/api/agents", json: #"{"name":"Ada","sector":"billing","max_concurrent":5}"#)
            var ids: [String] = []
            for _ in 0..<5 {
                let call = try await client.send(.POST, "/api/calls", json: #"{"sector":"billing"}"#)
                ids.append(try #require(call.data["id"].stringValue))
            }
            #expect(ids.allSatisfy { Array($0)[14] == "4" }, "\(ids)")
            #expect(Set(ids.map { $0.prefix(8) }).count == ids.count, "\(ids)")
        }
    }

    @Test func versionSevenWithTheRFCVariantAndNoRepeats() {
        expectDistinct((0..<2_000).map { _ in UUID.timeOrdered() }, version: "7")
    }

    @Test func theFirstFortyEightBitsAreTheMillisecondAndOrderTheIds() {
        let moment = Date(timeIntervalSince1970: 1_796_000_000.123_9)
        let id = UUID.timeOrdered(at: moment)
        // 1,796,000,000,123 ms is 0x01a2_29f1_287b: the first 48 bits, over the first two groups.
        #expect(String(1_796_000_000_123 as UInt64, radix: 16) == "1a229f1287b")
        #expect(id.uuidString.lowercased().hasPrefix("01a229f1-287b-7"))
        // Ids of later milliseconds sort after earlier ones, as the text both databases are given.
        let later = (1...20).map { UUID.timeOrdered(at: moment.addingTimeInterval(Double($0) / 1000)) }
        let ordered = [id] + later
        #expect(ordered.map(\.text) == ordered.map(\.text).sorted())
    }
}

@Suite("Hand-written JSON")
struct FastJSONTests {
    @Test(arguments: [true, false])
    func aCallReadsTheSameAsTheEncoderWritesIt(filled: Bool) throws {
        let now = Date(timeIntervalSince1970: 1_795_000_123.456)
        let call = CallDTO(
            id: UUID(), status: filled ? .completed : .queued, agentId: filled ? UUID() : nil, teamId: filled ? UUID() : nil,
            sector: "bil\"ling\\é", channel: .webchat, capabilities: filled ? ["french", "vip\n"] : [], requiredCapabilities: filled ? ["french"] : [],
            externalRef: filled ? "ticket/42" : nil, outcome: filled ? .failed : nil, resolved: filled ? false : nil,
            satisfaction: filled ? 4 : nil, handlingTimeSeconds: filled ? 140.25 : nil, createdAt: now,
            assignedAt: filled ? now.addingTimeInterval(0.5) : nil, completedAt: filled ? now.addingTimeInterval(61) : nil,
            cancelledAt: nil)
        let envelope = Envelope(data: call)
        let fast = try JSONDecoder().decode(JSONValue.self, from: try envelope.encodedData())
        struct Body: Encodable { let success = true; let data: CallDTO }
        let reference = try JSONDecoder().decode(JSONValue.self, from: try WireJSON.encoder().encode(Body(data: call)))
        #expect(fast == reference)
    }

    @Test(arguments: [true, false])
    func anAgentReadsTheSameAsTheEncoderWritesIt(filled: Bool) throws {
        let now = Date(timeIntervalSince1970: 1_795_000_123.456)
        let agent = SectorAgent()
        agent.id = UUID()
        agent.externalId = filled ? "hr/7\"é" : nil
        agent.name = "Ada \\ \"Lovelace\"\n"
        agent.sector = "billing"
        agent.status = filled ? .active : .inactive
        agent.priority = 7
        agent.capabilities = filled ? ["french", "vip"] : []
        agent.capabilityLevels = filled ? ["french": 3] : [:]
        agent.storedContact = filled ? AgentContact(sip: "sip:ada@example.com", client: nil, phone: "+15550100").stored : nil
        agent.maxConcurrent = 4
        agent.currentLoad = filled ? 2 : 0
        agent.channelCapacity = filled ? [.voice: 1, .email: 3] : [:]
        (agent.voiceLoad, agent.smsLoad, agent.whatsappLoad, agent.emailLoad, agent.webchatLoad) = (1, 0, 0, filled ? 1 : 0, 0)
        agent.successRate = filled ? 0.8125 : 0.5
        agent.avgHandlingTime = filled ? 301.25 : 300
        agent.presence = filled ? .away : .available
        agent.presenceReason = filled ? "lunch" : nil
        agent.stateSince = filled ? now : nil
        agent.wrapUpSeconds = filled ? 30 : nil
        agent.wrapUpUntil = filled ? now.addingTimeInterval(30) : nil
        agent.missedOffers = 0
        agent.createdAt = filled ? now.addingTimeInterval(-86_400) : nil
        agent.updatedAt = filled ? now : nil
        let dto = AgentDTO(agent, offers: filled ? 1 : 0)
        let fast = try JSONDecoder().decode(JSONValue.self, from: try Envelope(data: dto).encodedData())
        struct Body: Encodable { let success = true; let data: AgentDTO }
        let reference = try JSONDecoder().decode(JSONValue.self, from: try WireJSON.encoder().encode(Body(data: dto)))
        #expect(fast == reference)
    }
}
