public import ClientAddress
import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore

/// The request context of the verification service: the client's address, for the rate limit.
public typealias VerificationRequestContext = PeerRequestContext

/// How the verification service runs.
public struct VerificationConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8090
    /// A header a reverse proxy sets to the client's address (e.g. `X-Real-IP`); nil: the
    /// peer's address. Only for a service nothing but the proxy can reach.
    public var clientAddressHeader: String?
    /// Requests a minute per client after a burst, and for everyone together.
    public var perMinute = 30
    public var burst = 10
    public var totalPerMinute = 30_000

    public init() {}
}

/// The public verification service: a page and a JSON answer for the code in a certificate's
/// QR code, behind no sign-in, rate-limited, revealing nothing but the status, the holder's
/// name partly masked, the programme, the issuer and the dates. Read only.
public struct VerificationServer: Sendable {
    let configuration: VerificationConfiguration
    let lookup: CertificateLookup
    let limiter: RateLimiter
    let logger: Logger

    public init(
        configuration: VerificationConfiguration, lookup: CertificateLookup, limiter: RateLimiter? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.lookup = lookup
        self.limiter =
            limiter
            ?? RateLimiter(
                perMinute: configuration.perMinute, burst: configuration.burst, totalPerMinute: configuration.totalPerMinute)
        self.logger = logger
    }

    /// The Hummingbird application (a service: run it in a `ServiceGroup`).
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: VerificationRequestContext.self)
        router.add(middleware: VerificationHeaders())
        router.get("/health") { _, _ in Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("/static/verifikasi.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: VerificationPage.css)))
        }
        router.get("/") { _, _ in html(.ok, VerificationPage.form(code: "")) }
        router.get("/v") { request, context in
            // A form sends a space as "+"; a code never holds one.
            let code = (request.uri.queryParameters["kode"].map(String.init) ?? "").replacingOccurrences(of: "+", with: " ")
            return try await page(code: code, request: request, context: context)
        }
        // `/v/<code>` is what the QR code holds; `/verifikasi/<code>` what the notifications link.
        for path in ["/v/:code", "/verifikasi/:code"] {
            router.get(RouterPath(path)) { request, context in
                try await page(code: context.parameters.get("code") ?? "", request: request, context: context)
            }
        }
        router.get("/api/v/:code") { request, context in
            guard allowed(request, context) else {
                return Response(
                    status: .tooManyRequests, headers: [.contentType: "application/json", .retryAfter: "60"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"error":"TOO_MANY_REQUESTS"}"#)))
            }
            let result = try await lookup.result(forCode: context.parameters.get("code") ?? "")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(result))))
        }
        let host = configuration.host
        let port = configuration.port
        let logger = logger
        var httpLogger = logger
        httpLogger.logLevel = max(logger.logLevel, .warning)
        return Application(
            router: router,
            // Idle connections are closed: a slow client cannot hold them open.
            server: .http1(configuration: .init(idleTimeout: .seconds(30))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("verification service listening", metadata: ["listen": "\(host):\(bound)"])
                await onServerRunning(bound)
            },
            logger: httpLogger)
    }

    func page(code: String, request: Request, context: VerificationRequestContext) async throws -> Response {
        // Nothing typed: the form again, without a lookup.
        guard !code.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return html(.ok, VerificationPage.form(code: ""))
        }
        guard allowed(request, context) else {
            var response = html(.tooManyRequests, VerificationPage.tooMany())
            response.headers[.retryAfter] = "60"
            return response
        }
        let result = try await lookup.result(forCode: code)
        return html(.ok, VerificationPage.result(result, code: code))
    }

    /// The rate limit, by the proxy's header when configured (its last entry: the one the proxy
    /// wrote, not one the client sent ahead of it), else by the peer's address; an IPv6 client
    /// by its /64, which one host usually holds whole (``ClientAddress``).
    func allowed(_ request: Request, _ context: VerificationRequestContext) -> Bool {
        let forwarded = configuration.clientAddressHeader.flatMap { HTTPField.Name($0) }.flatMap { request.headers[$0] }
        return limiter.allow(ClientAddress.key(peer: context.remoteAddress?.ipAddress, forwarded: forwarded))
    }

    /// ``ClientAddress/key(_:)``.
    static func clientKey(_ address: String) -> String { ClientAddress.key(address) }

    func html(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Security headers on every answer: nothing but its own stylesheet, no framing, no referrer.
struct VerificationHeaders<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}
