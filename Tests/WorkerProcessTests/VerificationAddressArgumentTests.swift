import Foundation
import TestSupport
import Testing

/// The verification address an operator gives the certificate and notification workers goes
/// into every QR code, PDF and message as it is: the worker refuses one with a character a reader
/// would not see, before it opens anything.
struct VerificationAddressArgumentTests {
    static let hidden = [
        "https://sertifikat.example.go.id/v/\u{7}/", "https://sertifikat.example.go.id/v\u{1B}[2J/",
        "https://sertifikat.example.go.id/ v/", "https://sertifikat.example.go.id/v/\u{85}/",
        "https://sertifikat.example.go.id/\u{202E}v/", "https://sertifikat\u{200B}.example.go.id/v/",
        "https://sertifikat.example.go.id/v\u{2028}/", "https://sertifikat.example.go.id/v\t/",
        // Drawn as nothing: a variation selector, a Hangul filler; and a private-use character.
        "https://sertifikat.example.go.id/v\u{FE0F}/", "https://sertifikat\u{3164}.example.go.id/v/",
        "https://sertifikat.example.go.id/v\u{E000}/", "https://sertifikat.example.go.id/v/\u{2800}/",
        // A Cyrillic "е" that reads as Latin, and a user before the host that reads as the host.
        "https://sertifikat.\u{435}xample.go.id/v/", "https://sertifikat.kaltimprov.go.id@contoh.example/v/",
    ]

    /// The worker's output and exit status for `arguments`; a worker that wrongly started would
    /// find its store in a folder of its own and no broker.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verification-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let elsewhere = [
            "--database", folder.appendingPathComponent("store.sqlite").path, "--broker-url", "amqp://guest:guest@127.0.0.1:1/",
        ]
        let process = try ChildProcess(binary, arguments + elsewhere)
        let status = try await process.waitForExit(timeout: .seconds(60))
        let output = process.output
        await process.terminate()
        return (status, output)
    }

    @Test(arguments: ["certificates", "notifications"])
    func anAddressWithAHiddenCharacterIsRefused(role: String) async throws {
        for address in Self.hidden {
            let refused = try await Self.run([role, "--verification-url", address])
            #expect(refused.status == 64, "\(address.debugDescription)")
            #expect(refused.output.contains("--verification-url is an http(s) address"), "\(address): \(refused.output)")
        }
        // A plain address passes the check, which comes first: the next check's error is the one
        // reported.
        let next = role == "certificates" ? ["--file-renderers", "0"] : ["--message-data-retention-days", "99999"]
        let plain = try await Self.run([role, "--verification-url", "https://sertifikat.example.go.id/v/"] + next)
        #expect(plain.status == 64 && !plain.output.contains("--verification-url is"), "\(plain.output)")
        #expect(plain.output.contains(next[0]), "\(plain.output)")
    }
}
