import Synchronization

/// Group commit for items that finish one by one: an item submitted while a write is under way
/// goes into the next write, with every other item that arrived meanwhile. The first caller
/// that finds no write under way does the writing, with its own `write`, for itself and for
/// whoever queues while it writes (so every caller must pass the same `write`), and returns
/// when nobody is queued; every other caller returns once the write that took its item has
/// finished. Nothing waits for a batch to fill: an item alone is written at once.
///
/// The notification dispatcher records each send's outcome through one: a transaction (and,
/// with `synchronous=FULL`, a flush to disk) per send became one per group of sends that
/// finished together.
final class GroupWriter<Item: Sendable>: Sendable {
    private struct State {
        var queued: [Item] = []
        var writing = false
        /// Tickets handed out, one per item, in order of submission.
        var issued = 0
        /// Every ticket below this has been written.
        var written = 0
        var waiting: [(ticket: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// Items waiting for the next write (tests see the grouping).
    var queuedCount: Int { state.withLock { $0.queued.count } }

    /// How many writes were made (tests see the grouping).
    var writes: Int { writeCount.load(ordering: .relaxed) }
    private let writeCount = Atomic(0)

    init() {}

    /// Queues `item` and returns once it has been written (the caller that writes: once nobody
    /// is queued). `write` is called with one or more items, never concurrently with itself; it
    /// must be the same for every caller, since one caller's writes everyone's items.
    func submit(_ item: Item, write: @Sendable ([Item]) async -> Void) async {
        let (ticket, leads) = state.withLock { state -> (Int, Bool) in
            state.queued.append(item)
            state.issued += 1
            if state.writing { return (state.issued - 1, false) }
            state.writing = true
            return (state.issued - 1, true)
        }
        guard leads else {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> Bool in
                    if ticket < state.written { return true }
                    state.waiting.append((ticket, continuation))
                    return false
                }
                if done { continuation.resume() }
            }
            return
        }
        while true {
            let (batch, upTo) = state.withLock { state -> ([Item], Int) in
                defer { state.queued.removeAll(keepingCapacity: true) }
                return (state.queued, state.issued)
            }
            await write(batch)
            writeCount.add(1, ordering: .relaxed)
            let (ready, more) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Bool) in
                state.written = upTo
                let ready = state.waiting.filter { $0.ticket < upTo }.map(\.continuation)
                state.waiting.removeAll { $0.ticket < upTo }
                // Stopping is decided under the lock, so an item queued now finds no writer
                // and leads the next write itself.
                if state.queued.isEmpty { state.writing = false }
                return (ready, state.writing)
            }
            for continuation in ready { continuation.resume() }
            if !more { return }
        }
    }
}
