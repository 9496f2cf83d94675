import Foundation
import SQLKit
import Testing
import VaporTesting
@testable import SwitchboardCore

/// Callbacks (issue 25, §8): a call whose caller is rung back waits in the queue as any call, keeps its number
/// through the queue and a restart, and reaches its agent marked as a callback. On both databases.
@Suite struct CallbackTests {
    private static let phone = "+442071838750"

    /// A callback between two calls on the line is handed out in its arrival order, and its agent learns the
    /// number from the call, the queue listing and the `call.assigned` event.
    @Test func aCallbackKeepsItsPlaceAndReachesItsAgentWithItsNumber() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let agent = try await admin.createAgent(maxConcurrent: 1)
            var active = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let before = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let created = try await admin.createCall(#"{"sector":"billing","callback":{"phone":"\#(Self.phone)"}}"#)
            #expect(created.status == .created && created.data["status"] == .string("queued"))
            #expect(created.data["callback"]["phone"] == .string(Self.phone), "\(created.text)")
            let callback = try #require(created.data["id"].uuid)
            let after = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            #expect(try await admin.send(.GET, "/api/calls/\(after)").data["callback"] == .null, "a call on the line has none")

            let waiting = try await admin.send(.GET, "/api/calls/\(callback)").data
            #expect(waiting["callback"]["phone"] == .string(Self.phone) && waiting["queue_position"] == .number(2))
            let listed = try await admin.send(.GET, "/api/routing/queue").data.arrayValue ?? []
            #expect(listed.map { $0["call_id"].uuid } == [before, callback, after])
            #expect(listed.map { $0["callback"]["phone"] } == [.null, .string(Self.phone), .null])

            for next in [before, callback, after] {
                #expect(try await admin.complete(active).status == .ok)
                let taken = try await admin.send(.GET, "/api/calls/\(next)").data
                #expect(taken["status"] == .string("active") && taken["agent_id"] == .string(agent.uuidString), "\(taken)")
                active = next
            }
            let mine = try await admin.send(.GET, "/api/calls?status=active&agent_id=\(agent)").data.arrayValue ?? []
            #expect(mine.map { $0["id"].uuid } == [after])

            let events = try await EventOutbox.events(of: admin.clientId, after: 0, limit: 1_000, on: app.db as! any SQLDatabase)
            let assigned = events.filter { $0.type == EventType.callAssigned.rawValue }.compactMap { event in
                try? JSONDecoder().decode(JSONValue.self, from: Data(event.data.utf8))
            }
            #expect(assigned.first { $0["call_id"].uuid == callback }?["callback"]["phone"] == .string(Self.phone))
            #expect(assigned.first { $0["call_id"].uuid == after }?["callback"] == .null)
            let createdEvent = events.first { $0.type == EventType.callCreated.rawValue && $0.data.contains(callback.uuidString) }
            #expect(createdEvent?.data.contains(#""callback":{"phone":"\#(Self.phone)"}"#) == true)
        }
    }

    /// An offered callback says so in `call.offered`, and the export carries the number.
    @Test func anOfferedCallbackSaysSoAndTheExportCarriesIt() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.offer_timeout_seconds":30}"#).status == .ok)
            _ = try await admin.createAgent(maxConcurrent: 1)
            let offered = try await admin.createCall(#"{"sector":"billing","callback":{"phone":"\#(Self.phone)"}}"#)
            #expect(offered.data["status"] == .string("offered") && offered.data["callback"]["phone"] == .string(Self.phone))
            let events = try await EventOutbox.events(of: admin.clientId, after: 0, limit: 100, on: app.db as! any SQLDatabase)
            let offer = try #require(events.first { $0.type == EventType.callOffered.rawValue })
            #expect(offer.data.contains(#""callback":{"phone":"\#(Self.phone)"}"#), "\(offer.data)")

            let csv = try await admin.send(.GET, "/api/calls/export?format=csv").text
            let lines = csv.split(separator: "\r\n").map(String.init)
            let header = lines[0].split(separator: ",").map(String.init)
            let column = try #require(header.firstIndex(of: "callback_phone"))
            // A cell starting with + is guarded against spreadsheet formulas (a leading ').
            #expect(lines[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)[column] == "'\(Self.phone)")
        }
    }

    /// A malformed number or a callback without one is a 400 naming the field, and writes nothing; a replay under
    /// one Idempotency-Key must ask for the same number.
    @Test func malformedNumbersAreRefusedAndNothingIsWritten() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            _ = try await admin.createAgent(maxConcurrent: 1)
            for callback in [#"{}"#, #"{"phone":""}"#, #"{"phone":"442071838750"}"#, #"{"phone":"+0442071838750"}"#,
                             #"{"phone":"+44 20 7183 8750"}"#, #"{"phone":"+1234567890123456"}"#, #"{"phone":"+4"}"#,
                             #"{"phone":"+44-2071838750"}"#, #"{"phone":"+４４2071838750"}"#, #"{"phone":44}"#] {
                let refused = try await admin.createCall(#"{"sector":"billing","callback":\#(callback)}"#)
                #expect(refused.status == .badRequest && refused.error?.contains("callback") == true, "\(callback): \(refused.text)")
            }
            #expect(try await admin.send(.GET, "/api/calls").data.arrayValue?.isEmpty == true)

            #expect(try await admin.createCall(#"{"sector":"billing","callback":{"phone":"+15551234567"}}"#, idempotencyKey: "cb-1").status == .created)
            let replay = try await admin.createCall(#"{"sector":"billing","callback":{"phone":"+15551234567"}}"#, idempotencyKey: "cb-1")
            #expect(replay.status == .ok || replay.status == .created)
            #expect(try await admin.createCall(#"{"sector":"billing","callback":{"phone":"+15557654321"}}"#, idempotencyKey: "cb-1").status == .unprocessableEntity)
            #expect(try await admin.createCall(#"{"sector":"billing"}"#, idempotencyKey: "cb-1").status == .unprocessableEntity)
        }
    }

    /// A waiting callback survives a restart with its number and its place, and is handed out after it.
    @Test func aWaitingCallbackSurvivesARestart() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-callback-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let tenant = uniqueTenant("callback")
        var ids: (active: UUID, callback: UUID)? = nil
        try await withSwitchboard(sqlitePath: path) { app in
            let admin = try await APIClient.make(app, clientId: tenant)
            _ = try await admin.createAgent(maxConcurrent: 1)
            let active = try #require(try await admin.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let callback = try #require(try await admin.createCall(#"{"sector":"billing","callback":{"phone":"\#(Self.phone)"}}"#).data["id"].uuid)
            ids = (active, callback)
        }
        let (active, callback) = try #require(ids)
        try await withSwitchboard(sqlitePath: path) { app in
            let admin = try await APIClient.make(app, clientId: tenant)
            let waiting = try await admin.send(.GET, "/api/calls/\(callback)").data
            #expect(waiting["status"] == .string("queued") && waiting["callback"]["phone"] == .string(Self.phone))
            #expect(waiting["queue_position"] == .number(1))
            #expect(try await admin.complete(active).status == .ok)
            let taken = try await admin.send(.GET, "/api/calls/\(callback)").data
            #expect(taken["status"] == .string("active") && taken["callback"]["phone"] == .string(Self.phone))
        }
    }
}
