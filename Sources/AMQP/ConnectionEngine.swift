// The thread that owns one librabbitmq connection, and the inbox through which every other
// thread talks to it. librabbitmq is not thread-safe and blocks; so each connection gets a
// dedicated OS thread (never a thread of Swift's cooperative pool) that runs commands from the
// inbox and reads frames from the socket, and sleeps in poll(2) on the socket and an eventfd
// that `submit` signals.
internal import CRabbitMQ
import Foundation
import Logging
import Synchronization

/// A unit of work for the connection thread. `nil` means the connection is closed for good.
typealias ConnectionCommand = @Sendable (ConnectionDriver?) -> Void

/// Owns the connection thread and its inbox.
///
/// `@unchecked Sendable`: its mutable state is the inbox, guarded by a `Mutex`, and the
/// wake-up file descriptor, which is only written (an atomic syscall). The non-`Sendable`
/// librabbitmq state lives in ``ConnectionDriver``, which only the connection thread touches.
final class ConnectionEngine: @unchecked Sendable {
    private struct Inbox {
        var commands: [ConnectionCommand] = []
        var sleeping = false
        var closeRequested = false
        var finished = false
    }

    private let inbox = Mutex(Inbox())
    private let wakeFD: Int32
    let configuration: AMQPConfiguration
    let logger: Logger
    let events: AsyncStream<AMQPConnectionEvent>
    let eventSink: AsyncStream<AMQPConnectionEvent>.Continuation
    let connected = Atomic<Bool>(false)
    private let serverVersionBox = Mutex<String?>(nil)
    /// The frame size agreed with the broker at the latest login (the proposed one before).
    let frameSize: Atomic<Int>

    init(configuration: AMQPConfiguration, logger: Logger) {
        self.frameSize = Atomic(configuration.boundedFrameMax)
        self.configuration = configuration
        self.logger = logger
        self.wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed: errno \(errno)")
        (events, eventSink) = AsyncStream.makeStream(of: AMQPConnectionEvent.self, bufferingPolicy: .bufferingNewest(256))
    }

    deinit { close(wakeFD) }

    var serverVersion: String? {
        get { serverVersionBox.withLock { $0 } }
        set { serverVersionBox.withLock { $0 = newValue } }
    }

    /// Starts the thread; it connects once and reports the outcome to `firstConnect`.
    func start(firstConnect: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        let thread = Thread { [self] in
            // Named from inside: on Linux, Foundation applies a name set before start() only
            // to its own bookkeeping, and `top -H` would show the spawning thread's name.
            CRabbitMQ_name_this_thread("amqp-connection")
            let driver = ConnectionDriver(engine: self)
            do throws(AMQPError) {
                try driver.connect()
                firstConnect(.success(()))
            } catch {
                finish()
                firstConnect(.failure(error))
                return
            }
            driver.runLoop()
            finish()
        }
        thread.name = "amqp-connection"
        thread.stackSize = Self.stackSize(frameMax: configuration.boundedFrameMax)
        thread.start()
    }

    /// The connection thread's stack: 1 MiB for the driver, and room for librabbitmq's decoder
    /// to recurse through the most deeply nested headers a frame can hold. A publisher may nest
    /// arrays one in another, five bytes a level, and librabbitmq spends about 100 bytes of stack
    /// a level (a consumer thread of 1 MiB read 10,000 levels and crashed on 12,000, 60 KB of headers, which the
    /// broker delivers): 32 bytes of stack per byte of frame leaves a margin over the 20 needed.
    /// Only the pages a delivery reaches become resident. (The conversion into Swift values stops
    /// at ``AMQPFieldValue/maximumNesting`` levels, so it needs no more.)
    static func stackSize(frameMax: Int) -> Int { (1 << 20) + 32 * frameMax }

    /// Queues a command for the connection thread and wakes it.
    func submit(_ command: @escaping ConnectionCommand) {
        let (accepted, wake) = inbox.withLock { inbox -> (Bool, Bool) in
            guard !inbox.finished else { return (false, false) }
            inbox.commands.append(command)
            let wake = inbox.sleeping
            inbox.sleeping = false
            return (true, wake)
        }
        if !accepted {
            command(nil)
        } else if wake {
            signal()
        }
    }

    /// Runs `body` on the connection thread and returns its result.
    func perform<T: Sendable>(_ body: @escaping @Sendable (ConnectionDriver) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { driver in
                guard let driver else {
                    continuation.resume(throwing: AMQPError(.connectionClosed, "the connection is closed"))
                    return
                }
                continuation.resume(with: Result { try body(driver) })
            }
        }
    }

    /// Asks the thread to close the connection and exit.
    func requestClose() {
        inbox.withLock { $0.closeRequested = true }
        signal()
    }

    // MARK: Used by the connection thread only

    /// Takes every queued command, and whether a close was requested.
    func takeCommands() -> (commands: [ConnectionCommand], close: Bool) {
        inbox.withLock { inbox in
            let commands = inbox.commands
            inbox.commands.removeAll(keepingCapacity: true)
            return (commands, inbox.closeRequested)
        }
    }

    /// Sleeps until `socket` is readable, a command arrives, or `timeoutMilliseconds` pass.
    /// Returns whether the socket became readable (or hung up).
    func sleep(socket: Int32, timeoutMilliseconds: Int32) -> Bool {
        let mayWait = inbox.withLock { inbox -> Bool in
            guard inbox.commands.isEmpty, !inbox.closeRequested else { return false }
            inbox.sleeping = true
            return true
        }
        guard mayWait else { return false }
        var fds = [
            pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
        ]
        let count = socket >= 0 ? 2 : 1
        _ = poll(&fds, nfds_t(count), timeoutMilliseconds)
        inbox.withLock { $0.sleeping = false }
        if fds[0].revents != 0 { drainWakeups() }
        return count == 2 && fds[1].revents != 0
    }

    /// Marks the engine finished and fails every command still queued.
    func finish() {
        let leftover = inbox.withLock { inbox -> [ConnectionCommand] in
            inbox.finished = true
            let commands = inbox.commands
            inbox.commands.removeAll()
            return commands
        }
        for command in leftover { command(nil) }
        connected.store(false, ordering: .releasing)
        eventSink.finish()
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func drainWakeups() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
    }
}
