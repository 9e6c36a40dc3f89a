import Foundation
import TestSupport
import Testing

/// A worker started as deploy/ starts it, over AMQP with TLS: `amqps://` and `--tls-ca` with
/// the CA of scripts/make-broker-certs.sh (through scripts/make-test-certs.sh), against a node
/// of its own that listens for TLS 1.2/1.3 only as deploy/'s broker does, and requires a client
/// certificate.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct WorkerTLSTests {
    static let environment = [
        "KALTIM_BROKER_NAME": "kaltim-worker-tls", "KALTIM_BROKER_PORT": "5742", "KALTIM_BROKER_TLS_PORT": "5743",
    ]

    @Test func aWorkerConnectsOverTLSWithTheProgrammesCAAndRefusesAnotherOne() async throws {
        try await BrokerEnvironment.brokerScript(["start"], environment: Self.environment)
        let tls = try await BrokerEnvironment.brokerScript(["tls-dir"], environment: Self.environment)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName())
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        func grading(ca: String) throws -> ChildProcess {
            try ChildProcess(
                binary,
                [
                    "grading", "--database", directory.appendingPathComponent("g-\(ca).sqlite").path,
                    "--broker-url", "amqps://guest:guest@localhost:5743/%2f", "--tls-ca", "\(tls)/\(ca)",
                    "--tls-cert", "\(tls)/client.pem", "--tls-key", "\(tls)/client.key",
                    "--topology-prefix", uniqueName() + ".", "--programme-file", repositoryFile("config/programme-2025.json"),
                    "--no-http", "--allow-any-publisher",
                ])
        }
        let trusted = try grading(ca: "ca.pem")
        defer { Task { await trusted.terminate() } }
        try await trusted.waitForLog("\"msg\":\"worker started\"", timeout: .seconds(120))
        #expect(trusted.output.contains("amqp.broker"), "\(trusted.output.suffix(2000))")

        // A CA that did not sign the broker's certificate: the worker does not connect.
        let untrusted = try grading(ca: "other-ca.pem")
        defer { Task { await untrusted.terminate() } }
        try await untrusted.waitForLog("broker not reachable; retrying", timeout: .seconds(120))
        #expect(!untrusted.output.contains("\"msg\":\"worker started\""))

        trusted.signal(SIGTERM)
        #expect(try await trusted.waitForExit(timeout: .seconds(60)) == 0)
        await untrusted.terminate()
        try await BrokerEnvironment.brokerScript(["stop"], environment: Self.environment)
        try? FileManager.default.removeItem(at: directory)
    }
}
