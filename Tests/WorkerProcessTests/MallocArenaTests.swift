import Foundation
import Testing
import WorkerHost

/// Every process linking WorkerHost (this test process too) runs with at most two glibc malloc
/// arenas, set when it loads, unless glibc's own variables in the environment decide.
@Suite struct MallocArenaTests {
    @Test func aProcessLinkingTheWorkerHostStartsWithTwoMallocArenas() {
        let environment = ProcessInfo.processInfo.environment
        let glibcDecides =
            environment["MALLOC_ARENA_MAX"] != nil || (environment["GLIBC_TUNABLES"]?.contains("arena_max") ?? false)
        #expect(WorkerHost.mallocArenasLimited == !glibcDecides)
    }
}
