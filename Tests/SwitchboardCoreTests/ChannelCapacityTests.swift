import FluentKit
import Foundation
import SQLKit
import Testing
@testable import SwitchboardCore

@Suite("Per-channel capacity")
struct ChannelCapacityTests {
    @Test func aVoiceOneChatThreeAgentNeverHoldsTwoVoiceCalls() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            for bad in [#"{"voice":1,"fax":2}"#, #"{"voice":-1}"#, #"{"voice":1.5}"#, #"{"voice":101}"#, #"[1]"#] {
                let refused = try await a.send(.POST, "/api/agents",
                                               json: #"{"name":"X","sector":"billing","channel_capacity":\#(bad)}"#)
                #expect(refused.status == .badRequest, "\(bad): \(refused.text)")
            }
            let created = try await a.send(.POST, "/api/agents", json: """
                {"name":"Multi","sector":"billing","max_concurrent":4,"channel_capacity":{"voice":1,"webchat":3}}
                """)
            #expect(created.status == .created, "\(created.text)")
            let agent = try #require(created.data["id"].uuid)
            #expect(created.data["channel_capacity"] == .object(["voice": .number(1), "webchat": .number(3)]))
            #expect(created.data["channel_loads"]["voice"] == .number(0))

            // 100 parallel calls, half voice and half chat, for the one agent of the sector.
            let results = try await withThrowingTaskGroup(of: (String, JSONValue).self) { group in
                for index in 0..<100 {
                    let channel = index % 2 == 0 ? "voice" : "webchat"
                    group.addTask { (channel, try await a.createCall(#"{"sector":"billing","channel":"\#(channel)"}"#).data) }
                }
                return try await group.reduce(into: [(String, JSONValue)]()) { $0.append($1) }
            }
            let active = results.filter { $0.1["status"] == .string("active") }
            #expect(active.filter { $0.0 == "voice" }.count == 1, "one voice slot")
            #expect(active.filter { $0.0 == "webchat" }.count == 3, "three chat slots")
            #expect(results.filter { $0.1["status"] == .string("queued") }.count == 96)
            let shown = try await a.agent(agent)
            #expect(shown["current_load"] == .number(4))
            #expect(shown["channel_loads"]["voice"] == .number(1) && shown["channel_loads"]["webchat"] == .number(3))

            // Nobody is free for either channel; the breakdown shows the channel's slots.
            let voiceRoute = try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","channel":"voice"}"#)
            #expect(voiceRoute.data["agent_id"] == .null)
            #expect(voiceRoute.data["eligible_count"] == .number(0), "\(voiceRoute.text)")

            // Raising the total frees nothing for voice: the voice slot is the limit. A freed chat slot takes the
            // oldest waiting chat, never a voice call; the freed voice slot the oldest waiting voice call.
            let sql = app.db as! any SQLDatabase
            func oldestQueued(_ channel: String) async throws -> UUID? {
                try await sql.select().column("id").from(Call.schema).where("client_id", .equal, a.clientId)
                    .where("status", .equal, "queued").where("channel", .equal, channel)
                    .orderBy("created_at").orderBy("id").first()?.decode(column: "id", as: UUID.self)
            }
            let raised = try await a.send(.PUT, "/api/agents/\(agent)", json: #"{"max_concurrent":10}"#)
            #expect(raised.status == .ok)
            let afterRaise = try await a.agent(agent)
            #expect(afterRaise["channel_loads"]["voice"] == .number(1), "\(afterRaise)")
            #expect(afterRaise["channel_loads"]["webchat"] == .number(3))
            #expect(afterRaise["current_load"] == .number(4), "no channel had room, so no queued call was taken")

            let route = try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","channel":"email"}"#)
            #expect(route.data["agent_id"].uuid == agent, "email has no limit of its own: the total decides")
            #expect(route.data["candidates"][0]["channel_slots"] == .object(["channel": .string("email"), "load": .number(0),
                                                                              "capacity": .null]))
            let chatRoute = try await a.send(.POST, "/api/routing/route", json: #"{"sector":"billing","channel":"webchat"}"#)
            #expect(chatRoute.data["agent_id"] == .null)

            let nextChat = try #require(try await oldestQueued("webchat"))
            let nextVoice = try #require(try await oldestQueued("voice"))
            let chat = try #require(active.first { $0.0 == "webchat" }?.1["id"].uuid)
            #expect(try await a.complete(chat).status == .ok)
            #expect(try await a.send(.GET, "/api/calls/\(nextChat)").data["status"] == .string("active"))
            #expect(try await a.send(.GET, "/api/calls/\(nextVoice)").data["status"] == .string("queued"))
            let voice = try #require(active.first { $0.0 == "voice" }?.1["id"].uuid)
            #expect(try await a.complete(voice).status == .ok)
            let voiceCall = try await a.send(.GET, "/api/calls/\(nextVoice)").data
            #expect(voiceCall["status"] == .string("active") && voiceCall["agent_id"].uuid == agent)

            // The decision log keeps the slots the call's channel had.
            let logged = try await a.send(.GET, "/api/routing/decisions?call_id=\(nextVoice)").data
            #expect(logged.arrayValue?.contains { $0["trigger"] == .string("queue") } == true, "\(logged)")

            // Never two voice calls at once, in the database.
            let voiceActive = try await sql.select().column(SQLRaw("COUNT(*)"), as: "n").from(Call.schema)
                .where("client_id", .equal, a.clientId).where("status", .equal, "active").where("channel", .equal, "voice")
                .first()?.decode(column: "n", as: Int.self)
            #expect(voiceActive == 1)

            // Removing the limits ({}) makes the agent what it was: the total decides.
            let cleared = try await a.send(.PUT, "/api/agents/\(agent)", json: #"{"channel_capacity":{}}"#)
            #expect(cleared.data["channel_capacity"] == .null, "\(cleared.text)")
            #expect(cleared.data["current_load"] == .number(10), "the queue filled the raised total once the limits went")
        }
    }

    @Test func reconciliationRebuildsPerChannelLoads() async throws {
        try await withSwitchboard { app in
            let a = try await APIClient.make(app)
            let agent = try #require(try await a.send(.POST, "/api/agents", json: """
                {"name":"Multi","sector":"billing","max_concurrent":5,"channel_capacity":{"voice":1,"webchat":3}}
                """).data["id"].uuid)
            _ = try await a.createCall(#"{"sector":"billing","channel":"voice"}"#)
            _ = try await a.createCall(#"{"sector":"billing","channel":"webchat"}"#)
            _ = try await a.createCall(#"{"sector":"billing","channel":"webchat"}"#)
            // What a crash between two systems' writes, or a hand edit, could leave behind.
            let sql = app.db as! any SQLDatabase
            try await sql.update(SectorAgent.schema).set("current_load", to: 0).set("channel_load_voice", to: 0)
                .set("channel_load_webchat", to: 7).set("channel_load_email", to: 2).where("id", .equal, agent).run()
            let corrections = try await LoadReconciliation.reconcileAll(in: app.store())
            // Over a PostgreSQL shared with other tests, another app's start-up may have reconciled it first.
            if let fixed = corrections.first(where: { $0.agentId == agent }) {
                #expect(fixed.currentLoad == 3)
                #expect(fixed.channelLoads == ChannelNumbers(voice: 1, webchat: 2))
            }
            let stored = try await TenantScope(clientId: a.clientId).find(SectorAgent.self, agent, on: app.db)
            #expect(stored.currentLoad == 3 && stored.channelLoads == ChannelNumbers(voice: 1, webchat: 2))
            app.loadBook.invalidateHere(a.clientId)
            let shown = try await a.agent(agent)
            #expect(shown["channel_loads"] == .object(["voice": .number(1), "sms": .number(0), "whatsapp": .number(0),
                                                       "email": .number(0), "webchat": .number(2)]))
            // The voice slot is taken again: a second voice call waits.
            #expect(try await a.createCall(#"{"sector":"billing","channel":"voice"}"#).data["status"] == .string("queued"))
            #expect(try await a.createCall(#"{"sector":"billing","channel":"webchat"}"#).data["status"] == .string("active"))
        }
    }

    @Test func theBookHonoursChannelLimitsInMemory() throws {
        let id = UUID()
        let row = BookAgentRow(id: id, sector: "billing", isActive: true, priority: 5, capabilities: [], maxConcurrent: 3, load: 0,
                               successRate: 0.5, avgHandlingTime: 100,
                               channelCapacity: ChannelNumbers(capacity: [.voice: 1]), channelLoads: .zero)
        var book = TenantBook(policy: .defaults, agents: [row], teams: [:], assignments: [], queuedCalls: 0)
        let voice = RouteRequest(teamId: nil, sector: "billing", capabilities: [], channel: .voice)
        let chat = RouteRequest(teamId: nil, sector: "billing", capabilities: [], channel: .webchat)
        let first = try book.decide(voice, claiming: true)
        #expect(first.chosen?.agentId == id)
        #expect(first.chosen?.channelSlots == ChannelSlot(channel: .voice, load: 0, capacity: 1))
        #expect(try book.decide(voice, claiming: true).chosen == nil)
        #expect(try book.decide(chat, claiming: true).chosen?.agentId == id)
        #expect(try book.decide(chat, claiming: true).chosen?.agentId == id)
        #expect(try book.decide(chat, claiming: true).chosen == nil, "the total of 3 is reached")
        book.adjustLoad(of: id, by: -1, channel: .voice)
        #expect(try book.decide(voice, claiming: false).chosen?.agentId == id)
        // A recommendation without a channel ignores the channels' limits, as the total allows.
        #expect(book.agent(id)?.channelLoads == ChannelNumbers(webchat: 2))

        // The simulator holds the same limits: two voice calls at once for this agent, the second waits.
        let calls = [0.0, 1.0].map {
            RoutingSimulation.Call(arrival: $0, teamId: nil, sector: "billing", capabilities: [], handlingSeconds: 10, channel: .voice)
        }
        let report = RoutingSimulation.run(calls, catalogue: BookCatalogue(agents: [row], teams: [:], assignments: [], successHistory: [:]),
                                           policy: .defaults, horizonSeconds: 100)
        #expect(report.byStep[.queue] == 1 && report.waitMax == 9)
    }
}
