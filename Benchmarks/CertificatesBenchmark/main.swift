// The certificates role's own rate, apart from the pipeline (which caps issuance at the
// quotas): COUNT competent graduates' grades through the CertificateHandler in group commits
// of BATCH messages, as the worker commits them (SQLite, synchronous=FULL), then their files
// (signed JSON and the PDF with its QR code, flushed to disk) by the CertificateFileWriter's service:
// first on one thread, then again (the same certificates, a new folder) on RENDERERS threads.
// The baseline, first in the same run and on the same store settings, is the store path alone:
// the same number of messages through a handler that records the message and emits one event.
// The disk is synced between the phases. Stores and files go to the temporary folder (TMPDIR);
// give each run a new one (below, where the files are written a second time, says why).
import CertificateTrust
import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import Workers

let usage =
    "usage: certificates-bench [--count N (5000)] [--batch B (50)] [--renderers R (the processors)] [--file-batch F (the writer's default)] [--programme-file PATH (config/programme-2025.json)]"
/// The run's folder, removed on every way out.
nonisolated(unsafe) var runFolder: URL?
func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("certificates-bench: \(message)\n\(code == 64 ? usage + "\n" : "")".utf8))
    if let runFolder { try? FileManager.default.removeItem(at: runFolder) }
    exit(code)
}

var options: [String: String] = [:]
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let key = arguments.removeFirst()
    guard ["--count", "--batch", "--renderers", "--file-batch", "--programme-file"].contains(key), !arguments.isEmpty else {
        fail("bad argument '\(key)'", code: 64)
    }
    options[key] = arguments.removeFirst()
}
guard let count = Int(options["--count"] ?? "5000"), (1...1_000_000).contains(count) else {
    fail("--count takes 1 to 1000000", code: 64)
}
guard let batch = Int(options["--batch"] ?? "50"), (1...10_000).contains(batch) else {
    fail("--batch takes 1 to 10000", code: 64)
}
guard let renderers = Int(options["--renderers"] ?? "\(ProcessInfo.processInfo.activeProcessorCount)"),
    (1...64).contains(renderers)
else {
    fail("--renderers takes 1 to 64", code: 64)
}
/// Certificates a round of the file writer takes (nil: the writer's own default, as the worker runs it).
let fileBatch = options["--file-batch"].map { Int($0) ?? 0 }
if let fileBatch, !(1...10_000).contains(fileBatch) { fail("--file-batch takes 1 to 10000", code: 64) }
let programmeFile = options["--programme-file"] ?? "config/programme-2025.json"

/// User plus system CPU time of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Records the message and emits one event: the store path's own cost.
struct BaselineHandler: MessageHandler {
    var migrations: [String] { ["CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY)"] }
    func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent] {
        try transaction.execute("INSERT INTO seen (id) VALUES (?)", [.text(event.header.id)])
        let named = ParticipantNamedV1(participantID: "P-" + event.header.id, registrationID: "R", fullName: "Siti Aminah")
        return [try OutgoingEvent(EventEnvelope(source: "/bench", causationID: event.header.id, data: named), exchange: "bench")]
    }
}

/// Runs the bodies through `handler` on `store` in group commits of `batch`; returns the
/// events it made, the wall seconds and the CPU seconds.
func run(_ bodies: [Data], _ handler: any MessageHandler, on store: SQLiteStore) async throws -> (Int, Double, Double) {
    let registry = ContractRegistry.pipeline
    let cpu = processCPUSeconds()
    let started = ContinuousClock.now
    var events = 0
    for start in stride(from: 0, to: bodies.count, by: batch) {
        let work = try bodies[start..<min(start + batch, bodies.count)].map { body in
            let event = try registry.decode(body)
            return StoreWork(messageID: event.header.id) { transaction in try handler.handle(event, in: transaction) }
        }
        for result in try await store.process(work) {
            guard case .processed(let entries) = try result.get() else { fail("a message was a duplicate", code: 1) }
            events += entries.count
        }
    }
    return (events, seconds(ContinuousClock.now - started), processCPUSeconds() - cpu)
}

func store(_ folder: URL, _ name: String, _ handler: any MessageHandler) async throws -> SQLiteStore {
    let store = try SQLiteStore(path: folder.appendingPathComponent(name).path, durability: .full)
    try await store.migrate(handler.migrations)
    return store
}

do {
    let catalogue = try ProgrammeCatalogue.load(path: programmeFile)
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("certificates-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    runFolder = folder
    defer { try? FileManager.default.removeItem(at: folder) }
    let handler = CertificateHandler(catalogue: catalogue, signer: .development, writesFiles: true)
    let certificates = try await store(folder, "certificates.sqlite", handler)
    let participants = (0..<count).map { String(format: "PST-2025-BENCH%06d", $0) }

    // The baseline: the store path alone, the same number of messages.
    let baselineBodies = try participants.map { participant in
        try ContractJSON.encode(
            EventEnvelope(
                source: "/bench",
                data: ParticipantNamedV1(
                    participantID: participant, registrationID: "REG-" + participant, fullName: "Siti Aminah")))
    }
    let baselineHandler = BaselineHandler()
    let baseline = try await store(folder, "baseline.sqlite", baselineHandler)
    let (_, baselineSeconds, baselineCPU) = try await run(baselineBodies, baselineHandler, on: baseline)
    sync()

    // Each graduate's name and seat first (not measured).
    var setup: [Data] = []
    for participant in participants {
        setup.append(
            try ContractJSON.encode(
                EventEnvelope(
                    source: "/kaltim/workers/intake",
                    data: ParticipantNamedV1(
                        participantID: participant, registrationID: "REG-" + participant, fullName: "Siti Aminah"))))
        setup.append(
            try ContractJSON.encode(
                EventEnvelope(
                    source: "/kaltim/workers/scheduling",
                    data: ClassScheduledV2(
                        participantID: participant, classID: "BTG-2025-TATA_GRAHA-01", centre: .bontang, programme: "TATA_GRAHA",
                        cohort: 1, startDate: "2025-07-07", endDate: "2025-08-08", seat: 1, reRegistration: nil,
                        replacing: false))))
    }
    _ = try await run(setup, handler, on: certificates)
    sync()

    // The measured part: a KOMPETEN grade with the LSP's numbers for each (one competency record each).
    let grades = try participants.enumerated().map { index, participant in
        try ContractJSON.encode(
            EventEnvelope(
                source: "/kaltim/workers/grading",
                data: AssessmentGradedV3(
                    assessmentID: "ASM-\(index)", participantID: participant, scheme: "SKM-2025-HTL-TGR", outcome: .competent,
                    notYetCompetentUnits: [], lspLicence: "BNSP-LSP-0123-ID", assessedOn: "2025-08-12", attendancePercent: 90,
                    trainingOutcome: .passed, supersedes: nil,
                    lspCertificateNumber: String(format: "No. 55101 5151 2 %07d 2025", index),
                    lspRegistrationNumber: String(format: "No. Reg. PAR 0123 %05d 2025", index % 100_000), retakeOf: nil,
                    attempt: 1, retakeAvailable: false)))
    }
    let (issuedEvents, issueSeconds, issueCPU) = try await run(grades, handler, on: certificates)
    let issued = try await certificates.read("SELECT COUNT(*) AS n FROM cert_certificates").first?["n"]?.integer ?? 0
    guard issued == Int64(count), issuedEvents >= count else {
        fail("expected \(count) certificates, the store has \(issued) (\(issuedEvents) events)", code: 1)
    }

    // The rows the writer takes, kept to write the same certificates' files a second time.
    try await certificates.write { transaction in
        try transaction.execute("CREATE TABLE cert_files_again AS SELECT * FROM cert_files")
    }
    sync()
    /// Their files, after the commits, as the writer beside the worker draws them, on
    /// `threads` threads into `name`; the wall and CPU seconds.
    func files(_ name: String, threads: Int) async throws -> (Double, Double) {
        let directory = folder.appendingPathComponent(name).path
        let writer =
            if let fileBatch {
                CertificateFileWriter(store: certificates, directory: directory, batchSize: fileBatch, renderers: threads)
            } else {
                CertificateFileWriter(store: certificates, directory: directory, renderers: threads)
            }
        let cpu = processCPUSeconds()
        let started = ContinuousClock.now
        // The writer as the worker runs it (its rounds overlapping), until every file is written.
        let service = Task { try await writer.run() }
        var progress = (written: 0, at: ContinuousClock.now)
        while writer.filesWritten < count {
            try await Task.sleep(for: .milliseconds(2))
            if writer.filesWritten > progress.written {
                progress = (writer.filesWritten, ContinuousClock.now)
            } else if ContinuousClock.now - progress.at > .seconds(60) {
                fail("no certificate's files written for a minute (\(writer.filesWritten) of \(count))", code: 1)
            }
        }
        let wall = seconds(ContinuousClock.now - started)
        let used = processCPUSeconds() - cpu
        service.cancel()
        _ = try? await service.value
        guard writer.filesWritten == count else {
            fail("\(writer.filesWritten) of \(count) certificates got their files", code: 1)
        }
        return (wall, used)
    }
    let (filesSeconds, filesCPUSeconds) = try await files("files-1", threads: 1)
    // The size of what the files step writes, per certificate.
    var pdfBytes = 0
    var jsonBytes = 0
    for name in try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("files-1").path) {
        let size =
            try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("files-1/" + name).path)[
                .size] as? Int ?? 0
        if name.hasSuffix(".pdf") { pdfBytes += size } else if name.hasSuffix(".json") { jsonBytes += size }
    }
    try await certificates.write { transaction in
        try transaction.execute("INSERT INTO cert_files SELECT * FROM cert_files_again")
    }
    // The first pass's files stay until the end: ext4 passes over the inodes of files deleted
    // in the last minute (five when their block is dirty) when it creates one, reading each, so
    // deleting 2 × COUNT files here made the second pass pay for that (in a `perf` profile of
    // such a run, ext4's search for a free inode, `recently_deleted` and `find_get_block_common`
    // first, was about 30 % of all samples), as a certificates folder, which only grows, never does.
    // For the same reason a run right after another in the same folder (TMPDIR) pays for the
    // first one's clean-up.
    sync()
    let (parallelSeconds, parallelCPUSeconds) = try await files("files-again-\(renderers)", threads: renderers)

    let issueRate = Double(count) / issueSeconds
    let filesRate = Double(count) / filesSeconds
    let baselineRate = Double(count) / baselineSeconds
    print(
        String(
            format: "certificates-issue count=%d batch=%d seconds=%.3f rate=%.0f cpu_us_per_certificate=%.0f", count, batch,
            issueSeconds, issueRate, issueCPU * 1e6 / Double(count)))
    print(
        String(
            format:
                "certificates-files renderers=1 count=%d seconds=%.3f rate=%.0f cpu_us_per_certificate=%.0f pdf_bytes=%d json_bytes=%d",
            count, filesSeconds, filesRate, filesCPUSeconds * 1e6 / Double(count), pdfBytes / count, jsonBytes / count))
    let parallelRate = Double(count) / parallelSeconds
    print(
        String(
            format:
                "certificates-files renderers=%d count=%d seconds=%.3f rate=%.0f cpu_us_per_certificate=%.0f ratio_to_one=%.2f",
            renderers, count, parallelSeconds, parallelRate, parallelCPUSeconds * 1e6 / Double(count), parallelRate / filesRate))
    print(
        String(
            format: "store-baseline count=%d batch=%d seconds=%.3f rate=%.0f cpu_us_per_message=%.0f", count, batch,
            baselineSeconds, baselineRate, baselineCPU * 1e6 / Double(count)))
    print(
        String(
            format:
                "ratios: issue/baseline=%.2f files/baseline=%.2f (one thread), %.2f (%d threads); issue then files, one after the other: %.0f certificates/s (files on %d threads)",
            issueRate / baselineRate, filesRate / baselineRate, parallelRate / baselineRate, renderers,
            Double(count) / (issueSeconds + parallelSeconds), renderers))
} catch {
    fail("\(error)", code: 1)
}
