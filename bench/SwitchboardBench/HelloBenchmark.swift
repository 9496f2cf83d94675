import Vapor

/// The ceiling: Vapor answering `GET /hello` with a constant, no middleware, no database, on this machine.
enum HelloServer {
    static func run(port: Int) async throws {
        var env = Environment.production
        env.arguments = ["hello"]
        let app = try await Application.make(env)
        app.logger.logLevel = .warning
        app.middleware = Middlewares()
        app.http.server.configuration.hostname = "127.0.0.1"
        app.http.server.configuration.port = port
        app.get("hello") { _ in "Hello, world!" }
        try await app.server.start(address: nil)
        print("hello server on 127.0.0.1:\(port)")
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}
