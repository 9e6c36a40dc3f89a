import AMQP
import Admin
import ArgumentParser
import ContractKit
import Contracts
import DataProtection
import DeploymentSettings
import Foundation
import IntakeRules
import Jobs
import Stores
import SubjectRights
import Topology

/// `kaltim-admin personal-data register`: the register of personal data.
struct PersonalDataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "personal-data",
        abstract: "The register of personal data (which store, queue and file holds what of a person, why, how long).",
        subcommands: [Register.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the register as Markdown tables (docs/OPERATIONS.md carries the same text).")

        func run() async throws {
            print(PersonalDataRegister.markdown(), terminator: "")
        }
    }
}

/// Who the subject is and where their data is: the options `subject export` and `subject
/// erase` share.
struct SubjectOptions: ParsableArguments {
    @Option(
        name: .customLong("store"),
        help: ArgumentHelp(
            "A role's store: ROLE=PATH (a SQLite file) or ROLE=postgres://… (the role's schema); repeat for each role.",
            valueName: "role=store"))
    var stores: [String] = []
    @Flag(help: "Read the person's NIK from the first line of standard input.") var nikFromStdin = false
    @Option(help: ArgumentHelp("File with intake's NIK blind-index key.", valueName: "path")) var nikKeyFile: String?
    @Flag(help: "Use the public development NIK key (local runs and tests only).") var developmentKey = false
    @Option(help: ArgumentHelp("A registration number of the person.", valueName: "id")) var registration: [String] = []
    @Option(help: ArgumentHelp("A participant id of the person.", valueName: "id")) var participant: [String] = []

    func validate() throws {
        guard !stores.isEmpty else { throw ValidationError("give at least one --store ROLE=PATH") }
        do {
            _ = try SubjectStores(stores)
        } catch {
            throw ValidationError("--store \(error)")
        }
        guard nikFromStdin || !registration.isEmpty || !participant.isEmpty else {
            throw ValidationError("say whom: --nik-from-stdin, --registration or --participant")
        }
        for id in registration + participant where !Self.isIdentifier(id) {
            throw ValidationError("--registration and --participant take an id of letters, digits and - (at most 64)")
        }
        if nikFromStdin {
            switch (nikKeyFile, developmentKey) {
            case (nil, false): throw ValidationError("--nik-from-stdin needs --nik-key-file (or --development-key)")
            case (_?, true): throw ValidationError("--nik-key-file and --development-key exclude each other")
            default: break
            }
        }
    }

    /// Intake's NIK key, when one was given (to recognise the person's NIK in a message).
    func key() throws -> NIKKey? {
        if developmentKey { return .development }
        return try nikKeyFile.map { try NIKKey(file: $0) }
    }

    /// Where the search starts, and the NIK masked for the audit log (when one was given).
    func start() throws -> (SubjectIdentifiers, maskedNIK: String?) {
        var start = SubjectIdentifiers(registrationIDs: Set(registration), participantIDs: Set(participant))
        guard nikFromStdin else { return (start, nil) }
        let key = try nikKeyFile.map { try NIKKey(file: $0) } ?? .development
        let nik = try Self.readNIK()
        start.nikIndexes.insert(key.blindIndex(nik))
        // Only the last four digits: the audit log is kept long after an erasure.
        return (start, PersonalData.maskNIKForCitizen(nik))
    }

    /// The stores, for reading or (`writing`) for an erasure; a SQLite file must exist.
    func open(writing: Bool) async throws -> [(role: String, store: any MessageStore)] {
        do {
            return try await SubjectStores(stores).open(writing: writing)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    static func split(_ store: String) -> (String, String)? {
        guard let equals = store.firstIndex(of: "=") else { return nil }
        return (String(store[..<equals]), String(store[store.index(after: equals)...]))
    }

    static func isIdentifier(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.unicodeScalars.allSatisfy {
                $0.isASCII && ($0 == "-" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
            }
    }

    /// The NIK on standard input's first line: 16 digits, spaces, dots and dashes between
    /// them allowed. Never echoed, not even in an error.
    static func readNIK() throws -> String {
        let input = FileHandle.standardInput.readData(ofLength: 256)
        let line = String(decoding: input.prefix { $0 != 0x0A }, as: UTF8.self)
        let digits = line.filter { $0 != " " && $0 != "." && $0 != "-" && $0 != "\r" }
        guard digits.count == 16, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw ValidationError("standard input's first line is not a NIK of 16 digits")
        }
        return digits
    }

    /// Who the audit log names as the target: the masked NIK, or the ids given.
    func target(maskedNIK: String?) -> String {
        maskedNIK ?? (registration + participant).sorted().joined(separator: ",")
    }
}

/// `kaltim-admin subject export` and `subject erase`: a data subject's rights.
struct SubjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subject",
        abstract: "A data subject's rights (UU 27/2022): export, correct or erase what is held about one person.",
        subcommands: [Export.self, Correct.self, WithdrawConsent.self, Erase.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export everything the roles' stores hold about one person, as one JSON document.",
            discussion: """
                The person is found by the NIK (read from standard input with --nik-from-stdin, never from the \
                command line, and compared only as its blind index under intake's key), a registration number \
                or a participant id; the export then follows the identifiers the rows name (registration → \
                participant → certificates, assessments) through every store given with --store, and adds the \
                outbox rows whose event names them. Each table comes with its purpose and retention from the \
                register. The file is written readable by its owner only, and the export is audited. With \
                --dead-letters (and the admin's --broker-url) it also lists the dead letters that name the person \
                (queue, message id, type, failure), leaving them where they are.
                """)

        @OptionGroup var admin: AdminOptions
        @OptionGroup var subject: SubjectOptions
        @Option(help: ArgumentHelp("Write the document here (default: standard output).", valueName: "path")) var output: String?
        @Flag(help: "Also list the dead letters that name the person (read only).") var deadLetters = false

        func run() async throws {
            PersonalData.restrictNewFiles()
            let (start, maskedNIK) = try subject.start()
            let opened = try await subject.open(writing: false)
            var export = try await SubjectExport.collect(from: opened, start: start)
            if deadLetters {
                let matcher = MessageMatcher(
                    identifiers: export.identifiers, addresses: export.addresses, nikKey: try subject.key())
                export.deadLetters = try await Erase.deadLetters(matching: matcher, admin: admin, remove: false)
            }
            let document = try export.json()
            // The file first (a path that is refused is no export), then the audit entry before
            // anything is written or shown: an export that cannot be audited is not made.
            let file = try output.map(PrivateFile.create)
            do {
                try admin.audit.append(
                    .init(
                        who: admin.who, action: "subject-export", target: subject.target(maskedNIK: maskedNIK),
                        count: export.rowCount,
                        details: [
                            "stores": opened.map(\.role).joined(separator: ","),
                            "participants": export.identifiers.participantIDs.sorted().joined(separator: ","),
                            "deadLetters": export.deadLetters.map { "\($0.count) listed" } ?? "not searched",
                        ]))
            } catch {
                if let output { unlink(output) }
                throw ValidationError("the audit log cannot be written (\(admin.audit.path)): nothing was exported")
            }
            if let output, let file {
                try PrivateFile.write(document, to: file)
                let tables = export.stores.reduce(0) { $0 + $1.tables.count }
                print("subject export: \(export.rowCount) rows from \(tables) tables in \(opened.count) stores → \(output)")
                Self.warnNotFollowed(export)
            } else {
                FileHandle.standardOutput.write(document)
                FileHandle.standardOutput.write(Data("\n".utf8))
            }
        }

        static func warnNotFollowed(_ export: SubjectExport) {
            guard !export.notFollowed.isEmpty else { return }
            print(
                "not followed (made with the NIK but not accepted: perhaps someone else; check, then give with --registration): \(export.notFollowed.joined(separator: ", "))"
            )
        }
    }

    struct Correct: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Correct a person's name or addresses (publishes registration.corrected, as the programme office).",
            discussion: """
                Only the fields given change: the notification worker's contact, and the messages still waiting \
                for the person (their addresses and the name they greet); a name also goes to intake, which passes \
                it on to the certificates issued from then on. Checked here as the worker checks it \
                (an Indonesian mobile number, a valid e-mail address, a name of one line and at most 200 \
                characters). Publish as a user that may publish registration.corrected (the programme office's: \
                --broker-url). Audited (which fields, not their values) before it is published.
                """)

        @OptionGroup var admin: AdminOptions
        @Option(help: ArgumentHelp("The registration to correct.", valueName: "id")) var registration: String
        @Option(help: ArgumentHelp("The name as on the KTP.", valueName: "name")) var name: String?
        @Option(help: ArgumentHelp("The mobile number.", valueName: "number")) var phone: String?
        @Option(help: ArgumentHelp("The WhatsApp number.", valueName: "number")) var whatsapp: String?
        @Option(help: ArgumentHelp("The e-mail address.", valueName: "address")) var email: String?
        @Option(help: ArgumentHelp("The request's reference, for the record.", valueName: "text")) var reference: String

        func validate() throws {
            guard SubjectOptions.isIdentifier(registration) else {
                throw ValidationError("--registration takes an id of letters, digits and - (at most 64)")
            }
            guard name != nil || phone != nil || whatsapp != nil || email != nil else {
                throw ValidationError("say what to correct: --name, --phone, --whatsapp or --email")
            }
            if let name {
                guard PersonName.isAcceptable(name.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw ValidationError("--name: one line of at most 200 characters, with letters and no control characters")
                }
            }
            for (option, number) in [("--phone", phone), ("--whatsapp", whatsapp)] {
                if let number, PhoneNumber.normalise(number) == nil {
                    throw ValidationError("\(option): not an Indonesian mobile number (08… or +628…)")
                }
            }
            if let email, !EmailAddress.isValid(email) { throw ValidationError("--email: not a valid e-mail address") }
            let trimmed = reference.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, trimmed.count <= 200, !reference.contains(where: \.isNewline) else {
                throw ValidationError("--reference: one line of at most 200 characters")
            }
        }

        func run() async throws {
            PersonalData.restrictNewFiles()
            let correction = RegistrationCorrectedV1(
                registrationID: registration, fullName: name?.trimmingCharacters(in: .whitespacesAndNewlines),
                phone: phone.flatMap(PhoneNumber.normalise), whatsApp: whatsapp.flatMap(PhoneNumber.normalise), email: email,
                correctedBy: admin.who, reference: reference)
            let fields = [("name", name), ("phone", phone), ("whatsapp", whatsapp), ("email", email)].filter { $0.1 != nil }
                .map(\.0)
            do {
                try admin.audit.append(
                    .init(
                        who: admin.who, action: "subject-correct", target: registration, count: fields.count,
                        details: ["fields": fields.joined(separator: ","), "reference": reference]))
            } catch {
                throw ValidationError("the audit log cannot be written (\(admin.audit.path)): nothing was corrected")
            }
            let connection = try await admin.connect()
            var message = try OutgoingEvent(
                EventEnvelope(
                    id: "corrected-\(registration)-\(UUID().uuidString)", source: "/kaltim/admin/subject-correct",
                    subject: registration, data: correction),
                exchange: admin.topologyPrefix + ContractDocuments.exchange
            ).amqpMessage
            message.properties.userID = connection.username  // consumers check who may correct
            let result = await connection.publish([message]).first
            await connection.close()
            guard case .success = result else { throw ValidationError("the broker did not confirm registration.corrected") }
            print("published the correction of \(registration): \(fields.joined(separator: ", "))")
        }
    }

    struct WithdrawConsent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "withdraw-consent",
            abstract: "Record that a person withdrew their consent (publishes consent.withdrawn, as the programme office).",
            discussion: """
                Processing of that registration stops: intake ends it if it is in review and asks scheduling \
                to withdraw an accepted participant from their class or the waiting list; the notification \
                worker deletes the person's contact and waiting messages and sends them nothing more. What was \
                done before stays recorded (a certificate already issued stays valid). --by says who withdrew \
                it: the applicant, or the parent or guardian who consented for an applicant under 18. Publish \
                as a user that may publish consent.withdrawn (the programme office's: --broker-url). Audited \
                before it is published.
                """)

        enum Withdrawer: String, ExpressibleByArgument, CaseIterable {
            case applicant = "pendaftar"
            case guardian = "orang-tua-wali"

            var contractValue: ConsentWithdrawnV1.WithdrawnBy {
                switch self {
                case .applicant: .applicant
                case .guardian: .parentOrGuardian
                }
            }
        }

        @OptionGroup var admin: AdminOptions
        @Option(help: ArgumentHelp("The registration whose consent was withdrawn.", valueName: "id")) var registration: String
        @Option(help: ArgumentHelp("Who withdrew it: pendaftar or orang-tua-wali.", valueName: "who")) var by: Withdrawer
        @Option(help: ArgumentHelp("The request's reference, for the record.", valueName: "text")) var reference: String

        func validate() throws {
            guard SubjectOptions.isIdentifier(registration) else {
                throw ValidationError("--registration takes an id of letters, digits and - (at most 64)")
            }
            guard ConsentRules.isShortText(reference) else {
                throw ValidationError("--reference: one line of at most 200 characters, without control characters")
            }
        }

        func run() async throws {
            PersonalData.restrictNewFiles()
            let withdrawal = ConsentWithdrawnV1(
                registrationID: registration, withdrawnBy: by.contractValue,
                withdrawnAt: Date().formatted(.iso8601), recordedBy: admin.who,
                reference: reference.trimmingCharacters(in: .whitespaces))
            // The workers' own check: what they would refuse is not published.
            if let problem = ConsentRules.problem(with: withdrawal) {
                throw ValidationError("nothing was published: \(problem) (recordedBy is --operator, or the user name)")
            }
            do {
                try admin.audit.append(
                    .init(
                        who: admin.who, action: "subject-withdraw-consent", target: registration, count: 1,
                        details: ["by": by.rawValue, "reference": reference]))
            } catch {
                throw ValidationError("the audit log cannot be written (\(admin.audit.path)): nothing was published")
            }
            let connection = try await admin.connect()
            var message = try OutgoingEvent(
                EventEnvelope(
                    id: "consent-withdrawn-\(registration)-\(UUID().uuidString)",
                    source: "/kaltim/admin/subject-withdraw-consent",
                    subject: registration, data: withdrawal),
                exchange: admin.topologyPrefix + ContractDocuments.exchange
            ).amqpMessage
            message.properties.userID = connection.username
            let result = await connection.publish([message]).first
            await connection.close()
            guard case .success = result else { throw ValidationError("the broker did not confirm consent.withdrawn") }
            print("published the withdrawal of consent for \(registration) (by \(by.rawValue))")
        }
    }

    struct Erase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase one person's personal data from the roles' stores (and local notification logs).",
            discussion: """
                Finds the person as `subject export` does, then applies the register's rule to each table in \
                one transaction per store: rows that are only the person's data (contacts, the registry \
                extract's record, the training history) are deleted; the personal columns of the others are \
                cleared (the masked NIK and its blind index, a case file, a message's values and addresses); \
                published events that name the person are deleted from the outboxes. Participant ids, codes \
                and dates stay, so that counts, seats and the certificate record stay consistent; the \
                certificate record is kept. Lines of the --notification-log files sent to the person's \
                addresses are removed. With --dead-letters, the messages of every role's dead-letter queue \
                that name the person (an id of theirs, an address, their NIK when the NIK key is given) are \
                removed too (a broker connection as admin: --broker-url). Without --confirm it only says what it \
                would change. Audited before it starts; refused when the audit log cannot be written.
                """)

        @OptionGroup var admin: AdminOptions
        @OptionGroup var subject: SubjectOptions
        @Option(
            help: ArgumentHelp(
                "A notification log (the file channel's JSON lines) to remove the person's messages from; repeatable. Stop the notification worker that writes it first.",
                valueName: "path"))
        var notificationLog: [String] = []
        @Option(help: ArgumentHelp("Why (the request's reference), for the audit log.", valueName: "text")) var reason: String
        @Flag(help: "Also remove the dead letters that name the person, from every role's dead-letter queue.")
        var deadLetters = false
        @Flag(help: "Erase; without it, only say what would be erased.") var confirm = false

        func validate() throws {
            if deadLetters && DeploymentEnvironment.current.adminBrokerURL(option: admin.brokerURL) == nil {
                throw ValidationError("--dead-letters needs the admin's broker URL: --broker-url or $KALTIM_ADMIN_URL")
            }
            let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty, trimmed.count <= 200, !trimmed.contains(where: \.isNewline) else {
                throw ValidationError("--reason: the request's reference, one line of at most 200 characters")
            }
            // Checked before anything is erased: a log that cannot be rewritten would leave the
            // erasure half done.
            for log in notificationLog {
                let type = (try? FileManager.default.attributesOfItem(atPath: log))?[.type] as? FileAttributeType
                guard type == .typeRegular, FileManager.default.isWritableFile(atPath: log) else {
                    throw ValidationError("--notification-log \(log): no such writable regular file (a link is refused)")
                }
            }
        }

        func run() async throws {
            PersonalData.restrictNewFiles()
            let (start, maskedNIK) = try subject.start()
            let opened = try await subject.open(writing: confirm)
            let found = try await SubjectExport.collect(from: opened, start: start)
            let summary = found.stores.flatMap { store in store.tables.map { "\(store.role).\($0.table) \($0.rows.count)" } }
            let ids = found.identifiers
            print(
                "the person: registrations \(ids.registrationIDs.sorted().joined(separator: ", ")); participants \(ids.participantIDs.sorted().joined(separator: ", "))"
            )
            Export.warnNotFollowed(found)
            let matcher = MessageMatcher(identifiers: found.identifiers, addresses: found.addresses, nikKey: try subject.key())
            guard confirm else {
                print("subject erase (dry run): the person's rows: \(summary.joined(separator: ", "))")
                if deadLetters {
                    let letters = try await Self.deadLetters(matching: matcher, admin: admin, remove: false)
                    Self.report(letters, removed: false)
                }
                print("nothing erased: add --confirm to erase")
                return
            }
            let target = subject.target(maskedNIK: maskedNIK)
            do {
                try admin.audit.append(
                    .init(
                        who: admin.who, action: "subject-erase", target: target, count: found.rowCount,
                        details: [
                            "reason": reason, "stores": opened.map(\.role).joined(separator: ","),
                            "participants": found.identifiers.participantIDs.sorted().joined(separator: ","),
                        ]))
            } catch {
                throw ValidationError("the audit log cannot be written (\(admin.audit.path)): nothing was erased")
            }
            // The dead letters first, while the stores still say who the person is (a broker that
            // cannot be reached stops the erasure before anything is changed), then the stores,
            // then the notification logs.
            let sweep: ((MessageMatcher, Bool) async throws -> [SubjectExport.DeadLetterRecord])? =
                deadLetters
                ? { matcher, remove in try await Self.deadLetters(matching: matcher, admin: admin, remove: remove) } : nil
            let outcome = try await SubjectEraseRun.erase(
                found, in: opened, nikKey: try subject.key(), sweep: sweep, notificationLogs: notificationLog
            ) { letters, remaining in
                Self.report(letters, removed: true)
                if remaining > 0 {
                    print(
                        "\(remaining) dead letters naming the person are still there (held by another sweep?): run the erase again"
                    )
                }
            }
            let report = outcome.stores
            let removedLines = outcome.notificationLogLines
            let removedLetters = outcome.deadLettersRemoved
            let remainingLetters = outcome.deadLettersRemaining
            let changed = report.changes.map { "\($0.role).\($0.table) \($0.rows)" }
            print("subject erase: \(report.rowCount) rows erased (\(changed.joined(separator: ", ")))")
            print("notification log lines removed: \(removedLines)")
            if report.unpublishedEvents > 0 {
                // The NIK's index is gone now: name the person by the ids that still find them.
                let again =
                    (ids.participantIDs.map { "--participant \($0)" } + ids.registrationIDs.map { "--registration \($0)" })
                    .sorted().joined(separator: " ")
                print(
                    "\(report.unpublishedEvents) events naming the person are not published yet: run the erase again later with \(again)"
                )
            }
            try admin.audit.append(
                .init(
                    who: admin.who, action: "subject-erased", target: target, count: report.rowCount,
                    details: [
                        "reason": reason, "unpublished": "\(report.unpublishedEvents)", "notificationLogLines": "\(removedLines)",
                        "deadLetters": deadLetters ? "\(removedLetters) removed, \(remainingLetters) remaining" : "not searched",
                    ]))
        }

        /// The dead letters of every role (and the console) that name the person: listed, and
        /// with `remove` those naming them by an id or their NIK acknowledged (so deleted); one
        /// naming only an address of theirs (which someone else may share) is listed and given
        /// back, as is every other one. A dead-letter queue missing on the broker (a role not
        /// deployed) is skipped and said; any other failure stops the command.
        static func deadLetters(matching matcher: MessageMatcher, admin: AdminOptions, remove: Bool) async throws
            -> [SubjectExport.DeadLetterRecord]
        {
            try await admin.withAdmin { _, engine in
                try await SubjectDeadLetters.sweep(engine, matching: matcher, remove: remove) { print($0) }
            }
        }

        static func report(_ letters: [SubjectExport.DeadLetterRecord], removed: Bool) {
            let theirs = letters.filter { $0.matchedBy == .person }.count
            print(removed ? "dead letters removed: \(theirs)" : "dead letters naming the person: \(theirs)")
            let shared = letters.filter { $0.matchedBy == .addressOnly }
            if !shared.isEmpty {
                print(
                    "dead letters naming only an address of theirs (kept; someone may share it, check them with dead-letters show): "
                        + shared.map { "\($0.queue) \(TerminalText.shown($0.messageID))" }.joined(separator: ", "))
            }
        }
    }
}
