import FluentKit
import SQLKit

/// Offers that must be accepted: a routed call may be `offered` to its agent until `offer_expires_at`; the agents
/// that rejected or missed it (`declined_by`) are never offered it again; an agent counts the offers it missed in
/// a row (`missed_offers`); the decision log records which agent's rejection or time-out led to a decision, and why;
/// the offer log (`call_offers`) keeps every offer and how it ended.
struct AddOffers: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Call.schema).field("offer_expires_at", .datetime).update()
        try await database.schema(Call.schema).field("declined_by", .array(of: .string)).update()
        try await database.schema(SectorAgent.schema)
            .field("missed_offers", .int, .required, .sql(.default(0))).update()
        try await database.schema(RoutingDecisionRecord.schema).field("declined_agent_id", .uuid).update()
        try await database.schema(RoutingDecisionRecord.schema).field("declined_reason", .string).update()
        try await database.schema(OfferLog.schema)
            .id()
            .field("client_id", .string, .required)
            .field("call_id", .uuid, .required)
            .field("agent_id", .uuid, .required)
            .field("channel", .string, .required)
            .field("offered_at", .datetime, .required)
            .field("resolved_at", .datetime)
            .field("outcome", .string)
            .create()
        let sql = database as! any SQLDatabase
        try await sql.create(index: "idx_call_offers_agent").on(OfferLog.schema)
            .column("client_id").column("agent_id").column("offered_at").run()
        try await sql.create(index: "idx_call_offers_call").on(OfferLog.schema).column("call_id").run()
        // The offer timer's question, "which offers ran out", reads only the open ones.
        try await (database as! any SQLDatabase).raw("""
            CREATE INDEX idx_calls_open_offer ON calls (offer_expires_at) WHERE status = 'offered'
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw("DROP INDEX idx_calls_open_offer").run()
        try await database.schema(OfferLog.schema).delete()
        try await database.schema(RoutingDecisionRecord.schema).deleteField("declined_reason").update()
        try await database.schema(RoutingDecisionRecord.schema).deleteField("declined_agent_id").update()
        try await database.schema(SectorAgent.schema).deleteField("missed_offers").update()
        try await database.schema(Call.schema).deleteField("declined_by").update()
        try await database.schema(Call.schema).deleteField("offer_expires_at").update()
    }
}
