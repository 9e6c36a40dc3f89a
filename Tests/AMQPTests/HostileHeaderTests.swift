import AMQP
import Foundation
import TestSupport
import Testing

/// Headers a hostile publisher nests as deep as a frame allows, delivered by the real broker:
/// the connection reads the message (its deep part cut at `maximumNesting` levels, the body
/// and the other headers whole), stays up and reads the next one. Before, the connection
/// thread's stack (1 MiB) overflowed in librabbitmq's decoder and the process crashed, at every
/// restart again, until the broker gave the message up.
@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(5))
)
struct HostileHeaderTests {
    static let publisher = BrokerEnvironment.repositoryRoot.appendingPathComponent("Tests/AMQPTests/hostile_headers.py")
        .path

    @Test func headersNestedTwentyThousandLevelsDeepNeitherCrashNorStopTheConnection() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        let (status, output) = try await runProcess(
            "/usr/bin/env", ["python3", Self.publisher, try #require(BrokerEnvironment.url), queue, "20000"],
            environment: ProcessInfo.processInfo.environment)
        #expect(status == 0 && output.contains("published"), "\(output)")
        try await waitUntil(timeout: .seconds(60), "both messages in the queue") {
            try await connection.queueState(queue).messageCount == 2
        }
        let deep = try #require(try await connection.get(queue: queue))
        #expect(deep.properties.messageID == "deep" && deep.body == Data(#"{"deep": true}"#.utf8))
        #expect(deep.properties.headers?["plain"]?.stringValue == "kept")
        var levels = 1
        var value = deep.properties.headers?["d"]
        while case .array(let inner) = value {
            levels += 1
            value = inner.first
        }
        #expect(
            levels == AMQPFieldValue.maximumNesting && value == .void, "cut at \(levels) levels: \(String(describing: value))")
        let honest = try #require(try await connection.get(queue: queue), "the connection reads on")
        #expect(honest.properties.messageID == "honest" && honest.body == Data(#"{"deep": false}"#.utf8))
    }
}
