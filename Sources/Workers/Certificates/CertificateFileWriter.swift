import CertificateTrust
public import Foundation
public import Jobs
public import Logging
public import ServiceLifecycle
import Synchronization

/// Writes each issued certificate's files (its signed JSON and printable PDF) after the
/// certificate is committed, never inside the issuing transaction.
///
/// The ``CertificateHandler`` records a row in `cert_files` in the transaction that stores the
/// certificate; this service, beside the worker in the same process, takes those rows, renders
/// the files from the stored signed document and deletes each row once its files are in place.
/// So the store's commit never waits on cairo, a rolled-back batch leaves no file behind (its
/// row rolled back with it), and a crash between the commit and the files loses nothing: the
/// row is still there and the files are written at the next start. Each file is written to a
/// temporary name and renamed, so a reader never sees half a PDF; two replicas that render the
/// same certificate at once each put a whole file in place (the same certificate; a PDF cairo
/// drew carries its own creation time). The round's new files are flushed to disk before any is renamed
/// (one `syncfs` of their file system for the round, not an `fsync` per file), and the folder
/// after the round's renames, before the rows are deleted: a power cut cannot leave a deleted
/// row with an empty file. A round's certificates are drawn on ``renderers`` threads at once
/// (cairo's work is per certificate; the threads are GCD's, not the cooperative pool's).
/// A certificate whose files fail is tried again at most ``maximumAttempts`` times, fewest
/// attempts first, each time after a longer wait (``retryDelay(afterAttempts:)``: 1 s, 2 s, 4 s,
/// … 256 s, about 8.5 minutes in all, however often commits wake the writers), kept in the
/// store (`cert_file_waits`) so that every process writing files keeps to it, and then left in
/// `cert_files` with an error in the log for an operator.
public final class CertificateFileWriter: Service, Sendable {
    private let store: any MessageStore
    private let directory: String
    /// The folders above ``directory``, nearest first (``foldersAbove(_:)``).
    private let folders: [String]
    private let verificationURL: String?
    private let batchSize: Int
    /// Threads drawing a round's certificates at once.
    public let renderers: Int
    private let idleInterval: Duration
    private let doorbell: Doorbell
    private let logger: Logger
    private let written = Atomic<Int>(0)
    /// Whether the folders above the certificates folder's parent were flushed (on ``diskQueue``).
    private let foldersAboveFlushed = Atomic<Bool>(false)
    /// Where a round's files are flushed and moved into place, one round at a time.
    private let diskQueue = DispatchQueue(label: "kaltim.certificates.files.disk")
    private let now: @Sendable () -> Date

    /// Failed attempts after which a certificate's files are no longer tried.
    public static let maximumAttempts = 10

    /// - Parameters:
    ///   - directory: where `<certificate id>.json` and `.pdf` go (created when missing).
    ///   - verificationURL: the verification service's address, which the QR code and the printed
    ///     link carry followed by the verification code (nil: the QR code holds the bare code).
    ///   - batchSize: certificates rendered per round.
    ///   - renderers: threads drawing a round's certificates at once (1 to 64).
    ///   - idleInterval: the pause when nothing is waiting, unless the `doorbell` rings first.
    ///   - doorbell: rung after the worker commits (``Jobs/WorkerOptions/afterCommit``), so new
    ///     certificates' files are written at once rather than after the idle interval.
    ///   - now: the clock the waits between attempts are measured on (the processes writing one
    ///     store's files share it: their machines' clocks are kept in time).
    public init(
        store: any MessageStore, directory: String, verificationURL: String? = nil, batchSize: Int = 128, renderers: Int = 1,
        idleInterval: Duration = .milliseconds(250), doorbell: Doorbell = Doorbell(),
        logger: Logger = Logger(label: "kaltim.certificates.files"), now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.now = now
        self.doorbell = doorbell
        precondition(batchSize > 0, "the batch size must be positive")
        precondition((1...64).contains(renderers), "1 to 64 renderers")
        self.renderers = renderers
        self.store = store
        self.directory = directory
        folders = Self.foldersAbove(directory)
        self.verificationURL = verificationURL
        self.batchSize = batchSize
        self.idleInterval = idleInterval
        self.logger = logger
    }

    /// The wait before a certificate whose files failed `attempts` times is tried again:
    /// 2^(attempts − 1) seconds, at most 5 minutes (256 s is the longest reached).
    public static func retryDelay(afterAttempts attempts: Int) -> TimeInterval {
        min(300, pow(2, Double(min(max(0, attempts - 1), 16))))
    }

    /// Certificates whose files this process has written.
    public var filesWritten: Int { written.load(ordering: .relaxed) }

    /// Writes files until a graceful shutdown, then writes what is still waiting before it
    /// returns (unless the shutdown's time limit cancels it first: the rest waits in the store
    /// for the next start).
    ///
    /// Rounds overlap: the next round's certificates are drawn while the last round's files are
    /// flushed, moved into place and recorded, so the processors do not wait on the disk. The
    /// next round leaves out the certificates of the one being finished, and rounds are
    /// finished in order, one at a time.
    public func run() async throws {
        let stopping = Atomic(false)
        await withGracefulShutdownHandler {
            await withCheckedContinuation { continuation in
                diskQueue.async {
                    self.removeStaleTemporaries()
                    continuation.resume()
                }
            }
            var finishing: (ids: Set<String>, task: Task<RoundResult, Never>)?
            while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                let drawn = await draw(excluding: finishing?.ids ?? [])
                let finished = await finishing?.task.value
                finishing = nil
                var nothingWaiting = false
                switch drawn {
                case .drawn(let round): finishing = (round.ids, Task { await self.finish(round) })
                case .nothingWaiting: nothingWaiting = true
                case .unreadable: break
                }
                guard !stopping.load(ordering: .relaxed) else { break }
                // After a round in which nothing could be written (a full disk, an unwritable
                // folder, the store unreadable) the next try waits the whole interval, as it did
                // before the bell: commits ringing it must not spend the attempts faster, nor a
                // backlog be drawn again and again for nothing.
                if case .unreadable = drawn {
                    try? await Task.sleep(for: idleInterval)
                } else if let finished, finished.failed > 0, finished.written == 0 {
                    try? await Task.sleep(for: idleInterval)
                } else if nothingWaiting {
                    await doorbell.wait(upTo: idleInterval)
                }
            }
            _ = await finishing?.task.value
            while !Task.isCancelled, await runOnce() > 0 {}
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
    }

    /// One round: renders up to `batchSize` waiting certificates, fewest failed attempts first,
    /// leaving out those whose wait after a failure has not passed. Returns how many were
    /// written; one that fails stays waiting with its attempt counted.
    @discardableResult
    public func runOnce() async -> Int {
        guard case .drawn(let round) = await draw(excluding: []) else { return 0 }
        return await finish(round).written
    }

    /// What a finished round did.
    struct RoundResult: Sendable {
        let written: Int
        let failed: Int
    }

    /// A round's certificates drawn under temporary names: not yet flushed, moved or recorded.
    private struct DrawnRound: Sendable {
        let rows: [[String: SQLValue]]
        let startedAt: Date
        /// Opened before the files were written, so that it hears of any that failed to reach
        /// the disk (``Jobs/FileSystemFlush``).
        let fileSystem: FileSystemFlush
        let outcomes: [Int: Result<StagedFiles, any Error>]
        var ids: Set<String> { Set(rows.compactMap { $0["certificate_id"]?.text }) }
    }

    private enum Drawing: Sendable {
        case nothingWaiting
        case unreadable
        case drawn(DrawnRound)
    }

    /// Reads up to `batchSize` waiting certificates, other than `excluded`, and draws their
    /// files under temporary names on `renderers` threads (each takes every n-th row).
    private func draw(excluding excluded: Set<String>) async -> Drawing {
        var rows: [[String: SQLValue]]
        let fileSystem: FileSystemFlush
        let startedAt = now()
        do {
            rows = try await store.read(
                """
                SELECT f.certificate_id, f.programme_name, f.attempts, c.document FROM cert_files f
                JOIN cert_certificates c ON c.certificate_id = f.certificate_id
                LEFT JOIN cert_file_waits w ON w.certificate_id = f.certificate_id
                WHERE f.attempts < ? AND (w.not_before IS NULL OR w.not_before <= ?)
                ORDER BY f.attempts, f.certificate_id LIMIT ?
                """,
                [
                    .integer(Int64(Self.maximumAttempts)), .real(startedAt.timeIntervalSince1970),
                    .integer(Int64(batchSize + excluded.count)),
                ])
            rows = Array(rows.filter { !excluded.contains($0["certificate_id"]?.text ?? "") }.prefix(batchSize))
            if rows.isEmpty { return .nothingWaiting }
        } catch {
            logger.error("could not read the certificates waiting for their files", metadata: ["error": "\(error)"])
            return .unreadable
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            fileSystem = try FileSystemFlush(directory)
        } catch {
            logger.error("could not create or open the certificates folder", metadata: ["error": "\(error)"])
            return .unreadable
        }
        let lanes = min(renderers, rows.count)
        let directory = directory
        let verificationURL = verificationURL
        let drawnRows = rows
        var outcomes: [Int: Result<StagedFiles, any Error>] = [:]
        await withTaskGroup(of: [(Int, Result<StagedFiles, any Error>)].self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        DispatchQueue.global(qos: .utility).async {
                            var results: [(Int, Result<StagedFiles, any Error>)] = []
                            for index in stride(from: lane, to: drawnRows.count, by: lanes) {
                                results.append(
                                    (
                                        index,
                                        Result {
                                            try Self.stageFiles(
                                                drawnRows[index], directory: directory, verificationURL: verificationURL)
                                        }
                                    ))
                            }
                            continuation.resume(returning: results)
                        }
                    }
                }
            }
            for await results in group {
                for (index, outcome) in results { outcomes[index] = outcome }
            }
        }
        return .drawn(DrawnRound(rows: rows, startedAt: startedAt, fileSystem: fileSystem, outcomes: outcomes))
    }

    /// Flushes a drawn round's files to disk, moves them into place, flushes the folder and
    /// records the round in the store: the rows of the certificates written go, the others
    /// count an attempt and wait.
    private func finish(_ round: DrawnRound) async -> RoundResult {
        let directory = directory
        // The disk work on a queue of its own, off the cooperative pool (a flush can take long)
        // and off the global queue the drawing threads fill.
        let (outcomes, roundError) = await withCheckedContinuation {
            (continuation: CheckedContinuation<([Int: Result<StagedFiles, any Error>], (any Error)?), Never>) in
            diskQueue.async {
                var outcomes = round.outcomes
                let staged = outcomes.compactMapValues { try? $0.get() }
                var roundError: (any Error)?
                if !staged.isEmpty {
                    do {
                        // The round's files on disk before any takes its name: one flush of the
                        // file system for them all, not one per file.
                        do {
                            try round.fileSystem.flush()
                        } catch {
                            throw CertificateError(.fileWrite, "\(error)")
                        }
                        // And each file's own flush, now cheap (its pages are clean): it reports
                        // a failed write-back of that file on every kernel and file system,
                        // where `syncfs` may not (before Linux 5.8, some network file systems).
                        for (index, files) in staged {
                            do { try files.flush() } catch { outcomes[index] = .failure(error) }
                        }
                        for (index, files) in staged where (try? outcomes[index]?.get()) != nil {
                            do { try files.moveIntoPlace() } catch { outcomes[index] = .failure(error) }
                        }
                        // The names on disk before any row goes, once for the round, and the
                        // folder's own name in its parent (a folder this round created would
                        // otherwise be lost with every file in it).
                        try Self.flush(directory)
                        let above = self.folders
                        try Self.flush(above.first ?? "/")
                        // Once per writer, every level above too: creating the folder may have
                        // made several (here, or in a writer stopped before its first round
                        // finished). A level that cannot be opened is not one a writer made.
                        if !self.foldersAboveFlushed.load(ordering: .relaxed) {
                            for folder in above.dropFirst() { try? DiskFlush.flush(folder) }
                            self.foldersAboveFlushed.store(true, ordering: .relaxed)
                        }
                    } catch {
                        roundError = error
                    }
                }
                // What did not take its name (a failed round, a failed rename) is deleted.
                for files in staged.values { files.removeTemporaries() }
                continuation.resume(returning: (outcomes, roundError))
            }
        }
        var done: [String] = []
        var failed: [(id: String, attempts: Int64)] = []
        for (index, row) in round.rows.enumerated() {
            guard let id = row["certificate_id"]?.text else { continue }
            // A row no thread reported on (none: every index has a lane) counts as failed.
            let outcome = outcomes[index] ?? .failure(CertificateError(.fileWrite, "the certificate was not drawn"))
            let error: (any Error)? =
                switch outcome {
                case .failure(let error): error
                case .success: roundError
                }
            if let error {
                let attempts = (row["attempts"]?.integer ?? 0) + 1
                logger.error(
                    attempts >= Self.maximumAttempts
                        ? "could not write a certificate's files; giving up (the row stays in cert_files)"
                        : "could not write a certificate's files; trying again later",
                    metadata: ["certificate": "\(id)", "error": "\(error)", "attempts": "\(attempts)"])
                failed.append((id, attempts))
            } else {
                done.append(id)
            }
        }
        let startedAt = round.startedAt
        do {
            try await store.write { [done, failed] transaction in
                for id in done {
                    try transaction.execute("DELETE FROM cert_files WHERE certificate_id = ?", [.text(id)])
                    try transaction.execute("DELETE FROM cert_file_waits WHERE certificate_id = ?", [.text(id)])
                }
                for (id, attempts) in failed {
                    try transaction.execute(
                        "UPDATE cert_files SET attempts = attempts + 1 WHERE certificate_id = ?", [.text(id)])
                    guard attempts < Self.maximumAttempts else {
                        // Given up: no longer selected, so no wait to keep.
                        try transaction.execute("DELETE FROM cert_file_waits WHERE certificate_id = ?", [.text(id)])
                        continue
                    }
                    let retry = startedAt.addingTimeInterval(Self.retryDelay(afterAttempts: Int(attempts)))
                    try transaction.execute(
                        """
                        INSERT INTO cert_file_waits (certificate_id, not_before) VALUES (?, ?)
                        ON CONFLICT (certificate_id) DO UPDATE SET not_before = excluded.not_before
                        """, [.text(id), .real(retry.timeIntervalSince1970)])
                }
            }
        } catch {
            // The files are in place; the rows stay and are written again (the same bytes). The
            // round counts as written by none, so the writer waits before it tries the store again.
            logger.warning("could not record written certificate files", metadata: ["error": "\(error)"])
            return RoundResult(written: 0, failed: round.rows.count)
        }
        written.add(done.count, ordering: .relaxed)
        return RoundResult(written: done.count, failed: failed.count)
    }

    /// A certificate's two files written under temporary names, to be flushed and renamed.
    private struct StagedFiles: Sendable {
        let base: String
        let suffix: String

        /// Renames the JSON, then the PDF, into place.
        func moveIntoPlace() throws {
            for name in [".json", ".pdf"] {
                guard rename(base + name + suffix, base + name) == 0 else {
                    let code = errno
                    throw CertificateError(
                        .fileWrite, "cannot move \(base + name) into place: \(String(cString: strerror(code)))")
                }
            }
        }

        /// `fsync` of both files under their temporary names.
        func flush() throws {
            for name in [".json", ".pdf"] { try CertificateFileWriter.flush(base + name + suffix) }
        }

        /// Deletes what is left under the temporary names (nothing once moved into place).
        func removeTemporaries() {
            for name in [".json", ".pdf"] { unlink(base + name + suffix) }
        }
    }

    /// One certificate's files from its row: the JSON and the PDF under temporary names (the
    /// caller flushes them and renames them into place, for the whole round at once).
    private static func stageFiles(_ row: [String: SQLValue], directory: String, verificationURL: String?) throws
        -> StagedFiles
    {
        guard let id = row["certificate_id"]?.text else {
            throw CertificateError(.storedDocument, "a waiting certificate has no id")
        }
        // The id names the files: never a path.
        guard Self.canNameFiles(id) else {
            throw CertificateError(.fileWrite, "the certificate id \(id) cannot name a file")
        }
        guard case .blob(let json) = row["document"], let programme = row["programme_name"]?.text else {
            throw CertificateError(.storedDocument, "the stored certificate \(id) has no document")
        }
        let document = try JSONDecoder().decode(CertificateDocument.self, from: json)
        // The files are named by the id checked above, and the document must be that certificate's.
        guard document.payload.certificateID == id else {
            throw CertificateError(.storedDocument, "the stored document of \(id) is another certificate's")
        }
        let files = StagedFiles(
            base: URL(fileURLWithPath: directory).appendingPathComponent(document.payload.certificateID).path,
            suffix: ".tmp-\(getpid())-\(UUID().uuidString.prefix(8))")
        do {
            try json.write(to: URL(fileURLWithPath: files.base + ".json" + files.suffix))
            try CertificatePDF.write(
                document, programmeName: programme, verificationURL: verificationURL, to: files.base + ".pdf" + files.suffix)
        } catch {
            files.removeTemporaries()
            throw error
        }
        return files
    }

    /// The folders above `path`, nearest first, up to the root: `/a/b/c` gives `/a/b`, `/a`, `/`.
    static func foldersAbove(_ path: String) -> [String] {
        var above: [String] = []
        var folder = URL(fileURLWithPath: path).standardizedFileURL
        while folder.path != "/" {
            folder = folder.deletingLastPathComponent()
            above.append(folder.path)
        }
        return above
    }

    /// Whether `id` can name a certificate's files: 1 to 200 ASCII letters, digits, dots,
    /// underscores and dashes, beginning with a letter or digit (so never a path nor a hidden
    /// name; its files end in `.json` and `.pdf`, never in a temporary name's tail, see
    /// ``isTemporaryName(_:)``). Checked byte by byte: building a `Regex` for every certificate was 2 %
    /// of the files' time in a profile.
    static func canNameFiles(_ id: String) -> Bool {
        let bytes = id.utf8
        guard let first = bytes.first, bytes.count <= 200 else { return false }
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return isAlphanumeric(first)
            && bytes.allSatisfy {
                isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            }
    }

    /// Whether `name` is one this writer gives a file before it is moved into place:
    /// `<id>.json.tmp-<pid>-<8 characters>` or `<id>.pdf.tmp-<pid>-<8 characters>`. A finished
    /// file whose id merely contains ".tmp-" is not.
    static func isTemporaryName(_ name: String) -> Bool {
        guard let marker = name.range(of: ".tmp-", options: .backwards) else { return false }
        let stem = name[..<marker.lowerBound]
        let tail = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard tail.count == 2, !tail[0].isEmpty, tail[0].allSatisfy(\.isASCII), tail[0].allSatisfy(\.isNumber),
            tail[1].count == 8, tail[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else { return false }
        for kind in [".json", ".pdf"] where stem.hasSuffix(kind) {
            return canNameFiles(String(stem.dropLast(kind.count)))
        }
        return false
    }

    /// `fsync` of a file or a folder, as a certificate error.
    private static func flush(_ path: String) throws {
        do {
            try DiskFlush.flush(path)
        } catch {
            throw CertificateError(.fileWrite, error.description)
        }
    }

    /// Deletes temporary files (`<id>.json.tmp-…`, `<id>.pdf.tmp-…`) older than an hour: what a
    /// writer killed between drawing a round and finishing it left. A younger one may be a
    /// round of another writer on the same folder, under way.
    func removeStaleTemporaries() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        // The files' own times, so the machine's clock rather than the writer's clock.
        let cutoff = Date().addingTimeInterval(-3600)
        for name in names where Self.isTemporaryName(name) {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            guard let modified = try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date,
                modified < cutoff
            else { continue }
            if unlink(path) == 0 { logger.info("deleted a temporary file a stopped writer left", metadata: ["file": "\(name)"]) }
        }
    }
}
