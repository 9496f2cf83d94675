import AsyncHTTPClient
import Foundation
import Testing
import VaporTesting
@testable import SwitchboardCore

/// The router reads the path from the request target as it arrived, where that is what Vapor's `url.path` reads.
@Suite("Routing on the request target")
struct TargetRouterTests {
    @Test func aPlainPathIsReadAsVaporReadsItAndAnyOtherIsLeftToVapor() {
        let plain = ["/", "/health", "/api/teams", "/api/teams?limit=5&offset=0", "/api/calls/\(UUID())/accept",
                     "/api/agents/x-1_2~3/metrics", "/app.js", "/api/teams/a:b@c!$&'()*+,=", "/api/teams#top"]
        let other = ["", "api/teams", "//api/teams", "/api//teams", "/api/team%73", "/api/teams;x", "/api/./teams",
                     "/api/../teams", "/.well-known/x", "/api/teams/é", "/api/te ams", "/api/te\"ams", "/api/{x}",
                     "http://127.0.0.1/api/teams", "*"]
        for target in plain {
            let path = TargetRouter.plainPath(ofTarget: target)
            #expect(path != nil, "\(target) is read directly")
            #expect(path.map(String.init) == URI(path: target).path, "\(target)")
        }
        for target in other {
            #expect(TargetRouter.plainPath(ofTarget: target) == nil, "\(target) is left to url.path")
        }
    }

    /// Through a real socket and the service's own server, which keeps the target as it arrived.
    @Test func routesParametersHeadAndMissesAnswerAsBefore() async throws {
        try await withSwitchboard { app in
            let client = try await APIClient.make(app)
            let teamId = try await client.createTeam().uuidString
            let port = try await app.listenOnAnyPort()
            func status(_ method: HTTPMethod, _ target: String) async throws -> (HTTPStatus, String) {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(target)")
                request.method = method
                request.headers.add(name: "Authorization", value: "Bearer \(client.token)")
                let response = try await app.http.client.shared.execute(request, timeout: .seconds(30))
                return (response.status, String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            let found = try await status(.GET, "/api/teams/\(teamId)")
            #expect(found.0 == .ok && found.1.lowercased().contains(teamId.lowercased()))
            #expect(try await status(.GET, "/api/teams?limit=5").1.lowercased().contains(teamId.lowercased()))
            #expect(try await status(.GET, "/api/teams/\(teamId.lowercased())").0 == .ok)
            #expect(try await status(.GET, "/api/teams/12345").1.contains("team_id must be a valid UUID"))
            // A parameter written with a percent-encoded character is decoded, as Vapor decoded its parameters.
            let encoded = "%" + String(teamId.utf8.first!, radix: 16) + teamId.dropFirst()
            #expect(try await status(.GET, "/api/teams/\(encoded)").0 == .ok, "\(encoded)")
            #expect(try await status(.HEAD, "/health").0 == .ok, "HEAD takes the GET route")
            #expect(try await status(.GET, "/api/nothing-here").0 == .notFound)
            #expect(try await status(.GET, "/api/team%73").0 == .notFound, "a percent-encoded name is not the route's")
            #expect(try await status(.GET, "//api/teams").0 == .ok, "leading slashes collapse, as Vapor reads them")
            #expect(try await status(.DELETE, "/api/calls").0 == .methodNotAllowed)
            await app.server.shutdown()
        }
    }
}
