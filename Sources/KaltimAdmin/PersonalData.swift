import Admin
import ArgumentParser
import Contracts
import DataProtection
import Foundation
import Jobs
import Stores

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

/// `kaltim-admin subject export`: a data subject's rights.
struct SubjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subject",
        abstract: "A data subject's rights (UU 27/2022): everything held about one person.",
        subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export everything the roles' stores hold about one person, as one JSON document.",
            discussion: """
                The person is found by the NIK (read from standard input with --nik-from-stdin, never from the \
                command line, and compared only as its blind index under intake's key), a registration number \
                or a participant id; the export then follows the identifiers the rows name (registration → \
                participant → certificates, assessments) through every store given with --store, and adds the \
                outbox rows whose event names them. Each table comes with its purpose and retention from the \
                register. The file is written readable by its owner only, and the export is audited.
                """)

        @OptionGroup var admin: AdminOptions
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
        @Option(help: ArgumentHelp("Write the document here (default: standard output).", valueName: "path")) var output: String?

        func validate() throws {
            guard !stores.isEmpty else { throw ValidationError("give at least one --store ROLE=PATH") }
            var roles: Set<String> = []
            for store in stores {
                guard let (role, location) = Self.split(store) else {
                    throw ValidationError("--store wants ROLE=PATH, e.g. intake=var/intake.sqlite")
                }
                guard PersonalDataRegister.storeRoles.contains(role) else {
                    throw ValidationError(
                        "--store: no role \(String(role.prefix(40)).debugDescription) (one of \(PersonalDataRegister.storeRoles.joined(separator: ", ")))"
                    )
                }
                guard !location.isEmpty else { throw ValidationError("--store \(role)= names no store") }
                guard roles.insert(role).inserted else { throw ValidationError("--store \(role) is given twice") }
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

        func run() async throws {
            PersonalData.restrictNewFiles()
            var start = SubjectIdentifiers(registrationIDs: Set(registration), participantIDs: Set(participant))
            var maskedNIK: String?
            if nikFromStdin {
                let key = try nikKeyFile.map { try NIKKey(file: $0) } ?? .development
                let nik = try Self.readNIK()
                start.nikIndexes.insert(key.blindIndex(nik))
                maskedNIK = PersonalData.maskNIK(nik)
            }
            var opened: [(role: String, store: any MessageStore)] = []
            for store in stores {
                guard let (role, location) = Self.split(store) else { continue }
                do {
                    opened.append((role, try await Stores.openForReading(location, schema: role)))
                } catch {
                    throw ValidationError("cannot open the \(role) store \(Stores.redacted(location)): \(error)")
                }
            }
            let export = try await SubjectExport.collect(from: opened, start: start)
            let document = try export.json()
            let target = maskedNIK ?? (registration + participant).sorted().joined(separator: ",")
            // Audited before anything is shown: an export that cannot be audited is not made.
            do {
                try admin.audit.append(
                    .init(
                        who: admin.who, action: "subject-export", target: target, count: export.rowCount,
                        details: [
                            "stores": opened.map(\.role).joined(separator: ","),
                            "participants": export.identifiers.participantIDs.sorted().joined(separator: ","),
                        ]))
            } catch {
                throw ValidationError("the audit log cannot be written (\(admin.audit.path)): nothing was exported")
            }
            if let output {
                // Readable by its owner only from the first byte; a link in its place is refused.
                let descriptor = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600)
                guard descriptor >= 0, fchmod(descriptor, 0o600) == 0 else {
                    if descriptor >= 0 { close(descriptor) }
                    throw ValidationError("cannot write \(output)")
                }
                let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
                try file.write(contentsOf: document)
                try file.close()
                let tables = export.stores.reduce(0) { $0 + $1.tables.count }
                print(
                    "subject export: \(export.rowCount) rows from \(tables) tables in \(opened.count) stores → \(output)")
            } else {
                FileHandle.standardOutput.write(document)
                FileHandle.standardOutput.write(Data("\n".utf8))
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
    }
}
