import FluentKit
import Foundation
import SQLKit
import Testing
import VaporTesting
import AsyncHTTPClient
@testable import SwitchboardCore

/// A small RFC 4180 reader for the tests: quoted fields, doubled quotes, CRLF between records.
func parseCSV(_ text: String) -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var scalars = Array(text.unicodeScalars)[...]
    while let scalar = scalars.popFirst() {
        if quoted {
            if scalar == "\"" {
                if scalars.first == "\"" { field.unicodeScalars.append("\""); scalars.removeFirst() } else { quoted = false }
            } else {
                field.unicodeScalars.append(scalar)
            }
        } else if scalar == "\"" {
            quoted = true
        } else if scalar == "," {
            record.append(field); field = ""
        } else if scalar == "\r", scalars.first == "\n" {
            scalars.removeFirst()
            record.append(field); field = ""
            records.append(record); record = []
        } else {
            field.unicodeScalars.append(scalar)
        }
    }
    if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
    return records
}

@Suite("CSV and NDJSON writing")
struct ExportWriterTests {
    @Test func fieldsAreQuotedOnlyWhenNeededAndQuotesDoubled() {
        var out = ""
        ExportWriter.appendCSV([.text("plain"), .text("a,b"), .text("say \"hi\""), .text("two\r\nlines"), .text(nil),
                                .integer(3), .number(-1.5), .flag(true), .list(["x", "y"])], to: &out)
        #expect(out == "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",,3,-1.5,true,x;y\r\n")
        #expect(parseCSV(out) == [["plain", "a,b", "say \"hi\"", "two\r\nlines", "", "3", "-1.5", "true", "x;y"]])
    }

    @Test(arguments: ["=SUM(A1:A9)", "+33 1 23 45", "-2+3", "@cmd", "\tindent", "\rreturn"])
    func formulaLikeTextIsDefused(_ text: String) {
        var out = ""
        ExportWriter.appendCSV([.text(text)], to: &out)
        #expect(parseCSV(out).first?.first == "'" + text, "a spreadsheet shows it as text and never evaluates it")
    }

    @Test func numbersAndOrdinaryTextAreLeftAlone() {
        var out = ""
        ExportWriter.appendCSV([.number(-3), .integer(-4), .text("Léa, 2e étage"), .text("a=b")], to: &out)
        #expect(parseCSV(out) == [["-3.0", "-4", "Léa, 2e étage", "a=b"]])
    }

    @Test func ndjsonIsOneObjectPerLineWithTypedValues() throws {
        var out = ""
        let id = UUID()
        ExportWriter.appendNDJSON(["id", "name", "n", "rate", "ok", "tags", "none"],
                                  [.id(id), .text("quote \" and \n line"), .integer(7), .number(0.25), .flag(false),
                                   .list(["a"]), .time(nil)], to: &out)
        #expect(out.hasSuffix("}\n"))
        #expect(out.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(object["id"] as? String == id.uuidString)
        #expect(object["name"] as? String == "quote \" and \n line")
        #expect(object["n"] as? Int == 7)
        #expect(object["rate"] as? Double == 0.25)
        #expect(object["ok"] as? Bool == false)
        #expect(object["tags"] as? [String] == ["a"])
        #expect(object["none"] is NSNull)
    }

    @Test func acceptChoosesTheFormat() throws {
        #expect(try ExportFormat.negotiate(accept: nil, format: nil) == .csv)
        #expect(try ExportFormat.negotiate(accept: "*/*", format: nil) == .csv)
        #expect(try ExportFormat.negotiate(accept: "application/x-ndjson", format: nil) == .ndjson)
        #expect(try ExportFormat.negotiate(accept: "text/csv;q=0.5, application/x-ndjson", format: nil) == .ndjson)
        #expect(try ExportFormat.negotiate(accept: "application/json", format: "csv") == .csv)
        #expect(throws: AppError.self) { try ExportFormat.negotiate(accept: "application/json", format: nil) }
        #expect(throws: AppError.self) { try ExportFormat.negotiate(accept: nil, format: "xlsx") }
    }
}

@Suite("Exports")
struct ExportTests {
    @Test func callsExportHasTheListingsRowsFiltersAndTenant() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let other = try await APIClient.make(app)
            _ = try await client.createAgent("Ada", maxConcurrent: 2)
            _ = try await other.createAgent("Zed")
            let refs = ["=HYPERLINK(\"http://evil\")", "plain", "comma, inside", "quote \" inside", "+1 555", "@here"]
            for ref in refs {
                let body = try JSONEncoder().encode(["sector": "billing", "external_ref": ref])
                #expect(try await client.createCall(String(decoding: body, as: UTF8.self)).status == .created)
            }
            #expect(try await other.createCall(#"{"sector":"billing","external_ref":"other tenant"}"#).status == .created)

            let viewer = try await client.as(.viewer)
            let csv = try await viewer.send(.GET, "/api/calls/export")
            #expect(csv.status == .ok)
            #expect(csv.headers.first(name: .contentType) == "text/csv; charset=utf-8")
            #expect(csv.headers.first(name: .contentDisposition) == "attachment; filename=\"calls.csv\"")
            let records = parseCSV(csv.text)
            #expect(records.first == CallExport.columns)
            let listing = try await client.send(.GET, "/api/calls?limit=500").data.arrayValue ?? []
            #expect(records.dropFirst().map { $0[0] } == listing.map { $0["id"].stringValue ?? "" }, "same calls, same order")
            let exportedRefs = records.dropFirst().map { $0[CallExport.columns.firstIndex(of: "external_ref")!] }
            #expect(Set(exportedRefs) == Set(refs.map { ["=", "+", "@"].contains($0.first!) ? "'" + $0 : $0 }))
            #expect(!csv.text.contains("other tenant"))

            let queued = try await client.send(.GET, "/api/calls/export?status=queued", headers: [("Accept", "application/x-ndjson")])
            #expect(queued.headers.first(name: .contentType) == "application/x-ndjson")
            let lines = queued.text.split(separator: "\n")
            #expect(lines.count == refs.count - 2, "one agent with two slots: two active, the rest queued")
            for line in lines {
                let object = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
                #expect(object["status"] == .string("queued"))
            }
            #expect(try await client.send(.GET, "/api/calls/export?status=nope").status == .badRequest)
            #expect(try await client.send(.GET, "/api/calls/export", headers: [("Accept", "application/json")]).status == .notAcceptable)
        }
    }

    /// Times with arbitrary fractions of a second, many to a page boundary: each call exactly once, in order.
    @Test func pageBoundariesNeitherRepeatNorSkip() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            var random = SeededRandom(seed: 5)
            // Arbitrary fractions of a second, and pairs of calls sharing a time, so the id decides their order.
            let calls: [(Date, UUID)] = (0..<400).map { index in
                let fraction = index % 3 == 0 ? Double(random.next() % 1_000_000) / 1e7 : 0
                return (Date(timeIntervalSince1970: 1_764_000_000 + Double(index / 3) * 1.37 + fraction), UUID())
            }
            try await app.store().write { db in
                let insert = (db as! any SQLDatabase).insert(into: Call.schema).columns(
                    "id", "client_id", "sector", "capabilities", "channel", "status", "created_at", "call_day")
                for (created, id) in calls {
                    insert.values([SQLBind(id), SQLBind(client.clientId), SQLBind("billing"), SQLBind([String]()),
                                   SQLBind("voice"), SQLBind("cancelled"), SQLBind(created),
                                   SQLBind(Day(containing: created).description)])
                }
                try await insert.run()
            }
            for pageSize in [1, 7, 50] {
                let export = CallExport(store: app.store(), scope: TenantScope(clientId: client.clientId),
                                        filter: .init(), format: .csv, pageSize: pageSize)
                let collected = Collected()
                try await export.produce { await collected.append($0) }
                let ids = parseCSV(await collected.text).dropFirst().map { $0[0] }
                #expect(ids.count == calls.count, "page size \(pageSize)")
                #expect(Set(ids) == Set(calls.map { $0.1.uuidString }), "page size \(pageSize): each call once")
            }
        }
    }

    actor Collected {
        var text = ""
        func append(_ buffer: ByteBuffer) { text += String(buffer: buffer) }
    }

    /// 100,000 calls through the real server: chunked, complete, newest first, each call once.
    @Test func aHundredThousandCallsStreamThroughTheServer() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let count = 100_000
            let start = Date().addingTimeInterval(-Double(count))
            try await app.store().write { db in
                let sql = db as! any SQLDatabase
                for first in stride(from: 0, to: count, by: 500) {
                    var insert = sql.insert(into: Call.schema).columns(
                        "id", "client_id", "sector", "capabilities", "channel", "status", "created_at", "call_day",
                        "external_ref")
                    for index in first..<min(first + 500, count) {
                        let created = start.addingTimeInterval(Double(index))
                        insert = insert.values([SQLBind(UUID()), SQLBind(client.clientId), SQLBind("billing"),
                                                SQLBind([String]()), SQLBind("voice"), SQLBind("cancelled"),
                                                SQLBind(created), SQLBind(Day(containing: created).description),
                                                SQLBind("n\(index)")])
                    }
                    try await insert.run()
                }
            }
            // Read as it arrives, never whole: the point is that neither side holds the export.
            let port = try await app.listenOnAnyPort()
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/calls/export")
            request.headers.add(name: "Authorization", value: "Bearer \(client.token)")
            let response = try await app.http.client.shared.execute(request, timeout: .seconds(120))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "transfer-encoding") == "chunked")
            let refColumn = CallExport.columns.firstIndex(of: "external_ref")!
            var pending = ""
            var lines = 0
            var refs: [Substring] = []
            for try await buffer in response.body {
                pending += String(buffer: buffer)
                var complete = pending.components(separatedBy: "\r\n")
                pending = complete.removeLast()
                for line in complete {
                    lines += 1
                    if lines > 1 { refs.append(line.split(separator: ",", omittingEmptySubsequences: false)[refColumn]) }
                }
            }
            await app.server.shutdown()
            #expect(pending.isEmpty, "the last record ends with CRLF")
            #expect(lines == count + 1, "a header and every call")
            var counts: [Substring: Int] = [:]
            for ref in refs { counts[ref, default: 0] += 1 }
            let repeated = counts.filter { $0.value > 1 }.keys.sorted().prefix(5)
            #expect(repeated.isEmpty, "repeated: \(repeated)")
            #expect(refs.first == "n\(count - 1)")
            #expect(refs.last == "n0")
            #expect(Set(refs).count == count)
        }
    }

    @Test func analyticsExportHasTheDailyRowsWithNames() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let other = try await APIClient.make(app)
            let agent = try await client.createAgent("Ada, the first")
            let team = try await client.createTeam("=Team")
            let day = Day(containing: Date()).adding(days: -1)
            for (outcome, seconds) in [(CallOutcome.successful, 100.0), (.failed, 300.0)] {
                try await insertCompletedCall(app, clientId: client.clientId, agentId: agent, teamId: team, day: day,
                                              outcome: outcome, resolved: true, satisfaction: 4, seconds: seconds)
            }
            let otherAgent = try await other.createAgent("Zed")
            try await insertCompletedCall(app, clientId: other.clientId, agentId: otherAgent, teamId: nil, day: day,
                                          outcome: .successful, resolved: true, satisfaction: 5, seconds: 60)
            try await aggregate(app)

            let agents = parseCSV(try await client.send(.GET, "/api/analytics/export?level=agent").text)
            #expect(agents.first?.prefix(4) == ["date", "agent_id", "agent_name", "sector"])
            #expect(agents.count == 2, "a header and one daily row; the other tenant's agent is not here")
            #expect(agents.last.map { Array($0.prefix(12)) } == [day.description, agent.uuidString, "Ada, the first", "billing",
                                                                   "2", "1", "1", "2", "4.0", "200.0", "0.5", "1.0"])
            #expect(agents.first.map { Array($0.dropFirst(12)) } == ["avg_wrap_up_time"] + PeopleDay.exportColumns)
            let teams = try await client.send(.GET, "/api/analytics/export?level=team&format=ndjson")
            let row = try JSONDecoder().decode(JSONValue.self, from: Data(teams.text.utf8))
            #expect(row["team_name"] == .string("=Team"), "NDJSON is data, not a spreadsheet: names as they are")
            #expect(row["calls_handled"] == .number(2))
            let csvTeams = parseCSV(try await client.send(.GET, "/api/analytics/export?level=team").text)
            #expect(csvTeams.last?[2] == "'=Team")
            let empty = parseCSV(try await client.send(.GET, "/api/analytics/export?level=agent&from=2020-01-01&to=2020-01-31").text)
            #expect(empty.count == 1)
            #expect(try await client.send(.GET, "/api/analytics/export").status == .badRequest)
            #expect(try await client.send(.GET, "/api/analytics/export?level=agent&from=2026-02-01&to=2026-01-01").status == .badRequest)
            // A malformed id is refused at either level, and an id of the other level is not silently ignored.
            for query in ["level=agent&team_id=", "level=team&agent_id=nope", "level=agent&team_id=\(UUID())", "level=team&agent_id=\(UUID())"] {
                let refused = try await client.send(.GET, "/api/analytics/export?\(query)")
                #expect(refused.status == .badRequest, "\(query): \(refused.status)")
            }
        }
    }
}
