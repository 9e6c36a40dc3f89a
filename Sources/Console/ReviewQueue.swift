// The officers' review queue (verifikasi) as the console sees it: the registrations intake
// sent to review and no officer has decided yet. The case files (declared data beside the
// registry record) stay in intake's store; `kaltim-worker review show` reads them there.
public import Contracts
public import Foundation
public import Jobs

/// The pending reviews, oldest first.
public struct ReviewQueue: Sendable, Equatable, Encodable {
    /// One registration waiting for an officer's decision.
    public struct Case: Sendable, Equatable, Encodable {
        public let registrationID: String
        /// The BLKI the applicant chose, when the console has seen the registration.
        public let centre: String?
        public let programme: String?
        public let openedAt: Date
        /// Why intake could not decide (code and Bahasa Indonesia text).
        public let reasons: [RegistrationReason]
        /// The last request for documents, if an officer made one: when, until when, what.
        public let documentsRequestedAt: Date?
        public let respondBy: String?
        public let documentsReason: String?
    }

    public let pending: [Case]
    /// How long the oldest pending review has waited at `updatedAt` (nil when none waits).
    public let oldestAgeSeconds: Double?
    public let updatedAt: Date

    /// The pending reviews at `now`; at most `limit` cases are listed (the count and the oldest
    /// age are over all of them).
    public static func read(from store: any MessageStore, now: Date = Date(), limit: Int = 500) async throws -> ReviewQueue {
        let pendingClause = """
            FROM console_reviews v LEFT JOIN console_registrations r ON r.registration_id = v.registration_id
            WHERE v.opened_at IS NOT NULL AND r.accepted_at IS NULL AND r.rejected_at IS NULL
            """
        let rows = try await store.read(
            """
            SELECT v.registration_id, r.centre, r.programme, v.opened_at, v.reasons, v.documents_requested_at,
                v.respond_by, v.documents_reason
            \(pendingClause) ORDER BY v.opened_at, v.registration_id LIMIT \(max(0, limit))
            """)
        let summary = try await store.read("SELECT COUNT(*) AS pending, MIN(v.opened_at) AS oldest \(pendingClause)").first
        let cases = rows.compactMap { row -> Case? in
            guard let id = row["registration_id"]?.text, let opened = row["opened_at"]?.real else { return nil }
            let reasons =
                row["reasons"]?.text.flatMap { try? JSONDecoder().decode([RegistrationReason].self, from: Data($0.utf8)) }
                ?? []
            return Case(
                registrationID: id, centre: row["centre"]?.text, programme: row["programme"]?.text,
                openedAt: Date(timeIntervalSince1970: opened), reasons: reasons,
                documentsRequestedAt: row["documents_requested_at"]?.real.map(Date.init(timeIntervalSince1970:)),
                respondBy: row["respond_by"]?.text, documentsReason: row["documents_reason"]?.text)
        }
        let count = Int(summary?["pending"]?.integer ?? 0)
        let oldest = summary?["oldest"]?.real.map { max(0, now.timeIntervalSince1970 - $0) }
        return ReviewQueue(
            pending: cases, oldestAgeSeconds: count > 0 ? oldest : nil, updatedAt: now,
            count: count)
    }

    /// How many reviews are pending (may exceed ``pending``'s length, which is limited).
    public let count: Int

}
