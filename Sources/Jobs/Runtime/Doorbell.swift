import Synchronization

/// Wakes a service that polls its store when idle (the notification dispatcher, the
/// certificate file writer) as soon as the worker beside it commits, instead of at its next
/// idle tick: the worker rings after each group commit that committed something
/// (``WorkerOptions/afterCommit``), the service waits on the bell for at most its idle interval.
///
/// A ring wakes every service waiting, and one that is about to wait (it began its
/// ``wait(upTo:)`` before the ring). A ring while nobody waits is kept, once, for the next
/// wait, so a commit that lands while the service is busy is never missed.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        /// Counts the rings: a waiter that began before a ring and registers after it sees the
        /// count moved and does not wait.
        var rings = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether a service is waiting on the bell now (tests, diagnostics).
    public var isWaiting: Bool { waitingCount > 0 }

    /// How many are waiting on the bell now (tests, diagnostics).
    public var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// Wakes the waiting services, or the next one to wait. Never blocks.
    public func ring() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.rings &+= 1
            if state.waiters.isEmpty { state.rung = true }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the bell rings (or rang since the last wait), after `timeout`, or when the
    /// calling task is cancelled, whichever comes first.
    public func wait(upTo timeout: Duration) async {
        let began = state.withLock { state -> Int? in
            if state.rung {
                state.rung = false
                return nil
            }
            return state.rings
        }
        guard let began, !Task.isCancelled else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForRing(since: began) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Waits for a ring after the `began`-th; each waiter has its own key, so cancelling one
    /// resumes only that one (and leaves a kept ring to the others).
    private func waitForRing(since began: Int) async {
        let key = state.withLock { state -> Int in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    if state.rings != began {
                        state.rung = false  // this waiter took the ring
                        return true
                    }
                    state.waiters[key] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: key) }
            waiter?.resume()
        }
    }
}
