import Foundation

/// The decision log's JSON columns, written by hand: every call logs up to 20 candidate breakdowns, and
/// `JSONEncoder` with snake_case conversion was a sixth of the CPU of creating a call (docs/PERFORMANCE.md).
/// `RoutingDecisionDTO` reads them back with the ordinary decoder; a test checks the two agree.
enum DecisionJSON {
    static func request(teamId: UUID?, sector: String, capabilities: [String]) -> String {
        var json = "{\"capabilities\":["
        for (index, capability) in capabilities.enumerated() {
            if index > 0 { json += "," }
            appendString(capability, to: &json)
        }
        json += "],\"sector\":"
        appendString(sector, to: &json)
        json += ",\"team_id\":"
        if let teamId { json += "\"\(teamId.uuidString)\"" } else { json += "null" }
        json += "}"
        return json
    }

    static func candidates(_ candidates: [ScoredCandidate]) -> String {
        var json = "["
        json.reserveCapacity(candidates.count * 420)
        for (index, candidate) in candidates.enumerated() {
            if index > 0 { json += "," }
            json += "{\"agent_id\":\"\(candidate.agentId.uuidString)\",\"breakdown\":{"
            let breakdown = candidate.breakdown
            appendFactor("capabilities", breakdown.capabilities, to: &json, first: true)
            appendFactor("handling_time", breakdown.handlingTime, to: &json)
            appendFactor("load", breakdown.load, to: &json)
            appendFactor("priority", breakdown.priority, to: &json)
            appendFactor("success_rate", breakdown.successRate, to: &json)
            json += "},\"current_load\":\(candidate.currentLoad),\"max_concurrent\":\(candidate.maxConcurrent)"
            json += ",\"priority\":\(candidate.priority),\"score\":\(number(candidate.score))}"
        }
        json += "]"
        return json
    }

    private static func appendFactor(_ name: String, _ factor: ScoreFactor, to json: inout String, first: Bool = false) {
        if !first { json += "," }
        json += "\"\(name)\":{\"contribution\":\(number(factor.contribution)),\"value\":\(number(factor.value))}"
    }

    /// Shortest round-tripping form; JSON has no NaN or infinity, and the scorer's clamps never produce them.
    private static func number(_ value: Double) -> String {
        value.isFinite ? value.description : "0"
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
