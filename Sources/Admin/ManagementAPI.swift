public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The figures AMQP cannot give without taking messages, read from the RabbitMQ management
/// plugin's HTTP API: unacknowledged messages, message rates and, for classic queues, the
/// timestamp of the message at the head.
///
/// RabbitMQ 3.10 does not report a head timestamp for quorum queues (rabbitmq-server#6813), and
/// peeking at one with `basic.get` and a requeue would count as a delivery attempt against the
/// queue's delivery limit, so a role queue's oldest age comes from the workers' own gauge
/// (`jobs_oldest_unprocessed_age_seconds`), not from here.
public struct ManagementAPI: Sendable {
    /// One queue as the management API reports it.
    public struct QueueFigures: Sendable, Equatable {
        public let name: String
        /// `quorum` or `classic`.
        public let type: String
        public let ready: Int
        public let unacknowledged: Int
        public let consumers: Int
        /// Messages per second published to the queue over the last sampling window.
        public let publishRate: Double?
        /// Messages per second acknowledged by consumers over the last sampling window.
        public let ackRate: Double?
        /// The `timestamp` property of the message at the head (classic queues only).
        public let headMessageTimestamp: Date?
        /// Messages dead-lettered at least once that wait in this queue until their dead-letter
        /// queue has room (quorum queues).
        public var waitingForDeadLetterRoom: Int = 0
        /// The policy in effect, if any.
        public var policy: String? = nil
        /// Messages published to the queue since the broker began counting (for rates taken
        /// between two reads: the broker's own rate reads 0 between two of its samples).
        public var published: Int? = nil
        /// Messages acknowledged from the queue since the broker began counting.
        public var acknowledged: Int? = nil
    }

    /// A management API reply that was not a success.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let base: String
    private let authorization: String
    private let virtualHost: String
    private let timeout: Duration
    private let client: HTTPClient

    /// - Parameters:
    ///   - url: the API's base URL, e.g. `http://127.0.0.1:15672`; credentials in the URL
    ///     (`http://user:password@host:port`) take precedence over `username` and `password`.
    ///   - virtualHost: the virtual host whose queues are read.
    ///   - username: the user when the URL names none (the admin's broker user).
    ///   - password: that user's password.
    public init(
        url: String, virtualHost: String, username: String, password: String, timeout: Duration = .seconds(10),
        client: HTTPClient = .shared
    ) throws {
        guard var components = URLComponents(string: url), let scheme = components.scheme,
            scheme == "http" || scheme == "https", components.host?.isEmpty == false
        else {
            throw Failure(description: "the management URL must be http(s)://[user:password@]host:port")
        }
        let user = components.user.flatMap { $0.removingPercentEncoding } ?? username
        let secret = components.password.flatMap { $0.removingPercentEncoding } ?? password
        components.user = nil
        components.password = nil
        components.path = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
        self.base = components.string ?? url
        self.authorization = "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString()
        self.virtualHost = virtualHost
        self.timeout = timeout
        self.client = client
    }

    /// One queue of the virtual host (`GET /api/queues/{vhost}/{name}`), nil when it does not
    /// exist. Asking for each queue by name keeps another queue's trouble out of the answer:
    /// RabbitMQ 3.10 answers the whole listing with a 500 (`badkey` in its statistics cache)
    /// while any queue of the virtual host has no statistics yet.
    public func queue(named name: String) async throws -> QueueFigures? {
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? virtualHost
        let encoded = name.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? name
        let request = HTTPClientRequest(
            url: base + "/api/queues/\(vhost)/\(encoded)?columns=\(Self.columns)")
        let (response, body) = try await send(request, limit: 1024 * 1024)
        if response.status.code == 404 { return nil }
        guard response.status.code == 200 else {
            throw Failure(
                description: "the management API answered \(response.status.code) for queue \(name): "
                    + String(buffer: body).prefix(200))
        }
        return try JSONDecoder().decode(Row.self, from: Data(buffer: body)).figures
    }

    /// RFC 3986's unreserved characters, ASCII only (`.alphanumerics` would let letters of
    /// other scripts through unencoded): every other byte of a name is percent-encoded.
    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private static let columns =
        "name,type,messages_ready,messages_unacknowledged,consumers,"
        + "head_message_timestamp,messages_dlx,policy,message_stats.publish_details.rate,message_stats.ack_details.rate,"
        + "message_stats.publish,message_stats.ack"

    private struct Row: Decodable {
        struct Rate: Decodable { let rate: Double? }
        struct Stats: Decodable {
            let publishDetails: Rate?
            let ackDetails: Rate?
            let publish: Int?
            let ack: Int?
            enum CodingKeys: String, CodingKey {
                case publish, ack
                case publishDetails = "publish_details"
                case ackDetails = "ack_details"
            }
        }
        let name: String
        let type: String?
        let messagesReady: Int?
        let messagesUnacknowledged: Int?
        let consumers: Int?
        let headMessageTimestamp: Double?
        let messagesDeadLetterWaiting: Int?
        let policy: String?
        let messageStats: Stats?

        enum CodingKeys: String, CodingKey {
            case name, type, consumers, policy
            case messagesDeadLetterWaiting = "messages_dlx"
            case messagesReady = "messages_ready"
            case messagesUnacknowledged = "messages_unacknowledged"
            case headMessageTimestamp = "head_message_timestamp"
            case messageStats = "message_stats"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            type = try container.decodeIfPresent(String.self, forKey: .type)
            messagesReady = try container.decodeIfPresent(Int.self, forKey: .messagesReady)
            messagesUnacknowledged = try container.decodeIfPresent(Int.self, forKey: .messagesUnacknowledged)
            consumers = try container.decodeIfPresent(Int.self, forKey: .consumers)
            // An empty classic queue reports `head_message_timestamp` as "" rather than null.
            headMessageTimestamp = try? container.decodeIfPresent(Double.self, forKey: .headMessageTimestamp)
            messageStats = try? container.decodeIfPresent(Stats.self, forKey: .messageStats)
            messagesDeadLetterWaiting = try? container.decodeIfPresent(Int.self, forKey: .messagesDeadLetterWaiting)
            // No policy is reported as "" rather than null.
            policy = (try? container.decodeIfPresent(String.self, forKey: .policy)).flatMap { $0?.isEmpty == false ? $0 : nil }
        }

        var figures: QueueFigures {
            QueueFigures(
                name: name, type: type ?? "classic", ready: messagesReady ?? 0, unacknowledged: messagesUnacknowledged ?? 0,
                consumers: consumers ?? 0, publishRate: messageStats?.publishDetails?.rate,
                ackRate: messageStats?.ackDetails?.rate,
                headMessageTimestamp: headMessageTimestamp.map { Date(timeIntervalSince1970: $0) },
                waitingForDeadLetterRoom: messagesDeadLetterWaiting ?? 0, policy: policy,
                published: messageStats?.publish, acknowledged: messageStats?.ack)
        }
    }

    /// Creates or replaces `policy` in the virtual host (`PUT /api/policies/{vhost}/{name}`).
    public func apply(_ policy: BrokerPolicy) async throws {
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? virtualHost
        let name = policy.name.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? policy.name
        var request = HTTPClientRequest(url: base + "/api/policies/\(vhost)/\(name)")
        request.method = .PUT
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: policy.jsonObject)))
        let (response, body) = try await send(request, limit: 1024 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw Failure(
                description: "the management API answered \(response.status.code) for policy \(policy.name): "
                    + String(buffer: body).prefix(200))
        }
    }

    /// Removes the policy `name` from the virtual host; a policy that is not there is no error.
    public func removePolicy(named name: String) async throws {
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? virtualHost
        let encoded = name.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? name
        var request = HTTPClientRequest(url: base + "/api/policies/\(vhost)/\(encoded)")
        request.method = .DELETE
        let (response, body) = try await send(request, limit: 1024 * 1024)
        guard (200..<300).contains(response.status.code) || response.status.code == 404 else {
            throw Failure(
                description: "the management API answered \(response.status.code) removing policy \(name): "
                    + String(buffer: body).prefix(200))
        }
    }

    /// Sends `request` with the credentials and the timeout; the reply and up to `limit` bytes
    /// of its body.
    private func send(_ request: HTTPClientRequest, limit: Int) async throws -> (HTTPClientResponse, ByteBuffer) {
        var request = request
        request.headers.add(name: "Authorization", value: authorization)
        let (seconds, attoseconds) = timeout.components
        do {
            let response = try await client.execute(
                request, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
            return (response, try await response.body.collect(upTo: limit))
        } catch {
            throw Failure(description: "cannot reach the management API at \(base): \(error)")
        }
    }
}
