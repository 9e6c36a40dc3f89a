// A worker process for the runtime's process-level tests: the real host (options, signals,
// store, metrics) with a probe handler that records every effect in a table without any
// uniqueness, so that a second effect of one message would show as a second row.
//
// Environment: PROBE_WORK_MS (time each message takes), PROBE_KILL_AFTER_COMMIT (a message id:
// the process kills itself with SIGKILL right after the commit that contains it, before
// publishing and acknowledging, once: PROBE_KILL_MARKER names the file that records it),
// PROBE_TRAP_ID (a message id: handling it traps, as a Swift runtime failure does, every time),
// PROBE_HOLD_AFTER and PROBE_HOLD_FILE (handlings after that many wait while the file exists,
// and the first one held creates PROBE_HOLD_FILE.reached, so a test acts while work is surely in
// flight, however fast or slow the machine).
import ArgumentParser
import ContractKit
import Contracts
import Foundation
import Jobs
import Synchronization
import Topology
import WorkerHost

/// Holds handlings past a count while a file exists.
final class ProbeHold: Sendable {
    let after: Int
    let file: String
    private let handled = Atomic<Int>(0)

    init(after: Int, file: String) {
        self.after = after
        self.file = file
    }

    /// Called on the store's thread (not the cooperative pool).
    func pass() {
        let count = handled.add(1, ordering: .relaxed).newValue
        guard count > after else { return }
        if count == after + 1 { _ = FileManager.default.createFile(atPath: file + ".reached", contents: nil) }
        while FileManager.default.fileExists(atPath: file) { usleep(2000) }
    }
}

struct ProbeHandler: MessageHandler {
    let exchange: String
    let instance: String
    let work: Duration
    let trapID: String?
    let hold: ProbeHold?

    var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS probe_effects (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, registration_id TEXT NOT NULL, message_id TEXT NOT NULL,
                instance TEXT NOT NULL)
            """
        ]
    }

    func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent] {
        guard let registration = event.payload as? RegistrationSubmittedV3 else {
            throw Failure.permanent(.unexpectedType, event.header.type)
        }
        if event.header.id == trapID { fatalError("probe: trapping on message \(event.header.id)") }
        hold?.pass()
        if work > .zero {
            Thread.sleep(forTimeInterval: Double(work.components.attoseconds) / 1e18 + Double(work.components.seconds))
        }
        try transaction.execute(
            "INSERT INTO probe_effects (registration_id, message_id, instance) VALUES (?, ?, ?)",
            [.text(registration.registrationID), .text(event.header.id), .text(instance)])
        let accepted = RegistrationAcceptedV1(
            registrationID: registration.registrationID, participantID: "PST-" + registration.registrationID,
            centre: registration.preferredCentre, programme: registration.programme, priorityTier: .neverTrained,
            priorityReasons: ["NO_DECLARED_TRAINING"], apprenticeshipInterest: registration.apprenticeshipInterest)
        return [
            try OutgoingEvent(
                EventEnvelope(
                    id: "accepted-" + event.header.id, source: "/kaltim/probe", correlationID: event.header.correlationID,
                    causationID: event.header.id, data: accepted),
                exchange: exchange)
        ]
    }
}

@main
struct ProbeWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs-probe-worker", abstract: "A worker process with a probe handler (runtime tests).")

    @OptionGroup var options: WorkerCommandOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let work = Duration.milliseconds(Int(environment["PROBE_WORK_MS"] ?? "0") ?? 0)
        let topology = try options.topology(role: .intake)
        let instance = options.instance ?? "probe-\(getpid())"
        var afterCommit: (@Sendable ([String]) -> Void)?
        if let target = environment["PROBE_KILL_AFTER_COMMIT"], let marker = environment["PROBE_KILL_MARKER"],
            !FileManager.default.fileExists(atPath: marker)
        {
            afterCommit = { ids in
                guard ids.contains(target) else { return }
                _ = FileManager.default.createFile(atPath: marker, contents: Data(ids.joined(separator: "\n").utf8))
                kill(getpid(), SIGKILL)
            }
        }
        var options = options
        options.instance = instance
        try await WorkerHost.run(
            role: .intake,
            handler: ProbeHandler(
                exchange: topology.exchange, instance: instance, work: work, trapID: environment["PROBE_TRAP_ID"],
                hold: environment["PROBE_HOLD_FILE"].map {
                    ProbeHold(after: Int(environment["PROBE_HOLD_AFTER"] ?? "0") ?? 0, file: $0)
                }),
            options: options,
            afterCommit: afterCommit)
    }
}
