// The review queue as metrics, for an alert on reviews that wait too long.
public import CoreMetrics
public import Foundation
public import Jobs
public import Logging
public import ServiceLifecycle

/// Every `interval`, sets `kaltim_reviews_pending` (registrations waiting for an officer's
/// decision) and `kaltim_review_oldest_pending_age_seconds` (how long the oldest has waited;
/// 0 when none waits) from the console's read model.
public struct ReviewGauges: Service {
    let store: any MessageStore
    let interval: Duration
    let logger: Logger
    let pending: Gauge
    let oldest: Gauge

    public init(
        store: any MessageStore, interval: Duration = .seconds(15), logger: Logger,
        factory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.store = store
        self.interval = interval
        self.logger = logger
        pending = Gauge(label: "kaltim_reviews_pending", factory: factory)
        oldest = Gauge(label: "kaltim_review_oldest_pending_age_seconds", factory: factory)
    }

    /// Reads the queue at `now` and sets both gauges.
    public func refresh(now: Date = Date()) async throws {
        let queue = try await ReviewQueue.read(from: store, now: now, limit: 0)
        pending.record(queue.count)
        oldest.record(queue.oldestAgeSeconds ?? 0)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await refresh()
                } catch {
                    logger.warning("the review queue cannot be read", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
