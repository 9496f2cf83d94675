import Foundation

/// A wire type that writes its own JSON, for the answers sent thousands of times a second (a created call, an agent).
/// The output is what `WireJSON.encoder()` would write: snake_case keys in sorted order, RFC 3339 UTC times
/// without fractions; a test compares the two after decoding.
protocol FastJSONEncodable {
    func appendJSON(to json: inout String)
}

enum FastJSON {
    static func appendDate(_ date: Date, to json: inout String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        json += "\"\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
        json += "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z\""
    }

    static func appendNumber(_ value: Double, to json: inout String) {
        json += value.isFinite ? value.description : "null"
    }

    static func append(_ value: String?, to json: inout String) {
        if let value { DecisionJSON.appendString(value, to: &json) } else { json += "null" }
    }

    static func append(_ value: UUID?, to json: inout String) {
        if let value { json += "\"\(value.text)\"" } else { json += "null" }
    }

    /// `{"phone":"+…"}`, or null.
    static func appendCallback(_ phone: String?, to json: inout String) {
        guard let phone else { json += "null"; return }
        json += "{\"phone\":"
        DecisionJSON.appendString(phone, to: &json)
        json += "}"
    }

    static func append(_ value: Date?, to json: inout String) {
        if let value { appendDate(value, to: &json) } else { json += "null" }
    }
}

extension CallDTO: FastJSONEncodable {
    func appendJSON(to json: inout String) {
        json += "{\"agent_id\":"
        FastJSON.append(agentId, to: &json)
        json += ",\"assigned_at\":"
        FastJSON.append(assignedAt, to: &json)
        json += ",\"callback\":"
        FastJSON.appendCallback(callback?.phone, to: &json)
        json += ",\"cancelled_at\":"
        FastJSON.append(cancelledAt, to: &json)
        json += ",\"capabilities\":"
        FastJSON.appendStrings(capabilities, to: &json)
        json += ",\"channel\":\"\(channel.rawValue)\",\"completed_at\":"
        FastJSON.append(completedAt, to: &json)
        json += ",\"created_at\":"
        FastJSON.appendDate(createdAt, to: &json)
        json += ",\"customer_ref\":"
        FastJSON.append(customerRef, to: &json)
        json += ",\"effective_priority\":"
        json += effectivePriority.map(String.init) ?? "null"
        json += ",\"estimated_wait_seconds\":"
        json += estimatedWaitSeconds.map(String.init) ?? "null"
        json += ",\"external_ref\":"
        FastJSON.append(externalRef, to: &json)
        json += ",\"handling_time_seconds\":"
        if let handlingTimeSeconds { FastJSON.appendNumber(handlingTimeSeconds, to: &json) } else { json += "null" }
        json += ",\"id\":\"\(id.text)\""
        if let messages {
            json += ",\"messages\":["
            for (index, message) in messages.enumerated() {
                if index > 0 { json += "," }
                json += "{\"body\":"
                DecisionJSON.appendString(message.body, to: &json)
                json += ",\"from\":"
                DecisionJSON.appendString(message.from, to: &json)
                json += ",\"received_at\":"
                FastJSON.appendDate(message.receivedAt, to: &json)
                json += "}"
            }
            json += "]"
        }
        json += ",\"offer_expires_at\":"
        FastJSON.append(offerExpiresAt, to: &json)
        json += ",\"outcome\":"
        FastJSON.append(outcome?.rawValue, to: &json)
        json += ",\"preferred_agent_id\":"
        FastJSON.append(preferredAgentId, to: &json)
        json += ",\"preferred_until\":"
        FastJSON.append(preferredUntil, to: &json)
        json += ",\"priority\":\(priority),\"queue_position\":"
        json += queuePosition.map(String.init) ?? "null"
        json += ",\"required_capabilities\":"
        FastJSON.appendStrings(requiredCapabilities, to: &json)
        json += ",\"required_levels\":"
        FastJSON.appendCounts(requiredLevels, to: &json)
        json += ",\"resolved\":"
        json += resolved.map { $0 ? "true" : "false" } ?? "null"
        json += ",\"satisfaction\":"
        json += satisfaction.map(String.init) ?? "null"
        json += ",\"sector\":"
        DecisionJSON.appendString(sector, to: &json)
        json += ",\"status\":\"\(status.rawValue)\",\"talk_ended_at\":"
        FastJSON.append(talkEndedAt, to: &json)
        json += ",\"talk_seconds\":"
        if let talkSeconds { FastJSON.appendNumber(talkSeconds, to: &json) } else { json += "null" }
        json += ",\"team_id\":"
        FastJSON.append(teamId, to: &json)
        json += ",\"wrap_up_ended_at\":"
        FastJSON.append(wrapUpEndedAt, to: &json)
        json += ",\"wrap_up_until\":"
        FastJSON.append(wrapUpUntil, to: &json)
        json += "}"
    }
}

/// An agent: the answer to every presence change and wrap-up end, thousands a second on a busy floor.
extension AgentDTO: FastJSONEncodable {
    func appendJSON(to json: inout String) {
        json += "{\"avg_handling_time\":"
        FastJSON.appendNumber(avgHandlingTime, to: &json)
        json += ",\"capabilities\":"
        FastJSON.appendStrings(capabilities, to: &json)
        json += ",\"capability_levels\":"
        FastJSON.appendCounts(capabilityLevels, to: &json)
        FastJSON.appendIfPresent("channel_capacity", channelCapacity, to: &json, FastJSON.appendCounts)
        json += ",\"channel_loads\":"
        FastJSON.appendCounts(channelLoads, to: &json)
        json += ",\"contact\":"
        if let contact {
            var separator = "{"
            for (key, value) in [("client", contact.client), ("phone", contact.phone), ("sip", contact.sip)] {
                guard let value else { continue }
                json += "\(separator)\"\(key)\":"
                DecisionJSON.appendString(value, to: &json)
                separator = ","
            }
            json += separator == "{" ? "{}" : "}"
        } else {
            json += "null"
        }
        FastJSON.appendIfPresent("created_at", createdAt, to: &json, FastJSON.appendDate)
        json += ",\"current_load\":\(currentLoad)"
        FastJSON.appendIfPresent("external_id", externalId, to: &json, DecisionJSON.appendString)
        json += ",\"id\":\"\(id.text)\",\"max_concurrent\":\(maxConcurrent),\"name\":"
        DecisionJSON.appendString(name, to: &json)
        json += ",\"presence\":\"\(presence.rawValue)\",\"presence_reason\":"
        FastJSON.append(presenceReason, to: &json)
        json += ",\"priority\":\(priority),\"sector\":"
        DecisionJSON.appendString(sector, to: &json)
        json += ",\"state\":\"\(state.rawValue)\""
        FastJSON.appendIfPresent("state_since", stateSince, to: &json, FastJSON.appendDate)
        json += ",\"status\":\"\(status.rawValue)\",\"success_rate\":"
        FastJSON.appendNumber(successRate, to: &json)
        FastJSON.appendIfPresent("updated_at", updatedAt, to: &json, FastJSON.appendDate)
        json += ",\"wrap_up_seconds\":"
        json += wrapUpSeconds.map(String.init) ?? "null"
        json += ",\"wrap_up_until\":"
        FastJSON.append(wrapUpUntil, to: &json)
        json += "}"
    }
}

extension FastJSON {
    /// `,"key":value` when there is a value, and nothing when not: the key left out, as the encoder leaves out an
    /// absent optional (fields without `@NullWhenAbsent`).
    static func appendIfPresent<Value>(_ key: String, _ value: Value?, to json: inout String,
                                       _ append: (Value, inout String) -> Void) {
        guard let value else { return }
        json += ",\"\(key)\":"
        append(value, &json)
    }

    static func appendStrings(_ values: [String], to json: inout String) {
        json += "["
        for (index, value) in values.enumerated() {
            if index > 0 { json += "," }
            DecisionJSON.appendString(value, to: &json)
        }
        json += "]"
    }

    /// An object of whole numbers, its keys in order (as the encoder sorts them).
    static func appendCounts(_ counts: [String: Int], to json: inout String) {
        json += "{"
        for (index, entry) in counts.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { json += "," }
            DecisionJSON.appendString(entry.key, to: &json)
            json += ":\(entry.value)"
        }
        json += "}"
    }
}
