import AsyncHTTPClient
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

@testable import Senders

/// A gateway that misbehaves, as a compromised or broken provider would: it redirects the send
/// elsewhere, answers its head and then trickles its body, or asks for a wait of centuries.
/// Each is a real HTTP server on loopback.
@Suite(.timeLimit(.minutes(5)))
struct HostileGatewayTests {
    static let message = OutgoingNotification(
        idempotencyKey: "k-1", channel: .whatsApp, recipient: "+6281250001001", template: "lulus_seleksi", subject: "",
        text: "Selamat, Siti!")

    /// The server: `/redirect` answers 307 to `/elsewhere` (which counts its visitors), `/slow`
    /// answers its head and one byte of body, then waits for `release`, `/wait` answers 429
    /// with a `Retry-After` of 99,999,999,999 seconds.
    final class Server: Sendable {
        /// A number several tasks change.
        final class Count: Sendable {
            let value = Atomic<Int>(0)
        }
        let elsewhere = Count()
        let release: AsyncStream<Void>
        let releaseSink: AsyncStream<Void>.Continuation
        let port: Int
        private let group: ServiceGroup
        private let task: Task<Void, any Error>

        init() async throws {
            let (release, releaseSink) = AsyncStream.makeStream(of: Void.self)
            self.release = release
            self.releaseSink = releaseSink
            let elsewhere = self.elsewhere
            let router = Router()
            let portBox = Count()
            router.post("/redirect") { _, _ -> Response in
                Response(
                    status: .temporaryRedirect,
                    headers: [.location: "http://127.0.0.1:\(portBox.value.load(ordering: .acquiring))/elsewhere"])
            }
            router.post("/elsewhere") { _, _ -> Response in
                elsewhere.value.add(1, ordering: .acquiringAndReleasing)
                return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"id":"stolen"}"#)))
            }
            router.post("/slow") { _, _ -> Response in
                Response(
                    status: .ok,
                    body: ResponseBody { writer in
                        try await writer.write(ByteBuffer(string: "{"))
                        for await _ in release { break }
                        try await writer.finish(nil)
                    })
            }
            router.post("/wait") { _, _ -> Response in
                Response(status: .tooManyRequests, headers: [HTTPField.Name("Retry-After")!: "99999999999"])
            }
            let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
            let app = Application(
                router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) })
            group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "hostile-gateway"))
            let group = group
            task = Task { try await group.run() }
            var port = 0
            for await value in ports {
                port = value
                break
            }
            self.port = port
            portBox.value.store(port, ordering: .releasing)
        }

        func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

        func stop() async {
            releaseSink.finish()
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    @Test func aRedirectIsNotFollowedAndFailsTheSend() async throws {
        let server = try await Server()
        let result = await HTTPGatewaySender(url: server.url("/redirect"), token: "secret").send(Self.message)
        #expect(result == .permanent(code: "GATEWAY_HTTP_307", detail: ""), "\(result)")
        #expect(server.elsewhere.value.load(ordering: .acquiring) == 0, "the number and text went nowhere else")
        await server.stop()
    }

    @Test func aBodyThatNeverEndsIsCutAtTheTimeout() async throws {
        let server = try await Server()
        // The server holds its body until the test ends: the send gives up at its own one-second
        // limit (`deadlineExceeded`), not at AsyncHTTPClient's 90 s read timeout, which was the
        // only limit on a body before (the old sender's failure said `readTimeout`: checked).
        let result = await HTTPGatewaySender(url: server.url("/slow"), token: nil, timeout: .seconds(1)).send(Self.message)
        guard case .transient(let code, let detail, _) = result else {
            Issue.record("not a transient failure: \(result)")
            await server.stop()
            return
        }
        #expect(code == "GATEWAY_UNREACHABLE" && detail.contains("deadlineExceeded"), "\(detail)")
        await server.stop()
    }

    @Test func aRetryAfterOfCenturiesIsHeldToAnHour() async throws {
        let server = try await Server()
        let result = await HTTPGatewaySender(url: server.url("/wait"), token: nil).send(Self.message)
        guard case .transient(_, _, let retryAfter) = result else {
            Issue.record("not a transient failure: \(result)")
            await server.stop()
            return
        }
        #expect(retryAfter == HTTPGatewaySender.longestRetryAfter)
        #expect(HTTPGatewaySender.retryAfter("120") == .seconds(120))
        #expect(HTTPGatewaySender.retryAfter("Fri, 31 Dec 9999 23:59:59 GMT") == HTTPGatewaySender.longestRetryAfter)
        #expect(HTTPGatewaySender.retryAfter("Thu, 01 Jan 1970 00:00:00 GMT") == .seconds(0))
        #expect(HTTPGatewaySender.retryAfter("-5") == nil && HTTPGatewaySender.retryAfter("soon") == nil)
        #expect(HTTPGatewaySender.retryAfter("99999999999999999999") == nil, "past Int64: not a number of seconds")
        await server.stop()
    }
}
