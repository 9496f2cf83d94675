import Foundation
import SQLKit

/// `POST /api/webhooks` and `PATCH /api/webhooks/:id` (every field optional there).
struct WebhookInput: Decodable, Sendable {
    var url: String?
    var events: [String]?
    var active: Bool?
    var description: String?

    struct Validated: Sendable {
        var url: String?
        var events: [String]?
        var active: Bool?
        var description: String??
    }

    /// Field checks that need no network; the URL's host is resolved and judged by `WebhookTarget` afterwards.
    func validated(creating: Bool) throws -> Validated {
        if creating {
            guard url != nil else { throw AppError.badRequest("url is required") }
            guard events != nil else { throw AppError.badRequest("events is required (event types, families such as call.*, or *)") }
        }
        var result = Validated()
        if let url { result.url = try Check.text(url, "url", length: 1...2_000) }
        if let events {
            guard (1...50).contains(events.count) else { throw AppError.badRequest("events must list 1 to 50 event types or patterns") }
            guard EventFilter(validating: events) != nil else {
                throw AppError.badRequest("events lists event types (\(EventType.allCases.map(\.rawValue).joined(separator: ", "))), "
                                          + "families such as call.*, or *")
            }
            result.events = Array(Set(events)).sorted()
        }
        result.active = active
        if let description { result.description = .some(try Check.optionalText(description, "description", maxLength: 500)) }
        return result
    }
}

struct WebhookDTO: Encodable, Sendable {
    let id: UUID
    let url: String
    let events: [String]
    let active: Bool
    @NullWhenAbsent var description: String?
    let consecutiveFailures: Int
    @NullWhenAbsent var disabledReason: String?
    let createdAt: Date
    let updatedAt: Date
    /// Only in the answers to creation and rotation: the one time the secret is shown.
    var secret: String? = nil

    static let columns = ["id", "url", "events", "active", "description", "consecutive_failures", "disabled_reason",
                          "created_at", "updated_at"]

    init(_ row: any SQLRow) throws {
        id = try row.decode("id")
        url = try row.decode("url")
        events = (try? JSONDecoder().decode([String].self, from: Data(try row.decode(column: "events", as: String.self).utf8))) ?? []
        active = try row.decode("active")
        description = try row.decode("description")
        consecutiveFailures = try row.decode("consecutive_failures")
        disabledReason = try row.decode("disabled_reason")
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
    }
}

enum DeliveryStatus: String, Codable, CaseIterable, Sendable {
    case pending, delivered, failed
}

struct WebhookDeliveryDTO: Encodable, Sendable {
    let id: UUID
    let webhookId: UUID
    @NullWhenAbsent var eventId: UUID?
    let eventType: String
    @NullWhenAbsent var sequence: Int64?
    let status: DeliveryStatus
    let attempts: Int
    @NullWhenAbsent var lastStatusCode: Int?
    @NullWhenAbsent var lastError: String?
    @NullWhenAbsent var latencyMs: Double?
    @NullWhenAbsent var nextAttemptAt: Date?
    let createdAt: Date
    @NullWhenAbsent var deliveredAt: Date?

    static let columns = ["id", "webhook_id", "event_id", "event_type", "sequence", "status", "attempts", "last_status_code",
                          "last_error", "latency_ms", "next_attempt_at", "created_at", "delivered_at"]

    init(_ row: any SQLRow) throws {
        id = try row.decode("id")
        webhookId = try row.decode("webhook_id")
        eventId = try row.decode("event_id")
        eventType = try row.decode("event_type")
        sequence = try row.decode("sequence")
        status = DeliveryStatus(rawValue: try row.decode("status")) ?? .pending
        attempts = try row.decode("attempts")
        lastStatusCode = try row.decode("last_status_code")
        lastError = try row.decode("last_error")
        latencyMs = try row.decode("latency_ms")
        let next: Date? = try row.decode("next_attempt_at")
        nextAttemptAt = status == .pending ? next : nil
        createdAt = try row.decode("created_at")
        deliveredAt = try row.decode("delivered_at")
    }
}
