import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport

/// A WhatsApp/SMS gateway for the tests: a real HTTP server on loopback (Hummingbird) that
/// records every POST and answers what `respond` says for the n-th attempt of a key.
final class TestGateway: Sendable {
    struct Request: Sendable {
        let key: String
        let headerKey: String?
        let channel: String
        let to: String
        let text: String
        let authorization: String?
        let at: ContinuousClock.Instant
    }

    /// Every request, in arrival order.
    let requests: Collector<Request>
    /// Keys answered with 2xx.
    let accepted: Collector<String>
    /// Requests being answered right now, and the most there ever were at once.
    final class InFlight: Sendable {
        let state = Mutex((now: 0, most: 0))
    }
    let inFlight: InFlight
    let port: Int
    private let group: ServiceGroup
    private let server: Task<Void, any Error>

    /// - Parameters:
    ///   - respond: status and headers for a request and its attempt number (1, 2, …).
    ///   - hold: awaited before answering a request and its attempt number (a stalled send).
    static func start(
        respond: @escaping @Sendable (Request, Int) -> (Int, [String: String]) = { _, _ in (200, [:]) },
        hold: @escaping @Sendable (Request, Int) async -> Void = { _, _ in }
    )
        async throws
        -> TestGateway
    {
        let requests = Collector<Request>()
        let accepted = Collector<String>()
        let attempts = Mutex<[String: Int]>([:])
        let inFlight = InFlight()
        let router = Router()
        router.post("/send") { request, context -> Response in
            inFlight.state.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
            }
            defer { inFlight.state.withLock { $0.now -= 1 } }
            let body = try await request.body.collect(upTo: 1 << 20)
            let json = (try? JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any]) ?? [:]
            let received = Request(
                key: json["idempotencyKey"] as? String ?? "", headerKey: request.headers[.init("Idempotency-Key")!],
                channel: json["channel"] as? String ?? "", to: json["to"] as? String ?? "", text: json["text"] as? String ?? "",
                authorization: request.headers[.authorization], at: .now)
            requests.append(received)
            let attempt = attempts.withLock {
                $0[received.key, default: 0] += 1
                return $0[received.key]!
            }
            await hold(received, attempt)
            let (status, headers) = respond(received, attempt)
            var fields = HTTPFields()
            for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
            if (200..<300).contains(status) {
                accepted.append(received.key)
                return Response(
                    status: .init(code: status), headers: fields,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"id\":\"gw-\(received.key)\"}")))
            }
            return Response(
                status: .init(code: status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: "no")))
        }
        let (portStream, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) })
        // Stopped by a graceful shutdown, never by cancelling the serving task: a cancelled
        // server can drop a just-accepted connection unserved, and NIO traps on that in debug
        // builds ("Deinited NIOAsyncWriter without calling finish()").
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "test-gateway"))
        let server = Task { try await group.run() }
        var port = 0
        for await value in portStream {
            port = value
            break
        }
        return TestGateway(
            requests: requests, accepted: accepted, inFlight: inFlight, port: port, group: group, server: server)
    }

    private init(
        requests: Collector<Request>, accepted: Collector<String>, inFlight: InFlight, port: Int,
        group: ServiceGroup, server: Task<Void, any Error>
    ) {
        self.requests = requests
        self.accepted = accepted
        self.inFlight = inFlight
        self.port = port
        self.group = group
        self.server = server
    }

    var url: String { "http://127.0.0.1:\(port)/send" }

    /// Shuts the server down gracefully: it stops accepting, finishes the requests in flight
    /// and closes idle keep-alive connections.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await server.value
    }
}

/// A TCP port nobody listens on right now (the kernel's choice for port 0).
func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
