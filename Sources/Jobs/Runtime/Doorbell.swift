import Synchronization

/// Wakes a service that polls its store when idle (the notification dispatcher, the
/// certificate file writer) as soon as the worker beside it commits, instead of at its next
/// idle tick: the worker rings after each group commit (``WorkerOptions/afterCommit``), the
/// service waits on the bell for at most its idle interval.
///
/// A ring while nobody waits is kept (once) for the next ``wait(upTo:)``, so a commit that
/// lands while the service is busy is never missed. Made for one waiting service.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether a service is waiting on the bell now (tests, diagnostics).
    public var isWaiting: Bool { state.withLock { $0.waiter != nil } }

    /// Wakes the waiting service, or the next one to wait. Never blocks.
    public func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
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

    private func waitForRing() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
