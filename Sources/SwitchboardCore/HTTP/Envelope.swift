import Foundation
import Vapor

/// `{"success": true, "data": …, "meta"?: …}` — the only shape a successful answer takes.
struct Envelope<Payload: Encodable & Sendable>: AsyncResponseEncodable, Sendable {
    var status: HTTPResponseStatus = .ok
    var data: Payload
    var meta: PageMeta? = nil
    var headers: HTTPHeaders = [:]

    private struct Body: Encodable {
        let success = true
        let data: Payload
        let meta: PageMeta?
    }

    func encodedData() throws -> Data {
        if meta == nil, let fast = data as? any FastJSONEncodable {
            var json = "{\"data\":"
            json.reserveCapacity(640)
            fast.appendJSON(to: &json)
            json += ",\"success\":true}"
            return Data(json.utf8)
        }
        return try WireJSON.encoder().encode(Body(data: data, meta: meta))
    }

    func encodeResponse(for request: Request) async throws -> Response {
        let bytes = try encodedData()
        var headers = self.headers
        headers.contentType = .json
        return Response(status: status, headers: headers, body: .init(data: bytes))
    }
}

extension Envelope {
    static func created(_ data: Payload) -> Envelope { Envelope(status: .created, data: data) }
}

struct PageMeta: Encodable, Sendable {
    let total: Int
    let limit: Int
    let offset: Int
}

/// `{"success": false, "error": "…"}`.
struct ErrorBody: Codable, Sendable {
    var success = false
    let error: String
    /// A bulk request's rejected rows, every one of them, so a file can be fixed in one pass.
    var rowErrors: [RowError]? = nil
}
