import SwitchboardCore
import Vapor

/// The ceiling: `GET /hello` answered with a constant, no middleware, no database, on this machine, by the same
/// HTTP server the service uses (`SwitchboardServer` in front of Vapor's responder); `vapor` picks Vapor's own.
enum HelloServer {
    static func run(port: Int, vaporServer: Bool = false) async throws {
        var env = Environment.production
        env.arguments = ["hello"]
        let app = try await Application.make(env)
        app.logger.logLevel = .warning
        app.middleware = Middlewares()
        app.http.server.configuration.hostname = "127.0.0.1"
        app.http.server.configuration.port = port
        app.get("hello") { _ in "Hello, world!" }
        let server: any Server = vaporServer ? app.server : SwitchboardServer(application: app)
        try await server.start(address: nil)
        print("hello server on 127.0.0.1:\(port)")
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}
