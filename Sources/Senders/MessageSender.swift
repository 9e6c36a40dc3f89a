public import Contracts
import Foundation
import Synchronization

/// One message for one person on one channel, ready to send.
public struct OutgoingNotification: Sendable, Equatable {
    /// Derived from the event that caused the message and the channel: the same key is never
    /// sent twice (gateways deduplicate on it; e-mail carries it as the Message-ID).
    public var idempotencyKey: String
    public var channel: NotificationChannel
    /// E.164 phone number or e-mail address (personal data: never logged in clear).
    public var recipient: String
    /// The template the text came from, e.g. `jadwal_kelas`.
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
}

/// A token bucket: at most `perSecond` sends per second on average, bursts up to `burst`.
/// A caller that finds the bucket empty takes a token on credit and sleeps until it is due, so
/// waiting callers are served in arrival order.
public final class RateLimiter: Sendable {
    public let perSecond: Double
    public let burst: Double
    private let state: Mutex<(tokens: Double, refilledAt: ContinuousClock.Instant)>

    public init(perSecond: Double, burst: Double? = nil) {
        precondition(perSecond > 0, "the rate must be positive")
        self.perSecond = perSecond
        self.burst = max(1, burst ?? perSecond)
        state = Mutex((self.burst, ContinuousClock.now))
    }

    /// Waits for a token.
    /// - Throws: `CancellationError` when the task is cancelled while waiting.
    public func acquire() async throws {
        let wait = state.withLock { state -> Duration in
            let now = ContinuousClock.now
            let elapsed = now - state.refilledAt
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.tokens = min(burst, state.tokens + seconds * perSecond)
            state.refilledAt = now
            state.tokens -= 1
            return state.tokens >= 0 ? .zero : .seconds(-state.tokens / perSecond)
        }
        if wait > .zero { try await Task.sleep(for: wait) }
    }
}

extension String {
    /// The address with most of it hidden, for logs: `+62812****0001`, `si***@example.id`.
    public var maskedRecipient: String {
        if let at = firstIndex(of: "@") {
            return String(prefix(min(2, distance(from: startIndex, to: at)))) + "***" + String(self[at...])
        }
        guard count > 8 else { return String(repeating: "*", count: count) }
        return String(prefix(6)) + String(repeating: "*", count: count - 10) + String(suffix(4))
    }
}
