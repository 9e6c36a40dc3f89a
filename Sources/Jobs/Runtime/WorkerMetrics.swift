import Metrics

/// The worker's metrics, through swift-metrics (whichever backend the process bootstraps; the
/// worker host exports them in Prometheus text format). Every series carries the role; failure
/// series also carry the failure code (a bounded set: codes are fixed strings, never data).
struct WorkerMetrics: Sendable {
    let role: String
    let received: Counter
    let succeeded: Counter
    let duplicates: Counter
    let published: Counter
    let unrouted: Counter
    let handlerDuration: Metrics.Timer
    let inFlight: Gauge
    let outboxDepth: Gauge
    let outboxOldestAge: Gauge
    let queueDepth: Gauge
    let oldestUnprocessedAge: Gauge

    init(role: String) {
        self.role = role
        let dimensions = [("role", role)]
        received = Counter(label: "jobs_messages_received_total", dimensions: dimensions)
        succeeded = Counter(label: "jobs_messages_succeeded_total", dimensions: dimensions)
        duplicates = Counter(label: "jobs_messages_duplicate_total", dimensions: dimensions)
        published = Counter(label: "jobs_outbox_published_total", dimensions: dimensions)
        unrouted = Counter(label: "jobs_outbox_unrouted_total", dimensions: dimensions)
        handlerDuration = Metrics.Timer(
            label: "jobs_handler_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        inFlight = Gauge(label: "jobs_messages_in_flight", dimensions: dimensions)
        outboxDepth = Gauge(label: "jobs_outbox_depth", dimensions: dimensions)
        outboxOldestAge = Gauge(label: "jobs_outbox_oldest_age_seconds", dimensions: dimensions)
        queueDepth = Gauge(label: "jobs_queue_ready_messages", dimensions: dimensions)
        oldestUnprocessedAge = Gauge(label: "jobs_oldest_unprocessed_age_seconds", dimensions: dimensions)
    }

    func retried(_ code: String) {
        Counter(label: "jobs_messages_retried_total", dimensions: [("role", role), ("reason", code)]).increment()
    }

    /// Rows the retention policy deleted (`table`: `jobs_outbox`, `jobs_inbox`).
    func purged(_ rows: Int, table: String) {
        guard rows > 0 else { return }
        Counter(label: "jobs_retention_purged_rows_total", dimensions: [("role", role), ("table", table)]).increment(by: rows)
    }

    /// A retention purge that failed (tried again 10 minutes later).
    func purgeFailed() {
        Counter(label: "jobs_retention_purge_failures_total", dimensions: [("role", role)]).increment()
    }

    func deadLettered(_ code: String) {
        Counter(label: "jobs_messages_dead_lettered_total", dimensions: [("role", role), ("reason", code)]).increment()
    }
}
