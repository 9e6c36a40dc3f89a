import Synchronization
import TestSupport
import Testing

@testable import Workers

/// The notification dispatcher's group commit: outcomes that come while one is being recorded
/// share the next write, no caller returns before the write that took its item, and an item
/// alone is written at once.
struct GroupWriterTests {
    @Test func itemsThatComeDuringAWriteShareTheNextAndEachCallerReturnsAfterItsOwn() async throws {
        let writer = GroupWriter<Int>()
        let batches = Collector<[Int]>()
        let returned = Collector<Int>()
        let released = Atomic(false)
        let write: @Sendable ([Int]) async -> Void = { batch in
            batches.append(batch)
            // The first write holds until the test has queued the others behind it.
            if batch == [0] {
                try? await waitUntil(timeout: .seconds(120), "released") { released.load(ordering: .relaxed) }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await writer.submit(0, write: write)
                returned.append(0)
            }
            try await waitUntil(timeout: .seconds(120), "the first write under way") { batches.count == 1 }
            for item in 1...10 {
                group.addTask {
                    await writer.submit(item, write: write)
                    returned.append(item)
                }
            }
            try await waitUntil(timeout: .seconds(120), "ten queued behind it") { writer.queuedCount == 10 }
            #expect(returned.values.isEmpty, "nobody returns before the write that takes their item")
            released.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        #expect(batches.values.count == 2 && writer.writes == 2, "\(batches.values)")
        #expect(batches.values.first == [0] && Set(batches.values.last ?? []) == Set(1...10), "\(batches.values)")
        #expect(Set(returned.values) == Set(0...10))
        // Alone, an item is written at once: nothing waits for a batch to fill.
        await writer.submit(11, write: write)
        #expect(batches.values.last == [11] && writer.writes == 3)
    }
}
