public import Foundation

/// Starts programs in the background with their output appended to a log file, and checks on
/// them by pid: what the main job's fleet and the supervisor share.
public enum ProcessSpawner {
    /// Starts `binary` with `arguments`; standard output and error go to `log` (appended),
    /// standard input is /dev/null. The environment is this process's.
    /// - Returns: the child's pid.
    public static func spawn(_ binary: String, _ arguments: [String], log: String, truncate: Bool = false) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : O_APPEND), 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, binary, &actions, nil, argv, environ)
        guard status == 0 else {
            throw WorkerHostError(.processNotStarted, "cannot start \(binary): \(String(cString: strerror(status)))")
        }
        return pid
    }

    /// The exit status of `pid` if it has ended (reaped), `nil` while it runs. A signal `n`
    /// is reported as `128 + n`, as shells do.
    public static func exitStatus(of pid: pid_t) -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// SIGTERM to every pid, then waits for each until `deadline`, then SIGKILL.
    public static func stop(_ pids: [pid_t], within timeout: Duration) {
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + timeout
        for pid in pids {
            var status: Int32 = 0
            while waitpid(pid, &status, WNOHANG) == 0 {
                if ContinuousClock.now > deadline {
                    kill(pid, SIGKILL)
                    _ = waitpid(pid, &status, 0)
                    break
                }
                usleep(50_000)
            }
        }
    }
}
