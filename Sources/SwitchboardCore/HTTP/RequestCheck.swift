import Vapor

/// A middleware that only looks at a request before it goes on (a role, a size, a budget), run on the event loop.
/// Vapor runs every `AsyncMiddleware` in a task of its own, with a promise and a hop back: on a request that costs
/// a few hundred microseconds, the API's chain of them was a measurable share (docs/PERFORMANCE.md). Middlewares
/// that wait for something (a new token's verification, a file) still take a task, and only where they wait.
protocol RequestCheck: Middleware {
    /// Throws the answer to a request that may not go on.
    func check(_ request: Request) throws
}

extension RequestCheck {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        do {
            try check(request)
        } catch {
            return request.eventLoop.makeFailedFuture(error)
        }
        return next.respond(to: request)
    }
}

/// A middleware that only changes the answer on its way out (headers, metrics), run on the event loop.
protocol AnswerFinish: Middleware {
    func finish(_ response: Response, to request: Request) -> Response
}

extension AnswerFinish {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).map { finish($0, to: request) }
    }
}
