import AMQP
import Admin
import ArgumentParser
import ContractKit
import Contracts
import DataProtection
import Foundation
import Jobs
import Stores
import Topology

/// `kaltim-admin breach notify|status`: the notice of a personal-data breach (UU 27/2022 Art.
/// 46) to everyone affected, within 3 × 24 hours.
struct BreachCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breach",
        abstract: "Tell everyone affected by a personal-data breach, and follow delivery against the 3 × 24-hour deadline.",
        subcommands: [Notify.self, Status.self])

    /// The incident: its reference and when it became known.
    struct IncidentOptions: ParsableArguments {
        @Option(help: ArgumentHelp("The incident's reference (capital letters, digits, -).", valueName: "id")) var incident:
            String
        @Option(
            help: ArgumentHelp(
                "When the incident became known, ISO 8601 with its offset (2026-12-04T10:00:00+08:00): the deadline is 72 hours later.",
                valueName: "time"))
        var detectedAt: String

        func validate() throws {
            guard BreachIncident.isValidID(incident) else {
                throw ValidationError("--incident: capital letters, digits and - only, at most 64 (INSIDEN-2026-001)")
            }
            guard detected != nil else {
                throw ValidationError("--detected-at: an ISO 8601 time with its offset, e.g. 2026-12-04T10:00:00+08:00")
            }
        }

        var detected: Date? { parseTime(detectedAt) }
    }

    struct Notify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send the breach notice (pemberitahuan_kegagalan_pdp) to everyone the exposed stores link to.",
            discussion: """
                The affected people are everyone a row of the exposed stores links to (--exposed ROLE=STORE, \
                repeatable), or with --since and --until only the rows recorded in that window (in the tables \
                that say when a row was recorded). Their addresses come from the notification worker's store \
                (--contacts). Each gets one notification.requested (WhatsApp, else SMS, else e-mail) with an id \
                made of the incident and the registration, so a second run is taken once; the template is \
                urgent, so quiet hours do not hold it. Publish as a user that may publish notification.requested \
                (the programme office's: --broker-url). Without --confirm it only counts. Audited before it \
                publishes.
                """)

        @OptionGroup var admin: AdminOptions
        @OptionGroup var incident: IncidentOptions
        @Option(name: .customLong("exposed"), help: ArgumentHelp("An exposed role's store: ROLE=STORE.", valueName: "role=store"))
        var exposed: [String] = []
        @Option(help: ArgumentHelp("The notification worker's store (its contacts).", valueName: "store")) var contacts: String
        @Option(help: ArgumentHelp("Only rows recorded from this time (ISO 8601).", valueName: "time")) var since: String?
        @Option(help: ArgumentHelp("Only rows recorded until this time (ISO 8601).", valueName: "time")) var until: String?
        @Option(help: ArgumentHelp("When and how it happened, in Bahasa Indonesia (waktu_kejadian).", valueName: "text"))
        var occurred: String
        @Option(help: ArgumentHelp("Which data were exposed (jenis_data).", valueName: "text")) var data: String
        @Option(help: ArgumentHelp("What happened (uraian_singkat).", valueName: "text")) var cause: String
        @Option(help: ArgumentHelp("What is being done, what the person can do (langkah).", valueName: "text")) var steps: String
        @Option(help: ArgumentHelp("Whom to ask: the PPDP's address (kontak_ppdp).", valueName: "text")) var contact: String
        @Flag(help: "Publish; without it, only count.") var confirm = false

        func validate() throws {
            guard !exposed.isEmpty else { throw ValidationError("give at least one --exposed ROLE=STORE") }
            for store in exposed {
                guard let (role, location) = SubjectOptions.split(store), !location.isEmpty,
                    PersonalDataRegister.storeRoles.contains(role)
                else {
                    throw ValidationError(
                        "--exposed wants ROLE=STORE with a role of \(PersonalDataRegister.storeRoles.joined(separator: ", "))")
                }
            }
            switch (since, until) {
            case (nil, nil): break
            case (let from?, let to?):
                guard let start = parseTime(from), let end = parseTime(to), start <= end else {
                    throw ValidationError("--since and --until: ISO 8601 times with offsets, the first not after the second")
                }
            default: throw ValidationError("give --since and --until together")
            }
            for (name, text) in [
                ("--occurred", occurred), ("--data", data), ("--cause", cause), ("--steps", steps), ("--contact", contact),
            ] {
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, trimmed.count <= 300, !text.contains(where: \.isNewline) else {
                    throw ValidationError("\(name): one line of 1 to 300 characters")
                }
            }
        }

        func run() async throws {
            PersonalData.restrictNewFiles()
            guard let detected = incident.detected else { throw ValidationError("--detected-at") }
            let notice = BreachIncident(
                id: incident.incident, detectedAt: detected, occurred: occurred, data: data, cause: cause, steps: steps,
                contact: contact)
            var stores: [(role: String, store: any MessageStore)] = []
            for store in exposed {
                guard let (role, location) = SubjectOptions.split(store) else { continue }
                stores.append((role, try await Self.openExisting(location, role: role)))
            }
            let window = since.flatMap(parseTime).flatMap { start in until.flatMap(parseTime).map { start...$0 } }
            let affected = try await BreachNotice.affected(in: stores, window: window)
            let contactStore = try await Self.openExisting(contacts, role: "notifications")
            let (recipients, unreachable) = try await BreachNotice.recipients(of: affected, contacts: contactStore)
            let people = affected.registrationIDs.count + affected.participantIDs.count
            print("incident \(notice.id): tables read \(affected.tables.count); ids affected \(people)")
            print("to notify \(recipients.count); without an address \(unreachable.count)")
            if affected.rowsWithoutContact > 0 {
                print(
                    "rows about residents known only by their NIK's blind index (registry extract, training history): \(affected.rowsWithoutContact); this system has no address for them"
                )
            }
            if !unreachable.isEmpty {
                print("without an address (tell them another way): \(unreachable.prefix(50).joined(separator: ", "))")
            }
            print("deadline \(formatWITA(notice.deadline))")
            guard confirm else {
                print("nothing sent: add --confirm to send")
                return
            }
            do {
                try admin.audit.append(
                    .init(
                        who: admin.who, action: "breach-notify", target: notice.id, count: recipients.count,
                        details: [
                            "exposed": stores.map(\.role).joined(separator: ","), "unreachable": "\(unreachable.count)",
                            "detectedAt": incident.detectedAt,
                            "window": window.map { "\($0.lowerBound)…\($0.upperBound)" } ?? "all",
                        ]))
            } catch {
                throw ValidationError("the audit log cannot be written (\(admin.audit.path)): nothing was sent")
            }
            let connection = try await admin.connect()
            var messages: [AMQPOutgoingMessage] = []
            for recipient in recipients {
                var message = try OutgoingEvent(
                    BreachNotice.request(for: recipient, incident: notice),
                    exchange: admin.topologyPrefix + ContractDocuments.exchange
                ).amqpMessage
                message.properties.userID = connection.username  // consumers check who may ask for notices
                messages.append(message)
            }
            let results = await connection.publish(messages, window: 100)
            await connection.close()
            let confirmed = results.filter { if case .success = $0 { true } else { false } }.count
            print("published \(confirmed) of \(messages.count) notices (a second run sends nobody twice)")
            if confirmed < messages.count { throw ExitCode(1) }
        }

        static func openExisting(_ location: String, role: String) async throws -> any MessageStore {
            guard Stores.isPostgres(location) || FileManager.default.fileExists(atPath: location) else {
                throw ValidationError("the \(role) store \(location) does not exist")
            }
            do {
                return try await Stores.openForReading(location, schema: role)
            } catch {
                throw ValidationError("cannot open the \(role) store \(Stores.redacted(location)): \(error)")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How the notices of an incident stand: sent within the deadline, late, failed, waiting.")

        @OptionGroup var incident: IncidentOptions
        @Option(help: ArgumentHelp("The notification worker's store.", valueName: "store")) var notifications: String

        func run() async throws {
            guard let detected = incident.detected else { throw ValidationError("--detected-at") }
            let notice = BreachIncident(
                id: incident.incident, detectedAt: detected, occurred: "", data: "", cause: "", steps: "", contact: "")
            let store = try await Notify.openExisting(notifications, role: "notifications")
            let status = try await BreachNotice.status(of: notice, notifications: store, now: Date())
            let left = status.deadline.timeIntervalSince(status.now)
            print(
                "incident \(notice.id): notices \(status.total): sent within the deadline \(status.sentInTime), late \(status.sentLate), failed \(status.failed), waiting \(status.pending)"
            )
            print(
                "deadline \(formatWITA(status.deadline)): "
                    + (left > 0
                        ? "\(Int(left / 3_600)) h \(Int(left.truncatingRemainder(dividingBy: 3_600) / 60)) min left" : "passed"))
            if status.allRecordedInTime {
                print("every notice recorded so far was sent within the deadline (compare with the number published)")
            }
        }
    }
}

/// An ISO 8601 time with its offset (or `Z`), with or without fractional seconds.
func parseTime(_ text: String) -> Date? {
    guard text.count <= 40 else { return nil }
    return (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
        ?? (try? Date.ISO8601FormatStyle().parse(text))
}

/// `2026-12-07 10:00 WITA` (UTC+8, Balikpapan and Bontang).
func formatWITA(_ date: Date) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3_600)!
    let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
    return String(
        format: "%04d-%02d-%02d %02d:%02d WITA", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0,
        parts.minute ?? 0)
}
