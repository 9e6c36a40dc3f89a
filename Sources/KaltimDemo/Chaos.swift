// The chaos mode of the main job (`kaltim-demo --chaos`): while the programme runs, a random
// worker process is killed with SIGKILL every few seconds (the supervisor starts it again),
// the broker is restarted once and every connection is closed once; afterwards `ChaosCheck`
// counts lost and duplicated effects from the run's ledger, the notification log, the queues
// and the logs.
import AMQP
import Contracts
import Foundation
import Jobs
import Synchronization
import WorkerHost

/// The disturbances, and what was done.
final class Chaos: Sendable {
    private let logFolder: String
    /// The supervisor's process names (`intake-1`, …): only these are killed.
    private let workers: [String]
    private let brokerScript: String
    private let interval: Duration
    private let random: Mutex<SeededRandom>
    private let record = Mutex<(kills: [String], brokerRestarts: Int, connectionCloses: Int)>(([], 0, 0))

    /// - Parameters:
    ///   - logFolder: where the supervisor writes `<role>-<n>.pid` for the processes it started.
    ///   - workers: the names of those processes.
    ///   - brokerScript: `scripts/broker.sh`, for the node the run uses (its environment names it).
    init(logFolder: String, workers: [String], brokerScript: String, interval: Duration, seed: UInt64) {
        self.logFolder = logFolder
        self.workers = workers
        self.brokerScript = brokerScript
        self.interval = interval
        self.random = Mutex(SeededRandom(seed: seed ^ 0xC4A0_5EED))
    }

    var kills: [String] { record.withLock { $0.kills } }
    var brokerRestarts: Int { record.withLock { $0.brokerRestarts } }
    var connectionCloses: Int { record.withLock { $0.connectionCloses } }

    /// Every `interval`, SIGKILL one worker that has run for at least 5 s (by the pid the
    /// supervisor wrote), until cancelled.
    func killWorkers() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled else { return }
            let candidates = workers.compactMap { name -> (String, pid_t)? in
                let path = "\(logFolder)/\(name).pid"
                guard let written = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                    Date().timeIntervalSince(written) >= 5,
                    let text = try? String(contentsOfFile: path, encoding: .utf8),
                    let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0
                else { return nil }
                return (name, pid)
            }
            guard !candidates.isEmpty else { continue }
            let index = random.withLock { Int.random(in: 0..<candidates.count, using: &$0) }
            let (name, pid) = candidates[index]
            if kill(pid, SIGKILL) == 0 { record.withLock { $0.kills.append(name) } }
        }
    }

    /// `scripts/broker.sh restart`: a clean stop and start of the node.
    func restartBroker() async throws {
        try await script(["restart"])
        record.withLock { $0.brokerRestarts += 1 }
    }

    /// `rabbitmqctl close_all_connections`: every client is disconnected at once.
    func closeAllConnections() async throws {
        try await script(["ctl", "close_all_connections", "chaos: every connection closed once"])
        record.withLock { $0.connectionCloses += 1 }
    }

    private func script(_ arguments: [String]) async throws {
        let pid = try ProcessSpawner.spawn("/bin/bash", [brokerScript] + arguments, log: "\(logFolder)/chaos-broker.log")
        var status = ProcessSpawner.exitStatus(of: pid)
        while status == nil {
            try await Task.sleep(for: .milliseconds(100))
            status = ProcessSpawner.exitStatus(of: pid)
        }
        guard status == 0 else {
            throw FleetError("\(brokerScript) \(arguments.joined(separator: " ")) failed; see \(logFolder)/chaos-broker.log")
        }
    }
}

/// What the checker found: lost and duplicated effects, leftovers, stray dead letters and
/// digit runs in logs. Empty problems: the run kept every promise.
struct ChaosCheck {
    var lines: [String] = []
    var problems: [String] = []

    /// - Parameters:
    ///   - ledger: the observer's distinct events per kind and subject.
    ///   - expectedDecisions: registrations published (each must be decided once).
    ///   - owed: participants owed a competency or a training certificate.
    ///   - notificationLog: the file channel's log (one line per send).
    ///   - deadLetters: "role: code" → count, as the run's report has them.
    ///   - leftovers: queue → messages still in it after the workers stopped.
    ///   - logFolder: every `*.log` in it is scanned for a run of 15 or more digits.
    static func run(
        ledger: [String: [String: Set<String>]], expectedDecisions: Int, owed: [String: Set<String>],
        expectedNotifications: Int, notificationLog: String, deadLetters: [String: Int], expectedDeadLetters: Int,
        leftovers: [String: Int], logFolder: String
    ) -> ChaosCheck {
        var check = ChaosCheck()
        for (kind, subjects) in ledger.sorted(by: { $0.key < $1.key }) {
            let doubled = subjects.filter { $0.value.count > 1 }
            check.lines.append("  \(kind): \(subjects.count) subjects, duplicated \(doubled.count)")
            if !doubled.isEmpty {
                check.problems.append(
                    "\(kind): \(doubled.count) subjects with more than one event, e.g. \(doubled.keys.sorted().prefix(3))")
            }
        }
        let decided = ledger["registration decision"]?.count ?? 0
        check.lines.append("  registrations decided \(decided) of \(expectedDecisions)")
        if decided != expectedDecisions {
            check.problems.append("registrations: \(expectedDecisions - decided) without a decision")
        }
        // "participant kind" of every certificate issued.
        let certificates = Set(
            (ledger["certificate"] ?? [:]).keys.map { $0.split(separator: " ").prefix(2).joined(separator: " ") })
        for (kind, raw) in [
            ("competency", CertificateIssuedV2.Kind.competency.rawValue),
            ("training", CertificateIssuedV2.Kind.training.rawValue),
            (Tally.owedName(.constructionCompetency), CertificateIssuedV2.Kind.constructionCompetency.rawValue),
            (Tally.owedName(.safetyLicence), CertificateIssuedV2.Kind.safetyLicence.rawValue),
        ] {
            let missing = (owed[kind] ?? []).filter { !certificates.contains("\($0) \(raw)") }
            check.lines.append("  \(kind) certificates owed \(owed[kind]?.count ?? 0), missing \(missing.count)")
            if !missing.isEmpty { check.problems.append("\(missing.count) \(kind) certificates lost") }
        }
        let notified = ledger["notification"]?.count ?? 0
        check.lines.append("  notifications with an outcome \(notified) of \(expectedNotifications) expected")
        if notified != expectedNotifications {
            check.problems.append("notifications: \(expectedNotifications - notified) events without a delivery or failure")
        }
        // The file channel: a line per send. Two lines with one idempotency key would be a
        // message sent twice for one event.
        let lines = ((try? String(contentsOfFile: notificationLog, encoding: .utf8)) ?? "").split(separator: "\n")
        var keys: [String: Int] = [:]
        for line in lines {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let key = object["idempotencyKey"] as? String
            else { continue }
            keys[key, default: 0] += 1
        }
        let twice = keys.filter { $0.value > 1 }
        check.lines.append("  notification log: \(lines.count) sends, \(keys.count) idempotency keys, \(twice.count) sent twice")
        if !twice.isEmpty { check.problems.append("\(twice.count) notifications sent more than once") }
        let left = leftovers.filter { $0.value != 0 }
        check.lines.append("  messages left in role and retry queues after the stop: \(leftovers.values.reduce(0, +))")
        if !left.isEmpty { check.problems.append("left in queues: \(left.sorted { $0.key < $1.key })") }
        let expectedCodes: Set<String> = ["malformed-json", "missing-field", "wrong-type"]
        let stray = deadLetters.filter { !expectedCodes.contains(String($0.key.split(separator: " ").last ?? "")) }
        let deadTotal = deadLetters.values.reduce(0, +)
        check.lines.append("  dead letters \(deadTotal) (the deliberately malformed: \(expectedDeadLetters))")
        if !stray.isEmpty || deadTotal != expectedDeadLetters {
            check.problems.append("dead letters other than the deliberately malformed: \(deadLetters.sorted { $0.key < $1.key })")
        }
        var digitRuns = 0
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: logFolder)) ?? []).filter { $0.hasSuffix(".log") }
        for file in logs {
            let text = (try? String(contentsOfFile: "\(logFolder)/\(file)", encoding: .utf8)) ?? ""
            digitRuns += text.matches(of: /[0-9]{15,}/).count
        }
        check.lines.append("  log files scanned \(logs.count): runs of 15+ digits (a NIK in clear) \(digitRuns)")
        if digitRuns > 0 { check.problems.append("\(digitRuns) runs of 15 or more digits in the logs") }
        return check
    }
}
