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
/// an HTTP date is honoured, up to ``longestRetryAfter``); any other status is permanent. A
/// redirect is not followed (it would send the number and the text again, to another host,
/// perhaps over plain http) and counts as permanent. `timeout` bounds the whole exchange, the
/// reply's body included: a gateway that sends its body a byte at a time holds a send no longer.
public struct HTTPGatewaySender: MessageSender {
    public let url: String
    public let token: String?
    public let timeout: Duration
    private let client: HTTPClient

    /// The longest wait a gateway's `Retry-After` is followed for: a larger one is taken as this
    /// (an hour), so that a message is not held, and its person's data kept, for ever.
    public static let longestRetryAfter: Duration = .seconds(3600)

    /// An HTTP client that follows no redirect, shared by the gateway senders of a process.
    public static let client = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    /// - Parameter client: the HTTP client (default: ``client``, which follows no redirect).
    public init(url: String, token: String?, timeout: Duration = .seconds(10), client: HTTPClient = Self.client) {
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
            (response, reply) = try await Self.within(timeout) { [client, request, timeout] in
                let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
                return (response, try await response.body.collect(upTo: 64 * 1024))
            }
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

    /// The exchange's result, or a timeout error once `limit` has passed (the exchange is then
    /// cancelled). AsyncHTTPClient's own deadline ends when the reply's head arrives.
    static func within<T: Sendable>(_ limit: Duration, _ exchange: @escaping @Sendable () async throws -> T) async throws
        -> T
    {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await exchange() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw HTTPClientError.deadlineExceeded }
            return result
        }
    }

    /// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2025 07:28:00 GMT`, at most
    /// ``longestRetryAfter``; nil when it is neither.
    static func retryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        let longest = longestRetryAfter.components.seconds
        if let seconds = Int64(trimmed), seconds >= 0 { return .seconds(min(seconds, longest)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        let wait = date.timeIntervalSinceNow.rounded(.up)
        return .seconds(wait.isFinite ? Int64(min(max(0, wait), Double(longest))) : longest)
    }

    /// The provider's id of the message, at most 200 characters.
    static func providerID(in reply: ByteBuffer) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: reply)) as? [String: Any] else { return nil }
        return (object["id"] ?? object["messageId"]).map { String("\($0)".prefix(200)) }
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
