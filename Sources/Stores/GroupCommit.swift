import Jobs

/// The batch algorithm of ``MessageStore/process(_:)``, shared by the stores: one savepoint for
/// a run of messages rather than one per message (the common case, where no handler throws,
/// costs one savepoint per batch). When an item throws, that savepoint is rolled back; the
/// items before it run again, each in a savepoint of its own, the failed one is not run again,
/// and the rest continue in a new run. A handler may so run twice for one commit, as it may
/// after any rollback or redelivery: its effects outside the store must tolerate that.
enum GroupCommit {
    /// Runs `batch` inside the caller's open transaction.
    /// - Parameters:
    ///   - savepoint: runs its argument inside a savepoint, which is released when the argument
    ///     returns true and rolled back when it returns false or throws (the error is rethrown).
    ///   - item: one item's inbox row, work and outbox rows.
    /// - Returns: one result per item, in order.
    /// - Throws: what `savepoint` throws for the store itself (the whole transaction fails).
    static func run(
        _ batch: [StoreWork], savepoint: @escaping (() throws -> Bool) throws -> Void,
        item: @escaping (StoreWork) throws -> ProcessOutcome
    ) throws -> [Result<ProcessOutcome, any Error>] {
        func alone(_ work: StoreWork) -> Result<ProcessOutcome, any Error> {
            do {
                var outcome = ProcessOutcome.duplicate
                try savepoint {
                    outcome = try item(work)
                    return true
                }
                return .success(outcome)
            } catch {
                return .failure(error)
            }
        }
        var results: [Result<ProcessOutcome, any Error>] = []
        results.reserveCapacity(batch.count)
        var start = 0
        while start < batch.count {
            var outcomes: [ProcessOutcome] = []
            var failure: (any Error)?
            try savepoint {
                for work in batch[start...] {
                    do {
                        outcomes.append(try item(work))
                    } catch {
                        failure = error
                        break
                    }
                }
                return failure == nil
            }
            guard let failure else {
                results += outcomes.map { .success($0) }
                break
            }
            let failed = start + outcomes.count
            results += batch[start..<failed].map(alone)
            results.append(.failure(failure))
            start = failed + 1
        }
        return results
    }
}
