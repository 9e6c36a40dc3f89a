// What every route shares below the pages: security headers and form bodies.
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Security headers on every response.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    let secure: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if secure { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }
}

/// An `application/x-www-form-urlencoded` body (at most 64 KiB).
struct Form: Sendable {
    let fields: [String: [String]]

    init(_ request: Request) async throws {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        self.init(String(buffer: buffer))
    }

    init(_ text: String) {
        var fields: [String: [String]] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[decode(parts[0]), default: []].append(parts.count > 1 ? decode(parts[1]) : "")
        }
        self.fields = fields
    }

    func first(_ name: String) -> String? { fields[name]?.first }
    func all(_ name: String) -> [String] { (fields[name] ?? []).filter { !$0.isEmpty } }
}
