public import AMQP
public import Foundation
import Logging
import Synchronization

/// How tests find the private broker that `scripts/broker.sh` starts.
///
/// Broker tests run when `RABBITMQ_TEST_URL` is set. The README's test command sets it and
/// also sets `KALTIM_REQUIRE_BROKER=1`, which makes a missing URL a failure instead of a skip.
/// A bare `swift test` skips them; to run them, start the node with
/// `scripts/broker.sh start` and `export RABBITMQ_TEST_URL=$(scripts/broker.sh url)`.
/// The private PostgreSQL server `scripts/test.sh` starts (`scripts/postgres.sh`).
public enum PostgresEnvironment {
    public static let url = ProcessInfo.processInfo.environment["KALTIM_TEST_POSTGRES_URL"]
    /// Under the test script every store test runs on PostgreSQL too.
    public static var required: Bool { BrokerEnvironment.required }

    /// The server's URL, or a failure saying how to start it.
    public static func requireURL() throws -> String {
        guard let url else {
            throw TestFailure("KALTIM_TEST_POSTGRES_URL is not set: start the server with scripts/postgres.sh start")
        }
        return url
    }

    /// A fresh schema name for one test.
    public static func uniqueSchema(_ base: String) -> String {
        "\(base)_\(UUID().uuidString.prefix(8).lowercased())"
    }
}

public enum BrokerEnvironment {
    public static let url = ProcessInfo.processInfo.environment["RABBITMQ_TEST_URL"]
    /// The management plugin's HTTP API of the same node (`scripts/broker.sh management-url`).
    public static let managementURL = ProcessInfo.processInfo.environment["RABBITMQ_TEST_MANAGEMENT_URL"]
    public static let required = ProcessInfo.processInfo.environment["KALTIM_REQUIRE_BROKER"] == "1"
    public static var enabled: Bool { url != nil || required }

    /// A test's connection to the test node. It asks for a 120 s heartbeat (the node grants at
    /// most its own 60 s) unless a test is about heartbeats: on two cores, with test brokers booting beside worker processes and a
    /// browser, the test node has been seen silent for 60 s on an idle connection (a 30 s
    /// heartbeat would end it, and with it a test that is about something else).
    public static func configuration(
        name: String = #function, heartbeat: Duration = .seconds(120), reconnect: ReconnectPolicy? = nil
    )
        throws -> AMQPConfiguration
    {
        guard let url else {
            throw TestFailure("RABBITMQ_TEST_URL is not set: start the node with scripts/broker.sh start")
        }
        var configuration = try AMQPConfiguration(url: url)
        configuration.heartbeat = heartbeat
        configuration.reconnect = reconnect
        configuration.connectionName =
            "test-\(name.prefix(40).filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))"
        return configuration
    }

    public static func connect(name: String = #function, heartbeat: Duration = .seconds(120), reconnect: ReconnectPolicy? = nil)
        async throws
        -> AMQPConnection
    {
        try await AMQPConnection.connect(
            configuration(name: name, heartbeat: heartbeat, reconnect: reconnect), logger: Logger(label: "test"))
    }

    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs `scripts/broker.sh` with `arguments`, for the node named by `environment`, and
    /// returns what it printed.
    @discardableResult
    public static func brokerScript(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let script = repositoryRoot.appendingPathComponent("scripts/broker.sh").path
        let (status, output) = try await runProcess(
            "/bin/bash", [script] + arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new })
        guard status == 0 else {
            throw TestFailure("scripts/broker.sh \(arguments.joined(separator: " ")) exited \(status)")
        }
        return output
    }
}

/// Runs a program to completion off the cooperative pool and returns its exit status and
/// standard output. Output goes through a file, not a pipe: a broker node started in the
/// background may inherit a pipe and never close it. (posix_spawn + waitpid: Foundation's
/// `Process` termination handler was seen not to fire on Linux for quick commands.)
public func runProcess(
    _ path: String, _ arguments: [String], environment: [String: String], standardErrorToo: Bool = false
) async throws -> (Int32, String) {
    let child = try ChildProcess(path, arguments, environment: environment, standardErrorToo: standardErrorToo)
    defer { unlink(child.outputPath) }
    let status = try await child.waitForExit(timeout: .seconds(600))
    return (status, child.output)
}

/// A dedicated broker node for tests that stop, restart or freeze the broker, so that they
/// never disturb the shared test node.
public struct DisposableBroker {
    public let environment: [String: String]
    public let url: String
    public let pidFile: String

    /// Starts (or reuses) the node `name` on `port`.
    public static func start(name: String, port: Int) async throws -> DisposableBroker {
        let environment = ["KALTIM_BROKER_NAME": name, "KALTIM_BROKER_PORT": "\(port)"]
        try await BrokerEnvironment.brokerScript(["start"], environment: environment)
        let url = try await BrokerEnvironment.brokerScript(["url"], environment: environment)
        return DisposableBroker(
            environment: environment, url: url.trimmingCharacters(in: .whitespacesAndNewlines),
            pidFile: BrokerEnvironment.repositoryRoot.appendingPathComponent(".broker/\(name)/rabbit.pid").path)
    }

    public func run(_ command: String) async throws {
        try await BrokerEnvironment.brokerScript([command], environment: environment)
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A unique queue name for one test.
public func uniqueName(_ prefix: String = #function) -> String {
    let cleaned = prefix.prefix(30).filter { $0.isLetter || $0.isNumber }
    return "test.\(cleaned).\(UUID().uuidString.prefix(8).lowercased())"
}

/// Polls `condition` until it holds or `timeout` passes.
public func waitUntil(timeout: Duration, _ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure("timed out after \(timeout) waiting for: \(what)")
}

/// Runs `body` with a deadline; throws if it does not finish in time.
public func withDeadline<T: Sendable>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T)
    async throws
    -> T
{
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        guard let first = try await group.next(), let value = first else {
            group.cancelAll()
            throw TestFailure("timed out after \(timeout): \(what)")
        }
        group.cancelAll()
        return value
    }
}

/// Collects values from concurrent callbacks.
public final class Collector<T: Sendable>: Sendable {
    private let storage = Mutex<[T]>([])
    public init() {}
    public func append(_ value: T) { storage.withLock { $0.append(value) } }
    public var values: [T] { storage.withLock { $0 } }
    public var count: Int { storage.withLock { $0.count } }
}

/// Reads a consumer in the background so a test can take deliveries one at a time, each
/// with a deadline.
public final class DeliveryInbox: Sendable {
    private let deliveries = Collector<AMQPDelivery>()
    private let taken = Mutex(0)
    private let task: Task<Void, Never>

    public init(_ consumer: AMQPConsumer) {
        let deliveries = deliveries
        task = Task {
            do {
                for try await delivery in consumer { deliveries.append(delivery) }
            } catch {}
        }
    }

    deinit { task.cancel() }

    /// The next delivery, or a failure if none arrives within `timeout` (then the same
    /// delivery is still the next one). Take deliveries from one task at a time.
    public func next(within timeout: Duration = .seconds(10)) async throws -> AMQPDelivery {
        let index = taken.withLock { $0 }
        let deliveries = deliveries
        try await waitUntil(timeout: timeout, "delivery #\(index + 1)") { deliveries.count > index }
        taken.withLock { $0 = index + 1 }
        return deliveries.values[index]
    }

    /// The next delivery if one has arrived, without waiting.
    public func poll() -> AMQPDelivery? {
        let deliveries = deliveries
        return taken.withLock { index in
            guard deliveries.count > index else { return nil }
            index += 1
            return deliveries.values[index - 1]
        }
    }
}

/// A program started in the background (posix_spawn), with its standard output and error in
/// a file, so that a test can signal it, wait for it with a deadline, and read what it logged.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let outputPath: String
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `path` with `arguments` and `environment` (merged over this process's); standard
    /// error goes to the same file unless `standardErrorToo` is false (then it is inherited).
    public init(_ path: String, _ arguments: [String], environment: [String: String] = [:], standardErrorToo: Bool = true)
        throws
    {
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString).log").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if standardErrorToo { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestFailure("cannot run \(path): errno \(spawned)") }
        self.pid = pid
    }

    /// Sends `signal` (only to this child, by its pid).
    public func signal(_ signal: Int32) {
        if exitStatus.withLock({ $0 }) == nil { kill(pid, signal) }
    }

    /// The exit status once the child has ended (128 + signal number when a signal ended it),
    /// else `nil`. Reaps the child.
    public var status: Int32? {
        exitStatus.withLock { known in
            if let known { return known }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            known = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return known
        }
    }

    /// Waits (polling, with a deadline) until the child ends, and returns its exit status.
    @discardableResult
    public func waitForExit(timeout: Duration) async throws -> Int32 {
        try await waitUntil(timeout: timeout, "process \(pid) exits") { self.status != nil }
        return status!
    }

    /// Waits until the child logged a line containing `text`; throws if it exits first.
    public func waitForLog(_ text: String, timeout: Duration = .seconds(60)) async throws {
        try await waitUntil(timeout: timeout, "process \(pid) logs \(text)") {
            if let status = self.status { throw TestFailure("exited \(status) before logging \(text):\n\(self.output)") }
            return self.output.contains(text)
        }
    }

    /// The counts a worker process logs when it exits (`"msg":"worker exited"`).
    public func exitStatistics() throws -> [String: Int] {
        guard let line = output.split(separator: "\n").last(where: { $0.contains("\"msg\":\"worker exited\"") }),
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        else { throw TestFailure("no exit statistics in:\n\(output)") }
        return object.compactMapValues { Int($0) }
    }

    /// What the child wrote so far (standard output and error together).
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Kills the child if it still runs (SIGKILL, by pid), reaps it, and removes its log.
    public func terminate() async {
        if status == nil {
            kill(pid, SIGKILL)
            _ = try? await waitForExit(timeout: .seconds(10))
        }
        unlink(outputPath)
    }
}

/// The folder of the test binary, where SwiftPM also puts the package's executables.
public var builtProductsDirectory: URL {
    URL(
        fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
    )
    .deletingLastPathComponent()
}

/// A plain HTTP/1.1 GET on 127.0.0.1 (no client library needed): status code and body.
public func httpGet(port: Int, path: String) async throws -> (status: Int, body: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return continuation.resume(throwing: TestFailure("socket failed")) }
            defer { close(fd) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { return continuation.resume(throwing: TestFailure("cannot connect to port \(port)")) }
            let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            _ = request.withCString { send(fd, $0, strlen($0), 0) }
            var response: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                response.append(contentsOf: buffer[0..<count])
            }
            let text = String(decoding: response, as: UTF8.self)
            let statusLine = text.prefix { $0 != "\r" }.split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
                return continuation.resume(throwing: TestFailure("no HTTP response from port \(port)"))
            }
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            continuation.resume(returning: (status, body))
        }
    }
}
