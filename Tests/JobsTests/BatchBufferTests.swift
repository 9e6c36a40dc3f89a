import TestSupport
import Testing

@testable import Jobs

/// The committer's buffer: a poke wakes it without an item (confirmed outputs wait to be
/// marked), is never lost, and never hides the items that came. A lost wake shows as a wait
/// that ends at the suite's time limit, a failure, never as a slow pass.
@Suite(.timeLimit(.minutes(2)))
struct BatchBufferTests {
    @Test func aPokeWakesAWaitingTakerWithAnEmptyBatchOnce() async throws {
        let buffer = BatchBuffer<Int>()
        let taken = Task { await buffer.next(max: 10) }
        try await waitUntil(timeout: .seconds(60), "the taker waits") { buffer.isWaiting }
        buffer.poke()
        #expect(await taken.value == [])
        // The poke was used: the next taker waits for an item.
        let next = Task { await buffer.next(max: 10) }
        try await waitUntil(timeout: .seconds(60), "the next taker waits") { buffer.isWaiting }
        buffer.append(7)
        #expect(await next.value == [7])
    }

    @Test func aPokeBeforeTheTakerIsKeptAndItemsGoFirst() async throws {
        let buffer = BatchBuffer<Int>()
        buffer.poke()
        #expect(await buffer.next(max: 10) == [], "kept for a taker that comes later")
        buffer.poke()
        buffer.append(1)
        buffer.append(2)
        #expect(await buffer.next(max: 10) == [1, 2], "items come first, not an empty batch before them")
        // The poke is still owed (the taker may have refused those items whole), once.
        #expect(await buffer.next(max: 10) == [])
        let next = Task { await buffer.next(max: 10) }
        try await waitUntil(timeout: .seconds(60), "the taker waits") { buffer.isWaiting }
        buffer.append(3)
        #expect(await next.value == [3])
    }

    @Test func aFinishedBufferEndsEvenWhenPoked() async throws {
        let buffer = BatchBuffer<Int>()
        buffer.append(1)
        buffer.poke()
        buffer.finish()
        #expect(await buffer.next(max: 10) == [1])
        #expect(await buffer.next(max: 10) == nil)
    }
}
