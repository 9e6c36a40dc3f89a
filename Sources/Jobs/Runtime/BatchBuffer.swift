import Synchronization

/// Hands items from one stage of the worker to the next in batches: deliveries from a callback
/// consumer (on the connection's thread) to the decoder, decoded messages to the committer.
/// Whatever arrived while the previous batch was being handled becomes the next batch, which
/// is what makes group commit adapt to the load by itself.
final class BatchBuffer<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        /// ``poke()`` was called since ``next(max:)`` last returned an empty batch. Kept when
        /// items are returned: the taker may not act on those (a batch it refuses whole).
        var poked = false
    }

    private let state = Mutex(State())

    /// Adds an item; never blocks (the consumer calls it on the connection's thread).
    func append(_ item: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(item)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Wakes the taker without an item: its ``next(max:)`` returns an empty batch if nothing
    /// else came (the worker's committer, told that confirmed outputs wait to be marked).
    func poke() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.poked = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// No more items will come; ``next(max:)`` returns what is left, then `nil`.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Items waiting now, oldest first, at most `max`; waits when there are none. Empty when
    /// no item is waiting and ``poke()`` was called since the last empty batch. `nil` once the buffer is finished and empty, or
    /// when the calling task is cancelled.
    func next(max: Int) async -> [Element]? {
        while true {
            let batch = state.withLock { state -> [Element]? in
                guard !state.items.isEmpty else {
                    guard state.poked, !state.finished else { return nil }
                    state.poked = false
                    return []
                }
                let count = min(max, state.items.count)
                defer { state.items.removeFirst(count) }
                return Array(state.items.prefix(count))
            }
            if let batch { return batch }
            if Task.isCancelled || state.withLock({ $0.finished }) { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        if !state.items.isEmpty || state.finished || state.poked { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                finish()
            }
        }
    }

    /// Whether a taker is waiting in ``next(max:)`` (tests).
    var isWaiting: Bool { state.withLock { $0.waiter != nil } }

    /// Items received but not yet taken.
    var count: Int { state.withLock { $0.items.count } }
}
