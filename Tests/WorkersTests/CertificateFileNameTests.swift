import Foundation
import Jobs
import Stores
import Testing

@testable import Workers

/// The stored certificate id names two files in the certificates folder: only a plain name may.
struct CertificateFileNameTests {
    @Test func plainNamesNameFiles() {
        for id in ["CERT-2025-000001", "BTG.2025_TATA-GRAHA.7", "a", "0", String(repeating: "a", count: 200)] {
            #expect(CertificateFileWriter.canNameFiles(id), "\(id)")
        }
    }

    @Test func pathsHiddenNamesAndLookalikesDoNot() {
        let hostile = [
            "", ".", "..", "../escaped", "a/b", "/etc/passwd", ".hidden", "-rf", "_x", "a b", "a\u{0}b", "a\n",
            "sertifikat-é", "\u{FF11}23", "a\u{200B}b", "CERT\u{2215}1", "a\\b", "a:b", "a*b",
            String(repeating: "a", count: 201),
        ]
        for id in hostile { #expect(!CertificateFileWriter.canNameFiles(id), "\(id.debugDescription)") }
    }
}

/// Temporary files a writer killed mid-round left behind are deleted at the next start, once
/// they are an hour old; a younger one may be another writer's round under way.
struct StaleTemporaryFileTests {
    @Test func onlyTemporaryFilesOlderThanAnHourGo() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let names = [
            "old": ["C-1.pdf.tmp-123-abcdef12", "C-1.json.tmp-123-abcdef12"],
            "young": ["C-2.pdf.tmp-456-abcdef12"],
            "kept": ["C-3.pdf", "C-3.json", "notes.tmp-1"],
        ]
        for name in names.values.joined() {
            try Data("x".utf8).write(to: folder.appendingPathComponent(name))
        }
        for name in names["old", default: []] + ["C-3.pdf", "notes.tmp-1"] {
            try FileManager.default.setAttributes(
                [.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: folder.appendingPathComponent(name).path)
        }
        let store = try SQLiteStore(path: folder.appendingPathComponent("store.sqlite").path)
        CertificateFileWriter(store: store, directory: folder.path).removeStaleTemporaries()
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: folder.path))
        let expected = Set(names["young", default: []] + names["kept", default: []])
        #expect(left.filter { !$0.hasPrefix("store.sqlite") } == expected, "\(left)")
    }
}
