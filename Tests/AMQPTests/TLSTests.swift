import AMQP
import Foundation
import TestSupport
import Testing

/// `amqps://` against a node of its own with a TLS listener that requires client
/// certificates (throw-away certificates from scripts/make-test-certs.sh).
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct TLSTests {
    static let environment = ["KALTIM_BROKER_NAME": "kaltim-tls", "KALTIM_BROKER_PORT": "5712", "KALTIM_BROKER_TLS_PORT": "5713"]

    @Test func tlsWithVerifiedBrokerAndClientCertificate() async throws {
        try await BrokerEnvironment.brokerScript(["start"], environment: Self.environment)
        let tls = try await BrokerEnvironment.brokerScript(["tls-dir"], environment: Self.environment)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        func url(ca: String, client: Bool) -> String {
            var url = "amqps://guest:guest@localhost:5713/%2f?cacertfile=\(tls)/\(ca)"
            if client { url += "&certfile=\(tls)/client.pem&keyfile=\(tls)/client.key" }
            return url
        }

        // Trusted CA and a client certificate: a working connection.
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: url(ca: "ca.pem", client: true)))
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        try await connection.publish(Data("over tls".utf8), routingKey: queue, mandatory: true)
        let delivery = try #require(try await connection.get(queue: queue))
        #expect(String(decoding: delivery.body, as: UTF8.self) == "over tls")
        try await delivery.ack()
        await connection.close()

        // The broker's certificate is not signed by the CA we trust: refused by us.
        await #expect {
            try await AMQPConnection.connect(AMQPConfiguration(url: url(ca: "other-ca.pem", client: true)))
        } throws: { ($0 as? AMQPError)?.code == .connectionFailed }

        // No client certificate: refused by the broker.
        await #expect {
            try await AMQPConnection.connect(AMQPConfiguration(url: url(ca: "ca.pem", client: false)))
        } throws: { ($0 as? AMQPError)?.code == .connectionFailed }

        // Plaintext AMQP to the TLS listener: no connection (the broker waits for a TLS hello).
        var plaintext = try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:5713/%2f")
        plaintext.connectTimeout = .seconds(5)
        plaintext.rpcTimeout = .seconds(5)
        plaintext.reconnect = nil
        await #expect { try await AMQPConnection.connect(plaintext) } throws: { ($0 as? AMQPError)?.code == .connectionFailed }

        try await BrokerEnvironment.brokerScript(["stop"], environment: Self.environment)
    }
}
