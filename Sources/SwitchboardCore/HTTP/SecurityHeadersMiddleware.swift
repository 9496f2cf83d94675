import Vapor

/// Headers every answer carries: no MIME sniffing, no framing, no referrer; API answers are never cached, and
/// pages may load scripts, styles and images from this origin only.
struct SecurityHeadersMiddleware: AnswerFinish {
    func finish(_ response: Response, to request: Request) -> Response {
        let headers = [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Content-Security-Policy",
             "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
        ]
        for (name, value) in headers where !response.headers.contains(name: name) {
            response.headers.replaceOrAdd(name: name, value: value)
        }
        if request.targetPath.hasPrefix("/api/") {
            response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        }
        return response
    }
}

/// With CORS on, an answer depends on the request's `Origin` (it is echoed when allowed), so every answer
/// says so: otherwise a shared cache could hand one origin's answer to another.
struct VaryOriginMiddleware: AnswerFinish {
    func finish(_ response: Response, to request: Request) -> Response {
        let vary = response.headers[.vary].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if !vary.contains("origin") && !vary.contains("*") { response.headers.add(name: .vary, value: "Origin") }
        return response
    }
}
