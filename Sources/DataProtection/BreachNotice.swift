public import ContractKit
public import Contracts
public import Foundation
public import Jobs

/// A failure of personal-data protection (kegagalan pelindungan data pribadi, UU 27/2022 Art.
/// 46): what the notice to each affected person says, and the 3 × 24-hour deadline, which runs
/// from when the controller learnt of it.
public struct BreachIncident: Sendable, Equatable {
    /// The incident's reference: capital letters, digits and `-`, at most 64 (`INSIDEN-2026-001`).
    public var id: String
    /// When the incident became known: the deadline is 72 hours later.
    public var detectedAt: Date
    /// The notice's placeholders, in Bahasa Indonesia: when it happened (`waktu_kejadian`), which
    /// data (`jenis_data`), what happened (`uraian_singkat`), what is being done (`langkah`), and
    /// whom to ask (`kontak_ppdp`).
    public var occurred: String
    public var data: String
    public var cause: String
    public var steps: String
    public var contact: String

    public init(
        id: String, detectedAt: Date, occurred: String, data: String, cause: String, steps: String, contact: String
    ) {
        self.id = id
        self.detectedAt = detectedAt
        self.occurred = occurred
        self.data = data
        self.cause = cause
        self.steps = steps
        self.contact = contact
    }

    /// 72 hours after ``detectedAt``.
    public var deadline: Date { detectedAt.addingTimeInterval(72 * 3_600) }

    /// Whether `id` may name an incident (it becomes part of notification ids and a `LIKE`
    /// pattern, so no `_` or `%`, and no lower case).
    public static func isValidID(_ id: String) -> Bool {
        // Upper case only: `LIKE` ignores case in SQLite and not in PostgreSQL.
        id.wholeMatch(of: /[A-Z0-9][A-Z0-9-]{0,63}/) != nil
    }
}

/// The breach notice: who was affected, a `notification.requested` for each (template
/// `pemberitahuan_kegagalan_pdp`, urgent, so quiet hours do not hold it), and how delivery
/// stands against the deadline.
public enum BreachNotice {
    /// The notification template of the notice.
    public static let template = "pemberitahuan_kegagalan_pdp"

    /// Tables whose rows say when they were recorded, for narrowing to an incident's time
    /// window: (column, whether it holds seconds since 1970 or ISO 8601 text).
    public static let recordedAt: [String: (column: String, epochSeconds: Bool)] = [
        "intake_registrations": ("decided_at", false),
        "intake_profiles": ("decided_at", false),
        "intake_reviews": ("opened_at", false),
        "notif_contacts": ("updated_at", true),
        "notif_messages": ("created_at", true),
        "console_registrations": ("registered_at", true),
        "console_staff_actions": ("recorded_at", true),
        "console_assessments": ("recorded_at", true),
        "console_assessment_refusals": ("recorded_at", true),
    ]

    /// The people the exposed stores link to: registration numbers and participant ids.
    public struct Affected: Sendable, Equatable {
        public var registrationIDs: Set<String> = []
        public var participantIDs: Set<String> = []
        /// Tables read (with a window: only those that say when a row was recorded).
        public var tables: [String] = []
        /// Rows about residents known only by their NIK's blind index (the registry extract, the
        /// training history): people this system has no address for.
        public var rowsWithoutContact = 0
    }

    /// Everyone with a row in the exposed stores (each a role and its store), through the
    /// register's keys; with `window`, only rows recorded within it, in the tables that say when.
    public static func affected(
        in exposed: [(role: String, store: any MessageStore)], window: ClosedRange<Date>? = nil
    ) async throws -> Affected {
        var affected = Affected()
        for (role, store) in exposed {
            for entry in PersonalDataRegister.tables(of: role) {
                let keys = entry.keys.filter { [.registrationID, .participantID, .personID].contains($0.key) }
                guard try await SubjectExport.exists(entry.name, in: store) else { continue }
                if keys.isEmpty && entry.keys.contains(where: { $0.key == .nikIndex }) && window == nil {
                    affected.rowsWithoutContact +=
                        Int(try await store.read("SELECT COUNT(*) AS n FROM \(entry.name)", []).first?["n"]?.integer ?? 0)
                    continue
                }
                guard !keys.isEmpty else { continue }
                var condition = ""
                var arguments: [SQLValue] = []
                if let window {
                    guard let time = recordedAt[entry.name] else { continue }
                    condition = " WHERE \(time.column) >= ? AND \(time.column) <= ?"
                    arguments =
                        time.epochSeconds
                        ? [.real(window.lowerBound.timeIntervalSince1970), .real(window.upperBound.timeIntervalSince1970)]
                        : [.text(isoTime(window.lowerBound)), .text(isoTime(window.upperBound))]
                }
                let columns = keys.map(\.field).joined(separator: ", ")
                let rows = try await store.read("SELECT DISTINCT \(columns) FROM \(entry.name)\(condition)", arguments)
                affected.tables.append("\(role).\(entry.name)")
                for row in rows {
                    for (field, key) in keys {
                        guard let value = row[field]?.text, !value.isEmpty else { continue }
                        switch key {
                        case .registrationID: affected.registrationIDs.insert(value)
                        case .participantID: affected.participantIDs.insert(value)
                        default:
                            // A staff action's subject: a registration or a participant.
                            if value.hasPrefix("REG-") {
                                affected.registrationIDs.insert(value)
                            } else {
                                affected.participantIDs.insert(value)
                            }
                        }
                    }
                }
            }
        }
        return affected
    }

    /// One person to tell, as the notification worker's contacts know them.
    public struct Recipient: Sendable, Equatable {
        public var registrationID: String
        public var participantID: String?
        public var name: String
        public var channel: NotificationChannel
        public var address: String
    }

    /// The affected people's contacts (one per address): WhatsApp if known, else SMS to the
    /// phone, else e-mail. `unreachable`: one id per person who cannot be told this way (the
    /// registration of a contact without an address, or an id no contact knows).
    public static func recipients(of affected: Affected, contacts: any MessageStore) async throws -> (
        recipients: [Recipient], unreachable: [String]
    ) {
        var found: [String: Recipient] = [:]
        var reached: Set<String> = []  // every id of a person the contacts know
        var noAddress: Set<String> = []  // registrations whose contact has no address
        for (column, ids) in [("registration_id", affected.registrationIDs), ("participant_id", affected.participantIDs)] {
            let sorted = ids.sorted()
            var start = 0
            while start < sorted.count {
                let chunk = Array(sorted[start..<min(sorted.count, start + 200)])
                start += chunk.count
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                let rows = try await contacts.read(
                    "SELECT registration_id, participant_id, name, phone, whatsapp, email FROM notif_contacts WHERE \(column) IN (\(placeholders))",
                    chunk.map(SQLValue.text))
                for row in rows {
                    guard let registration = row["registration_id"]?.text else { continue }
                    let participant = row["participant_id"]?.text
                    let route: (NotificationChannel, String)? =
                        if let whatsApp = nonEmpty(row["whatsapp"]) {
                            (.whatsApp, whatsApp)
                        } else if let phone = nonEmpty(row["phone"]) {
                            (.sms, phone)
                        } else if let email = nonEmpty(row["email"]) {
                            (.email, email)
                        } else {
                            nil
                        }
                    reached.formUnion([registration] + (participant.map { [$0] } ?? []))
                    guard let (channel, address) = route else {
                        noAddress.insert(registration)
                        continue
                    }
                    // One notice per address: a person who registered twice is told once (under
                    // the first registration's number).
                    let key = "\(channel.rawValue) \(address)"
                    if let earlier = found[key], earlier.registrationID <= registration { continue }
                    found[key] = Recipient(
                        registrationID: registration, participantID: participant, name: row["name"]?.text ?? "",
                        channel: channel, address: address)
                }
            }
        }
        let unknown = affected.registrationIDs.union(affected.participantIDs).subtracting(reached)
        let unreachable = noAddress.union(unknown).sorted()
        return (found.values.sorted { $0.registrationID < $1.registrationID }, unreachable)
    }

    /// The notice for one person. Its ids come from the incident and the registration only, so a
    /// second run publishes the same event, which the worker's inbox and its notification ids
    /// take once.
    public static func request(for recipient: Recipient, incident: BreachIncident) -> EventEnvelope<
        NotificationRequestedV1
    > {
        let notice = NotificationRequestedV1(
            notificationID: "\(incident.id):\(recipient.registrationID)", participantID: recipient.participantID,
            registrationID: recipient.registrationID, channel: recipient.channel, recipient: recipient.address,
            template: template,
            parameters: [
                "nama": recipient.name, "waktu_kejadian": incident.occurred, "jenis_data": incident.data,
                "uraian_singkat": incident.cause, "langkah": incident.steps, "kontak_ppdp": incident.contact,
            ])
        return EventEnvelope(
            id: "breach-\(incident.id)-\(recipient.registrationID)", source: "/kaltim/admin/breach-notice",
            subject: recipient.participantID ?? recipient.registrationID, correlationID: "breach-\(incident.id)",
            data: notice)
    }

    /// How the notices of an incident stand in the notification worker's store at `now`.
    public struct Status: Sendable, Equatable {
        public var total = 0
        public var sentInTime = 0
        public var sentLate = 0
        public var failed = 0
        public var pending = 0
        public var deadline: Date
        public var now: Date

        /// Every notice the worker has recorded was sent within the deadline (compare ``total``
        /// with the number published: a notice not consumed yet, or dead-lettered, is not here).
        public var allRecordedInTime: Bool { total > 0 && sentInTime == total }
    }

    public static func status(of incident: BreachIncident, notifications: any MessageStore, now: Date) async throws -> Status {
        let rows = try await notifications.read(
            "SELECT state, sent_at FROM notif_messages WHERE notification_id LIKE ?", [.text("req:\(incident.id):%")])
        var status = Status(deadline: incident.deadline, now: now)
        for row in rows {
            status.total += 1
            switch row["state"]?.text {
            case "sent":
                if let sent = row["sent_at"]?.real, sent <= incident.deadline.timeIntervalSince1970 {
                    status.sentInTime += 1
                } else {
                    status.sentLate += 1
                }
            case "failed": status.failed += 1
            default: status.pending += 1
            }
        }
        return status
    }

    static func nonEmpty(_ value: SQLValue?) -> String? {
        guard let text = value?.text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return text
    }

    static func isoTime(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }
}
