// Message rates of the role queues, taken between two reads of the broker's counters.
import Synchronization

/// Rates of the role queues as the console shows them: messages in and acknowledged per
/// second, from the broker's cumulative counters between two reads of the queues page.
///
/// The management API's own `rate` is the difference between its last two samples, and reads
/// 0.0 whenever no new sample has landed since the one before, even with the queue busy; the
/// counters always move. The first read of a queue gives no rate (nothing to compare with);
/// the page refreshes itself every few seconds, so the next one does. A counter that went back
/// (the queue was deleted and declared again, or the broker restarted) starts over.
final class QueueRateMeter: Sendable {
    /// Messages per second into a queue and acknowledged from it.
    struct Rates: Equatable {
        let incoming: Double
        let acknowledged: Double
    }

    private struct Sample {
        let at: ContinuousClock.Instant
        let published: Int
        let acknowledged: Int
        var rates: Rates?
    }

    /// Two reads closer than this keep the earlier sample (and its rates): a window of a few
    /// milliseconds would turn one message into a rate of hundreds.
    static let shortestWindow: Duration = .seconds(1)
    /// A sample older than this is not compared with: the rate would be an average over a long
    /// quiet time, not what the queue does now.
    static let longestWindow: Duration = .seconds(300)

    private let samples = Mutex<[String: Sample]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant

    init(clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.clock = clock
    }

    /// Records the counters of `queue` and returns its rates since the previous read, or nil
    /// when there is none to compare with (or the broker gave no counters).
    func observe(queue: String, published: Int?, acknowledged: Int?) -> Rates? {
        guard let published, let acknowledged, published >= 0, acknowledged >= 0 else { return nil }
        let now = clock()
        return samples.withLock { samples in
            let fresh = Sample(at: now, published: published, acknowledged: acknowledged)
            guard let previous = samples[queue], published >= previous.published, acknowledged >= previous.acknowledged,
                now - previous.at <= Self.longestWindow
            else {
                samples[queue] = fresh
                return nil
            }
            let window = now - previous.at
            guard window >= Self.shortestWindow else { return previous.rates }
            let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
            let rates = Rates(
                incoming: Double(published - previous.published) / seconds,
                acknowledged: Double(acknowledged - previous.acknowledged) / seconds)
            samples[queue] = Sample(at: now, published: published, acknowledged: acknowledged, rates: rates)
            return rates
        }
    }
}
