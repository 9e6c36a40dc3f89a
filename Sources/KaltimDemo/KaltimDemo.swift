import ArgumentParser
import CommandOptions
import Contracts
import Foundation
import Stores

/// The main job: the whole 2025 programme on a synthetic cohort, through real worker
/// processes on the local broker (`scripts/run.sh` starts the broker and builds first).
@main
struct KaltimDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kaltim-demo",
        abstract: "Run the 2025 programme end to end on a seeded synthetic cohort and print a report.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Seed of the cohort: the same seed gives the same cohort and the same report.") var seed: UInt64 = 2025
    @Option(help: "Residents in the civil-registry extract.") var residents = 20_000
    @Option(help: "Registrations published by the portal.") var registrations = 8_000
    @Option(help: "Intake worker processes.") var intakeReplicas = 2
    @Option(help: ArgumentHelp("Folder for stores, logs, certificates and the report.", valueName: "path")) var output = "out/run"
    @Option(help: ArgumentHelp("The kaltim-worker executable.", valueName: "path")) var workerBinary: String
    @OptionGroup var programme: ProgrammeOptions
    @Option(help: ArgumentHelp("The notification templates.", valueName: "path")) var templates = "config/notifications"
    @Option(help: ArgumentHelp("The raw C relay's rate measured just before (scripts/bench-e2e.sh), printed as the ceiling."))
    var relayRate: Double?
    @Flag(
        help:
            "Chaos: run the workers under the supervisor, SIGKILL a random one every --chaos-interval seconds, restart the broker once and close every connection once; then check for lost and duplicated effects."
    )
    var chaos = false
    @Option(help: ArgumentHelp("Seconds between two kills in chaos mode.", valueName: "seconds")) var chaosInterval = 3.0
    @Option(
        help: ArgumentHelp(
            "scripts/broker.sh, which restarts the run's broker node in chaos mode (its environment names the node).",
            valueName: "path"))
    var brokerScript = "scripts/broker.sh"
    @Option(help: ArgumentHelp("Minutes each stage may take before the run fails.", valueName: "minutes"))
    var stageTimeout = 20.0
    @Option(
        help: ArgumentHelp(
            "Keep every role's state in this PostgreSQL database (a schema per role and run) instead of SQLite files.",
            valueName: "postgres://…"))
    var postgres: String?
    @Option(
        help: ArgumentHelp(
            "Start this kaltim-console on the run's topology before the first registration, and leave it (and the topology) running at the end, with its address and demo accounts printed (scripts/run.sh --console).",
            valueName: "path"))
    var consoleBinary: String?
    @Option(help: ArgumentHelp("Port of the console's pages (with --console-binary); 0 picks a free one.", valueName: "port"))
    var consolePort = 8080
    @Option(
        help: ArgumentHelp(
            "Port of the certificate verification service started with --console-binary (not with --postgres); the certificates' QR codes and the messages' links point at it.",
            valueName: "port"))
    var verificationPort = 8090
    @Option(
        help: ArgumentHelp(
            "Open loop: the portal publishes the registrations at this many per second, each stamped when it is sent, instead of all at once; the report gives p50/p99/max from submission to intake's decision and to the decision's message.",
            valueName: "per-second"))
    var rate: Double?

    func validate() throws {
        guard residents >= 100, registrations >= 10 else { throw ValidationError("--residents ≥ 100 and --registrations ≥ 10") }
        guard (1...8).contains(intakeReplicas) else { throw ValidationError("--intake-replicas between 1 and 8") }
        guard chaosInterval >= 0.5 else { throw ValidationError("--chaos-interval must be at least 0.5 seconds") }
        guard stageTimeout > 0 else { throw ValidationError("--stage-timeout must be positive") }
        if chaos, !FileManager.default.fileExists(atPath: brokerScript) {
            throw ValidationError("--broker-script \(brokerScript) does not exist (chaos mode restarts the broker with it)")
        }
        if let postgres {
            guard Stores.isPostgres(postgres) else { throw ValidationError("--postgres takes a postgres:// URL") }
            // The supervisor gives each process a SQLite file of the data folder.
            guard !chaos else { throw ValidationError("--postgres runs without --chaos") }
        }
        if let consoleBinary {
            guard FileManager.default.isExecutableFile(atPath: consoleBinary) else {
                throw ValidationError("--console-binary \(consoleBinary) is not an executable")
            }
            guard !chaos else { throw ValidationError("--console-binary runs without --chaos") }
        }
        guard (0...65535).contains(consolePort) else { throw ValidationError("--console-port must be 0…65535") }
        // Known before the workers start: their QR codes and links carry it.
        guard (1...65535).contains(verificationPort) else { throw ValidationError("--verification-port must be 1…65535") }
        if let rate {
            guard rate.isFinite, rate >= 1, rate <= 100_000 else { throw ValidationError("--rate is 1 to 100000 per second") }
        }
        guard FileManager.default.isExecutableFile(atPath: workerBinary) else {
            throw ValidationError("--worker-binary \(workerBinary) is not an executable")
        }
    }

    func run() async throws {
        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let run = try await ProgrammeRun.prepare(self)
        if try await !run.execute() { throw ExitCode(1) }
    }
}
