import AMQP
import ContractKit
import Foundation
import Logging
import Metrics
import Synchronization

/// The commit step: each delivery is decoded on arrival, a batch is handled in one store
/// transaction (inbox row, the handler's state change, outbox rows), failures are routed to a
/// retry tier or the dead letters, and the batch is acknowledged at commit (after its outputs'
/// publish where a power loss may undo a commit) while its outputs are published.
extension Worker {
    /// A delivery with its decoded event and inbox key, or the permanent failure that refuses it
    /// (a class: batches copy it around, and a reference is one retain where the structs were a
    /// dozen).
    final class ReceivedMessage: Sendable {
        enum Outcome: Sendable {
            case decoded(DecodedEvent, inboxKey: String)
            case refused(Failure, contract: (String, Int)?)
        }
        let delivery: AMQPDelivery
        let outcome: Outcome

        init(delivery: AMQPDelivery, outcome: Outcome) {
            self.delivery = delivery
            self.outcome = outcome
        }
    }

    /// A delivery whose body was decoded and accepted (a class, for the same reason).
    final class DecodedMessage: Sendable {
        let delivery: AMQPDelivery
        let event: DecodedEvent
        let inboxKey: String

        init(delivery: AMQPDelivery, event: DecodedEvent, inboxKey: String) {
            self.delivery = delivery
            self.event = event
            self.inboxKey = inboxKey
        }
    }

    /// Decodes a delivery (strictly, upcast to the newest version) and checks it against where it
    /// came from (``DeliveryProvenance``), on the consumer's thread.
    func receive(_ delivery: AMQPDelivery) -> ReceivedMessage {
        let event: DecodedEvent
        do throws(ContractError) {
            event = try registry.decode(
                delivery.body, contentType: delivery.properties.contentType,
                contentEncoding: delivery.properties.contentEncoding)
        } catch {
            return ReceivedMessage(
                delivery: delivery, outcome: .refused(.permanent(Failure.Code(error), error.message), contract: nil))
        }
        let provenance = DeliveryProvenance(delivery, roleQueue: topology.queue)
        if let failure = provenance.check(event, typeProperty: delivery.properties.type, policy: options.publishers) {
            return ReceivedMessage(delivery: delivery, outcome: .refused(failure, contract: event.contract))
        }
        return ReceivedMessage(
            delivery: delivery, outcome: .decoded(event, inboxKey: provenance.inboxKey(messageID: event.header.id)))
    }

    /// Counts a batch in and returns its accepted messages; one that could not be decoded, or
    /// that its provenance refuses, is dead-lettered (a permanent failure).
    func accept(_ batch: [ReceivedMessage], group: inout DiscardingTaskGroup) -> [DecodedMessage] {
        let receivedAt = Date()
        counters.withLock { $0.received += batch.count }
        metrics.received.increment(by: batch.count)
        changeInFlight(by: batch.count)
        var decoded: [DecodedMessage] = []
        decoded.reserveCapacity(batch.count)
        var oldest = receivedAt
        for item in batch {
            switch item.outcome {
            case .decoded(let event, let inboxKey):
                decoded.append(DecodedMessage(delivery: item.delivery, event: event, inboxKey: inboxKey))
                oldest = min(oldest, event.header.time)
            case .refused(let failure, let contract):
                let delivery = item.delivery
                group.addTask { await self.route(delivery, failure, contract: contract) }
            }
        }
        metrics.oldestUnprocessedAge.record(max(0, receivedAt.timeIntervalSince(oldest)))
        return decoded
    }

    /// The runtime's own table: how often each redelivered message's handling began, committed
    /// before the handler runs (``WorkerOptions/crashLimit``).
    public static let runtimeTables = [
        """
        CREATE TABLE IF NOT EXISTS jobs_handling_attempts (
            message_key TEXT PRIMARY KEY, attempts INTEGER NOT NULL, last_attempt_at REAL NOT NULL)
        """
    ]

    /// Handles a redelivered message on its own: first commits that its handling begins, then
    /// handles it as a batch of one, then forgets the count once the handling finished (with an
    /// effect, a failure or as a duplicate). A message already in the inbox (its ack was lost)
    /// is a duplicate and counts nothing. One whose handling began ``WorkerOptions/crashLimit``
    /// times without finishing, each time ending the process, is dead-lettered as
    /// `crashed-worker` instead.
    func isolate(_ item: DecodedMessage, group: inout DiscardingTaskGroup) async {
        let key = item.inboxKey
        let now = Date().timeIntervalSince1970
        let begun: Int?
        do {
            begun = try await store.write { transaction -> Int? in
                let known = try transaction.query("SELECT 1 AS known FROM jobs_inbox WHERE message_id = ?", [.text(key)])
                guard known.isEmpty else { return nil }
                try transaction.execute(
                    """
                    INSERT INTO jobs_handling_attempts (message_key, attempts, last_attempt_at) VALUES (?, 1, ?)
                    ON CONFLICT (message_key) DO UPDATE SET attempts = jobs_handling_attempts.attempts + 1,
                        last_attempt_at = excluded.last_attempt_at
                    """, [.text(key), .real(now)])
                let row = try transaction.query(
                    "SELECT attempts FROM jobs_handling_attempts WHERE message_key = ?", [.text(key)])
                guard let attempts = row.first?["attempts"]?.integer else {
                    throw Failure.transient(.storeUnavailable, "the handling attempt was not recorded")
                }
                return Int(attempts)
            }
        } catch {
            let failure = Failure.transient(.storeUnavailable, String(describing: error))
            group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            return
        }
        guard let begun else {
            await commit([item], group: &group)  // a duplicate: acknowledged without an effect
            return
        }
        let unfinished = begun - 1
        if unfinished >= options.crashLimit {
            let failure = Failure.permanent(
                .crashedWorker,
                "handling this message began \(unfinished) times and each time the worker process ended before it "
                    + "finished (a trap, an abort, out of memory or a kill); it is not handled again")
            logger.critical(
                "a message crashed the worker repeatedly; dead-lettering it",
                metadata: ["message_id": "\(item.event.header.id)", "handlings": "\(unfinished)"])
            group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            await forgetAttempts(key)
            return
        }
        await commit([item], group: &group)
        // The handling finished (whatever its outcome): this was no crash.
        await forgetAttempts(key)
    }

    func forgetAttempts(_ key: String) async {
        _ = try? await store.write { transaction in
            try transaction.execute("DELETE FROM jobs_handling_attempts WHERE message_key = ?", [.text(key)])
        }
    }

    /// One group commit: the handlers of the batch in one store transaction; then the batch is
    /// acknowledged and its outputs are published by a task, so that the next batch can be
    /// committed meanwhile.
    func commit(_ decoded: [DecodedMessage], group: inout DiscardingTaskGroup) async {
        let handler = handler
        let duration = metrics.handlerDuration
        let batch = decoded.map { item in
            StoreWork(messageID: item.inboxKey) { transaction in
                let start = ContinuousClock.now
                defer { duration.recordNanoseconds((ContinuousClock.now - start).nanoseconds) }
                return try handler.handle(item.event, in: transaction)
            }
        }
        let results: [Result<ProcessOutcome, any Error>]
        // Earlier batches' confirmed outputs are marked published in this commit.
        let marks = marksWaiting.withLock { waiting in
            defer { waiting.removeAll() }
            return waiting
        }
        do {
            results = try await store.process(batch, markingPublished: marks)
            countPublished(marks.count)
        } catch {
            marksWaiting.withLock { $0 += marks }
            logger.error("the store could not commit a batch", metadata: ["error": "\(error)", "messages": "\(batch.count)"])
            let failure = Failure.transient(.storeUnavailable, String(describing: error))
            for item in decoded {
                group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            }
            return
        }
        if let afterCommit = options.afterCommit {
            afterCommit(
                zip(decoded, results).compactMap { item, result in (try? result.get()) != nil ? item.event.header.id : nil })
        }
        var processed: [(delivery: AMQPDelivery, entries: [OutboxEntry])] = []
        var duplicates: [AMQPDelivery] = []
        for (item, result) in zip(decoded, results) {
            switch result {
            case .success(.processed(let entries)): processed.append((item.delivery, entries))
            case .success(.duplicate): duplicates.append(item.delivery)
            case .failure(let failure as Failure):
                group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            case .failure(let error):
                let failure = Failure.transient(.handlerError, String(describing: error))
                group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            }
        }
        if !duplicates.isEmpty {
            logger.debug("duplicate messages acknowledged without effect", metadata: ["messages": "\(duplicates.count)"])
            counters.withLock { $0.duplicates += duplicates.count }
            metrics.duplicates.increment(by: duplicates.count)
            settle(duplicates)
        }
        guard !processed.isEmpty else { return }
        // The outputs are committed in the outbox: the inputs are acknowledged now, so the
        // broker delivers the next ones while these outputs are published. From here a crash
        // only leaves outbox rows, which the next start publishes (consumers deduplicate). A
        // store whose commit a power loss may undo acknowledges after the outputs' publish.
        let ackAtCommit = store.commitsSurvivePowerLoss
        if ackAtCommit { settle(processed.map(\.delivery)) }
        let outputs = processed.reduce(0) { $0 + $1.entries.count }
        unconfirmed.add(outputs, ordering: .relaxed)
        group.addTask {
            let confirmed = await self.publishAndConfirm(groups: processed.map(\.entries))
            if !ackAtCommit { self.settle(processed.map(\.delivery)) }
            self.counters.withLock { $0.succeeded += processed.count }
            self.metrics.succeeded.increment(by: processed.count)
            self.unconfirmed.subtract(outputs, ordering: .relaxed)
            self.outputsSettled.ring()
            // Marked by the next commit, or by the committer alone if no delivery waits: one
            // transaction (and flush) a batch, not two.
            guard !confirmed.isEmpty else { return }
            self.marksWaiting.withLock { $0 += confirmed }
            self.received.poke()
        }
    }

    /// Marks the confirmed outputs no commit took, in a transaction of their own.
    func writeWaitingMarks() async {
        let marks = marksWaiting.withLock { waiting in
            defer { waiting.removeAll() }
            return waiting
        }
        await markPublished(marks)
    }

    /// Waits while the outputs still being published reach ``WorkerOptions/unconfirmedLimit``:
    /// acknowledging at commit would otherwise let a broker that confirms slowly pile up
    /// publishing tasks and their outputs in memory without bound. Outputs, not messages: one
    /// of scheduling's messages may carry hundreds.
    func waitForPublishingRoom() async {
        while unconfirmed.load(ordering: .relaxed) >= options.unconfirmedLimit, !Task.isCancelled {
            await outputsSettled.wait(upTo: .milliseconds(200))
        }
    }

    /// Acknowledges without waiting (the connection coalesces acks); a failed ack means the
    /// broker redelivers the message, which then finds its inbox row.
    func settle(_ deliveries: [AMQPDelivery]) {
        let logger = logger
        AMQPDelivery.ack(deliveries) { error in
            logger.warning("ack failed; the message will be redelivered as a duplicate", metadata: ["error": "\(error)"])
        }
        changeInFlight(by: -deliveries.count)
    }

    func changeInFlight(by delta: Int) {
        let now = inFlight.add(delta, ordering: .relaxed).newValue
        metrics.inFlight.record(now)
    }

    func route(_ delivery: AMQPDelivery, _ failure: Failure, contract: (String, Int)?) async {
        defer { changeInFlight(by: -1) }
        var logger = logger
        if let id = delivery.properties.messageID { logger[metadataKey: "message_id"] = "\(id)" }
        if let correlation = delivery.properties.correlationID { logger[metadataKey: "correlation_id"] = "\(correlation)" }
        let outcome: FailureRouter.Outcome
        do {
            outcome = try await publishCopyHoldingTheDelivery(delivery, failure, contract: contract, logger: logger)
        } catch {
            // Not routed: hand it back to the broker, which redelivers it (and dead-letters it
            // past the delivery limit, without the worker's failure headers).
            logger.error("could not route a failed message; returned to the queue", metadata: ["error": "\(error)"])
            try? await delivery.nack(requeue: true)
            return
        }
        do {
            try await delivery.ack()
        } catch {
            // The copy is out, but the delivery's channel is gone: the broker redelivers the
            // message, which then fails and is routed again (a second copy, never a loss).
            logger.warning(
                "a failed message was routed but its ack failed; it will come back", metadata: ["error": "\(error)"])
            return
        }
        switch outcome {
        case .retried(let tier, let attempt):
            counters.withLock { $0.retried += 1 }
            metrics.retried(failure.code.rawValue)
            logger.warning(
                "message failed; retrying later",
                metadata: ["failure": "\(failure)", "tier": "\(tier)", "attempt": "\(attempt)"])
        case .deadLettered(let attempts):
            counters.withLock { $0.deadLettered += 1 }
            metrics.deadLettered(failure.code.rawValue)
            logger.error(
                "message dead-lettered",
                metadata: [
                    "failure": "\(failure)", "attempts": "\(attempts)", "amqp.queue": "\(topology.deadLetterQueue)",
                ])
        }
    }

    /// Publishes a failed delivery's copy (``FailureRouter/publishCopy(of:failure:contract:publisher:now:)``),
    /// and, while the publishing connection is down or blocked, holds the delivery and tries
    /// again after each of ``WorkerOptions/routeRetryDelays``. Only the publish is tried again,
    /// never after a copy was confirmed. Handing the delivery back at once when the publishing
    /// connection was reconnecting (it reconnects on its own, often after the consuming one)
    /// made the broker redeliver it at once, to fail again: a quorum queue's delivery limit (20)
    /// was spent in milliseconds and the message dead-lettered by the broker without its failure
    /// code, and a message that needed only a retry tier went to the dead letters too. Any other
    /// refusal (a dead-letter queue at its bound, a missing queue) hands it back at once, as
    /// before, so a flood of failures does not hold the prefetch.
    func publishCopyHoldingTheDelivery(
        _ delivery: AMQPDelivery, _ failure: Failure, contract: (String, Int)?, logger: Logger
    ) async throws -> FailureRouter.Outcome {
        var waits = options.routeRetryDelays[...]
        while true {
            do {
                return try await router.publishCopy(of: delivery, failure: failure, contract: contract, publisher: publishing)
            } catch let error as AMQPError where error.isConnectionFatal || error.code == .connectionBlocked {
                guard let wait = waits.popFirst(), !Task.isCancelled else { throw error }
                logger.warning(
                    "could not route a failed message (the connection is down); trying again",
                    metadata: ["error": "\(error)", "wait": "\(wait)"])
                try await Task.sleep(for: wait)
            }
        }
    }
}
