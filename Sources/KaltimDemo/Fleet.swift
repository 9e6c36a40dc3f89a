import Foundation
import Synchronization
import WorkerHost

/// The worker processes the main job starts: each with its log file and pid file; stopped by
/// pid (SIGTERM, then SIGKILL after 30 s), never by name.
final class Fleet: Sendable {
    private struct Member {
        let name: String
        let pid: pid_t
        let log: String
    }

    private let binary: String
    private let logFolder: String
    private let members = Mutex<[Member]>([])

    init(binary: String, logFolder: String) {
        self.binary = binary
        self.logFolder = logFolder
    }

    var names: [String] { members.withLock { $0.map(\.name) } }

    func start(_ name: String, _ arguments: [String]) throws {
        let log = "\(logFolder)/\(name).log"
        let pid = try ProcessSpawner.spawn(binary, arguments, log: log, truncate: true)
        try "\(pid)\n".write(toFile: "\(logFolder)/\(name).pid", atomically: true, encoding: .utf8)
        members.withLock { $0.append(Member(name: name, pid: pid, log: log)) }
    }

    /// Each running process's peak resident memory (VmHWM of /proc/PID/status) and the CPU
    /// time it used so far (user and system, from /proc/PID/stat), and what is resident now.
    func usage() -> [ProcessUsage] {
        let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return members.withLock { $0 }.map { member in
            let status = (try? String(contentsOfFile: "/proc/\(member.pid)/status", encoding: .utf8)) ?? ""
            func kib(_ field: String) -> Int {
                let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
                return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
            }
            // The fields after the command's closing parenthesis (the command may hold spaces):
            // utime and stime are the 12th and 13th of them (fields 14 and 15 of proc(5)).
            let stat = (try? String(contentsOfFile: "/proc/\(member.pid)/stat", encoding: .utf8)) ?? ""
            let fields = stat.split(separator: ")").last.map { $0.split(separator: " ") } ?? []
            let ticks = fields.count > 12 ? (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0) : 0
            // The proportional set size: shared pages divided among the processes sharing them.
            let rollup = (try? String(contentsOfFile: "/proc/\(member.pid)/smaps_rollup", encoding: .utf8)) ?? ""
            let pss =
                rollup.split(separator: "\n").first { $0.hasPrefix("Pss:") }
                .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            return ProcessUsage(
                name: member.name, peakKiB: kib("VmHWM"), anonymousKiB: kib("RssAnon"), fileKiB: kib("RssFile"),
                proportionalKiB: pss, cpuSeconds: ticks / ticksPerSecond)
        }
    }

    func waitUntilStarted() async throws {
        let deadline = Date().addingTimeInterval(120)
        for member in members.withLock({ $0 }) {
            while !((try? String(contentsOfFile: member.log, encoding: .utf8))?.contains("\"msg\":\"worker started\"") ?? false) {
                if ProcessSpawner.exitStatus(of: member.pid) != nil {
                    throw FleetError("\(member.name) exited at start; see \(member.log)")
                }
                guard Date() < deadline else { throw FleetError("\(member.name) did not start; see \(member.log)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Waits until each named process has logged that it started (`<logFolder>/<name>.log`,
    /// the supervisor's children).
    func waitUntilLogged(_ names: [String]) async throws {
        let deadline = Date().addingTimeInterval(120)
        for name in names {
            let log = "\(logFolder)/\(name).log"
            while !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("\"msg\":\"worker started\"") ?? false) {
                guard Date() < deadline else { throw FleetError("\(name) did not start; see \(log)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// SIGTERM to every member, then wait for each (SIGKILL after 30 s).
    func stopAll() {
        let all = members.withLock { list -> [Member] in
            defer { list.removeAll() }
            return list
        }
        ProcessSpawner.stop(all.map(\.pid), within: .seconds(30))
        for member in all { unlink("\(logFolder)/\(member.name).pid") }
    }
}

/// What one worker process of the main job used: its peak resident memory and its CPU time.
struct ProcessUsage: Sendable {
    let name: String
    /// Peak resident memory (VmHWM).
    let peakKiB: Int
    /// Resident now: the process's own memory (heap, stacks: RssAnon) and the pages of the
    /// program and its libraries that it touched (RssFile, shared with every process that
    /// runs the same files).
    let anonymousKiB: Int
    let fileKiB: Int
    /// Resident now, each shared page counted as its share among the processes that map it
    /// (Pss of /proc/PID/smaps_rollup): what the process adds to the machine's memory.
    let proportionalKiB: Int
    let cpuSeconds: Double

    /// The role the process serves (`intake-2` serves intake).
    var role: String { String(name.split(separator: "-").first ?? Substring(name)) }
}

struct FleetError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
