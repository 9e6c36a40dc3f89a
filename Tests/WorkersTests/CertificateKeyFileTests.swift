import Foundation
import TestSupport
import Testing

/// `kaltim-worker certificate-key --new`: the signing key is made only where nothing is, so a
/// key in use is never replaced, not through a link either, and only its owner can read it.
struct CertificateKeyFileTests {
    let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path

    @Test func aNewKeyIsMadeOnceReadableByItsOwnerOnlyAndNeverOverwritten() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("signing.key").path
        let made = try ChildProcess(binary, ["certificate-key", "--new", key])
        #expect(try await made.waitForExit(timeout: .seconds(60)) == 0, "\(made.output)")
        let publicKey = made.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(publicKey.wholeMatch(of: /[0-9a-f]{64}/) != nil, "\(made.output)")
        let permissions = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? NSNumber
        #expect(permissions?.intValue == 0o600)
        let original = try Data(contentsOf: URL(fileURLWithPath: key))

        let again = try ChildProcess(binary, ["certificate-key", "--new", key])
        #expect(try await again.waitForExit(timeout: .seconds(60)) != 0)
        #expect(again.output.contains("exists; not overwriting it"), "\(again.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == original)

        // A link planted where the key is to go, to a file or to nowhere: refused, nothing written through it.
        let target = directory.appendingPathComponent("target").path
        try Data("unchanged\n".utf8).write(to: URL(fileURLWithPath: target))
        for (name, destination) in [
            ("to-a-file.key", target), ("dangling.key", directory.appendingPathComponent("nowhere").path),
        ] {
            let link = directory.appendingPathComponent(name).path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: destination)
            let planted = try ChildProcess(binary, ["certificate-key", "--new", link])
            #expect(try await planted.waitForExit(timeout: .seconds(60)) != 0, "\(name): \(planted.output)")
        }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "unchanged\n")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("nowhere").path))

        // The public key printed is the key's.
        let shown = try ChildProcess(binary, ["certificate-key", "--public-of", key])
        #expect(try await shown.waitForExit(timeout: .seconds(60)) == 0)
        #expect(shown.output.trimmingCharacters(in: .whitespacesAndNewlines) == publicKey)
    }
}
