import Foundation
import SQLKit

/// One message of an SMS or WhatsApp conversation, as its call shows it.
struct CallMessageDTO: Codable, Sendable, Equatable {
    let from: String
    let body: String
    let receivedAt: Date
}

/// The messages of conversations (`call_messages`), each on its call, stored once per Twilio MessageSid.
enum CallMessages {
    static let schema = "call_messages"
    /// A message's text is kept up to this many characters (Twilio's longest SMS is 1,600).
    static let maxBody = 10_000

    /// A call's messages, oldest first.
    static func of(_ callId: UUID, scope: TenantScope, on sql: any SQLDatabase) async throws -> [CallMessageDTO] {
        try await scope.select(from: schema, on: sql).columns("sender", "body", "received_at")
            .where("call_id", .equal, callId).orderBy("received_at").orderBy("id").all()
            .map { row in
                CallMessageDTO(from: try row.decode(column: "sender", as: String.self), body: try row.decode(column: "body", as: String.self),
                               receivedAt: try row.decode(column: "received_at", as: Date.self))
            }
    }

    static func exists(sid: String, scope: TenantScope, on sql: any SQLDatabase) async throws -> Bool {
        try await scope.select(from: schema, on: sql).column("id").where("message_sid", .equal, sid).first() != nil
    }

    /// Stores the message and its `call.message_received` event in one transaction (the caller's).
    static func record(_ message: CallMessageDTO, sid: String, on call: CallDTO, clientId: String, on sql: any SQLDatabase) async throws {
        if let insert = TenantScope.insertQuery(
            into: schema, columns: ["id", "call_id", "message_sid", "sender", "body", "received_at"],
            rows: [(clientId, [UUID(), call.id, sid, message.from, message.body, message.receivedAt] as [any Encodable & Sendable])]) {
            try await sql.execute(sql: insert) { _ in }
        }
        let event = MessageReceived(callId: call.id, channel: call.channel, agentId: call.agentId, from: message.from,
                                    body: message.body, receivedAt: message.receivedAt)
        try await EventOutbox.append([PendingEvent(.callMessageReceived, encoding: event)], clientId: clientId,
                                     at: message.receivedAt, on: sql)
    }

    private struct MessageReceived: Encodable {
        let callId: UUID
        let channel: CallChannel
        let agentId: UUID?
        let from: String
        let body: String
        let receivedAt: Date
    }
}

/// Each Twilio channel's recent webhook requests and what became of them (`channel_requests`), for the channel
/// page: the last `kept` per channel.
enum ChannelRequestLog {
    static let schema = "channel_requests"
    static let kept = 50

    struct Entry: Codable, Sendable, Equatable {
        let receivedAt: Date
        let hook: String
        let status: Int
        let result: String
    }

    static func record(_ entry: Entry, channelId: UUID, clientId: String, on sql: any SQLDatabase) async throws {
        if let insert = TenantScope.insertQuery(
            into: schema, columns: ["id", "channel_id", "received_at", "hook", "status", "result"],
            rows: [(clientId, [UUID(), channelId, entry.receivedAt, entry.hook, entry.status, String(entry.result.prefix(300))]
                    as [any Encodable & Sendable])]) {
            try await sql.execute(sql: insert) { _ in }
        }
        // Keep the newest `kept`: delete what is older than the kept-th newest.
        if let cutoff = try await TenantScope(clientId: clientId).select(from: schema, on: sql).column("received_at")
            .where("channel_id", .equal, channelId).orderBy("received_at", .descending).offset(kept - 1).limit(1).first()?
            .decode(column: "received_at", as: Date.self) {
            try await sql.delete(from: schema).where("client_id", .equal, clientId).where("channel_id", .equal, channelId)
                .where("received_at", .lessThan, cutoff).run()
        }
    }

    /// Newest first.
    static func recent(of channelId: UUID, scope: TenantScope, limit: Int, on sql: any SQLDatabase) async throws -> [Entry] {
        try await scope.select(from: schema, on: sql).columns("received_at", "hook", "status", "result")
            .where("channel_id", .equal, channelId).orderBy("received_at", .descending).limit(limit).all()
            .map { row in
                Entry(receivedAt: try row.decode(column: "received_at", as: Date.self), hook: try row.decode(column: "hook", as: String.self),
                      status: try row.decode(column: "status", as: Int.self), result: try row.decode(column: "result", as: String.self))
            }
    }
}
