import Foundation
import TestSupport
import Testing

/// The whole pipeline under chaos (`kaltim-demo --chaos`): every role as its own process under
/// the supervisor, a random worker killed with SIGKILL every 2 s, the broker restarted once and
/// every connection closed once. The run's checker then counts lost and duplicated effects
/// from the observer's ledger (one decision per registration, one certificate per owed kind,
/// one outcome per notification), the notification log (one send per idempotency key), the
/// queues after the stop (nothing left), the dead letters (only the deliberately malformed)
/// and the logs (no NIK in clear); the test fails on any of them.
///
/// It runs on a node of its own, because it restarts it. `scripts/test.sh` runs this suite on
/// its own after the others (the kills and the restart load both cores); the 10,000
/// registration version with release binaries is `scripts/chaos.sh`.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(15))
)
struct ChaosTests {
    @Test func nothingIsLostOrDoubledWhenWorkersAreKilledAndTheBrokerRestarts() async throws {
        let broker = try await DisposableBroker.start(name: "kaltim-chaos-test", port: 5762)
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("chaos")).path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let binaries = builtProductsDirectory
        let demo = try ChildProcess(
            binaries.appendingPathComponent("kaltim-demo").path,
            [
                "--broker-url", broker.url, "--worker-binary", binaries.appendingPathComponent("kaltim-worker").path,
                "--output", output, "--registrations", "2000", "--residents", "5000", "--seed", "7", "--chaos",
                "--chaos-interval", "2", "--stage-timeout", "4",
                "--broker-script", BrokerEnvironment.repositoryRoot.appendingPathComponent("scripts/broker.sh").path,
                "--programme-file", BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path,
                "--templates", BrokerEnvironment.repositoryRoot.appendingPathComponent("config/notifications").path,
            ],
            environment: broker.environment)
        let status = try await demo.waitForExit(timeout: .seconds(14 * 60))
        let report = demo.output
        try await broker.run("stop")
        #expect(status == 0, "\(report.suffix(4000))")
        #expect(report.contains("PASS: nothing lost, nothing doubled"), "\(report.suffix(4000))")
        #expect(report.contains("broker restarts 1, connections closed 1"), "\(report.suffix(4000))")
        #expect(report.contains("registrations decided 2000 of 2000"))
        #expect(!report.contains("FAIL"))
        let kills = try #require(report.firstMatch(of: /chaos: ([0-9]+) workers killed/)).output.1
        #expect(Int(kills) ?? 0 >= 10, "at least ten kills: \(kills)")
    }
}
