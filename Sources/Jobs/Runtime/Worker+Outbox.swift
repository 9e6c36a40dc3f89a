import AMQP
import Foundation
import Logging
import Metrics
import Synchronization

/// The outbox: publishing a batch's events with confirms, marking them published, the periodic
/// flush of rows left by a crash or a failed publish, and the gauges refreshed with it.
extension Worker {
    /// Publishes outbox rows with windowed confirms and marks the confirmed ones. Rows whose
    /// publish failed stay for the flusher.
    /// - Returns: how many rows were marked published.
    @discardableResult
    func publish(_ entries: [OutboxEntry]) async -> Int {
        await markPublished(await publishAndConfirm(entries))
    }

    /// Publishes outbox rows with windowed confirms; returns the ids of the settled ones.
    ///
    /// Events are published `mandatory`. One the broker returns had no queue bound to its
    /// type: no role subscribes to it (yet). That is pub/sub working as designed, not a
    /// failure: the row counts as settled (it stays in the store), and the
    /// `jobs_outbox_unrouted_total` counter and a warning show it. Retrying it would never end.
    func publishAndConfirm(_ entries: [OutboxEntry]) async -> [Int64] {
        await publishAndConfirm(groups: [entries])
    }

    /// The outbox rows of several messages (a batch's), published in chunks of
    /// ``publishChunk``: a batch that made thousands of events is never copied whole into
    /// broker messages (the entries themselves, bodies included, are held until the batch is
    /// published; a handler bounds its own output).
    /// A chunk of which nothing was settled (the connection is down) ends it: the rest stay in
    /// the outbox for the flusher.
    func publishAndConfirm(groups: [[OutboxEntry]]) async -> [Int64] {
        var settled: [Int64] = []
        var chunk: [OutboxEntry] = []
        chunk.reserveCapacity(min(Self.publishChunk, groups.reduce(0) { $0 + $1.count }))
        for group in groups {
            for entry in group {
                chunk.append(entry)
                guard chunk.count == Self.publishChunk else { continue }
                let confirmed = await publishChunkAndConfirm(chunk)
                guard !confirmed.isEmpty else { return settled }
                settled += confirmed
                chunk.removeAll(keepingCapacity: true)
            }
        }
        if !chunk.isEmpty { settled += await publishChunkAndConfirm(chunk) }
        return settled
    }

    /// The most outbox rows turned into broker messages at once.
    public static var publishChunk: Int { 1_024 }

    private func publishChunkAndConfirm(_ entries: [OutboxEntry]) async -> [Int64] {
        // Every event carries this process's broker user as its validated user_id, which the
        // consumers check against the contract's publishers.
        let user = publishing.username
        let carbonCopies = options.carbonCopies
        let messages = entries.map { entry in
            var message = entry.event.amqpMessage
            message.properties.userID = user
            if let keys = carbonCopies?(entry.event.type, entry.event.body), !keys.isEmpty {
                message.properties.headers?["CC"] = .array(keys.map { .string($0) })
            }
            return message
        }
        let results = await publishing.publish(messages, window: 256)
        var failed = 0
        var unroutedTypes: Set<String> = []
        var settled: [Int64] = []
        var unrouted = 0
        for (entry, result) in zip(entries, results) {
            switch result {
            case .success:
                settled.append(entry.id)
            case .failure(let error) where error.code == .publishReturned:
                settled.append(entry.id)
                unrouted += 1
                unroutedTypes.insert(entry.event.routingKey)
            case .failure:
                failed += 1
            }
        }
        if unrouted > 0 {
            metrics.unrouted.increment(by: unrouted)
            logger.warning(
                "no queue is bound to these event types; the events are kept in the store only",
                metadata: ["messages": "\(unrouted)", "types": "\(unroutedTypes.sorted().joined(separator: ","))"])
        }
        if failed > 0 {
            logger.warning("outbox publishes failed; the flusher retries them", metadata: ["messages": "\(failed)"])
        }
        return settled
    }

    /// Publishes outbox rows that a service beside the worker wrote in its store (the
    /// notification dispatcher's outcome events), now, with confirms, in a task of their own;
    /// returns at once. A call that would take the rows being published this way beyond
    /// ``WorkerOptions/unconfirmedLimit`` is left to the flusher (unless nothing else is being
    /// published this way, so a call larger than the bound still goes), as is a row whose
    /// publish fails; so are rows given after the worker's connection closed.
    public func publishSoon(_ entries: [OutboxEntry]) {
        guard !entries.isEmpty else { return }
        let taken = publishingSoon.add(entries.count, ordering: .relaxed).newValue
        guard taken <= options.unconfirmedLimit || taken == entries.count else {
            publishingSoon.subtract(entries.count, ordering: .relaxed)
            return
        }
        Task {
            let confirmed = await self.publishAndConfirm(entries)
            // The room is free once the broker answered, before the marks are written.
            self.publishingSoon.subtract(entries.count, ordering: .relaxed)
            await self.markPublished(confirmed)
        }
    }

    @discardableResult
    func markPublished(_ confirmed: [Int64]) async -> Int {
        guard !confirmed.isEmpty else { return 0 }
        do {
            try await store.markPublished(confirmed)
            countPublished(confirmed.count)
            return confirmed.count
        } catch {
            logger.error("could not mark outbox rows published (they will be published again)", metadata: ["error": "\(error)"])
            return 0
        }
    }

    func countPublished(_ count: Int) {
        guard count > 0 else { return }
        counters.withLock { $0.published += count }
        metrics.published.increment(by: count)
    }

    func flushOutbox(createdBefore: Date) async {
        while true {
            guard let entries = try? await store.unpublished(limit: 500, createdBefore: createdBefore), !entries.isEmpty else {
                return
            }
            // Nothing of these went out (or none could be marked): try again later. Counted from
            // this round alone; commits mark other rows meanwhile.
            guard await publish(entries) > 0 else { return }
        }
    }

    func flushOutboxPeriodically() async {
        var ticks = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: options.outboxFlushInterval) } catch { return }
            await writeWaitingMarks()  // not to publish again what the broker confirmed
            await flushOutbox(createdBefore: Date().addingTimeInterval(-options.outboxGrace.seconds))
            await refreshGauges()
            ticks += 1
            if ticks % 300 == 1 { await forgetStaleAttempts() }
            // Every 300 flush intervals (10 minutes at the default 2 s), the first one 5
            // minutes after the start, away from the start's backlog.
            if ticks % 300 == 150 { await purgeExpired(now: Date()) }
        }
    }

    /// Deletes the published outbox rows and inbox rows past the retention policy's time.
    func purgeExpired(now: Date) async {
        do {
            let purged = try await options.retention.purge(store, now: now)
            metrics.purged(purged.outboxRows, table: "jobs_outbox")
            metrics.purged(purged.inboxRows, table: "jobs_inbox")
            if purged.outboxRows + purged.inboxRows > 0 {
                logger.info(
                    "retention: purged rows past their time",
                    metadata: ["outbox_rows": "\(purged.outboxRows)", "inbox_rows": "\(purged.inboxRows)"])
            }
        } catch {
            metrics.purgeFailed()
            logger.warning("retention: the purge failed; it is tried again later", metadata: ["error": "\(error)"])
        }
        // The handler's own rules, each on its own, a batch per transaction: one that fails
        // does not stop the others.
        for rule in handler.retention {
            do {
                let rows = try await rule.apply(now: now, to: store)
                metrics.purged(rows, table: rule.table)
                if rows > 0 {
                    logger.info("retention: rows past their time", metadata: ["table": "\(rule.table)", "rows": "\(rows)"])
                }
            } catch {
                metrics.purgeFailed()
                logger.warning(
                    "retention: a rule failed; it is tried again later",
                    metadata: ["table": "\(rule.table)", "error": "\(error)"])
            }
        }
    }

    /// Forgets attempt counts last begun an hour ago or more: a message that ends its process
    /// comes back within seconds, so these are rows a failed delete left behind.
    func forgetStaleAttempts() async {
        let cutoff = Date().timeIntervalSince1970 - 3_600
        _ = try? await store.write { transaction in
            try transaction.execute("DELETE FROM jobs_handling_attempts WHERE last_attempt_at < ?", [.real(cutoff)])
        }
    }

    func refreshGauges() async {
        if let backlog = try? await store.outboxBacklog() {
            metrics.outboxDepth.record(backlog.depth)
            metrics.outboxOldestAge.record(backlog.oldest.map { max(0, Date().timeIntervalSince($0)) } ?? 0)
        }
        if let state = try? await publishing.queueState(topology.queue) {
            metrics.queueDepth.record(Int(state.messageCount))
        }
        if inFlight.load(ordering: .relaxed) == 0 { metrics.oldestUnprocessedAge.record(0) }
    }
}
