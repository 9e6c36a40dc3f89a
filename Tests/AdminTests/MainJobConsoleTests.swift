import Foundation
import TestSupport
import Testing

/// `scripts/run.sh --console` as a newcomer runs it (through `kaltim-demo --console-binary`): the
/// job passes, the console and the certificate verification service are left running on the
/// run's data, the certificates' QR address and the messages' links point at that service, and
/// it answers for a certificate of the run. The test stops both processes by their pid files.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(15))
)
struct MainJobConsoleTests {
    /// A port nothing listens on now (bound to 0 and closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0 else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func theConsoleAndTheVerificationServiceStayUpOnTheRunsDataAndTheQRCodesPointThere() async throws {
        let url = try #require(BrokerEnvironment.url)
        let binaries = builtProductsDirectory
        let root = BrokerEnvironment.repositoryRoot
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("run-console"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let verificationPort = try Self.freePort()
        let demo = try ChildProcess(
            binaries.appendingPathComponent("kaltim-demo").path,
            [
                "--broker-url", url, "--worker-binary", binaries.appendingPathComponent("kaltim-worker").path,
                "--output", directory.path, "--registrations", "200", "--residents", "600", "--seed", "5",
                "--programme-file", root.appendingPathComponent("config/programme-2025.json").path,
                "--templates", root.appendingPathComponent("config/notifications").path,
                "--console-binary", binaries.appendingPathComponent("kaltim-console").path, "--console-port", "0",
                "--verification-port", String(verificationPort),
            ])
        defer { unlink(demo.outputPath) }
        // Whatever happens, the two services the run left are stopped by their pid files.
        defer {
            for name in ["console.pid", "verification.pid"] {
                let text = (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
                if let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 { kill(pid, SIGTERM) }
            }
        }
        let status = try await demo.waitForExit(timeout: .seconds(12 * 60))
        try #require(status == 0, "\(demo.output.suffix(3000))")
        let output = demo.output
        #expect(output.contains("PASS: nothing lost, nothing doubled"))
        #expect(output.contains("Layanan verifikasi sertifikat tetap berjalan: http://127.0.0.1:\(verificationPort)"))
        // The services are still up after the job ended.
        let consolePID = try #require(
            pid_t(
                (try String(contentsOf: directory.appendingPathComponent("console.pid"), encoding: .utf8))
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(consolePID, 0) == 0, "the console is left running")
        let consoleAddress = try #require(output.firstMatch(of: /Konsol tetap berjalan: http:\/\/127\.0\.0\.1:([0-9]+)/))
        let consolePort = try #require(Int(consoleAddress.1))
        #expect(try await httpGet(port: consolePort, path: "/login").status == 200)
        // A certificate of the run: its PDF names the run's service, which says it is valid.
        let certificates = directory.appendingPathComponent("certificates")
        let json = try #require(
            try FileManager.default.contentsOfDirectory(atPath: certificates.path).first { $0.hasSuffix(".json") })
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: certificates.appendingPathComponent(json)))
                as? [String: Any])
        let payload = try #require(document["payload"] as? [String: Any])
        let certificateID = try #require(payload["certificateID"] as? String)
        let pdf = certificates.appendingPathComponent(json.replacingOccurrences(of: ".json", with: ".pdf")).path
        let text = try ChildProcess("/usr/bin/pdftotext", [pdf, "-"], standardErrorToo: false)
        #expect(try await text.waitForExit(timeout: .seconds(60)) == 0)
        let address = try #require(
            text.output.firstMatch(of: /http:\/\/127\.0\.0\.1:([0-9]+)\/v\/([A-Za-z0-9._-]+)/), "\(text.output)")
        #expect(Int(address.1) == verificationPort && address.2.hasPrefix(certificateID))
        let answer = try await httpGet(port: verificationPort, path: "/api/v/\(address.2)")
        #expect(answer.status == 200 && answer.body.contains("\"status\":\"VALID\""), "\(answer.body)")
        // The messages link the same service.
        let log = try String(contentsOf: directory.appendingPathComponent("notifications.jsonl"), encoding: .utf8)
        #expect(log.contains("http://127.0.0.1:\(verificationPort)/verifikasi/"))
    }
}
