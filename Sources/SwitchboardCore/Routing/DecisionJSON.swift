import Foundation

/// The decision log's JSON columns, written by hand: every call logs up to 20 candidate breakdowns, and
/// `JSONEncoder` with snake_case conversion was a sixth of the CPU of creating a call (docs/PERFORMANCE.md).
/// `RoutingDecisionDTO` reads them back through `candidates(from:)`; a test checks the round trip.
enum DecisionJSON {
    static func request(teamId: UUID?, sector: String, capabilities: [String], requiredCapabilities: [String] = [],
                        requiredLevels: [String: Int] = [:], priority: (priority: Int, effective: Int)? = nil, preferredAgentId: UUID? = nil) -> String {
        var json = "{\"capabilities\":["
        for (index, capability) in capabilities.enumerated() {
            if index > 0 { json += "," }
            appendString(capability, to: &json)
        }
        json += "]"
        if let priority { json += ",\"effective_priority\":\(priority.effective)" }
        if let preferredAgentId { json += ",\"preferred_agent_id\":\"\(preferredAgentId.text)\"" }
        if let priority { json += ",\"priority\":\(priority.priority)" }
        if !requiredCapabilities.isEmpty {
            json += ",\"required_capabilities\":["
            for (index, capability) in requiredCapabilities.enumerated() {
                if index > 0 { json += "," }
                appendString(capability, to: &json)
            }
            json += "]"
        }
        if !requiredLevels.isEmpty {
            json += ",\"required_levels\":{"
            for (index, entry) in requiredLevels.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { json += "," }
                appendString(entry.key, to: &json)
                json += ":\(entry.value)"
            }
            json += "}"
        }
        json += ",\"sector\":"
        appendString(sector, to: &json)
        json += ",\"team_id\":"
        if let teamId { json += "\"\(teamId.text)\"" } else { json += "null" }
        json += "}"
        return json
    }

    /// Candidates as positional arrays, `[agent_id, score, current_load, max_concurrent, priority,` then value and
    /// contribution of success rate, priority, load, handling time and capabilities`]`, and, when there is more to
    /// say, a last element `{"l": [estimate, calls observed, explored 0|1, optimism bonus], "k": [[capability, level, estimate, calls
    /// observed], …], "c": [channel, load, limit]}` (learning strategy, and its terms per requested capability; the
    /// call's channel, when the agent has a limit for it). Less than half the bytes of keyed objects,
    /// which every call writes twenty times. `candidates(from:)` reads both this and the keyed form that earlier
    /// versions stored.
    ///
    /// Written piece by piece into one string: building each candidate's text through interpolations made a
    /// temporary string per piece, and every call writes twenty candidates.
    static func candidates(_ candidates: [ScoredCandidate]) -> String {
        var json = "["
        json.reserveCapacity(candidates.count * 200)
        for (index, candidate) in candidates.enumerated() {
            json.append(index > 0 ? ",[\"" : "[\"")
            json.append(candidate.agentId.text)
            json.append("\",")
            appendNumber(candidate.score, to: &json)
            json.append(",\(candidate.currentLoad),\(candidate.maxConcurrent),\(candidate.priority)")
            let b = candidate.breakdown
            for factor in [b.successRate, b.priority, b.load, b.handlingTime, b.capabilities] {
                json.append(",")
                appendNumber(factor.value, to: &json)
                json.append(",")
                appendNumber(factor.contribution, to: &json)
            }
            // A channel without a limit of its own says nothing the total does not: only limited ones are kept.
            let limited = candidate.channelSlots.flatMap { $0.capacity == nil ? nil : $0 }
            if b.learning != nil || limited != nil {
                json.append(",{")
                if let learning = b.learning {
                    json.append("\"l\":[")
                    appendNumber(learning.estimate, to: &json)
                    json.append(",\(learning.callsObserved),\(learning.explored ? 1 : 0),")
                    appendNumber(learning.optimismBonus, to: &json)
                    json.append("]")
                    if let terms = learning.capabilities {
                        json.append(",\"k\":[")
                        for (index, term) in terms.enumerated() {
                            json.append(index > 0 ? ",[" : "[")
                            appendString(term.capability, to: &json)
                            json.append(",\(term.level),")
                            appendNumber(term.estimate, to: &json)
                            json.append(",\(term.callsObserved)]")
                        }
                        json.append("]")
                    }
                }
                if let slots = limited, let capacity = slots.capacity {
                    json.append(b.learning != nil ? ",\"c\":[\"" : "\"c\":[\"")
                    json.append("\(slots.channel.rawValue)\",\(slots.load),\(capacity)]")
                }
                json.append("}")
            }
            json.append("]")
        }
        json.append("]")
        return json
    }

    static func candidates(from text: String) throws -> [ScoredCandidate] {
        let data = Data(text.utf8)
        if text.utf8.dropFirst().first(where: { $0 != UInt8(ascii: " ") }) == UInt8(ascii: "{") {
            return try WireJSON.decoder().decode([ScoredCandidate].self, from: data)
        }
        return try JSONDecoder().decode([PositionalCandidate].self, from: data).map(\.candidate)
    }

    private struct PositionalCandidate: Decodable {
        let candidate: ScoredCandidate

        init(from decoder: any Decoder) throws {
            var fields = try decoder.unkeyedContainer()
            let agentId = try fields.decode(UUID.self)
            let score = try fields.decode(Double.self)
            let currentLoad = try fields.decode(Int.self)
            let maxConcurrent = try fields.decode(Int.self)
            let priority = try fields.decode(Int.self)
            func factor() throws -> ScoreFactor {
                ScoreFactor(value: try fields.decode(Double.self), contribution: try fields.decode(Double.self))
            }
            let successRate = try factor(), priorityFactor = try factor(), load = try factor()
            let handlingTime = try factor(), capabilities = try factor()
            let extras = fields.isAtEnd ? nil : try fields.decode(Extras.self)
            candidate = ScoredCandidate(
                agentId: agentId, score: score, currentLoad: currentLoad, maxConcurrent: maxConcurrent, priority: priority,
                breakdown: ScoreBreakdown(successRate: successRate, priority: priorityFactor, load: load,
                                          handlingTime: handlingTime, capabilities: capabilities, learning: extras?.learning),
                channelSlots: extras?.channelSlots)
        }
    }

    private struct Extras: Decodable {
        var learning: LearningTerm?
        var channelSlots: ChannelSlot?

        private enum CodingKeys: String, CodingKey { case l, k, c }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if container.contains(.l) {
                var values = try container.nestedUnkeyedContainer(forKey: .l)
                learning = LearningTerm(estimate: try values.decode(Double.self), callsObserved: try values.decode(Int.self),
                                        explored: try values.decode(Int.self) != 0)
                // Decisions logged before optimism have no fourth value.
                if !values.isAtEnd { learning?.optimismBonus = try values.decode(Double.self) }
                if container.contains(.k) {
                    learning?.capabilities = try container.decode([PositionalTerm].self, forKey: .k).map(\.term)
                }
            }
            if container.contains(.c) {
                var values = try container.nestedUnkeyedContainer(forKey: .c)
                channelSlots = ChannelSlot(channel: try values.decode(CallChannel.self), load: try values.decode(Int.self),
                                           capacity: try values.decodeIfPresent(Int.self))
            }
        }
    }

    private struct PositionalTerm: Decodable {
        let term: LearnedCapabilityTerm

        init(from decoder: any Decoder) throws {
            var values = try decoder.unkeyedContainer()
            term = LearnedCapabilityTerm(capability: try values.decode(String.self), level: try values.decode(Int.self),
                                         estimate: try values.decode(Double.self), callsObserved: try values.decode(Int.self))
        }
    }

    /// Shortest round-tripping form (`Double.description`); JSON has no NaN or infinity, and the scorer's clamps
    /// never produce them. A whole number below 10^15 is written as its integer and ".0", which is what
    /// `description` gives for it, without the general shortest-digits search (most weights and contributions are whole).
    static func appendNumber(_ value: Double, to json: inout String) {
        guard value.isFinite else { return json.append("0") }
        if value.magnitude < 1e15, value.rounded(.towardZero) == value, !(value == 0 && value.sign == .minus) {
            json.append(String(Int(value)))
            json.append(".0")
        } else {
            json.append(value.description)
        }
    }

    static func appendString(_ string: String, to json: inout String) {
        json += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where scalar.value < 0x20:
                json += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: json.unicodeScalars.append(scalar)
            }
        }
        json += "\""
    }
}
