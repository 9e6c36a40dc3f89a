public import Contracts
public import Foundation
import Synchronization

/// One message for one person on one channel, ready to send.
public struct OutgoingNotification: Sendable, Equatable {
    /// Derived from the event that caused the message and the channel: the same key is never
    /// sent twice (gateways deduplicate on it; e-mail carries it as the Message-ID).
    public var idempotencyKey: String
    public var channel: NotificationChannel
    /// E.164 phone number or e-mail address (personal data: never logged in clear).
    public var recipient: String
    /// The template the text came from, e.g. `lulus_seleksi`.
    public var template: String
    /// The e-mail subject (ignored by WhatsApp and SMS).
    public var subject: String
    public var text: String

    public init(
        idempotencyKey: String, channel: NotificationChannel, recipient: String, template: String, subject: String, text: String
    ) {
        self.idempotencyKey = idempotencyKey
        self.channel = channel
        self.recipient = recipient
        self.template = template
        self.subject = subject
        self.text = text
    }
}

/// What a channel made of one send.
public enum SendResult: Sendable, Equatable {
    /// The provider accepted the message.
    case sent(providerMessageID: String)
    /// Try again later (5xx, timeout, connection refused, 429), after `retryAfter` when the
    /// provider said so.
    case transient(code: String, detail: String, retryAfter: Duration?)
    /// Retrying cannot help (4xx: bad number, refused recipient, bad credentials).
    case permanent(code: String, detail: String)
}

/// A way to reach people: an HTTP gateway (WhatsApp, SMS), SMTP (e-mail) or a file.
public protocol MessageSender: Sendable {
    /// Sends one message. Never throws: every outcome is a ``SendResult``.
    func send(_ message: OutgoingNotification) async -> SendResult

    /// Deletes the sender's own copy of what it sent before `cutoff` (the file channel's log,
    /// which holds the texts and addresses), as the dispatcher clears a settled message's data
    /// past its retention; returns how many it deleted, and throws when it could not (its copy
    /// is then left whole). A sender that keeps no copy deletes
    /// nothing (the default).
    func forgetSent(before cutoff: Date) async throws -> Int
}

extension MessageSender {
    public func forgetSent(before cutoff: Date) async throws -> Int { 0 }
}

/// The rate limit of one channel (WhatsApp, SMS and e-mail each have their own, even where two
/// share a gateway), as the gateway sees it: a token bucket (at most `perSecond`
/// sends per second on average, bursts up to `burst`) and at most `burst` sends in flight at
/// once.
///
/// Spacing when sends start is not enough: sends queued behind a slow connection (the HTTP
/// client's pool, a TLS handshake) would leave together and reach the gateway as a burst above
/// its limit. With at most `burst` in flight, a send starts only when one has finished and its
/// token is due, so the gateway never has more than `burst` of them at once. A caller that finds
/// the bucket empty takes a token on credit and sleeps until it is due; waiting callers are
/// served in arrival order.
public final class RateLimiter: Sendable {
    public let perSecond: Double
    public let burst: Double
    private let state: Mutex<(tokens: Double, refilledAt: ContinuousClock.Instant)>
    private let slots: InFlightSlots

    public init(perSecond: Double, burst: Double? = nil) {
        precondition(perSecond > 0 && perSecond.isFinite, "the rate must be positive and finite")
        self.perSecond = perSecond
        self.burst = max(1, burst ?? perSecond)
        state = Mutex((self.burst, ContinuousClock.now))
        slots = InFlightSlots(Int(min(self.burst, 10_000)))
    }

    /// Runs `send` within the limit: waits for a free slot (at most `burst` in flight) and for
    /// a token, then sends; the slot is free again when `send` returns.
    /// - Throws: `CancellationError` when the task is cancelled while waiting (nothing is sent).
    public func run<T: Sendable>(_ send: () async -> T) async throws -> T {
        try await slots.take()
        defer { slots.give() }
        let wait = reserve(at: ContinuousClock.now)
        if wait > .zero { try await Task.sleep(for: wait) }
        return await send()
    }

    /// Takes a token at `now` and says how long to wait for it (zero when one was there). The
    /// token bucket itself, on any clock reading: tests give it instants of their own.
    public func reserve(at now: ContinuousClock.Instant) -> Duration {
        state.withLock { state -> Duration in
            let elapsed = max(.zero, now - state.refilledAt)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.tokens = min(burst, state.tokens + seconds * perSecond)
            state.refilledAt = max(state.refilledAt, now)
            state.tokens -= 1
            return state.tokens >= 0 ? .zero : .seconds(-state.tokens / perSecond)
        }
    }

    /// Sends waiting for a slot right now (for tests and metrics).
    public var waiting: Int { slots.waiting }
}

/// A counting semaphore whose waiters are served in arrival order and may be cancelled.
final class InFlightSlots: Sendable {
    private struct State {
        var free: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: max(1, count))) }

    var waiting: Int { state.withLock { $0.waiters.count } }

    func take() async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // nil: cancelled before waiting; true: a slot was free.
                let taken = state.withLock { state -> Bool? in
                    if Task.isCancelled { return nil }
                    if state.free > 0 {
                        state.free -= 1
                        return true
                    }
                    state.waiters.append((id, continuation))
                    return false
                }
                switch taken {
                case nil: continuation.resume(throwing: CancellationError())
                case true?: continuation.resume()
                case false?: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    func give() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard !state.waiters.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
