import Foundation

/// Every known setting: its type, range and default, in one place. Pure: no I/O.
enum SettingsSchema {
    struct Key: Sendable {
        let name: String
        let defaultValue: JSONValue
        /// Returns the normalised value or throws a 400 naming the key.
        let validate: @Sendable (JSONValue) throws -> JSONValue
    }

    static let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    static let weightNames = ["success_rate", "priority", "load", "handling_time", "capabilities"]

    static let keys: [Key] = [
        Key(name: "routing.weights", defaultValue: weightsValue(.contractDefaults), validate: validateWeights),
        Key(name: "routing.overflow", defaultValue: .string(OverflowPolicy.queue.rawValue)) { value in
            .string(try oneOf(value, "routing.overflow", OverflowPolicy.allCases.map(\.rawValue)))
        },
        Key(name: "routing.cache_ttl_seconds", defaultValue: .number(300)) { value in
            .number(Double(try integer(value, "routing.cache_ttl_seconds", in: 0...3600)))
        },
        Key(name: "routing.decision_log_candidates", defaultValue: .number(20)) { value in
            .number(Double(try integer(value, "routing.decision_log_candidates", in: 0...1000)))
        },
        Key(name: "routing.strategy", defaultValue: .string(ScoringStrategy.formula.rawValue)) { value in
            .string(try oneOf(value, "routing.strategy", ScoringStrategy.allCases.map(\.rawValue)))
        },
        Key(name: "routing.prior_calls", defaultValue: .number(Double(RoutingPolicy.defaults.priorCalls))) { value in
            .number(Double(try integer(value, "routing.prior_calls", in: 0...100_000)))
        },
        Key(name: "routing.optimism", defaultValue: .number(RoutingPolicy.defaults.optimism)) { value in
            .number(try fraction(value, "routing.optimism", in: 0...5))
        },
        Key(name: "routing.exploration", defaultValue: .number(RoutingPolicy.defaults.exploration)) { value in
            .number(try fraction(value, "routing.exploration", in: 0...0.2))
        },
        Key(name: "routing.exploration_floor", defaultValue: .number(RoutingPolicy.defaults.explorationFloor)) { value in
            .number(try fraction(value, "routing.exploration_floor", in: 0...1))
        },
        Key(name: "routing.max_wait_seconds", defaultValue: .null) { value in
            if value == .null { return .null }
            return .number(Double(try integer(value, "routing.max_wait_seconds", in: 1...86_400)))
        },
        Key(name: "routing.relaxation", defaultValue: Relaxation.standard.jsonValue) { value in
            try Relaxation(validating: value).jsonValue
        },
        Key(name: "routing.offer_timeout_seconds", defaultValue: .number(0)) { value in
            let seconds = try integer(value, "routing.offer_timeout_seconds", in: 0...300)
            guard seconds == 0 || seconds >= 5 else {
                throw AppError.badRequest("routing.offer_timeout_seconds must be 0 (assign at once) or 5 to 300")
            }
            return .number(Double(seconds))
        },
        Key(name: "routing.max_missed_offers", defaultValue: .number(3)) { value in
            .number(Double(try integer(value, "routing.max_missed_offers", in: 0...100)))
        },
        Key(name: "routing.priority_aging_seconds", defaultValue: .number(60)) { value in
            .number(Double(try integer(value, "routing.priority_aging_seconds", in: 0...86_400)))
        },
        Key(name: "routing.preferred_agent_wait_seconds",
            defaultValue: .number(Double(RoutingPolicy.defaults.preferredAgentWaitSeconds))) { value in
            .number(Double(try integer(value, "routing.preferred_agent_wait_seconds", in: 0...600)))
        },
        Key(name: "routing.sticky_customers", defaultValue: .bool(false)) { value in
            guard case .bool = value else { throw AppError.badRequest("routing.sticky_customers must be true or false") }
            return value
        },
        Key(name: "agents.away_reasons", defaultValue: .array(defaultAwayReasons.map(JSONValue.string)), validate: validateAwayReasons),
        Key(name: "calls.default_channel", defaultValue: .string(CallChannel.voice.rawValue)) { value in
            .string(try oneOf(value, "calls.default_channel", CallChannel.allCases.map(\.rawValue)))
        },
        Key(name: "calls.wrap_up_seconds", defaultValue: .number(0)) { value in
            .number(Double(try integer(value, "calls.wrap_up_seconds", in: 0...3600)))
        },
        Key(name: "calls.wrap_up_mode", defaultValue: .string(WrapUpMode.optional.rawValue)) { value in
            .string(try oneOf(value, "calls.wrap_up_mode", WrapUpMode.allCases.map(\.rawValue)))
        },
        Key(name: "business.timezone", defaultValue: .string("UTC")) { value in
            // Foundation reads the name as a C string, so `UTC\0anything` would pass as UTC: the name's characters
            // are checked first (IANA names are letters, digits, `/`, `_`, `+` and `-`).
            guard let name = value.stringValue, (1...64).contains(name.utf8.count),
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "/_+-".unicodeScalars.contains($0)) }),
                  TimeZone(identifier: name) != nil
            else {
                throw AppError.badRequest("business.timezone must be an IANA time zone name such as Europe/Paris")
            }
            return .string(name)
        },
        Key(name: "business.hours", defaultValue: defaultBusinessHours, validate: validateBusinessHours),
        Key(name: "notifications.email", defaultValue: .array([]), validate: validateEmails),
        Key(name: "sla.threshold_seconds", defaultValue: .number(Double(ServiceLevelTarget.defaults.thresholdSeconds))) { value in
            .number(Double(try integer(value, "sla.threshold_seconds", in: 0...3600)))
        },
        Key(name: "sla.target_percent", defaultValue: .number(ServiceLevelTarget.defaults.targetPercent)) { value in
            guard let number = value.numberValue, number.isFinite, (0...100).contains(number) else {
                throw AppError.badRequest("sla.target_percent must be a number between 0 and 100")
            }
            return .number(number)
        },
        Key(name: "twilio.voice.greeting", defaultValue: .string(VoiceScript.Texts.defaults.greeting)) { value in
            .string(try callerText(value, "twilio.voice.greeting", placeholders: []))
        },
        Key(name: "twilio.voice.queue_message", defaultValue: .string(VoiceScript.Texts.defaults.queueMessage)) { value in
            .string(try callerText(value, "twilio.voice.queue_message", placeholders: VoiceScript.Texts.placeholders))
        },
        Key(name: "twilio.voice.language", defaultValue: .string(VoiceScript.Texts.defaults.language)) { value in
            guard let text = value.stringValue, text.range(of: #"\A[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}\z"#, options: .regularExpression) != nil else {
                throw AppError.badRequest("twilio.voice.language must be a language tag such as en-GB")
            }
            return .string(text)
        },
        Key(name: "twilio.messaging.ack_message", defaultValue: .string("Thanks for your message. Someone will reply shortly.")) { value in
            .string(try callerText(value, "twilio.messaging.ack_message", placeholders: []))
        },
        Key(name: "twilio.voice.voice", defaultValue: .string(VoiceScript.Texts.defaults.voice)) { value in
            guard let text = value.stringValue, text.range(of: #"\A[A-Za-z0-9._-]{1,64}\z"#, options: .regularExpression) != nil else {
                throw AppError.badRequest("twilio.voice.voice must be a Twilio voice name such as Polly.Amy or alice")
            }
            return .string(text)
        },
    ]

    /// A text said to callers: at most 500 characters (empty: nothing is said), with only the named placeholders.
    private static func callerText(_ value: JSONValue, _ name: String, placeholders: [String]) throws -> String {
        guard let text = value.stringValue, text.count <= 500 else {
            throw AppError.badRequest("\(name) must be a text of at most 500 characters (empty: say nothing)")
        }
        var rest = text
        for placeholder in placeholders { rest = rest.replacingOccurrences(of: placeholder, with: "") }
        if rest.contains("{") {
            let allowed = placeholders.isEmpty ? "none" : placeholders.joined(separator: " and ")
            throw AppError.badRequest("\(name) has an unknown placeholder; it may use: \(allowed)")
        }
        return text
    }

    static let defaultAwayReasons = ["break", "lunch", "training", "meeting"]
    /// The system's own away reason (set after `routing.max_missed_offers` missed offers), never a tenant's.
    static let missedOffersReason = "missed_offers"
    static let reservedAwayReasons: Set<String> = [missedOffersReason]

    /// `agents.away_reasons`: 1–20 distinct reasons, each 1–40 lowercase letters, digits, `_` or `-`.
    static func validateAwayReasons(_ value: JSONValue) throws -> JSONValue {
        let message = "agents.away_reasons must be a list of 1 to 20 distinct reasons, each 1 to 40 characters of a-z, 0-9, '_' or '-'"
        guard case .array(let items) = value, (1...20).contains(items.count) else { throw AppError.badRequest(message) }
        var reasons: [String] = []
        for item in items {
            guard let reason = item.stringValue, (1...40).contains(reason.utf8.count),
                  reason.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }),
                  !reasons.contains(reason)
            else { throw AppError.badRequest(message) }
            guard !reservedAwayReasons.contains(reason) else {
                throw AppError.badRequest("agents.away_reasons cannot include '\(reason)': the system sets that reason itself")
            }
            reasons.append(reason)
        }
        return .array(reasons.map(JSONValue.string))
    }

    static let byName: [String: Key] = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0) })

    static var defaults: [String: JSONValue] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0.defaultValue) })
    }

    /// Validates a whole update; any unknown key or bad value rejects all of it.
    static func validate(_ changes: [String: JSONValue]) throws -> [String: JSONValue] {
        guard !changes.isEmpty else { throw AppError.badRequest("the body must name at least one setting") }
        var normalised: [String: JSONValue] = [:]
        for (name, value) in changes.sorted(by: { $0.key < $1.key }) {
            guard let key = byName[name] else {
                throw AppError.badRequest("unknown setting '\(name)'; known settings: \(keys.map(\.name).joined(separator: ", "))")
            }
            if holdsControlCharacters(value) { throw AppError.badRequest("\(name) must not contain control characters") }
            normalised[name] = try key.validate(value)
        }
        return normalised
    }

    /// Whether any text in the value, a key of an object included, holds a control character.
    static func holdsControlCharacters(_ value: JSONValue) -> Bool {
        func hasControl(_ text: String) -> Bool { text.unicodeScalars.contains { Check.isControl($0) } }
        switch value {
        case .string(let text): return hasControl(text)
        case .array(let items): return items.contains(where: holdsControlCharacters)
        case .object(let fields): return fields.contains { hasControl($0.key) || holdsControlCharacters($0.value) }
        case .null, .bool, .number: return false
        }
    }

    // MARK: Typed views

    static func weightsValue(_ weights: ScoringWeights) -> JSONValue {
        .object([
            "success_rate": .number(weights.successRate), "priority": .number(weights.priority),
            "load": .number(weights.load), "handling_time": .number(weights.handlingTime),
            "capabilities": .number(weights.capabilities),
        ])
    }

    static func weights(from value: JSONValue) -> ScoringWeights {
        let object = value.objectValue ?? [:]
        func weight(_ name: String, _ fallback: Double) -> Double { object[name]?.numberValue ?? fallback }
        let defaults = ScoringWeights.contractDefaults
        return ScoringWeights(
            successRate: weight("success_rate", defaults.successRate), priority: weight("priority", defaults.priority),
            load: weight("load", defaults.load), handlingTime: weight("handling_time", defaults.handlingTime),
            capabilities: weight("capabilities", defaults.capabilities)
        )
    }

    static func routingPolicy(from settings: [String: JSONValue]) -> RoutingPolicy {
        var policy = RoutingPolicy.defaults
        if let value = settings["routing.weights"] { policy.weights = weights(from: value) }
        if let raw = settings["routing.overflow"]?.stringValue, let overflow = OverflowPolicy(rawValue: raw) {
            policy.overflow = overflow
        }
        if let ttl = settings["routing.cache_ttl_seconds"]?.intValue { policy.cacheTTLSeconds = ttl }
        if let count = settings["routing.decision_log_candidates"]?.intValue { policy.decisionLogCandidates = count }
        if let raw = settings["calls.default_channel"]?.stringValue, let channel = CallChannel(rawValue: raw) {
            policy.defaultChannel = channel
        }
        if let raw = settings["routing.strategy"]?.stringValue, let strategy = ScoringStrategy(rawValue: raw) {
            policy.strategy = strategy
        }
        if let calls = settings["routing.prior_calls"]?.intValue { policy.priorCalls = calls }
        if let optimism = settings["routing.optimism"]?.numberValue { policy.optimism = optimism }
        if let share = settings["routing.exploration"]?.numberValue { policy.exploration = share }
        if let floor = settings["routing.exploration_floor"]?.numberValue { policy.explorationFloor = floor }
        policy.maxWaitSeconds = settings["routing.max_wait_seconds"]?.intValue
        if let value = settings["routing.relaxation"], let relaxation = try? Relaxation(validating: value) {
            policy.relaxation = relaxation
        }
        if let seconds = settings["calls.wrap_up_seconds"]?.intValue { policy.wrapUpSeconds = seconds }
        if let seconds = settings["routing.offer_timeout_seconds"]?.intValue { policy.offerTimeoutSeconds = seconds }
        if let count = settings["routing.max_missed_offers"]?.intValue { policy.maxMissedOffers = count }
        if let seconds = settings["routing.priority_aging_seconds"]?.intValue { policy.priorityAgingSeconds = seconds }
        if let seconds = settings["routing.preferred_agent_wait_seconds"]?.intValue { policy.preferredAgentWaitSeconds = seconds }
        if case .bool(let sticky) = settings["routing.sticky_customers"] { policy.stickyCustomers = sticky }
        if let reasons = settings["agents.away_reasons"]?.arrayValue?.compactMap(\.stringValue) { policy.awayReasons = reasons }
        if let raw = settings["calls.wrap_up_mode"]?.stringValue, let mode = WrapUpMode(rawValue: raw) { policy.wrapUpMode = mode }
        return policy
    }

    static func serviceLevelTarget(from settings: [String: JSONValue]) -> ServiceLevelTarget {
        var target = ServiceLevelTarget.defaults
        if let seconds = settings["sla.threshold_seconds"]?.intValue { target.thresholdSeconds = seconds }
        if let percent = settings["sla.target_percent"]?.numberValue { target.targetPercent = percent }
        return target
    }

    // MARK: Validators

    private static func validateWeights(_ value: JSONValue) throws -> JSONValue {
        guard let object = value.objectValue else {
            throw AppError.badRequest("routing.weights must be an object with \(weightNames.joined(separator: ", "))")
        }
        if let unknown = object.keys.sorted().first(where: { !weightNames.contains($0) }) {
            throw AppError.badRequest("routing.weights has an unknown weight '\(unknown)'")
        }
        var result: [String: JSONValue] = [:]
        for name in weightNames {
            guard let number = object[name]?.numberValue else {
                throw AppError.badRequest("routing.weights.\(name) is required and must be a number")
            }
            guard number.isFinite, (0...1000).contains(number) else {
                throw AppError.badRequest("routing.weights.\(name) must be between 0 and 1000")
            }
            result[name] = .number(number)
        }
        return .object(result)
    }

    private static func oneOf(_ value: JSONValue, _ name: String, _ allowed: [String]) throws -> String {
        guard let text = value.stringValue, allowed.contains(text) else {
            throw AppError.badRequest("\(name) must be one of: \(allowed.joined(separator: ", "))")
        }
        return text
    }

    private static func fraction(_ value: JSONValue, _ name: String, in range: ClosedRange<Double>) throws -> Double {
        guard let number = value.numberValue, number.isFinite, range.contains(number) else {
            throw AppError.badRequest("\(name) must be a number between \(range.lowerBound) and \(range.upperBound)")
        }
        return number
    }

    private static func integer(_ value: JSONValue, _ name: String, in range: ClosedRange<Int>) throws -> Int {
        guard let number = value.intValue, range.contains(number) else {
            throw AppError.badRequest("\(name) must be an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        return number
    }

    private static let defaultBusinessHours: JSONValue = .object(Dictionary(uniqueKeysWithValues: weekdays.map { day in
        (day, ["saturday", "sunday"].contains(day) ? JSONValue.null : .object(["open": .string("09:00"), "close": .string("17:00")]))
    }))

    private static func validateBusinessHours(_ value: JSONValue) throws -> JSONValue {
        guard let object = value.objectValue else {
            throw AppError.badRequest("business.hours must be an object keyed by weekday (monday … sunday)")
        }
        if let unknown = object.keys.sorted().first(where: { !weekdays.contains($0) }) {
            throw AppError.badRequest("business.hours has an unknown day '\(unknown)'")
        }
        var result: [String: JSONValue] = [:]
        for day in weekdays {
            let hours = object[day] ?? .null
            if hours == .null { result[day] = .null; continue }
            guard let span = hours.objectValue, let open = span["open"]?.stringValue, let close = span["close"]?.stringValue,
                  let openMinutes = minutes(open), let closeMinutes = minutes(close)
            else { throw AppError.badRequest("business.hours.\(day) must be null or {\"open\": \"HH:MM\", \"close\": \"HH:MM\"}") }
            guard openMinutes < closeMinutes else {
                throw AppError.badRequest("business.hours.\(day): open must be before close")
            }
            result[day] = .object(["open": .string(open), "close": .string(close)])
        }
        return .object(result)
    }

    /// "HH:MM" as minutes since midnight, or nil.
    static func minutes(_ time: String) -> Int? {
        let parts = time.split(separator: ":")
        guard time.count == 5, parts.count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
              (0...23).contains(hours), (0...59).contains(minutes) else { return nil }
        return hours * 60 + minutes
    }

    private static func validateEmails(_ value: JSONValue) throws -> JSONValue {
        guard let items = value.arrayValue, items.count <= 20 else {
            throw AppError.badRequest("notifications.email must be a list of at most 20 email addresses")
        }
        return .array(try items.enumerated().map { index, item in
            guard let text = item.stringValue else {
                throw AppError.badRequest("notifications.email[\(index)] must be an email address")
            }
            return .string(try Check.email(text, "notifications.email[\(index)]"))
        })
    }
}
