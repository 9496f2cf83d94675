import Foundation
import SwitchboardClient
import Testing

/// A running server and an admin token for it; `scripts/client-e2e.sh` (run by .ci/run) starts one and sets both.
private let serverURL = ProcessInfo.processInfo.environment["SWITCHBOARD_URL"].flatMap(URL.init(string:))
private let adminToken = ProcessInfo.processInfo.environment["SWITCHBOARD_TOKEN"]
/// An admin token of another tenant, whose settings the offers test changes while the other tests run.
private let peopleToken = ProcessInfo.processInfo.environment["SWITCHBOARD_PEOPLE_TOKEN"]

@Suite(.enabled(if: serverURL != nil && adminToken != nil,
                "needs SWITCHBOARD_URL and SWITCHBOARD_TOKEN (an admin token) of a running server: scripts/client-e2e.sh"))
struct EndToEndTests {
    let switchboard = Switchboard(serverURL: serverURL ?? URL(string: "http://127.0.0.1:8080")!, token: adminToken ?? "")
    /// A sector of its own, so the test can run again against the same server and tenant.
    let sector = "e2e-\(UUID().uuidString.prefix(8).lowercased())"

    @Test func aDayAtTheContactCentreThroughTheGeneratedClient() async throws {
        let team = try await switchboard.data {
            try await $0.createTeam(body: .json(.init(name: "Team \(sector)", sector: sector))).created.body.json
        }
        #expect(team.sector == sector)
        let member = try await switchboard.data {
            try await $0.upsertMember(path: .init(teamId: team.id),
                                      body: .json(.init(email: "lea@example.com", name: "Léa", role: .lead))).created.body.json
        }
        var agentIds: [String] = []
        for (name, priority) in [("Ada", 9), ("Bo", 3)] {
            let agent = try await switchboard.data {
                try await $0.createAgent(body: .json(.init(name: name, sector: sector, priority: priority, maxConcurrent: 5)))
                    .created.body.json
            }
            agentIds.append(agent.id)
        }
        let assigned = try await switchboard.data {
            try await $0.assignAgents(path: .init(teamId: team.id, memberId: member.id),
                                      body: .json(.init(agentIds: agentIds))).ok.body.json
        }
        #expect(Set(assigned.agents.map(\.id)) == Set(agentIds))

        // Ada goes to lunch and comes back: only available agents are offered calls.
        let away = try await switchboard.data {
            try await $0.setAgentPresence(path: .init(agentId: agentIds[0]), body: .json(.init(presence: .away, reason: "lunch")))
                .ok.body.json
        }
        #expect(away.presence == .away && away.presenceReason == "lunch" && away.state == .away)
        let meanwhile = try await switchboard.data { try await $0.recommendRoute(body: .json(.init(teamId: team.id))).ok.body.json }
        #expect(meanwhile.agentId == agentIds[1])
        let back = try await switchboard.data {
            try await $0.setAgentPresence(path: .init(agentId: agentIds[0]), body: .json(.init(presence: .available))).ok.body.json
        }
        #expect(back.presence == .available && back.presenceReason == nil)

        // A recommendation changes nothing; the breakdown is the chosen agent's.
        let route = try await switchboard.data { try await $0.recommendRoute(body: .json(.init(teamId: team.id))).ok.body.json }
        #expect(route.agentId == agentIds[0], "the higher priority wins when all else is equal")
        #expect(route.strategy == .team)
        #expect(route.breakdown?.priority.value == 0.9, "priority 9 of 10, normalised")

        let call = try await switchboard.data {
            try await $0.createCall(body: .json(.init(teamId: team.id, channel: .voice))).created.body.json
        }
        #expect(call.status == .active)
        #expect(call.agentId == agentIds[0])
        let completed = try await switchboard.data {
            try await $0.completeCall(path: .init(callId: call.id),
                                      body: .json(.init(outcome: .successful, resolved: true, satisfaction: 4,
                                                        handlingTimeSeconds: 120))).ok.body.json
        }
        #expect(completed.status == .completed)
        let decisions = try await switchboard.data {
            try await $0.listRoutingDecisions(query: .init(callId: call.id)).ok.body.json
        }
        #expect(decisions.map(\.agentId) == [agentIds[0]])

        let run = try await switchboard.data { try await $0.runAggregator().ok.body.json }
        #expect(run.lastError == nil)
        let performance = try await switchboard.data {
            try await $0.getTeamPerformance(path: .init(teamId: team.id)).ok.body.json
        }
        #expect(performance.map(\.callsHandled) == [1])
        #expect(performance.first?.avgSatisfaction == 4)
        #expect(performance.first?.successRate == 1)

        // Five more calls, then every call of the team, two to a page.
        for _ in 0..<5 {
            _ = try await switchboard.data { try await $0.createCall(body: .json(.init(teamId: team.id))).created.body.json }
        }
        let teamId = team.id
        var seen: [String] = []
        for try await listed in switchboard.all(pageSize: 2, {
            try await $0.listCalls(query: .init(teamId: teamId, limit: $1, offset: $2)).ok.body.json
        }) {
            seen.append(listed.id)
        }
        #expect(seen.count == 6)
        #expect(Set(seen).count == 6)
        #expect(seen.last == call.id, "newest first, the first call last")

        // The same calls as CSV, read as the server streams them.
        let csv = try await switchboard.api.exportCalls(query: .init(teamId: teamId)).ok.body.csv
        let text = try await String(collecting: csv, upTo: 1 << 20)
        let records = text.split(separator: "\r\n")
        #expect(records.first?.hasPrefix("id,status,") == true)
        #expect(records.dropFirst().map { String($0.prefix(36)) } == seen.map { $0.uppercased() })

        // What if priority counted for nothing? Today's six calls replayed under both policies.
        let day = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        let simulation = try await switchboard.data {
            try await $0.simulateRouting(body: .json(.init(
                from: day, to: day,
                policy: .init(weights: .init(successRate: 40, priority: 0, load: 20, handlingTime: 15, capabilities: 5),
                              strategy: .learning)))).ok.body.json
        }
        #expect(simulation.calls >= 6)
        #expect(simulation.current.offered == simulation.calls && simulation.proposed.offered == simulation.calls)
        #expect(simulation.current.byStep.team >= 6, "two free agents take this team's six calls at once")
        #expect(simulation.proposedSettings.value["routing.strategy"] as? String == "learning")
    }

    /// People at work, in a tenant of their own: offers of 30 s and 10 s of wrap-up. The call is offered to Cy,
    /// who rejects it; Di is offered it, accepts it (on Di's behalf: managers may answer offers), completes it and
    /// wraps up until ready.
    @Test(.enabled(if: peopleToken != nil, "needs SWITCHBOARD_PEOPLE_TOKEN: scripts/client-e2e.sh"))
    func anOfferIsAcceptedCompletedAndWrappedUp() async throws {
        let switchboard = Switchboard(serverURL: serverURL ?? URL(string: "http://127.0.0.1:8080")!, token: peopleToken ?? "")
        _ = try await switchboard.data {
            try await $0.updateSettings(body: .json(.init(value1: .init(routingOfferTimeoutSeconds: 30, callsWrapUpSeconds: 10),
                                                          value2: .init()))).ok.body.json
        }
        var agentIds: [String] = []
        for (name, priority) in [("Cy", 9), ("Di", 3)] {
            let agent = try await switchboard.data {
                try await $0.createAgent(body: .json(.init(name: name, sector: sector, priority: priority, maxConcurrent: 1)))
                    .created.body.json
            }
            agentIds.append(agent.id)
        }
        let call = try await switchboard.data { try await $0.createCall(body: .json(.init(sector: sector))).created.body.json }
        #expect(call.status == .offered && call.agentId == agentIds[0] && call.offerExpiresAt != nil)
        let moved = try await switchboard.data {
            try await $0.rejectOffer(path: .init(callId: call.id), body: .json(.init(reason: "busy"))).ok.body.json
        }
        #expect(moved.status == .offered && moved.agentId == agentIds[1])
        let accepted = try await switchboard.data { try await $0.acceptOffer(path: .init(callId: call.id)).ok.body.json }
        #expect(accepted.status == .active && accepted.assignedAt != nil)
        let completed = try await switchboard.data {
            try await $0.completeCall(path: .init(callId: call.id),
                                      body: .json(.init(outcome: .successful, resolved: true, handlingTimeSeconds: 45))).ok.body.json
        }
        #expect(completed.wrapUpUntil != nil && completed.wrapUpEndedAt == nil)
        let wrapping = try await switchboard.data { try await $0.getAgent(path: .init(agentId: agentIds[1])).ok.body.json }
        #expect(wrapping.state == .wrapUp && wrapping.currentLoad == 1)
        let ready = try await switchboard.data { try await $0.endAgentWrapUp(path: .init(agentId: agentIds[1])).ok.body.json }
        #expect(ready.state == .available && ready.currentLoad == 0)
        let decisions = try await switchboard.data { try await $0.listRoutingDecisions(query: .init(callId: call.id)).ok.body.json }
        #expect(decisions.contains { $0.trigger == .offerRejected && $0.declinedAgentId == agentIds[0] && $0.declinedReason == "busy" })
    }

    @Test func errorAnswersAreThrownWithTheirStatusAndMessage() async throws {
        let unknown = UUID().uuidString.lowercased()
        do {
            _ = try await switchboard.data { try await $0.getTeam(path: .init(teamId: unknown)).ok.body.json }
            Issue.record("an unknown team was found")
        } catch let error as SwitchboardError {
            #expect(error.status == 404)
            #expect(error.message.contains("team"))
        }
        do {
            _ = try await switchboard.data {
                try await $0.createTeam(body: .json(.init(name: "", sector: sector))).created.body.json
            }
            Issue.record("an empty name was accepted")
        } catch let error as SwitchboardError {
            #expect(error.status == 400)
            #expect(error.message.contains("name"))
        }
        // A webhook may not point into the server's own network.
        do {
            _ = try await switchboard.data {
                try await $0.createWebhook(body: .json(.init(url: "https://169.254.169.254/latest", events: ["call.*"]))).created.body.json
            }
            Issue.record("a metadata address was accepted")
        } catch let error as SwitchboardError {
            #expect(error.status == 400)
            #expect(error.message.contains("url"))
        }
        let hooks = try await switchboard.data { try await $0.listWebhooks().ok.body.json }
        #expect(hooks.isEmpty)
    }

    @Test func settingsWithClosedDaysAndChannelCredentialsRoundTrip() async throws {
        let hours: [String: Components.Schemas.BusinessHours.AdditionalPropertiesPayload?] = [
            "monday": .init(open: "09:00", close: "17:00"), "sunday": nil,
        ]
        let settings = try await switchboard.data {
            try await $0.updateSettings(body: .json(.init(value1: .init(businessHours: .init(additionalProperties: hours)),
                                                          value2: .init()))).ok.body.json
        }
        let days = try #require(settings.businessHours?.additionalProperties)
        #expect(days["monday"]??.open == "09:00")
        #expect(days.count == 7, "every weekday, closed ones as null")
        guard case .some(.none) = days["sunday"] else {
            Issue.record("sunday should be present and null (closed), got \(String(describing: days["sunday"]))")
            return
        }

        let channel = try await switchboard.data {
            try await $0.createChannel(body: .json(.init(
                _type: .sms, name: "SMS \(sector)",
                config: try .init(unvalidatedValue: ["provider": "vonage", "sender": "Switchboard"]),
                credentials: .init(additionalProperties: ["api_key": "secret-\(sector)"])
            ))).created.body.json
        }
        #expect(channel.credentialsSet)
        let checked = try await switchboard.data { try await $0.testChannel(path: .init(channelId: channel.id)).ok.body.json }
        #expect(checked.ok)
    }

    /// Every operation of the document is a method of the generated client: naming each operation's id here makes
    /// this file fail to compile if the generator ever skipped one, and the comparison catches an operation added to
    /// the document but not to this list.
    @Test func everyOperationOfTheDocumentIsGenerated() throws {
        let generated: Set<String> = [
            Operations.Health.id, Operations.Metrics.id, Operations.Openapi.id,
            Operations.ListTeams.id, Operations.CreateTeam.id, Operations.GetTeam.id, Operations.UpdateTeam.id,
            Operations.DeactivateTeam.id, Operations.GetTeamPerformance.id, Operations.ListMembers.id,
            Operations.UpsertMember.id, Operations.UpdateMember.id, Operations.RemoveMember.id,
            Operations.AssignAgents.id, Operations.UnassignAgent.id, Operations.ListTeamSuggestions.id,
            Operations.ApplyTeamSuggestion.id,
            Operations.ListAgents.id, Operations.CreateAgent.id, Operations.GetAgent.id, Operations.UpdateAgent.id,
            Operations.DeactivateAgent.id, Operations.SetAgentPresence.id, Operations.EndAgentWrapUp.id, Operations.BulkUpsertAgents.id, Operations.BulkUpsertMembers.id,
            Operations.BulkChangeMemberAgents.id, Operations.BulkChangeAssignments.id,
            Operations.RecommendRoute.id, Operations.ListRoutingDecisions.id, Operations.RoutingHealth.id,
            Operations.SimulateRouting.id, Operations.ListRoutingQueue.id,
            Operations.ListCalls.id, Operations.CreateCall.id, Operations.GetCall.id, Operations.CompleteCall.id,
            Operations.CancelCall.id, Operations.AcceptOffer.id, Operations.RejectOffer.id, Operations.ExportCalls.id, Operations.ExportAnalytics.id,
            Operations.GetSettings.id, Operations.UpdateSettings.id, Operations.ListSettingsAudit.id,
            Operations.GetAgentMetrics.id, Operations.GetTeamTrends.id, Operations.CompareTeams.id,
            Operations.TopAgents.id, Operations.GetServiceLevel.id, Operations.AggregatorStatus.id, Operations.RunAggregator.id,
            Operations.ListChannels.id, Operations.CreateChannel.id, Operations.GetChannel.id,
            Operations.UpdateChannel.id, Operations.DeleteChannel.id, Operations.TestChannel.id, Operations.ListChannelRequests.id,
            Operations.TwilioIncomingCall.id, Operations.TwilioWaitingCall.id, Operations.TwilioCallStatus.id,
            Operations.TwilioIncomingMessage.id,
            Operations.StreamEvents.id, Operations.ListWebhooks.id, Operations.CreateWebhook.id, Operations.GetWebhook.id,
            Operations.UpdateWebhook.id, Operations.DeleteWebhook.id, Operations.RotateWebhookSecret.id,
            Operations.TestWebhook.id, Operations.ListWebhookDeliveries.id, Operations.RedeliverWebhookDelivery.id,
        ]
        let document = try String(contentsOf: URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/SwitchboardClient/openapi.yaml"), encoding: .utf8)
        let inDocument = Set(document.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("operationId:") else { return nil }
            return trimmed.dropFirst("operationId:".count).trimmingCharacters(in: .whitespaces)
        })
        #expect(inDocument.count > 40)
        #expect(generated == inDocument)
    }
}
