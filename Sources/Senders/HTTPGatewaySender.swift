public import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// WhatsApp and SMS through an HTTP gateway: one JSON POST per message, with the idempotency
/// key in the body and in an `Idempotency-Key` header so that the gateway drops a repeat.
///
/// ```
/// POST <url>   Authorization: Bearer <token>   Idempotency-Key: <key>
/// {"idempotencyKey": "…", "channel": "WHATSAPP", "to": "+62812…", "template": "lulus_seleksi", "text": "…"}
/// ```
/// 2xx is success (the provider's id is read from `id` or `messageId` in a JSON reply); 5xx,
/// 408, 429, timeouts and connection failures are transient (a `Retry-After` in seconds or as
/// an HTTP date is honoured); any other 4xx is permanent.
public struct HTTPGatewaySender: MessageSender {
    public let url: String
    public let token: String?
    public let timeout: Duration
    private let client: HTTPClient

    /// - Parameter client: the HTTP client (default: AsyncHTTPClient's shared one).
    public init(url: String, token: String?, timeout: Duration = .seconds(10), client: HTTPClient = .shared) {
        self.url = url
        self.token = token
        self.timeout = timeout
        self.client = client
    }

    public func send(_ message: OutgoingNotification) async -> SendResult {
        struct Body: Encodable {
            let idempotencyKey: String
            let channel: String
            let to: String
            let template: String
            let text: String
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: message.idempotencyKey)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        do {
            let body = try JSONEncoder().encode(
                Body(
                    idempotencyKey: message.idempotencyKey, channel: message.channel.rawValue, to: message.recipient,
                    template: message.template, text: message.text))
            request.body = .bytes(ByteBuffer(data: body))
        } catch {
            return .permanent(code: "ENCODING_FAILED", detail: "\(error)")
        }
        let response: HTTPClientResponse
        let reply: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            reply = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            return .transient(code: "GATEWAY_UNREACHABLE", detail: "\(error)", retryAfter: nil)
        }
        let status = Int(response.status.code)
        let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.retryAfter)
        switch status {
        case 200..<300:
            return .sent(providerMessageID: Self.providerID(in: reply) ?? "http-\(status)")
        case 408, 429, 500..<600:
            return .transient(code: "GATEWAY_HTTP_\(status)", detail: Self.excerpt(reply), retryAfter: retryAfter)
        default:
            return .permanent(code: "GATEWAY_HTTP_\(status)", detail: Self.excerpt(reply))
        }
    }

    /// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2025 07:28:00 GMT`.
    static func retryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .seconds(max(0, Int(date.timeIntervalSinceNow.rounded(.up))))
    }

    static func providerID(in reply: ByteBuffer) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: reply)) as? [String: Any] else { return nil }
        return (object["id"] ?? object["messageId"]).map { "\($0)" }
    }

    static func excerpt(_ reply: ByteBuffer) -> String {
        String(decoding: Data(buffer: reply).prefix(200), as: UTF8.self)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
