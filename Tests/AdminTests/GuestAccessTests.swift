import Foundation
import TestSupport
import Testing

/// The `guest` user works only over loopback. To reach a broker from an address that is not
/// loopback without touching the machine's network, the test makes a network namespace of its
/// own (`unshare -n`), gives its loopback interface a second, non-loopback address
/// (10.200.0.1), starts a private node there listening on both, and connects as guest to each.
/// Everything the test starts lives and ends inside that namespace.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(10))
)
struct GuestAccessTests {
    @Test func guestIsRefusedFromAnywhereButLoopback() async throws {
        let admin = builtProductsDirectory.appendingPathComponent("kaltim-admin").path
        let root = BrokerEnvironment.repositoryRoot.path
        let script = """
            set -u
            ip link set lo up
            ip addr add 10.200.0.1/32 dev lo
            export KALTIM_BROKER_NAME=kaltim-netns KALTIM_BROKER_PORT=5732 KALTIM_BROKER_MANAGEMENT_PORT=off
            export KALTIM_BROKER_LISTEN=127.0.0.1,10.200.0.1
            stop() { "\(root)/scripts/broker.sh" stop >/dev/null 2>&1; epmd -kill >/dev/null 2>&1; }
            trap stop EXIT
            "\(root)/scripts/broker.sh" start || exit 3
            for host in 127.0.0.1 10.200.0.1; do
              "\(admin)" status --role intake --json --broker-url "amqp://guest:guest@$host:5732/%2f" >/dev/null 2>"$TMPDIR_NETNS/$host.err"
              echo "$host=$?"
              sed "s/^/$host: /" "$TMPDIR_NETNS/$host.err" | grep -v ' info ' | head -n 5
            done
            """
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("netns"))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR_NETNS"] = folder.path
        let (status, output) = try await runProcess(
            "/usr/bin/unshare", ["-n", "/bin/bash", "-c", script], environment: environment)
        #expect(status == 0, "\(output)")
        #expect(output.contains("127.0.0.1=0"), "guest over loopback works: \(output)")
        #expect(output.contains("10.200.0.1=1"), "guest from another address is refused: \(output)")
        #expect(output.contains("ACCESS_REFUSED"), "the broker says why: \(output)")
    }
}
