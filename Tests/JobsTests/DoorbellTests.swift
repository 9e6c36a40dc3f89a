import Jobs
import TestSupport
import Testing

/// The bell that wakes the services beside a worker: a ring is never lost, whether it comes
/// before the wait or during it. Every wait here is an hour long, so a lost ring shows as the
/// suite's time limit, never as a slow pass.
@Suite(.timeLimit(.minutes(2)))
struct DoorbellTests {
    @Test func aRingBeforeTheWaitIsKeptForItOnce() async throws {
        let bell = Doorbell()
        bell.ring()
        bell.ring()
        await bell.wait(upTo: .seconds(3600))  // returns at once: the ring was kept
        #expect(!bell.isWaiting)
        // Two rings while nobody waited count as one: the next wait waits.
        let next = Task { await bell.wait(upTo: .seconds(3600)) }
        try await waitUntil(timeout: .seconds(60), "the next wait waits") { bell.isWaiting }
        bell.ring()
        await next.value
    }

    @Test func aRingWakesTheServiceWaitingOnIt() async throws {
        let bell = Doorbell()
        let waiting = Task { await bell.wait(upTo: .seconds(3600)) }
        try await waitUntil(timeout: .seconds(60), "the task waits on the bell") { bell.isWaiting }
        bell.ring()
        await waiting.value
        #expect(!bell.isWaiting)
    }

    @Test func aRingWakesEveryWaiterAndACancelledOneLeavesTheOthersWaiting() async throws {
        let bell = Doorbell()
        let first = Task { await bell.wait(upTo: .seconds(3600)) }
        let second = Task { await bell.wait(upTo: .seconds(3600)) }
        let third = Task { await bell.wait(upTo: .seconds(3600)) }
        try await waitUntil(timeout: .seconds(60), "three tasks wait on the bell") { bell.waitingCount == 3 }
        third.cancel()
        await third.value
        #expect(bell.waitingCount == 2, "cancelling one waiter resumes that one only")
        bell.ring()
        await first.value
        await second.value
        #expect(!bell.isWaiting)
    }

    @Test func aWaitEndsAfterItsTimeoutOrWhenItsTaskIsCancelled() async throws {
        let bell = Doorbell()
        await bell.wait(upTo: .milliseconds(1))
        let waiting = Task { await bell.wait(upTo: .seconds(3600)) }
        try await waitUntil(timeout: .seconds(60), "the task waits on the bell") { bell.isWaiting }
        waiting.cancel()
        await waiting.value
        #expect(!bell.isWaiting)
    }
}
