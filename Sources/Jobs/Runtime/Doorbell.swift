import Synchronization

/// Wakes a service that polls its store when idle (the notification dispatcher, the
/// certificate file writer) as soon as the worker beside it commits, instead of at its next
/// idle tick: the worker rings after each group commit (``WorkerOptions/afterCommit``), the
/// service waits on the bell for at most its idle interval.
///
/// A ring while nobody waits is kept (once) for the next ``wait(upTo:)``, so a commit that
/// lands while the service is busy is never missed. A ring wakes every waiter.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether a service is waiting on the bell now (tests, diagnostics).
    public var isWaiting: Bool { state.withLock { !$0.waiters.isEmpty } }

    /// Wakes the waiting services, or the next one to wait. Never blocks.
    public func ring() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.waiters.isEmpty else {
                state.rung = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the bell rings (or rang since the last wait), after `timeout`, or when the
    /// calling task is cancelled, whichever comes first.
    public func wait(upTo timeout: Duration) async {
        let alreadyRung = state.withLock { state -> Bool in
            defer { state.rung = false }
            return state.rung
        }
        if alreadyRung || Task.isCancelled { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForRing() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Waits for a ring; each waiter has its own key, so cancelling one resumes only that one.
    private func waitForRing() async {
        let key = state.withLock { state -> Int in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung || Task.isCancelled {
                        state.rung = false
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
