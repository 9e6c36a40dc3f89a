import Foundation

/// Where and how to connect to RabbitMQ.
///
/// Build it from an `amqp://` or `amqps://` URL (``init(url:)``) or field by field. The
/// ``description`` masks the password, so a configuration can be logged.
public struct AMQPConfiguration: Sendable, CustomStringConvertible {
    /// TLS settings for `amqps://` connections (librabbitmq's OpenSSL socket).
    public struct TLS: Sendable, Hashable {
        /// PEM file of the certificate authorities to trust; `nil` uses none (verification fails
        /// unless ``verifyPeer`` is off).
        public var caCertificatePath: String?
        /// PEM client certificate, for brokers that require one.
        public var clientCertificatePath: String?
        /// PEM private key of the client certificate.
        public var clientKeyPath: String?
        /// Verify the broker's certificate chain.
        public var verifyPeer: Bool
        /// Verify that the broker's certificate names ``AMQPConfiguration/host``.
        public var verifyHostname: Bool

        /// Creates TLS settings; peer and hostname verification are on by default.
        public init(
            caCertificatePath: String? = nil, clientCertificatePath: String? = nil,
            clientKeyPath: String? = nil, verifyPeer: Bool = true, verifyHostname: Bool = true
        ) {
            self.caCertificatePath = caCertificatePath
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    /// One broker node: a host and its AMQP port.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }
    }

    public var host: String = "127.0.0.1"
    public var port: Int = 5672
    /// Further nodes of the same cluster. The first connection tries ``host``:``port`` and then
    /// these in order; after a lost connection, reconnecting starts with the node after the one
    /// that was lost, so a dead node is passed over at once.
    public var alternateEndpoints: [Endpoint] = []
    /// ``host``:``port`` followed by ``alternateEndpoints``.
    public var endpoints: [Endpoint] { [Endpoint(host: host, port: port)] + alternateEndpoints }
    public var virtualHost: String = "/"
    public var username: String = "guest"
    /// - Warning: never logged; ``description`` masks it.
    public var password: String = "guest"
    /// TLS settings; `nil` means plain TCP.
    public var tls: TLS?
    /// The heartbeat timeout proposed to the broker (the broker may lower it). A dead peer is
    /// detected after at most twice this value of silence; a TCP reset at once.
    /// Zero disables heartbeats (not recommended).
    public var heartbeat: Duration = .seconds(30)
    /// Limit for TCP connect and for the AMQP handshake, each.
    public var connectTimeout: Duration = .seconds(10)
    /// Limit for every synchronous AMQP method (declare, bind, qos, consume, close, ...).
    public var rpcTimeout: Duration = .seconds(30)
    /// Largest frame size proposed to the broker (4 KiB to ``frameMaxLimit``; a value outside
    /// is taken as the nearer bound). It also sizes the connection thread's stack: librabbitmq
    /// decodes a delivery's headers recursively, one level per five bytes of a nested array.
    public var frameMax: Int = 131_072
    /// The largest ``frameMax`` (1 MiB): RabbitMQ's own default is 128 KiB.
    public static let frameMaxLimit = 1 << 20
    /// ``frameMax`` within 4 KiB and ``frameMaxLimit``: what the connection proposes.
    var boundedFrameMax: Int { min(max(frameMax, 4096), Self.frameMaxLimit) }
    /// Shown in the management UI and `rabbitmqctl list_connections name`.
    public var connectionName: String?
    /// What to do when the connection is lost; `nil` means stay down (every call fails).
    public var reconnect: ReconnectPolicy? = ReconnectPolicy()

    /// A configuration for `127.0.0.1:5672`, vhost `/`, user `guest`.
    public init() {}

    /// Parses an `amqp://user:password@host:port/vhost?heartbeat=10` URL, or several separated
    /// by commas (the nodes of one cluster: `amqp://u:p@node1:5672/%2f,amqp://u:p@node2:5672/%2f`),
    /// which may differ only in host and port; the first is tried first.
    ///
    /// Query keys (RabbitMQ's URI spec where it has one): `heartbeat` (seconds),
    /// `connection_timeout` (milliseconds), `frame_max`, `cacertfile`, `certfile`, `keyfile`,
    /// `verify` (`verify_peer` or `verify_none`), `connection_name`.
    /// - Throws: ``AMQPError/Code/invalidConfiguration`` naming what is wrong.
    public init(url: String) throws {
        // A list: split before each further scheme (a comma inside a URL is not followed by one).
        let parts = url.replacingOccurrences(of: ",amqps://", with: "\u{0}amqps://")
            .replacingOccurrences(of: ",amqp://", with: "\u{0}amqp://").split(separator: "\u{0}").map(String.init)
        guard parts.count > 1 else {
            try self.init(single: url)
            return
        }
        try self.init(single: parts[0])
        for part in parts.dropFirst() {
            var other = try AMQPConfiguration(single: part)
            let endpoint = Endpoint(host: other.host, port: other.port)
            other.host = host
            other.port = port
            guard other.sameSettings(as: self) else {
                throw AMQPError(
                    .invalidConfiguration,
                    "the URLs of a list must differ only in host and port (user, password, vhost, TLS and options alike)")
            }
            alternateEndpoints.append(endpoint)
        }
    }

    private func sameSettings(as other: AMQPConfiguration) -> Bool {
        host == other.host && port == other.port && virtualHost == other.virtualHost && username == other.username
            && password == other.password && tls == other.tls && heartbeat == other.heartbeat
            && connectTimeout == other.connectTimeout && frameMax == other.frameMax
            && connectionName == other.connectionName
    }

    private init(single url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw AMQPError(.invalidConfiguration, "not a URL: expected amqp://user:password@host:port/vhost")
        }
        switch scheme {
        case "amqp": port = 5672
        case "amqps":
            port = 5671
            tls = TLS()
        default:
            throw AMQPError(.invalidConfiguration, "unsupported URL scheme '\(scheme)': use amqp or amqps")
        }
        // The host as written (`encodedHost`): `host` turns punycode into Unicode, which the
        // resolver does not take (and loads ICU to do it).
        if let host = components.encodedHost, !host.isEmpty {
            guard host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "%") }) else {
                throw AMQPError(
                    .invalidConfiguration, "the host must be written in ASCII: a name outside ASCII in punycode (xn--…)")
            }
            self.host = host
        }
        if let port = components.port {
            guard (1...65535).contains(port) else {
                throw AMQPError(.invalidConfiguration, "port \(port) is out of range")
            }
            self.port = port
        }
        if let user = components.user { username = user }
        if let password = components.password { self.password = password }
        let path = components.percentEncodedPath
        if path.count > 1 {
            virtualHost = String(path.dropFirst()).removingPercentEncoding ?? String(path.dropFirst())
        }
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "heartbeat":
                guard let seconds = Int(value), seconds >= 0 else {
                    throw AMQPError(.invalidConfiguration, "heartbeat must be whole seconds >= 0, got '\(value)'")
                }
                heartbeat = .seconds(seconds)
            case "connection_timeout":
                guard let ms = Int(value), ms > 0 else {
                    throw AMQPError(.invalidConfiguration, "connection_timeout must be milliseconds > 0, got '\(value)'")
                }
                connectTimeout = .milliseconds(ms)
            case "frame_max":
                guard let size = Int(value), (4096...Self.frameMaxLimit).contains(size) else {
                    throw AMQPError(
                        .invalidConfiguration, "frame_max must be 4096 to \(Self.frameMaxLimit) bytes, got '\(value)'")
                }
                frameMax = size
            case "cacertfile": tls = (tls ?? TLS()).with { $0.caCertificatePath = value }
            case "certfile": tls = (tls ?? TLS()).with { $0.clientCertificatePath = value }
            case "keyfile": tls = (tls ?? TLS()).with { $0.clientKeyPath = value }
            case "verify":
                guard value == "verify_peer" || value == "verify_none" else {
                    throw AMQPError(.invalidConfiguration, "verify must be verify_peer or verify_none, got '\(value)'")
                }
                let on = value == "verify_peer"
                tls = (tls ?? TLS()).with {
                    $0.verifyPeer = on
                    $0.verifyHostname = on
                }
            case "connection_name": connectionName = value
            default:
                throw AMQPError(.invalidConfiguration, "unknown URL query key '\(item.name)'")
            }
        }
        if tls != nil && scheme == "amqp" {
            throw AMQPError(.invalidConfiguration, "TLS options need an amqps:// URL")
        }
    }

    public var description: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? virtualHost
        return "\(scheme)://\(username):****@\(endpoints.map(\.description).joined(separator: ","))/\(vhost)"
    }
}

extension AMQPConfiguration.TLS {
    fileprivate func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }
}

/// Capped exponential backoff with jitter between reconnect attempts.
///
/// Attempt *n* (from 1) waits a random time in `[d/2, d]` where
/// `d = min(maximumDelay, initialDelay × multiplier^(n-1))` ("equal jitter"), so a fleet of
/// workers that lost the broker together does not come back in lockstep.
public struct ReconnectPolicy: Sendable, Hashable {
    public var initialDelay: Duration
    public var maximumDelay: Duration
    public var multiplier: Double
    /// Give up after this many failed attempts in a row; `nil` retries forever.
    public var maximumAttempts: Int?

    /// Creates a policy; the defaults go 0.2 s, 0.4 s, 0.8 s, ... up to 15 s, forever.
    /// Backoff for subscribing a consumer again whose queue is missing or was cancelled:
    /// 1 s doubling to 30 s.
    public static let resubscription = ReconnectPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(30))

    public init(
        initialDelay: Duration = .milliseconds(200), maximumDelay: Duration = .seconds(15),
        multiplier: Double = 2, maximumAttempts: Int? = nil
    ) {
        precondition(initialDelay > .zero && maximumDelay >= initialDelay && multiplier >= 1)
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.maximumAttempts = maximumAttempts
    }

    /// The upper bound of the wait before attempt `attempt` (1-based), before jitter.
    public func ceiling(forAttempt attempt: Int) -> Duration {
        let exponent = Double(max(0, attempt - 1))
        let seconds = initialDelay.seconds * pow(multiplier, exponent)
        return .seconds(min(maximumDelay.seconds, seconds))
    }

    /// The wait before attempt `attempt` (1-based), jittered into `[ceiling/2, ceiling]`.
    public func delay<G: RandomNumberGenerator>(forAttempt attempt: Int, using generator: inout G) -> Duration {
        let ceiling = ceiling(forAttempt: attempt).seconds
        return .seconds(Double.random(in: (ceiling / 2)...ceiling, using: &generator))
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
