import NIOCore
import Vapor

/// A response body written piece by piece while it is produced, so an export of a million rows holds one page in
/// memory, not the file. `SwitchboardServer` sends it chunked and waits for each piece to reach the socket before
/// asking for the next (a slow client slows the producer instead of growing a buffer); anywhere else (Vapor's
/// in-memory tester) the same producer fills Vapor's own stream body.
struct StreamedBody: Sendable {
    typealias Write = @Sendable (ByteBuffer) async throws -> Void
    let produce: @Sendable (_ write: Write) async throws -> Void
}

struct StreamedBodyKey: StorageKey { typealias Value = StreamedBody }

extension Response {
    static func streamed(status: HTTPResponseStatus = .ok, headers: HTTPHeaders,
                         _ produce: @escaping @Sendable (_ write: StreamedBody.Write) async throws -> Void) -> Response {
        let response = Response(status: status, headers: headers, body: .init(asyncStream: { writer in
            do {
                try await produce { try await writer.writeBuffer($0) }
                try await writer.write(.end)
            } catch {
                try? await writer.write(.error(error))
                throw error
            }
        }))
        response.storage[StreamedBodyKey.self] = StreamedBody(produce: produce)
        return response
    }
}
