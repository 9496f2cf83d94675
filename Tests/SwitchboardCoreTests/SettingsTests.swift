import FluentKit
import Foundation
import Testing
import VaporTesting
@testable import SwitchboardCore

@Suite("Tenant settings")
struct SettingsTests {
    @Test func defaultsAreFilledIn() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let settings = try await client.send(.GET, "/api/settings")
            #expect(settings.status == .ok)
            #expect(settings.data["routing.weights"] == .object([
                "success_rate": .number(40), "priority": .number(25), "load": .number(20),
                "handling_time": .number(15), "capabilities": .number(5),
            ]))
            #expect(settings.data["routing.overflow"] == .string("queue"))
            #expect(settings.data["routing.cache_ttl_seconds"] == .number(300))
            #expect(settings.data["routing.decision_log_candidates"] == .number(20))
            #expect(settings.data["calls.default_channel"] == .string("voice"))
            #expect(settings.data["business.timezone"] == .string("UTC"))
            #expect(settings.data["business.hours"]["monday"]["open"] == .string("09:00"))
            #expect(settings.data["business.hours"]["sunday"] == .null)
            #expect(settings.data["notifications.email"] == .array([]))
        }
    }

    @Test(arguments: [
        (#"{"routing.weights":{"success_rate":1,"priority":1,"load":1,"handling_time":1,"capabilities":0}}"#, true),
        (#"{"routing.weights":{"success_rate":1,"priority":1,"load":1,"handling_time":1}}"#, false),
        (#"{"routing.weights":{"success_rate":-1,"priority":1,"load":1,"handling_time":1,"capabilities":1}}"#, false),
        (#"{"routing.weights":{"success_rate":1,"priority":1,"load":1,"handling_time":1,"capabilities":1,"luck":3}}"#, false),
        (#"{"routing.weights":[1,2]}"#, false),
        (#"{"routing.overflow":"reject"}"#, true),
        (#"{"routing.overflow":"drop"}"#, false),
        (#"{"routing.cache_ttl_seconds":0}"#, true),
        (#"{"routing.cache_ttl_seconds":3601}"#, false),
        (#"{"routing.cache_ttl_seconds":1.5}"#, false),
        (#"{"routing.decision_log_candidates":1000}"#, true),
        (#"{"routing.decision_log_candidates":-1}"#, false),
        (#"{"calls.default_channel":"sms"}"#, true),
        (#"{"calls.default_channel":"pigeon"}"#, false),
        (#"{"business.timezone":"Europe/Paris"}"#, true),
        (#"{"business.timezone":"Mars/Olympus"}"#, false),
        (#"{"business.hours":{"monday":{"open":"08:00","close":"18:30"},"sunday":null}}"#, true),
        (#"{"business.hours":{"monday":{"open":"18:00","close":"08:00"}}}"#, false),
        (#"{"business.hours":{"funday":null}}"#, false),
        (#"{"business.hours":{"monday":{"open":"25:00","close":"26:00"}}}"#, false),
        (#"{"notifications.email":["ops@example.com"]}"#, true),
        (#"{"notifications.email":["not-an-email"]}"#, false),
        (#"{"notifications.email":"ops@example.com"}"#, false),
        (#"{"unknown.key":1}"#, false),
        (#"{}"#, false),
    ])
    func everyKeyIsValidated(body: String, valid: Bool) async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.PUT, "/api/settings", json: body)
            #expect(response.status == (valid ? .ok : .badRequest), "\(body): \(response.text)")
            if !valid, let key = body.split(separator: "\"").dropFirst().first {
                #expect(response.error?.contains(String(key)) == true || body == "{}", "\(response.error ?? "")")
            }
        }
    }

    @Test func aMixedRequestWritesNothing() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let response = try await client.send(.PUT, "/api/settings", json: #"{"routing.overflow":"reject","routing.cache_ttl_seconds":-5}"#)
            #expect(response.status == .badRequest)
            #expect(response.error?.contains("routing.cache_ttl_seconds") == true)
            #expect(try await client.send(.GET, "/api/settings").data["routing.overflow"] == .string("queue"))
            #expect(try await client.send(.GET, "/api/settings/audit").data.count == 0)
        }
    }

    @Test func changesAreAuditedExactlyOnce() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app, subject: "carol")
            let first = try await client.send(.PUT, "/api/settings", json: #"{"routing.overflow":"reject","routing.cache_ttl_seconds":300}"#)
            #expect(first.data["routing.overflow"] == .string("reject"))
            _ = try await client.send(.PUT, "/api/settings", json: #"{"routing.overflow":"reject"}"#)
            _ = try await client.send(.PUT, "/api/settings", json: #"{"routing.overflow":"queue"}"#)

            let audit = try await client.send(.GET, "/api/settings/audit")
            #expect(audit.data.count == 2, "unchanged values write no audit row")
            let newest = audit.data[0]
            #expect(newest["key"] == .string("routing.overflow"))
            #expect(newest["old_value"] == .string("reject"))
            #expect(newest["new_value"] == .string("queue"))
            #expect(newest["changed_by"] == .string("carol"))
            #expect(audit.data[1]["old_value"] == .string("queue"), "the first change starts from the default")
            #expect(try await client.send(.GET, "/api/settings/audit?key=routing.weights").data.count == 0)
            #expect(try await client.send(.GET, "/api/settings/audit?key=routing.overflow&limit=1").data.count == 1)
        }
    }

    @Test func weightsChangeTheNextDecision() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let reliable = try await client.createAgent("Reliable", priority: 1, successRate: 0.95)
            let senior = try await client.createAgent("Senior", priority: 10, successRate: 0.3)
            #expect(try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#).data["agent_id"].uuid == reliable)
            _ = try await client.send(.PUT, "/api/settings",
                                      json: #"{"routing.weights":{"success_rate":0,"priority":100,"load":0,"handling_time":0,"capabilities":0}}"#)
            let route = try await client.send(.POST, "/api/routing/route", json: #"{"sector":"billing"}"#)
            #expect(route.data["agent_id"].uuid == senior)
            #expect(route.data["score"] == .number(100))
        }
    }

    @Test func rejectOverflowGives409AndStoresNothing() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            _ = try await client.send(.PUT, "/api/settings", json: #"{"routing.overflow":"reject","calls.default_channel":"email"}"#)
            let rejected = try await client.createCall(#"{"sector":"billing"}"#)
            #expect(rejected.status == .conflict)
            #expect(try await client.send(.GET, "/api/calls").data.count == 0)
            _ = try await client.createAgent()
            let accepted = try await client.createCall(#"{"sector":"billing"}"#)
            #expect(accepted.status == .created)
            #expect(accepted.data["channel"] == .string("email"), "calls.default_channel applies")
        }
    }

    @Test func decisionLogSizeFollowsTheSetting() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            for index in 0..<4 { _ = try await client.createAgent("A\(index)") }
            _ = try await client.send(.PUT, "/api/settings", json: #"{"routing.decision_log_candidates":2}"#)
            let call = try #require(try await client.createCall(#"{"sector":"billing"}"#).data["id"].uuid)
            let decision = try await client.send(.GET, "/api/routing/decisions?call_id=\(call)")
            #expect(decision.data[0]["candidates"].count == 2)
            #expect(decision.data[0]["eligible_count"] == .number(4))
        }
    }
}
