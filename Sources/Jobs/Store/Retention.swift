public import Foundation

/// How long a worker keeps its own bookkeeping rows (keep only what a step needs, for as long as
/// it needs it). An outbox row keeps the whole event it published; once published it is needed
/// only for a while (to see what went out). An inbox row is a message id, kept to recognise a
/// redelivery, a resend or a replayed copy; long after those could come, it only grows the
/// store. `nil`: kept for ever. Deleted rows leave the tables; their bytes may stay in the
/// database file's free pages (SQLite) or dead tuples (PostgreSQL) until reused or vacuumed.
public struct RetentionPolicy: Sendable, Equatable {
    /// Published outbox rows older than this (since publication) are deleted. Unpublished rows
    /// are never deleted.
    public var publishedOutbox: Duration?
    /// Inbox rows older than this (since the message was handled) are deleted. A message with
    /// the same id arriving after that is handled again: keep it well beyond any redelivery or
    /// replay the deployment allows.
    public var inbox: Duration?

    /// 7 days for published outbox rows, 90 days for inbox rows.
    public static let standard = RetentionPolicy(publishedOutbox: .seconds(7 * 86_400), inbox: .seconds(90 * 86_400))

    public init(publishedOutbox: Duration?, inbox: Duration?) {
        self.publishedOutbox = publishedOutbox
        self.inbox = inbox
    }

    /// What one purge deleted.
    public struct Purged: Sendable, Equatable {
        public var outboxRows = 0
        public var inboxRows = 0

        public init(outboxRows: Int = 0, inboxRows: Int = 0) {
            self.outboxRows = outboxRows
            self.inboxRows = inboxRows
        }
    }

    /// Deletes what is past its time at `now`, in short transactions of at most `batch` rows
    /// each (a purge never holds the store's write lock for long), and says how much.
    public func purge(_ store: any MessageStore, now: Date, batch: Int = 1_000) async throws -> Purged {
        var purged = Purged()
        if let keep = publishedOutbox {
            let cutoff = SQLValue.real(now.timeIntervalSince1970 - Self.seconds(keep))
            purged.outboxRows = try await Self.deleteInBatches(
                store, table: "jobs_outbox", key: "id",
                select: "SELECT id FROM jobs_outbox WHERE published_at IS NOT NULL AND published_at < ?", cutoff, batch)
        }
        if let keep = inbox {
            let cutoff = SQLValue.real(now.timeIntervalSince1970 - Self.seconds(keep))
            purged.inboxRows = try await Self.deleteInBatches(
                store, table: "jobs_inbox", key: "message_id",
                select: "SELECT message_id FROM jobs_inbox WHERE processed_at < ?", cutoff, batch)
        }
        return purged
    }

    private static func deleteInBatches(
        _ store: any MessageStore, table: String, key: String, select: String, _ cutoff: SQLValue, _ batch: Int
    ) async throws -> Int {
        var deleted = 0
        while true {
            let count = try await store.write { transaction in
                let keys = try transaction.query("\(select) LIMIT \(max(1, batch))", [cutoff]).compactMap { $0[key] }
                guard !keys.isEmpty else { return 0 }
                let placeholders = Array(repeating: "?", count: keys.count).joined(separator: ", ")
                try transaction.execute("DELETE FROM \(table) WHERE \(key) IN (\(placeholders))", keys)
                return keys.count
            }
            deleted += count
            if count < max(1, batch) { return deleted }
            await Task.yield()
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
