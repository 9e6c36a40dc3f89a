// Message rates of the role queues, taken between two reads of the broker's counters.
import Synchronization

/// Rates of the role queues as the console shows them: messages in and acknowledged per
/// second, from the broker's cumulative counters over the last ten seconds or more.
///
/// The management API's own `rate` is the difference between its last two samples, and reads
/// 0.0 whenever no new sample has landed since the one before, even with the queue busy. Its
/// counters move only when the broker collects statistics (every 5 s by default), so a window
/// shorter than that can also see no change: the rate is taken against the newest sample at
/// least ``window`` old, which spans at least one collection. Until the console has read a
/// queue for that long (the page reloads every 5 s) there is no rate. Every reader of the page
/// shares the samples. A counter that went back (the queue was deleted and declared again, or
/// the broker restarted) starts over.
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
    }

    /// The shortest window a rate is taken over: twice the broker's default statistics interval.
    static let window: Duration = .seconds(10)
    /// Samples older than this are dropped: a rate is what the queue does now.
    static let longestWindow: Duration = .seconds(300)
    /// At most one sample a second is kept per queue (so at most 300 per queue).
    static let spacing: Duration = .seconds(1)

    private let samples = Mutex<[String: [Sample]]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant

    init(clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.clock = clock
    }

    /// Records the counters of `queue` and returns its rates over the newest window of at least
    /// ``window``, or nil when there is none yet (or the broker gave no counters).
    func observe(queue: String, published: Int?, acknowledged: Int?) -> Rates? {
        guard let published, let acknowledged, published >= 0, acknowledged >= 0 else { return nil }
        let now = clock()
        return samples.withLock { samples in
            var history = samples[queue] ?? []
            history.removeAll { now - $0.at > Self.longestWindow }
            if let last = history.last, published < last.published || acknowledged < last.acknowledged {
                history.removeAll()  // the counters started over
            }
            if history.last.map({ now - $0.at >= Self.spacing }) ?? true {
                history.append(Sample(at: now, published: published, acknowledged: acknowledged))
            }
            samples[queue] = history
            guard let base = history.last(where: { now - $0.at >= Self.window }) else { return nil }
            let span = now - base.at
            let seconds = Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18
            return Rates(
                incoming: Double(published - base.published) / seconds,
                acknowledged: Double(acknowledged - base.acknowledged) / seconds)
        }
    }
}
