import AMQP
import Admin
import ArgumentParser
import ContractKit
import Contracts
import Foundation
import Jobs
import Topology

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters", abstract: "Browse, replay, export and purge the dead-letter queues.",
        subcommands: [List.self, Show.self, Replay.self, Export.self, Purge.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count the dead letters per role, grouped by failure code, fingerprint and contract.")
        @OptionGroup var admin: AdminOptions
        @OptionGroup var roles: RoleOptions
        @Flag(help: "JSON instead of a table.") var json = false

        func run() async throws {

            PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
            let letters = try await admin.withAdmin { _, engine in try await engine.list(roles.roles) }
            struct Group: Encodable {
                let role: String, code: String, kind: String, fingerprint: String, type: String, version: Int?
                var count: Int
                var first: Date?, last: Date?
            }
            var groups: [String: Group] = [:]
            for letter in letters {
                let key = [
                    letter.role, letter.code, letter.fingerprint, letter.contractType ?? "-", "\(letter.contractVersion ?? 0)",
                ]
                .joined(separator: "|")
                var group =
                    groups[key]
                    ?? Group(
                        role: letter.role, code: letter.code, kind: letter.kind, fingerprint: letter.fingerprint,
                        type: letter.contractType ?? "-", version: letter.contractVersion, count: 0, first: nil, last: nil)
                group.count += 1
                if let first = letter.firstFailure ?? letter.lastFailure { group.first = min(group.first ?? first, first) }
                if let last = letter.lastFailure { group.last = max(group.last ?? last, last) }
                groups[key] = group
            }
            let sorted = groups.values.sorted { ($0.role, -$0.count, $0.code) < ($1.role, -$1.count, $1.code) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(sorted), as: UTF8.self))
                return
            }
            print("\(letters.count) dead letters")
            print(
                "ROLE           COUNT  CODE                         KIND                 TYPE v  FINGERPRINT       FIRST / LAST FAILURE"
            )
            for group in sorted {
                print(
                    [
                        TerminalText.shown(group.role).padding(toLength: 14, withPad: " ", startingAt: 0),
                        String(group.count).leftPadded(5),
                        TerminalText.shown(group.code).padding(toLength: 28, withPad: " ", startingAt: 0),
                        TerminalText.shown(group.kind).padding(toLength: 20, withPad: " ", startingAt: 0),
                        "\(TerminalText.shown(group.type)) v\(group.version.map(String.init) ?? "-")",
                        TerminalText.shown(group.fingerprint),
                        "\(timestamp(group.first)) / \(timestamp(group.last))",
                    ].joined(separator: " "))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one dead letter with its failure record; personal data masked unless --reveal (audited).")
        @OptionGroup var admin: AdminOptions
        @OptionGroup var roles: RoleOptions
        @Argument(help: "The message id.") var messageID: String
        @Flag(help: "Show the body unmasked (written to the audit log).") var reveal = false

        func run() async throws {

            PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
            var filter = DeadLetterFilter()
            filter.messageIDs = [messageID]
            let letters = try await admin.withAdmin { _, engine in try await engine.list(roles.roles, filter: filter) }
            guard let letter = letters.first else {
                throw CleanExit.message("no dead letter with message id \(messageID)")
            }
            if reveal {
                try admin.audit.append(
                    AuditLog.Entry(
                        who: admin.who, action: "reveal", target: letter.queue, filter: "message-id=\(messageID)", count: 1))
            }
            // Every field but the queue is the publisher's (or the failure record the broker kept
            // as the publisher sent it): shown masked, control characters escaped.
            func shown(_ text: String?) -> String { TerminalText.shown(text, reveal: reveal) }
            print("message id:   \(shown(letter.messageID))")
            print("queue:        \(letter.queue) (role \(shown(letter.role)))")
            print("failure:      \(shown(letter.kind)) \(shown(letter.code)) (fingerprint \(shown(letter.fingerprint)))")
            print("message:      \(shown(letter.failureText(reveal: reveal)))")
            print("contract:     \(shown(letter.contractType)) v\(letter.contractVersion.map(String.init) ?? "-")")
            print(
                "attempts:     \(letter.attempts); first \(timestamp(letter.firstFailure)); last \(timestamp(letter.lastFailure))"
            )
            print(
                "from:         queue \(shown(letter.originalQueue)), exchange \(shown(letter.originalExchange)), key \(shown(letter.originalRoutingKey))"
            )
            if letter.replayCount > 0 {
                print("replayed:     \(letter.replayCount) time(s), last replay \(shown(letter.replayID))")
            }
            print("body\(reveal ? "" : " (personal data masked)"):")
            print(TerminalText.shown(letter.bodyText(reveal: reveal), reveal: reveal, keepLines: true))
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to the queue they failed in: one, a filter, or --all.",
            discussion: """
                Each message is re-published with a confirm before its dead-letter copy is removed, so a crash of \
                this tool loses nothing; the worker's inbox makes a message replayed twice harmless. Only the \
                messages present when the replay starts are considered.
                """)
        @OptionGroup var admin: AdminOptions
        @OptionGroup var roles: RoleOptions
        @OptionGroup var filters: FilterOptions
        @Flag(help: "Replay every dead letter of the roles (required when no filter is given).") var all = false
        @Flag(help: "Show what would be replayed; move nothing.") var dryRun = false
        @Option(help: "At most this many.") var limit: Int?
        @Option(help: "At most this many per second (0.001 to 1000000).") var rate: Double?
        @Option(help: "Replay this many first and stop if any comes back to the dead letters.") var canary = 0
        @Option(help: ArgumentHelp("How long to watch the canaries.", valueName: "seconds")) var canaryWait = 10

        func validate() throws {
            guard all || !filters.isEmpty else {
                throw ValidationError("give a filter (--message-id, --code, --fingerprint, --type, --since, …) or --all")
            }
            if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more") }
            // Not NaN, not so small that a letter's due time overflows (1e-300 trapped).
            if let rate, !(0.001...1_000_000).contains(rate) {
                throw ValidationError("--rate must be 0.001 to 1000000 a second")
            }
            guard canary >= 0, canaryWait >= 0 else { throw ValidationError("--canary and --canary-wait cannot be negative") }
        }

        func run() async throws {

            PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
            let replayID = UUID().uuidString
            if !dryRun {
                // In the audit log before anything moves: a replay killed half-way is on record.
                try admin.audit.append(
                    AuditLog.Entry(
                        who: admin.who, action: "replay-begun", target: roles.roles.map(\.name).joined(separator: ","),
                        filter: filters.filter.description, count: 0, details: ["replay_id": replayID]))
            }
            let report = try await admin.withAdmin { _, engine in
                try await engine.replay(
                    roles.roles, filter: filters.filter, limit: limit, rate: rate, canary: canary,
                    canaryWait: .seconds(canaryWait), dryRun: dryRun, by: admin.who, replayID: replayID)
            }
            try admin.audit.append(
                AuditLog.Entry(
                    who: admin.who, action: dryRun ? "replay-dry-run" : "replay",
                    target: roles.roles.map(\.name).joined(separator: ","), filter: filters.filter.description,
                    count: dryRun ? report.selected : report.replayed,
                    details: [
                        "replay_id": report.replayID, "selected": "\(report.selected)", "failed": "\(report.failed)",
                        "canaries_failed": "\(report.canariesFailed)",
                    ]))
            if dryRun {
                print("dry run: \(report.selected) dead letters would be replayed (replay \(report.replayID)):")
                for letter in report.letters {
                    print(
                        [
                            "  " + TerminalText.shown(letter.messageID), TerminalText.shown(letter.role),
                            TerminalText.shown(letter.code),
                            "→ " + TerminalText.shown(letter.originalQueue ?? letter.originalRoutingKey),
                        ].joined(separator: "  "))
                }
                return
            }
            print(
                "replay \(report.replayID): \(report.replayed) of \(report.selected) replayed, \(report.failed) left in the dead letters"
            )
            if report.stoppedAfterCanary {
                print(
                    "stopped: \(report.canariesFailed) canary message(s) came back to the dead letters; the rest was not replayed"
                )
                throw ExitCode(2)
            }
            if report.failed > 0 { throw ExitCode(1) }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write dead letters to JSON Lines (masked unless --reveal, which is audited); nothing is removed.")
        @OptionGroup var admin: AdminOptions
        @OptionGroup var roles: RoleOptions
        @OptionGroup var filters: FilterOptions
        @Option(
            help: ArgumentHelp("A new file, owner-only (it must not exist yet; default: standard output).", valueName: "path"))
        var output: String?
        @Flag(help: "Bodies unmasked (written to the audit log).") var reveal = false

        func run() async throws {

            PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
            let letters = try await admin.withAdmin { _, engine in try await engine.list(roles.roles, filter: filters.filter) }
            struct Line: Encodable {
                let messageID, queue, role, code, kind, fingerprint, failureMessage, body: String
                let contractType: String?
                let contractVersion: Int?
                let firstFailure, lastFailure: Date?
                let attempts, replayCount: Int
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            var data = Data()
            func masked(_ text: String) -> String { reveal ? text : PersonalData.mask(text) }
            for letter in letters {
                data += try encoder.encode(
                    Line(
                        // The publisher's (a NIK put in a header is masked unless --reveal).
                        messageID: masked(letter.messageID), queue: letter.queue, role: masked(letter.role),
                        code: masked(letter.code), kind: masked(letter.kind), fingerprint: masked(letter.fingerprint),
                        failureMessage: letter.failureText(reveal: reveal), body: letter.bodyText(reveal: reveal),
                        contractType: letter.contractType.map(masked),
                        contractVersion: letter.contractVersion, firstFailure: letter.firstFailure,
                        lastFailure: letter.lastFailure,
                        attempts: letter.attempts, replayCount: letter.replayCount))
                data.append(0x0A)
            }
            data = TerminalText.jsonShown(data)
            // The file first (a path that is refused is no export), then the audit entry.
            let file = try output.map(PrivateFile.create)
            do {
                try admin.audit.append(
                    AuditLog.Entry(
                        who: admin.who, action: reveal ? "export-revealed" : "export",
                        target: roles.roles.map(\.name).joined(separator: ","), filter: filters.filter.description,
                        count: letters.count,
                        details: ["output": output ?? "stdout"]))
            } catch {
                if let output { unlink(output) }
                throw error
            }
            if let output, let file {
                try PrivateFile.write(data, to: file)
                print("exported \(letters.count) dead letters to \(output)")
            } else {
                FileHandle.standardOutput.write(data)
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every dead letter of one role, after a confirmation; audited.")
        @OptionGroup var admin: AdminOptions
        @Option(help: "The role.") var role: String
        @Flag(help: "Do not ask (scripts).") var yes = false

        func validate() throws {
            guard WorkerRole.all.contains(where: { $0.name == role }) else {
                throw ValidationError("unknown role \(role); roles: \(WorkerRole.all.map(\.name).joined(separator: ", "))")
            }
        }

        func run() async throws {

            PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
            let workerRole = WorkerRole.all.first { $0.name == role }!
            let (queue, purged) = try await admin.withAdmin { connection, engine in
                let queue = engine.queues([workerRole])[0].queue
                let depth = try await connection.queueState(queue).messageCount
                if !yes {
                    print(
                        "\(depth) dead letters in \(queue) will be deleted for good. Type the queue name to confirm: ",
                        terminator: "")
                    guard readLine()?.trimmingCharacters(in: .whitespaces) == queue else {
                        print("not confirmed; nothing deleted")
                        throw ExitCode(1)
                    }
                }
                // In the audit log before anything is deleted.
                // Its count is 0: what the purge deletes is in the `purge` entry after it (the
                // depth the broker reported, which a busy quorum queue may give as 0, beside it).
                try admin.audit.append(
                    AuditLog.Entry(
                        who: admin.who, action: "purge-begun", target: queue, count: 0,
                        details: ["reported_depth": "\(depth)"]))
                return (queue, try await engine.purge(queue))
            }
            try admin.audit.append(AuditLog.Entry(who: admin.who, action: "purge", target: queue, count: purged))
            print("purged \(purged) dead letters from \(queue)")
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
