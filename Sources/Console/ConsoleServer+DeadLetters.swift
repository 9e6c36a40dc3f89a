// The dead letters: the list and its groups, one letter (masked, or revealed and audited),
// replay (dry run, canaries, confirmation by message id) and purge.
import Admin
import ContractKit
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Logging
import NIOCore
import Topology

extension ConsoleServer {
    // MARK: Dead letters

    func deadLettersPage(_ session: ConsoleSession, request: Request) async throws -> Response {
        let grouping = DeadLetterGrouping(rawValue: String(request.uri.queryParameters["group"] ?? "")) ?? .fingerprint
        let letters: [DeadLetterSummary]
        do {
            letters = try await desk.list(roles: roles)
        } catch {
            return html(
                Page.frame(
                    title: "Dead letters", session: session, active: "dead-letters",
                    body: Page.message("\(error)", kind: "error")))
        }
        let mayReplay = session.role.allows(.replay)
        let disabled: HTML = mayReplay ? .empty : " disabled title=\"needs the operator role\""
        var body: HTML = "<p>Group by: "
        for option in DeadLetterGrouping.allCases {
            body +=
                option == grouping
                ? "<b>\(option.label)</b> " : "<a href=\"/dead-letters?group=\(option.rawValue)\">\(option.label)</a> "
        }
        body += "</p>"
        if letters.isEmpty { body += Page.message("No dead letters.", kind: "ok") }
        let groups = Dictionary(grouping: letters) { grouping.key(of: $0) }.sorted { $0.value.count > $1.value.count }
        body += """
            <h2>Groups</h2><table id="groups"><tr><th>\(grouping.label)</th><th>Messages</th><th>Roles</th>\
            <th>Example failure</th><th>Last failure</th><th></th></tr>
            """
        for (key, members) in groups {
            let last = members.compactMap(\.lastFailure).max()
            body += """
                <tr class="group"><td><code>\(key)</code></td><td class="number">\(members.count)</td>\
                <td>\(Set(members.map(\.role)).sorted().joined(separator: ", "))</td>\
                <td>\(members[0].failureText)</td><td>\(last?.formatted(.iso8601) ?? "–")</td><td>\
                <form method="post" action="/dead-letters/replay" class="inline">\(csrfField(session))\
                \(grouping.hiddenFields(of: members[0]))\
                <button name="action" value="dry-run"\(disabled)>Dry run</button> \
                <button name="action" value="replay"\(disabled)>Replay group</button></form></td></tr>
                """
        }
        body += """
            </table><h2>Messages</h2>
            <form method="post" action="/dead-letters/replay" id="selection">\(csrfField(session))
            <table id="letters"><tr><th></th><th>Message</th><th>Role</th><th>Code</th><th>Contract</th>\
            <th>Attempts</th><th>Last failure</th><th>Replays</th></tr>
            """
        for letter in letters {
            body += """
                <tr class="letter" data-message-id="\(letter.messageID)">\
                <td><input type="checkbox" name="id" value="\(letter.messageID)" aria-label="select \(letter.messageID)"></td>\
                <td><a href="/dead-letters/message?id=\(query: letter.messageID)">\(letter.messageID)</a></td>\
                <td>\(letter.role)</td><td><code>\(letter.code)</code></td>\
                <td>\(letter.contractType ?? "?") v\(letter.contractVersion.map(String.init) ?? "?")</td>\
                <td class="number">\(letter.attempts)</td><td>\(letter.lastFailure?.formatted(.iso8601) ?? "–")</td>\
                <td class="number">\(letter.replayCount)</td></tr>
                """
        }
        body += """
            </table><fieldset><legend>Selected messages</legend>
            <label>Canary: replay first <input type="number" name="canary" value="0" min="0" max="1000" id="canary"> \
            and stop if any comes back</label>
            <button name="action" value="dry-run" id="dry-run-selected"\(disabled)>Dry run</button>
            <button name="action" value="replay" id="replay-selected"\(disabled)>Replay selected</button></fieldset></form>
            """
        if session.role.allows(.purgeAndReveal) {
            body += "<h2>Purge</h2><form method=\"post\" action=\"/dead-letters/purge\" id=\"purge\">\(csrfField(session))"
            body += "<label>Role <select name=\"role\">"
            for role in roles { body += "<option value=\"\(role.name)\">\(role.name)</option>" }
            body += """
                </select></label> <label>Type the dead-letter queue's name to confirm \
                <input name="confirm" autocomplete="off"></label> <button type="submit">Purge</button></form>
                """
        }
        return html(Page.frame(title: "Dead letters", session: session, active: "dead-letters", body: body))
    }

    func deadLetterPage(_ session: ConsoleSession, id: String, reveal: Bool) async throws -> Response {
        guard let letter = try await desk.find(messageID: id, roles: roles, reveal: reveal) else {
            return html(
                Page.frame(
                    title: "Dead letter", session: session, active: "dead-letters",
                    body: Page.message("No dead letter with message id \(id) (replayed or purged?).", kind: "error")),
                .notFound)
        }
        if reveal {
            try configuration.auditLog.append(
                AuditLog.Entry(
                    who: who(session), action: "reveal", target: letter.queue, count: 1,
                    details: ["message_id": letter.messageID, "via": "console"]))
        }
        let fields: [(String, String)] = [
            ("Message id", letter.messageID), ("Queue", letter.queue), ("Role", letter.role), ("Code", letter.code),
            ("Kind", letter.kind), ("Fingerprint", letter.fingerprint),
            ("Contract", "\(letter.contractType ?? "?") v\(letter.contractVersion.map(String.init) ?? "?")"),
            ("Attempts", "\(letter.attempts)"), ("First failure", letter.firstFailure?.formatted(.iso8601) ?? "–"),
            ("Last failure", letter.lastFailure?.formatted(.iso8601) ?? "–"),
            ("Failed in", letter.originalQueue ?? letter.originalRoutingKey ?? "–"), ("Replays", "\(letter.replayCount)"),
            ("Failure", letter.failureText),
        ]
        var body: HTML = "<table id=\"record\">"
        for (name, value) in fields { body += "<tr><th>\(name)</th><td>\(value)</td></tr>" }
        body += """
            </table><h2>Body \(reveal ? "(personal data revealed; audited)" : "(personal data masked)")</h2>
            <pre id="body">\(letter.body)</pre>
            <form method="post" action="/dead-letters/replay" class="inline">\(csrfField(session))\
            <input type="hidden" name="id" value="\(letter.messageID)">\
            <button name="action" value="dry-run"\(session.role.allows(.replay) ? "" : " disabled")>Dry run</button> \
            <button name="action" value="replay" id="replay-one"\(session.role.allows(.replay) ? "" : " disabled")>Replay</button></form>
            """
        if session.role.allows(.purgeAndReveal) && !reveal {
            body += """
                 <form method="post" action="/dead-letters/reveal" class="inline">\(csrfField(session))\
                <input type="hidden" name="id" value="\(letter.messageID)">\
                <button type="submit" id="reveal">Reveal personal data (audited)</button></form>
                """
        }
        return html(Page.frame(title: "Dead letter", session: session, active: "dead-letters", body: body))
    }

    func replay(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        var filter = DeadLetterFilter()
        filter.messageIDs = Set(form.all("id"))
        filter.fingerprints = Set(form.all("fingerprint"))
        filter.codes = Set(form.all("code"))
        if let type = form.first("type"), !type.isEmpty { filter.contractType = type }
        if let version = form.first("version"), !version.isEmpty {
            guard let number = Int(version), number > 0 else {
                return html(
                    Page.frame(
                        title: "Replay", session: session, active: "dead-letters",
                        body: Page.message("The contract version must be a positive number.", kind: "error")), .badRequest)
            }
            filter.contractVersion = number
        }
        let dryRun = form.first("action") != "replay"
        let canary = max(0, min(1000, Int(form.first("canary") ?? "0") ?? 0))
        guard !(filter.messageIDs.isEmpty && filter.fingerprints.isEmpty && filter.codes.isEmpty && filter.contractType == nil)
        else {
            return html(
                Page.frame(
                    title: "Replay", session: session, active: "dead-letters",
                    body: Page.message("Select messages or a group first.", kind: "error")), .badRequest)
        }
        let report = try await desk.replay(
            roles: roles, filter: filter, canary: canary, canaryWait: configuration.canaryWait, dryRun: dryRun,
            by: who(session))
        try configuration.auditLog.append(
            AuditLog.Entry(
                who: who(session), action: dryRun ? "replay-dry-run" : "replay",
                target: roles.map(\.name).joined(separator: ","), filter: filter.description,
                count: dryRun ? report.selected : report.replayed,
                details: [
                    "replay_id": report.replayID, "selected": "\(report.selected)", "failed": "\(report.failed)",
                    "canaries_failed": "\(report.canariesFailed)", "via": "console",
                ]))
        var body: HTML
        if dryRun {
            body = Page.message("Dry run: \(report.selected) dead letter(s) would be replayed. Nothing was moved.")
            body += "<table id=\"dry-run\"><tr><th>Message</th><th>Role</th><th>Code</th><th>Back to</th></tr>"
            for letter in report.letters {
                body += """
                    <tr><td>\(letter.messageID)</td><td>\(letter.role)</td><td>\(letter.code)</td>\
                    <td>\(letter.originalQueue ?? letter.originalRoutingKey ?? "–")</td></tr>
                    """
            }
            body += "</table>"
            if report.selected > 0 {
                // The confirmation replays exactly what was previewed (by message id), not the
                // filter again (which could take letters that arrived since).
                body += "<form method=\"post\" action=\"/dead-letters/replay\">\(csrfField(session))"
                for id in Set(report.letters.map(\.messageID)).sorted() {
                    body += "<input type=\"hidden\" name=\"id\" value=\"\(id)\">"
                }
                body += "<input type=\"hidden\" name=\"canary\" value=\"\(canary)\">"
                body +=
                    "<button name=\"action\" value=\"replay\" id=\"confirm-replay\">Replay these \(report.selected)</button></form>"
            }
        } else if report.stoppedAfterCanary {
            body = Page.message(
                "Stopped: \(report.canariesFailed) canary message(s) came back to the dead letters; \(report.replayed) replayed, the rest left in place.",
                kind: "error")
        } else {
            body = Page.message(
                "Replay \(report.replayID): \(report.replayed) of \(report.selected) replayed, \(report.failed) left in the dead letters.",
                kind: report.failed == 0 ? "ok" : "error")
        }
        body += "<p><a href=\"/dead-letters\">Back to the dead letters</a> · <a href=\"/audit\">Audit log</a></p>"
        return html(
            Page.frame(title: dryRun ? "Replay: dry run" : "Replay", session: session, active: "dead-letters", body: body))
    }

    func purge(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        guard let name = form.first("role"), let role = roles.first(where: { $0.name == name }) else {
            return html(
                Page.frame(title: "Purge", session: session, body: Page.message("Unknown role.", kind: "error")), .badRequest)
        }
        let queue = RoleTopology(role: role, prefix: configuration.topologyPrefix).deadLetterQueue
        guard form.first("confirm") == queue else {
            return html(
                Page.frame(
                    title: "Purge", session: session, active: "dead-letters",
                    body: Page.message("Not purged: type \(queue) to confirm.", kind: "error")), .badRequest)
        }
        let purged = try await desk.purge(queue)
        try configuration.auditLog.append(
            AuditLog.Entry(who: who(session), action: "purge", target: queue, count: purged, details: ["via": "console"]))
        return html(
            Page.frame(
                title: "Purge", session: session, active: "dead-letters",
                body: Page.message("Purged \(purged) dead letter(s) from \(queue).", kind: "ok")))
    }

    func who(_ session: ConsoleSession) -> String { "\(session.user) (console)" }
}

/// How the dead-letter page groups.
enum DeadLetterGrouping: String, CaseIterable {
    case fingerprint, code, type

    var label: String {
        switch self {
        case .fingerprint: "Fingerprint"
        case .code: "Error code"
        case .type: "Contract type and version"
        }
    }

    /// The replay form's fields that select a group of this kind (a letter of the group given).
    func hiddenFields(of letter: DeadLetterSummary) -> HTML {
        func field(_ name: String, _ value: String) -> HTML {
            "<input type=\"hidden\" name=\"\(name)\" value=\"\(value)\">"
        }
        switch self {
        case .fingerprint: return field("fingerprint", letter.fingerprint)
        case .code: return field("code", letter.code)
        case .type:
            // A letter whose contract could not be read has no type: select those by message id.
            guard let type = letter.contractType else { return field("id", letter.messageID) }
            return field("type", type) + (letter.contractVersion.map { field("version", String($0)) } ?? "")
        }
    }

    func key(of letter: DeadLetterSummary) -> String {
        switch self {
        case .fingerprint: letter.fingerprint
        case .code: letter.code
        case .type: "\(letter.contractType ?? "?") v\(letter.contractVersion.map(String.init) ?? "?")"
        }
    }
}
