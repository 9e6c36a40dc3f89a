import Admin
import ContractKit
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
import Topology

/// The queue page and `status` ask the management API for every role queue at once: a slow
/// API costs its slowest answer, not one timeout per role (which held the console's
/// dead-letter desk for up to roles × 10 s). A fake API answers no queue until it has been
/// asked for all of them: asked one after the other, the first would time out (10 s) and
/// every figure would be missing.
@Suite struct ManagementFiguresTests {
    @Test func everyRoleQueueIsAskedForAtOnce() async throws {
        let roles = WorkerRole.all + [.console]
        let prefix = uniqueName("figures") + "."
        let waiting = Mutex(0)
        let router = Router()
        router.get("/api/queues/:vhost/:name") { request, context -> Response in
            let name = context.parameters.get("name") ?? ""
            waiting.withLock { $0 += 1 }
            // Hold every answer until all the queues were asked for (generous: a busy machine;
            // the client waits longer still).
            let deadline = ContinuousClock.now + .seconds(90)
            while waiting.withLock({ $0 }) < roles.count && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            guard waiting.withLock({ $0 }) >= roles.count else { return Response(status: .serviceUnavailable) }
            let body = #"{"name":"\#(name)","messages_unacknowledged":3,"consumers":1,"messages_ready":0}"#
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "fake-management"))
        let group = ServiceGroup(services: [application], gracefulShutdownSignals: [], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        var port = 0
        for await value in ports {
            port = value
            break
        }
        let management = try ManagementAPI(
            url: "http://127.0.0.1:\(port)", virtualHost: "/", username: "guest", password: "guest", timeout: .seconds(120))
        let figures = await QueueStatusRow.managementFigures(roles: roles, prefix: prefix, management: management)
        #expect(figures.count == roles.count)
        for role in roles {
            let queue = RoleTopology(role: role, prefix: prefix).queue
            guard case .success(let found?) = figures[queue] else {
                Issue.record("\(queue): \(String(describing: figures[queue]))")
                continue
            }
            #expect(found.unacknowledged == 3, "\(queue)")
        }
        await group.triggerGracefulShutdown()
        try await running.value
    }
}
