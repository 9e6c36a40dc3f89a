import Synchronization

/// Token buckets per client and one for everyone: each client may make `burst` requests at
/// once and `perMinute` a minute after that, and all clients together `totalPerMinute` (ten
/// seconds' worth of it at once).
///
/// Bounded: at most `maximumClients` buckets are kept; when the table is full, the buckets that
/// have filled up again are dropped (a full bucket is the same as none), and if none has, the
/// new client shares one overflow bucket. So a flood of addresses costs bounded memory and
/// cannot push out the limit of the clients already seen.
public final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private let perSecond: Double
    private let burst: Double
    private let totalPerSecond: Double
    /// Ten seconds' worth of everyone's requests at once.
    private let totalBurst: Double
    private let maximumClients: Int
    private let now: @Sendable () -> Double
    private let state: Mutex<(clients: [String: Bucket], total: Bucket, cleaned: Double)>

    /// - Parameter now: seconds on a monotonic clock (injectable for tests).
    public init(
        perMinute: Int, burst: Int, totalPerMinute: Int, maximumClients: Int = 10_000,
        now: @escaping @Sendable () -> Double = RateLimiter.monotonicSeconds
    ) {
        precondition(perMinute > 0 && burst > 0 && totalPerMinute > 0 && maximumClients > 0)
        perSecond = Double(perMinute) / 60
        self.burst = Double(burst)
        totalPerSecond = Double(totalPerMinute) / 60
        totalBurst = max(1, Double(totalPerMinute) / 6)
        self.maximumClients = maximumClients
        self.now = now
        let start = now()
        state = Mutex(([:], Bucket(tokens: max(1, Double(totalPerMinute) / 6), updated: start), -.infinity))
    }

    /// Seconds since an arbitrary start, never going back.
    public static let monotonicSeconds: @Sendable () -> Double = {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
    private static let start = ContinuousClock.now

    /// Whether `client` may make a request now (and if so, the request is counted).
    public func allow(_ client: String) -> Bool {
        let time = now()
        let overflow = "\u{0}overflow"
        return state.withLock { state in
            // Everyone's bucket first: a flood refused there costs no table work.
            state.total.tokens = min(totalBurst, state.total.tokens + max(0, time - state.total.updated) * totalPerSecond)
            state.total.updated = time
            guard state.total.tokens >= 1 else { return false }
            var key = client
            if state.clients[key] == nil, state.clients.count >= maximumClients {
                // Drop the buckets that have filled up again, at most once a second (the scan
                // is the table's size).
                if time - state.cleaned >= 1 {
                    state.cleaned = time
                    state.clients = state.clients.filter { $0.value.tokens + (time - $0.value.updated) * perSecond < burst }
                }
                if state.clients.count >= maximumClients { key = overflow }
            }
            var bucket = state.clients[key] ?? Bucket(tokens: burst, updated: time)
            bucket.tokens = min(burst, bucket.tokens + max(0, time - bucket.updated) * perSecond)
            bucket.updated = time
            guard bucket.tokens >= 1 else {
                state.clients[key] = bucket
                return false
            }
            bucket.tokens -= 1
            state.total.tokens -= 1
            state.clients[key] = bucket
            return true
        }
    }

    /// Buckets held (for tests: the table stays bounded).
    public var clientCount: Int { state.withLock { $0.clients.count } }
}
