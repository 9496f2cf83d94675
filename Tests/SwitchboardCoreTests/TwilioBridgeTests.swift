import Foundation
import Testing
import VaporTesting
@testable import SwitchboardCore

/// The Twilio bridge's pure parts, its channel and agent fields, and its hooks through the app. The end-to-end
/// flows, signed by Twilio's own library, are in tests/twilio/twilio_bridge.py (both databases, in .ci/run).
@Suite("Twilio bridge")
struct TwilioBridgeTests {
    static let publicURL = "https://switchboard.example.test"
    static let authToken = "0123456789abcdef0123456789abcdef"
    static let accountSid = "AC0123456789abcdef0123456789abcdef"

    // Signatures as Twilio's Python library (`RequestValidator.compute_signature`) computes them.
    @Test func signaturesMatchTwiliosOwn() {
        let documented = TwilioSignature.compute(
            url: "https://mycompany.com/myapp.php?foo=1&bar=2",
            parameters: [("To", "+18005551212"), ("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"),
                         ("Digits", "1234"), ("From", "+12349013030")],
            authToken: "12345")
        #expect(documented == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        let url = "https://sb.example.com/hooks/twilio/X/status?call=Y&agent=Z"
        let parameters = [("DialCallStatus", "completed"), ("DialCallDuration", "42"), ("Note", "ünïcödé & <xml>")]
        #expect(TwilioSignature.compute(url: url, parameters: parameters, authToken: Self.authToken) == "HoGbycUW0st7Qd9Ij0oz6Z5zvm0=")
        #expect(TwilioSignature.isValid("HoGbycUW0st7Qd9Ij0oz6Z5zvm0=", url: url, parameters: parameters, authToken: Self.authToken))
        #expect(!TwilioSignature.isValid("HoGbycUW0st7Qd9Ij0oz6Z5zvm0=", url: url + "x", parameters: parameters, authToken: Self.authToken))
        #expect(!TwilioSignature.isValid("HoGbycUW0st7Qd9Ij0oz6Z5zvm0=", url: url, parameters: Array(parameters.dropLast()),
                                         authToken: Self.authToken))
        #expect(!TwilioSignature.isValid(nil, url: url, parameters: parameters, authToken: Self.authToken))
        #expect(!TwilioSignature.isValid("", url: url, parameters: parameters, authToken: Self.authToken))
    }

    @Test func twimlEscapesEveryTextAndURL() {
        let hooks = TwilioHooks(publicURL: Self.publicURL, channelId: UUID())
        let twiml = TwiML([
            .say("Tom & Jerry's <shop> \u{7}", voice: "Polly.Amy", language: "en-GB"),
            .dial(.init(contact: .sip("sip:a&b@example.com"), action: hooks.status + "?a=1&b=2", timeoutSeconds: 20,
                        answeredCallback: hooks.status)),
            .redirect(url: hooks.wait + "?call=1&x=\"y\""),
            .hangup,
        ])
        #expect(twiml.xml.hasPrefix(#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="Polly.Amy" language="en-GB">Tom &amp; Jerry&apos;s &lt;shop&gt; </Say>"#))
        #expect(twiml.xml.contains(#"action="\#(hooks.status)?a=1&amp;b=2" method="POST" timeout="20""#))
        #expect(twiml.xml.contains(">sip:a&amp;b@example.com</Sip></Dial>"))
        #expect(twiml.xml.contains("?call=1&amp;x=&quot;y&quot;</Redirect><Hangup/></Response>"))
    }

    @Test func theQueueMessageLeavesOutAnUnknownWait() {
        let script = VoiceScript(texts: .defaults, hooks: TwilioHooks(publicURL: Self.publicURL, channelId: UUID()))
        #expect(script.queueMessage(position: 3, waitSeconds: 150) == "You are number 3 in the queue. The expected wait is about 3 minutes.")
        #expect(script.queueMessage(position: 1, waitSeconds: 20) == "You are number 1 in the queue. The expected wait is about 1 minute.")
        #expect(script.queueMessage(position: 2, waitSeconds: nil) == "You are number 2 in the queue.")
    }

    @Test func contactsAreCheckedAndKeptAsGiven() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let created = try await admin.send(.POST, "/api/agents", json: """
                {"name":"Ann","sector":"support","contact":{"sip":"sip:ann@example.sip.twilio.com;transport=tls","phone":"+442071838750"}}
                """)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.data["contact"]["sip"] == .string("sip:ann@example.sip.twilio.com;transport=tls"))
            #expect(created.data["contact"]["client"] == .null)
            let id = try #require(created.data["id"].uuid)
            for (body, field) in [
                (#"{"contact":{"sip":"ann@example.com"}}"#, "contact.sip"),
                (#"{"contact":{"phone":"020 7183 8750"}}"#, "contact.phone"),
                (#"{"contact":{"client":"ann smith"}}"#, "contact.client"),
                (#"{"contact":{"skype":"ann"}}"#, "contact.skype"),
                (#"{"contact":{"phone":44}}"#, "contact.phone"),
                (#"{"contact":{"phone":"+442071838750","sip":null}}"#, "contact.sip"),
            ] {
                let refused = try await admin.send(.PUT, "/api/agents/\(id)", json: body)
                #expect(refused.status == .badRequest && refused.error?.contains(field) == true, "\(body): \(refused.text)")
            }
            let bad = try await admin.send(.POST, "/api/agents", json: #"{"name":"Bo","sector":"support","contact":{"sip":"x"}}"#)
            #expect(bad.status == .badRequest)
            #expect(try await admin.send(.GET, "/api/agents").data.count == 1, "nothing half-written")
            let unchanged = try await admin.send(.PUT, "/api/agents/\(id)", json: #"{"name":"Ann B"}"#)
            #expect(unchanged.data["contact"]["phone"] == .string("+442071838750"))
            let cleared = try await admin.send(.PUT, "/api/agents/\(id)", json: #"{"contact":null}"#)
            #expect(cleared.data["contact"] == .null && cleared.status == .ok, "\(cleared.text)")
        }
    }

    @Test func bulkImportsCarryContacts() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let json = try await admin.send(.POST, "/api/agents/bulk", json: """
                {"agents": [{"external_id": "p-1", "name": "Ann", "sector": "support", "contact": {"sip": "sip:ann@example.com", "phone": "+442071838750"}},
                            {"external_id": "p-2", "name": "Bo", "sector": "support"}]}
                """)
            #expect(json.status == .ok, "\(json.text)")
            let ann = try #require(json.data["results"][0]["id"].uuid), bo = try #require(json.data["results"][1]["id"].uuid)
            #expect(try await admin.send(.GET, "/api/agents/\(ann)").data["contact"]["phone"] == .string("+442071838750"))
            // CSV: one cell (sip:, client: or a number); an empty cell leaves the contact as it is.
            let csv = "external_id,contact\np-1,\np-2,client:bo_desk\n"
            let updated = try await admin.send(.POST, "/api/agents/bulk", headers: [("Content-Type", "text/csv")], body: csv)
            #expect(updated.status == .ok, "\(updated.text)")
            #expect(try await admin.send(.GET, "/api/agents/\(ann)").data["contact"]["sip"] == .string("sip:ann@example.com"))
            #expect(try await admin.send(.GET, "/api/agents/\(bo)").data["contact"]["client"] == .string("bo_desk"))
            let cleared = try await admin.send(.POST, "/api/agents/bulk", json: #"{"agents":[{"external_id":"p-1","contact":{}}]}"#)
            #expect(cleared.status == .ok)
            #expect(try await admin.send(.GET, "/api/agents/\(ann)").data["contact"] == .null)
            for body in ["external_id,contact\np-2,bo\n", "external_id,contact\np-2,+44 20 7183\n"] {
                let refused = try await admin.send(.POST, "/api/agents/bulk", headers: [("Content-Type", "text/csv")], body: body)
                #expect(refused.status == .badRequest && refused.json["row_errors"][0]["field"] == .string("contact"), "\(refused.text)")
            }
            #expect(try await admin.send(.GET, "/api/agents/\(bo)").data["contact"]["client"] == .string("bo_desk"), "nothing half-written")
        }
    }

    @Test func aTwilioChannelNeedsWhereItRoutesItsCredentialsAndThePublicURL() async throws {
        let credentials = #"{"account_sid":"\#(Self.accountSid)","auth_token":"\#(Self.authToken)"}"#
        let config = #"{"provider":"twilio","phone_number":"+15005550001"}"#
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            let noURL = try await admin.send(.POST, "/api/channels", json: """
                {"type":"voice","name":"Line","sector":"support","config":\(config),"credentials":\(credentials)}
                """)
            #expect(noURL.status == .badRequest && noURL.error?.contains("SWITCHBOARD_PUBLIC_URL") == true, "\(noURL.text)")
            let inactive = try await admin.send(.POST, "/api/channels", json: """
                {"type":"voice","name":"Line","status":"inactive","sector":"support","config":\(config),"credentials":\(credentials)}
                """)
            #expect(inactive.status == .created && inactive.data["webhook_urls"] == .null, "\(inactive.text)")
        }
        try await withSwitchboard(configuring: { $0.publicURL = Self.publicURL }) { app in
            let admin = try await APIClient.make(app)
            let team = try await admin.createTeam(sector: "support")
            for (body, field) in [
                (#"{"type":"voice","name":"L","config":\#(config)}"#, "team_id or sector"),
                (#"{"type":"voice","name":"L","team_id":"\#(team)","sector":"support","config":\#(config)}"#, "not both"),
                (#"{"type":"voice","name":"L","team_id":"\#(UUID())","config":\#(config)}"#, "team_id"),
                (#"{"type":"voice","name":"L","sector":"s","config":\#(config),"credentials":{"api_key":"k"}}"#, "credentials.api_key"),
                (#"{"type":"voice","name":"L","sector":"s","config":\#(config),"credentials":{"account_sid":"AC1","auth_token":"\#(Self.authToken)"}}"#,
                 "credentials.account_sid"),
                (#"{"type":"sms","name":"L","sector":"s","config":{"provider":"twilio","sender":"ACME"}}"#, "config.sender"),
            ] {
                let refused = try await admin.send(.POST, "/api/channels", json: body)
                #expect(refused.status == .badRequest && refused.error?.contains(field) == true, "\(body): \(refused.text)")
            }
            let created = try await admin.send(.POST, "/api/channels", json: """
                {"type":"voice","name":"Line","team_id":"\(team)","config":\(config),"credentials":\(credentials)}
                """)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.data["id"].uuid)
            #expect(created.data["webhook_urls"]["voice"] == .string("\(Self.publicURL)/hooks/twilio/\(id.uuidString)/voice"))
            #expect(created.data["team_id"].uuid == team && created.data["sector"] == .null)
            let moved = try await admin.send(.PUT, "/api/channels/\(id)", json: #"{"sector":"Sales"}"#)
            #expect(moved.data["sector"] == .string("sales") && moved.data["team_id"] == .null, "setting one clears the other")
            let nowhere = try await admin.send(.PUT, "/api/channels/\(id)", json: #"{"sector":null}"#)
            #expect(nowhere.status == .badRequest)
            #expect(try await admin.send(.GET, "/api/channels").data.count == 1, "nothing half-written")
        }
    }

    @Test func hooksRefuseUnsignedRequestsAndAnswerSignedOnesWithTwiML() async throws {
        try await withSwitchboard(configuring: { $0.publicURL = Self.publicURL }) { app in
            let admin = try await APIClient.make(app)
            let agent = try await admin.send(.POST, "/api/agents", json: #"{"name":"Ann","sector":"support","contact":{"client":"ann"}}"#)
            let agentId = try #require(agent.data["id"].uuid)
            let channel = try await admin.send(.POST, "/api/channels", json: """
                {"type":"voice","name":"Line","sector":"support","config":{"provider":"twilio","phone_number":"+15005550001"},
                 "credentials":{"account_sid":"\(Self.accountSid)","auth_token":"\(Self.authToken)"}}
                """)
            let path = "/hooks/twilio/\(try #require(channel.data["id"].uuid).uuidString)/voice"
            let form = [("CallSid", "CA42"), ("From", "+447700900123")]
            let body = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
            func post(_ path: String, signature: String?, body: String = body) async throws -> APIResponse {
                var headers = [("Content-Type", "application/x-www-form-urlencoded")]
                if let signature { headers.append((TwilioSignature.header, signature)) }
                return try await admin.send(.POST, path, headers: headers, body: body, authorized: false)
            }
            let signature = TwilioSignature.compute(url: Self.publicURL + path, parameters: form, authToken: Self.authToken)

            let unsigned = try await post(path, signature: nil)
            #expect(unsigned.status == .forbidden && unsigned.text.isEmpty)
            let forged = try await post(path, signature: TwilioSignature.compute(url: Self.publicURL + path, parameters: form,
                                                                                authToken: String(repeating: "f", count: 32)))
            #expect(forged.status == .forbidden && forged.text.isEmpty)
            #expect(try await admin.send(.GET, "/api/calls").data.count == 0, "nothing written")
            let unknown = try await post("/hooks/twilio/\(UUID().uuidString)/voice", signature: signature)
            #expect(unknown.status == .notFound && unknown.text.isEmpty)
            var jsonHeaders = [("Content-Type", "application/json"), (TwilioSignature.header, signature)]
            let notAForm = try await admin.send(.POST, path, headers: jsonHeaders, body: #"{"CallSid":"CA42"}"#, authorized: false)
            #expect(notAForm.status == .badRequest && notAForm.text.isEmpty)
            jsonHeaders[0].1 = "application/x-www-form-urlencoded"
            let noSid = try await admin.send(.POST, path, headers: [jsonHeaders[0], (TwilioSignature.header, TwilioSignature.compute(
                url: Self.publicURL + path, parameters: [("From", "+447700900123")], authToken: Self.authToken))],
                body: "From=%2B447700900123", authorized: false)
            #expect(noSid.status == .badRequest && noSid.error?.contains("CallSid") == true, "\(noSid.text)")

            let answered = try await post(path, signature: signature)
            #expect(answered.status == .ok && answered.headers.contentType?.subType == "xml", "\(answered.text)")
            #expect(answered.text.contains(#"<Client statusCallbackEvent="answered""#) && answered.text.contains(">ann</Client></Dial>"))
            let calls = try await admin.send(.GET, "/api/calls")
            #expect(calls.data.count == 1 && calls.data[0]["agent_id"].uuid == agentId && calls.data[0]["external_ref"] == .string("CA42"))
            #expect(try await post(path, signature: signature).status == .ok)
            #expect(try await admin.send(.GET, "/api/calls").data.count == 1, "a retried CallSid is the same call")
        }
    }

    @Test func textsThreadIntoOneConversationAndEachIsAnEvent() async throws {
        try await withSwitchboard(configuring: { $0.publicURL = Self.publicURL }) { app in
            let admin = try await APIClient.make(app)
            let channel = try await admin.send(.POST, "/api/channels", json: """
                {"type":"sms","name":"Texts","sector":"support","config":{"provider":"twilio","sender":"+15005550003"},
                 "credentials":{"account_sid":"\(Self.accountSid)","auth_token":"\(Self.authToken)"}}
                """)
            let path = "/hooks/twilio/\(try #require(channel.data["id"].uuid).uuidString)/messaging"
            func text(_ sid: String, _ body: String) async throws -> APIResponse {
                let form = [("MessageSid", sid), ("From", "+447700900555"), ("Body", body)]
                let encoded = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }
                let signature = TwilioSignature.compute(url: Self.publicURL + path, parameters: form, authToken: Self.authToken)
                return try await admin.send(.POST, path, headers: [("Content-Type", "application/x-www-form-urlencoded"),
                                                                   (TwilioSignature.header, signature)],
                                            body: encoded.joined(separator: "&"), authorized: false)
            }
            let first = try await text("SM1", "Where is my parcel? <today> & now")
            #expect(first.status == .ok && first.text.contains("<Message>Thanks for your message."), "\(first.text)")
            #expect(try await text("SM2", "It is order 42").status == .ok)
            #expect(try await text("SM2", "It is order 42").status == .ok)
            let calls = try await admin.send(.GET, "/api/calls")
            #expect(calls.data.count == 1 && calls.data[0]["channel"] == .string("sms") && calls.data[0]["messages"] == .null)
            let thread = try await admin.send(.GET, "/api/calls/\(try #require(calls.data[0]["id"].uuid))")
            #expect(thread.data["messages"].count == 2 && thread.data["messages"][0]["body"] == .string("Where is my parcel? <today> & now"))
            let events = try await TenantScope(clientId: admin.clientId).select(from: EventOutbox.table, on: app.db)
                .column("data").where("type", .equal, EventType.callMessageReceived.rawValue).orderBy("position").all()
                .map { try $0.decode(column: "data", as: String.self) }
            #expect(events.count == 2 && events[1].contains("\"body\":\"It is order 42\""), "\(events)")
            let log = try await admin.send(.GET, "/api/channels/\(try #require(channel.data["id"].uuid))/requests")
            #expect(log.data.count == 3 && log.data[0]["hook"] == .string("messaging") && log.data[0]["status"] == .number(200))
        }
    }

    /// Refused requests spend from the address's unauthenticated budget; signed ones never do. The tenant's
    /// overflow `reject` is said, then hung up.
    @Test func onlyRefusedRequestsSpendTheBudgetAndOverflowHangsUp() async throws {
        try await withSwitchboard(configuring: {
            $0.publicURL = Self.publicURL
            $0.unauthenticatedRateLimit = RateLimit(requestsPerSecond: 0.001, burst: 3)
        }) { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"routing.overflow":"reject"}"#).status == .ok)
            let channel = try await admin.send(.POST, "/api/channels", json: """
                {"type":"voice","name":"Line","sector":"nobody","config":{"provider":"twilio","phone_number":"+15005550001"},
                 "credentials":{"account_sid":"\(Self.accountSid)","auth_token":"\(Self.authToken)"}}
                """)
            let path = "/hooks/twilio/\(try #require(channel.data["id"].uuid).uuidString)/voice"
            func post(_ sid: String, signed: Bool) async throws -> APIResponse {
                let form = [("CallSid", sid)]
                let signature = signed ? TwilioSignature.compute(url: Self.publicURL + path, parameters: form, authToken: Self.authToken) : "x"
                return try await admin.send(.POST, path, headers: [("Content-Type", "application/x-www-form-urlencoded"),
                                                                   (TwilioSignature.header, signature)],
                                            body: "CallSid=\(sid)", authorized: false)
            }
            for index in 0..<6 {
                let answer = try await post("CA\(index)", signed: true)
                #expect(answer.status == .ok && answer.text.contains("<Say") && answer.text.hasSuffix("<Hangup/></Response>"),
                        "\(answer.text)")
            }
            #expect(try await post("CAx", signed: false).status == .forbidden)
            #expect(try await post("CAx", signed: false).status == .forbidden)
            #expect(try await post("CAx", signed: false).status == .forbidden)
            #expect(try await post("CAx", signed: false).status == .tooManyRequests, "the fourth refused request is over the budget")
            #expect(try await post("CA9", signed: true).status == .ok, "a signed request passes even then")
            #expect(try await admin.send(.GET, "/api/calls").data.count == 0, "refused by the overflow: no call")
        }
    }

    /// The writer's side: the talk ends into the agent's wrap-up; the wrap-up timer gives the default disposition.
    @Test func aTalkThatEndedIsCompletedByTheDefaultDispositionWhenTheWrapUpEnds() async throws {
        try await withSwitchboard { app in
            let admin = try await APIClient.make(app)
            #expect(try await admin.send(.PUT, "/api/settings", json: #"{"calls.wrap_up_seconds":30}"#).status == .ok)
            let agent = try #require(try await admin.send(.POST, "/api/agents", json: #"{"name":"Ann","sector":"support","max_concurrent":1}"#).data["id"].uuid)
            let callId = try #require(try await admin.send(.POST, "/api/calls", json: #"{"sector":"support"}"#).data["id"].uuid)
            let tenant = Tenant(clientId: admin.clientId, userId: "test", role: .admin)
            let other = UUID()
            let stale = try await app.callWriter.submit(.talkEnded(callId, agent: other, seconds: 40), by: tenant).call
            #expect(stale.talkEndedAt == nil, "a report about another agent changes nothing")
            let talked = try await app.callWriter.submit(.talkEnded(callId, agent: agent, seconds: 40), by: tenant).call
            #expect(talked.status == .active && talked.talkSeconds == 40 && talked.wrapUpUntil != nil)
            let wrapping = try await admin.send(.GET, "/api/agents/\(agent)")
            #expect(wrapping.data["state"] == .string("wrap_up") && wrapping.data["current_load"] == .number(1))
            #expect(try await app.wrapUpTimer.handleDue(now: Date().addingTimeInterval(5), only: admin.clientId) == 0)
            #expect(try await app.wrapUpTimer.handleDue(now: Date().addingTimeInterval(32), only: admin.clientId) == 1)
            let done = try await admin.send(.GET, "/api/calls/\(callId)")
            #expect(done.data["status"] == .string("completed") && done.data["outcome"] == .string("successful"))
            #expect(done.data["resolved"] == .bool(false) && done.data["handling_time_seconds"] == .number(70), "\(done.text)")
            let free = try await admin.send(.GET, "/api/agents/\(agent)")
            #expect(free.data["current_load"] == .number(0) && free.data["state"] == .string("available"), "\(free.text)")
        }
    }
}
