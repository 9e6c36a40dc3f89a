import Foundation
import Synchronization

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
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, binary, &actions, nil, argv, environ)
        guard status == 0 else { throw FleetError("cannot start \(name): errno \(status)") }
        try "\(pid)\n".write(toFile: "\(logFolder)/\(name).pid", atomically: true, encoding: .utf8)
        members.withLock { $0.append(Member(name: name, pid: pid, log: log)) }
    }

    /// Each running process's peak resident memory (VmHWM of /proc/PID/status), in KiB.
    func peakMemory() -> [(name: String, kib: Int)] {
        members.withLock { $0 }.map { member in
            let status = (try? String(contentsOfFile: "/proc/\(member.pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
            return (member.name, Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0)
        }
    }

    func waitUntilStarted() async throws {
        let deadline = Date().addingTimeInterval(120)
        for member in members.withLock({ $0 }) {
            while !((try? String(contentsOfFile: member.log, encoding: .utf8))?.contains("\"msg\":\"worker started\"") ?? false) {
                var status: Int32 = 0
                if waitpid(member.pid, &status, WNOHANG) == member.pid {
                    throw FleetError("\(member.name) exited at start; see \(member.log)")
                }
                guard Date() < deadline else { throw FleetError("\(member.name) did not start; see \(member.log)") }
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
        for member in all { kill(member.pid, SIGTERM) }
        for member in all {
            let deadline = Date().addingTimeInterval(30)
            var status: Int32 = 0
            while waitpid(member.pid, &status, WNOHANG) == 0 {
                if Date() > deadline {
                    kill(member.pid, SIGKILL)
                    _ = waitpid(member.pid, &status, 0)
                    break
                }
                usleep(50_000)
            }
            unlink("\(logFolder)/\(member.name).pid")
        }
    }
}

struct FleetError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
