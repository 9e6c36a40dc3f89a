public import Foundation

/// How long a worker keeps its own bookkeeping rows (UU 27/2022: keep only what a step needs,
/// for as long as it needs it). An outbox row keeps the whole event it published; once
/// published it is needed only for a while (to see what went out). An inbox row is a message
/// id, kept to recognise a redelivery or a resend; long after the broker could redeliver it,
/// it only grows the store. `nil`: kept for ever.
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

    /// Deletes what is past its time at `now`, in one transaction, and says how much.
    public func purge(_ store: any MessageStore, now: Date) async throws -> Purged {
        let outboxCutoff = publishedOutbox.map { now.timeIntervalSince1970 - Self.seconds($0) }
        let inboxCutoff = inbox.map { now.timeIntervalSince1970 - Self.seconds($0) }
        return try await store.write { transaction in
            var purged = Purged()
            if let cutoff = outboxCutoff {
                let condition = "published_at IS NOT NULL AND published_at < ?"
                purged.outboxRows = Int(
                    try transaction.query("SELECT COUNT(*) AS n FROM jobs_outbox WHERE \(condition)", [.real(cutoff)])
                        .first?["n"]?.integer ?? 0)
                if purged.outboxRows > 0 {
                    try transaction.execute("DELETE FROM jobs_outbox WHERE \(condition)", [.real(cutoff)])
                }
            }
            if let cutoff = inboxCutoff {
                purged.inboxRows = Int(
                    try transaction.query("SELECT COUNT(*) AS n FROM jobs_inbox WHERE processed_at < ?", [.real(cutoff)])
                        .first?["n"]?.integer ?? 0)
                if purged.inboxRows > 0 {
                    try transaction.execute("DELETE FROM jobs_inbox WHERE processed_at < ?", [.real(cutoff)])
                }
            }
            return purged
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
