import ArgumentParser
import ContractKit
import Contracts
import Dispatch
import Foundation
import Jobs
import Synchronization
import Topology
import WorkerHost

/// `kaltim-worker supervise`: the whole system on one machine without Kubernetes or systemd.
struct Supervise: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run N processes of each role from a plan file; restart crashed ones with backoff; stop all on SIGTERM.",
        discussion: """
            The plan (JSON): {"dataDirectory": "var", "logDirectory": "var/log", "common": ["--programme-file", …], \
            "roles": {"intake": {"replicas": 2, "arguments": ["--nik-key-file", "secrets/nik.key"]}, …}}. \
            Each process gets --database <dataDirectory>/<role>.sqlite (replicas of a role share it), \
            --instance <role>-<n>@<host>, --http-port 0, the common arguments and its role's; the broker URL \
            comes from KALTIM_BROKER_URL. Logs are appended to <logDirectory>/<role>-<n>.log, pids written \
            to <role>-<n>.pid. A process that exits is started again after 1 s, doubling to 30 s while it keeps \
            failing within a minute. SIGTERM or SIGINT stops every process (SIGTERM, then SIGKILL after \
            --stop-timeout) and exits 0.
            """)

    @Option(help: ArgumentHelp("The plan file (JSON).", valueName: "path")) var plan: String
    @Option(help: ArgumentHelp("Seconds a process gets to drain after SIGTERM.", valueName: "seconds")) var stopTimeout = 45
    @Option(
        help: ArgumentHelp(
            "Seconds a process must run before its exit counts as a fresh failure rather than part of a crash loop (the restart delay then starts again at 1 s).",
            valueName: "seconds"))
    var healthyAfter = 60

    func validate() throws {
        let plan = try loadPlan()
        if let problem = plan.problems(knownRoles: Set(WorkerRole.all.map(\.name))).first {
            throw ValidationError("plan: \(problem)")
        }
        guard stopTimeout > 0 else { throw ValidationError("--stop-timeout must be positive") }
        guard healthyAfter > 0 else { throw ValidationError("--healthy-after must be positive") }
    }

    func loadPlan() throws -> SupervisePlan {
        do {
            return try SupervisePlan.load(path: plan)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// One process of the plan, restarted when it exits.
    final class Slot {
        let name: String
        let arguments: [String]
        var pid: pid_t?
        var startedAt = ContinuousClock.now
        var failuresInARow = 0
        var restartAt: ContinuousClock.Instant?

        init(name: String, arguments: [String]) {
            self.name = name
            self.arguments = arguments
        }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let plan = try loadPlan()
        let data = plan.dataDirectory ?? "var"
        let logs = plan.logDirectory ?? "\(data)/log"
        for folder in [data, logs] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let host = ProcessInfo.processInfo.hostName
        var slots: [Slot] = []
        for role in WorkerRole.all.map(\.name) {
            guard let settings = plan.roles[role], settings.replicas > 0 else { continue }
            for replica in 1...settings.replicas {
                let name = "\(role)-\(replica)"
                slots.append(
                    Slot(
                        name: name,
                        arguments: [
                            role, "--database", "\(data)/\(role).sqlite", "--instance", "\(name)@\(host)", "--http-port", "0",
                        ]
                            + (plan.common ?? []) + (settings.arguments ?? [])))
            }
        }
        let stopping = Atomic(false)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stopping.store(true, ordering: .relaxed) }
            source.resume()
            return source
        }
        defer { for source in sources { source.cancel() } }
        func say(_ text: String) { FileHandle.standardError.write(Data("supervise: \(text)\n".utf8)) }

        say("starting \(slots.count) processes: \(slots.map(\.name).joined(separator: ", "))")
        while !stopping.load(ordering: .relaxed) {
            let now = ContinuousClock.now
            for slot in slots {
                if let pid = slot.pid, let status = ProcessSpawner.exitStatus(of: pid) {
                    slot.pid = nil
                    slot.failuresInARow = now - slot.startedAt > .seconds(healthyAfter) ? 1 : slot.failuresInARow + 1
                    let delay = Duration.seconds(min(30, 1 << min(slot.failuresInARow - 1, 5)))
                    slot.restartAt = now + delay
                    say("\(slot.name) (pid \(pid)) exited with status \(status); starting it again in \(delay)")
                }
                if slot.pid == nil, (slot.restartAt ?? now) <= now {
                    do {
                        let pid = try ProcessSpawner.spawn(binary, slot.arguments, log: "\(logs)/\(slot.name).log")
                        slot.pid = pid
                        slot.startedAt = now
                        slot.restartAt = nil
                        try "\(pid)\n".write(toFile: "\(logs)/\(slot.name).pid", atomically: true, encoding: .utf8)
                    } catch {
                        slot.restartAt = now + .seconds(5)
                        say("cannot start \(slot.name): \(error)")
                    }
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        say("stopping every process (up to \(stopTimeout) s each to drain)")
        ProcessSpawner.stop(slots.compactMap(\.pid), within: .seconds(stopTimeout))
        for slot in slots { unlink("\(logs)/\(slot.name).pid") }
        say("stopped")
    }
}
