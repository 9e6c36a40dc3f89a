import Contracts
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

    @Test func onlyTheWritersOwnTemporaryNamesAreTemporary() {
        for name in ["C-1.pdf.tmp-123-abcdef12", "C-1.json.tmp-9-ABCDEF12", "X.json.tmp-1.pdf.tmp-77-0a1b2c3d"] {
            #expect(CertificateFileWriter.isTemporaryName(name), "\(name)")
        }
        for name in [
            "X.json.tmp-1.json", "X.json.tmp-1.pdf", "notes.tmp-1", "C.pdf.tmp--abcdef12", "C.pdf.tmp-1-abc",
            "C.txt.tmp-1-abcdef12", "../C.pdf.tmp-1-abcdef12", ".pdf.tmp-1-abcdef12", "C.pdf.tmp-\u{661}-abcdef12",
            "C.pdf.tmp-1-abcdef1/",
        ] {
            #expect(!CertificateFileWriter.isTemporaryName(name), "\(name)")
        }
    }
}

/// Temporary files a writer killed mid-round left behind are deleted at the next start, once
/// they are an hour old; a younger one may be another writer's round under way, and a finished
/// certificate whose id contains ".tmp-" is not one.
struct StaleTemporaryFileTests {
    @Test func onlyTemporaryFilesOlderThanAnHourGo() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let names = [
            "old": ["C-1.pdf.tmp-123-abcdef12", "C-1.json.tmp-123-abcdef12"],
            "young": ["C-2.pdf.tmp-456-abcdef12"],
            "kept": ["C-3.pdf", "C-3.json", "notes.tmp-1", "X.json.tmp-1.json", "X.json.tmp-1.pdf"],
        ]
        for name in names.values.joined() {
            try Data("x".utf8).write(to: folder.appendingPathComponent(name))
        }
        for name in names["old", default: []] + ["C-3.pdf", "notes.tmp-1", "X.json.tmp-1.json", "X.json.tmp-1.pdf"] {
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

/// A certificates folder several levels below any that exists: the writer makes every level
/// and writes the round into it; its first round flushes every folder above (a flush the test
/// cannot observe; the test checks which folders those are).
struct NestedCertificateFolderTests {
    @Test func theFoldersAboveAreEveryLevelUpToTheRoot() {
        #expect(
            CertificateFileWriter.foldersAbove("/var/lib/kaltim/sertifikat/") == ["/var/lib/kaltim", "/var/lib", "/var", "/"])
        #expect(CertificateFileWriter.foldersAbove("/var/lib/./kaltim") == ["/var/lib", "/var", "/"])
        #expect(CertificateFileWriter.foldersAbove("/sertifikat") == ["/"])
        #expect(CertificateFileWriter.foldersAbove("/") == [])
    }

    @Test func aRoundIsWrittenIntoFoldersItHadToMake() async throws {
        let driver = try await CertificateDriver.make(outputDirectory: true)
        defer { try? FileManager.default.removeItem(atPath: driver.output) }
        let issued = try driver.issued(try await driver.trained())
        let nested = driver.output + "/2025/bontang/pelatihan"
        let writer = CertificateFileWriter(store: driver.kit.store, directory: nested)
        #expect(await writer.runOnce() == issued.count && !issued.isEmpty)
        for certificate in issued {
            #expect(FileManager.default.fileExists(atPath: nested + "/" + certificate.certificateID + ".pdf"))
        }
    }
}

/// A store whose writes fail while its reads work (a database gone read-only, a lock held).
struct StoreThatCannotRecord: MessageStore {
    struct Refused: Error {}
    let inner: any MessageStore
    func migrate(_ statements: [String]) async throws { try await inner.migrate(statements) }
    func process(_ batch: [StoreWork]) async throws -> [Result<ProcessOutcome, any Error>] { throw Refused() }
    func process(_ batch: [StoreWork], markingPublished published: [Int64]) async throws
        -> [Result<ProcessOutcome, any Error>]
    { throw Refused() }
    func unpublished(limit: Int, createdBefore: Date) async throws -> [OutboxEntry] { [] }
    func markPublished(_ ids: [Int64]) async throws { throw Refused() }
    func outboxBacklog() async throws -> (depth: Int, oldest: Date?) { (0, nil) }
    func write<T: Sendable>(_ work: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T {
        throw Refused()
    }
    func read(_ sql: String, _ arguments: [SQLValue]) async throws -> [[String: SQLValue]] {
        try await inner.read(sql, arguments)
    }
    func currentTime() async throws -> Date { try await inner.currentTime() }
    var commitsSurvivePowerLoss: Bool { inner.commitsSurvivePowerLoss }
}

/// Files written but the round not recorded: the round counts as written by none, so the writer
/// waits before the next (it would otherwise draw the same certificates again at once, without
/// end) and its count of written certificates does not grow.
struct UnrecordedRoundTests {
    @Test func aRoundTheStoreCannotRecordCountsAsNotWritten() async throws {
        let driver = try await CertificateDriver.make(outputDirectory: true)
        defer { try? FileManager.default.removeItem(atPath: driver.output) }
        let issued = try driver.issued(try await driver.trained())
        #expect(!issued.isEmpty)
        let writer = CertificateFileWriter(store: StoreThatCannotRecord(inner: driver.kit.store), directory: driver.output)
        #expect(await writer.runOnce() == 0)
        #expect(writer.filesWritten == 0)
        // The files are in place all the same (the rows stay and write them again later).
        for certificate in issued {
            #expect(FileManager.default.fileExists(atPath: driver.output + "/" + certificate.certificateID + ".pdf"))
        }
        let waiting = try await driver.kit.store.read("SELECT COUNT(*) AS n FROM cert_files", [])
        #expect(waiting.first?["n"]?.integer == Int64(issued.count))
    }
}
