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

    func deadLettersPage(_ session: ConsoleSession, request: Request, flash: HTML = .empty) async throws -> Response {
        let grouping = DeadLetterGrouping(rawValue: String(request.uri.queryParameters["group"] ?? "")) ?? .fingerprint
        let letters: [DeadLetterSummary]
        do {
            letters = try await desk.list(roles: roles)
        } catch {
            return brokerUnavailable(error, title: "Pesan gagal", active: "dead-letters", session: session)
        }
        let mayReplay = session.role.allows(.replay)
        let disabled: HTML = mayReplay ? .empty : " disabled title=\"perlu peran operator atau admin\""
        var body: HTML = flash
        body += """
            <p class="muted">Pesan gagal (<i>dead letter</i>) adalah pesan yang tidak dapat diproses pekerja: \
            kesalahan permanen (misalnya isi yang rusak), atau masih gagal setelah semua percobaan ulang. Kirim ulang setelah penyebabnya diperbaiki; coba dulu dengan uji coba (tidak \
            memindahkan apa pun) atau dengan beberapa pesan uji (<i>canary</i>).</p><p>Kelompokkan menurut: 
            """
        for option in DeadLetterGrouping.allCases {
            body +=
                option == grouping
                ? "<b>\(option.label)</b> " : "<a href=\"/dead-letters?group=\(option.rawValue)\">\(option.label)</a> "
        }
        body += "</p>"
        if letters.isEmpty { body += Page.message("Tidak ada pesan gagal.", kind: "ok") }
        let groups = Dictionary(grouping: letters) { grouping.key(of: $0) }.sorted { $0.value.count > $1.value.count }
        body += """
            <h2>Kelompok</h2><table id="groups"><tr><th>\(grouping.label)</th><th>Pesan</th><th>Peran</th>\
            <th>Contoh kegagalan</th><th>Kegagalan terakhir</th><th></th></tr>
            """
        for (key, members) in groups {
            let last = members.compactMap(\.lastFailure).max()
            body += """
                <tr class="group"><td><code>\(key)</code></td><td class="number">\(members.count)</td>\
                <td>\(Set(members.map(\.role)).sorted().joined(separator: ", "))</td>\
                <td>\(members[0].failureText)</td><td>\(last.map(IndonesianText.dateTime) ?? "–")</td><td>\
                <form method="post" action="/dead-letters/replay" class="inline">\(csrfField(session))\
                \(grouping.hiddenFields(of: members[0]))\
                <button name="action" value="dry-run"\(disabled)>Uji coba</button> \
                <button name="action" value="replay"\(disabled)>Kirim ulang kelompok</button></form></td></tr>
                """
        }
        body += """
            </table><h2>Pesan</h2>
            <form method="post" action="/dead-letters/replay" id="selection">\(csrfField(session))
            <table id="letters"><tr><th></th><th>Pesan</th><th>Peran</th><th>Kode</th><th>Kontrak</th>\
            <th>Percobaan</th><th>Kegagalan terakhir</th><th>Dikirim ulang</th></tr>
            """
        for letter in letters {
            body += """
                <tr class="letter" data-message-id="\(letter.messageID)">\
                <td><input type="checkbox" name="id" value="\(letter.messageID)" aria-label="pilih \(letter.messageID)"></td>\
                <td><a href="/dead-letters/message?id=\(query: letter.messageID)">\(letter.messageID)</a></td>\
                <td>\(letter.role)</td><td><code>\(letter.code)</code></td>\
                <td>\(letter.contractType ?? "?") v\(letter.contractVersion.map(String.init) ?? "?")</td>\
                <td class="number">\(letter.attempts)</td><td>\(letter.lastFailure.map(IndonesianText.dateTime) ?? "–")</td>\
                <td class="number">\(letter.replayCount)</td></tr>
                """
        }
        body += """
            </table><fieldset><legend>Pesan yang dipilih</legend>
            <label>Pesan uji (<i>canary</i>): kirim ulang dulu \
            <input type="number" name="canary" value="0" min="0" max="1000" id="canary"> pesan, tunggu \
            \(IndonesianText.duration(Double(configuration.canaryWait.components.seconds))), dan berhenti bila ada yang \
            kembali gagal</label>
            <button name="action" value="dry-run" id="dry-run-selected"\(disabled)>Uji coba</button>
            <button name="action" value="replay" id="replay-selected"\(disabled)>Kirim ulang yang dipilih</button>\
            </fieldset></form>
            """
        if session.role.allows(.purgeAndReveal) {
            body += """
                <h2>Hapus semua pesan gagal satu peran</h2><p class="muted">Tidak dapat dibatalkan. Untuk memastikan, \
                ketik nama antrean pesan gagal peran itu persis seperti tertulis di tabel ini.</p>
                <form method="post" action="/dead-letters/purge" id="purge">\(csrfField(session))
                <table id="purge-names"><tr><th>Peran</th><th>Nama yang diketik</th></tr>
                """
            for role in roles {
                let queue = RoleTopology(role: role, prefix: configuration.topologyPrefix).deadLetterQueue
                body += """
                    <tr data-role="\(role.name)"><td>\(role.name)</td><td><code class="name">\(queue)</code></td></tr>
                    """
            }
            body += "</table><label>Peran <select name=\"role\">"
            for role in roles { body += "<option value=\"\(role.name)\">\(role.name)</option>" }
            body += """
                </select></label> <label>Nama antrean pesan gagalnya \
                <input name="confirm" autocomplete="off"></label> <button type="submit">Hapus</button></form>
                """
        }
        return html(Page.frame(title: "Pesan gagal", session: session, active: "dead-letters", body: body))
    }

    func deadLetterPage(_ session: ConsoleSession, id: String, reveal: Bool) async throws -> Response {
        let found: DeadLetterSummary?
        do {
            found = try await desk.find(messageID: id, roles: roles, reveal: reveal)
        } catch {
            return brokerUnavailable(error, title: "Pesan gagal", active: "dead-letters", session: session)
        }
        guard let letter = found else {
            return html(
                Page.frame(
                    title: "Pesan gagal", session: session, active: "dead-letters",
                    body: Page.message(
                        "Tidak ada pesan gagal dengan id \(id) (sudah dikirim ulang atau dihapus?).", kind: "error")),
                .notFound)
        }
        if reveal {
            try configuration.auditLog.append(
                AuditLog.Entry(
                    who: who(session), action: "reveal", target: letter.queue, count: 1,
                    details: ["message_id": letter.messageID, "via": "console"]))
        }
        let fields: [(String, String)] = [
            ("Id pesan", letter.messageID), ("Antrean", letter.queue), ("Peran", letter.role), ("Kode", letter.code),
            ("Jenis", letter.kind), ("Sidik kegagalan", letter.fingerprint),
            ("Kontrak", "\(letter.contractType ?? "?") v\(letter.contractVersion.map(String.init) ?? "?")"),
            ("Percobaan", "\(letter.attempts)"), ("Kegagalan pertama", letter.firstFailure.map(IndonesianText.dateTime) ?? "–"),
            ("Kegagalan terakhir", letter.lastFailure.map(IndonesianText.dateTime) ?? "–"),
            ("Gagal di", letter.originalQueue ?? letter.originalRoutingKey ?? "–"), ("Dikirim ulang", "\(letter.replayCount)"),
            ("Kegagalan", letter.failureText),
        ]
        var body: HTML = "<table id=\"record\">"
        for (name, value) in fields { body += "<tr><th>\(name)</th><td>\(value)</td></tr>" }
        body += """
            </table><h2>Isi pesan \(reveal ? "(data pribadi dibuka; tercatat di log audit)" : "(data pribadi disamarkan)")</h2>
            <pre id="body">\(letter.body)</pre>
            <form method="post" action="/dead-letters/replay" class="inline">\(csrfField(session))\
            <input type="hidden" name="id" value="\(letter.messageID)">\
            <button name="action" value="dry-run"\(session.role.allows(.replay) ? "" : " disabled")>Uji coba</button> \
            <button name="action" value="replay" id="replay-one"\(session.role.allows(.replay) ? "" : " disabled")>\
            Kirim ulang</button></form>
            """
        if session.role.allows(.purgeAndReveal) && !reveal {
            body += """
                 <form method="post" action="/dead-letters/reveal" class="inline">\(csrfField(session))\
                <input type="hidden" name="id" value="\(letter.messageID)">\
                <button type="submit" id="reveal">Buka data pribadi (tercatat di log audit)</button></form>
                """
        }
        return html(Page.frame(title: "Pesan gagal", session: session, active: "dead-letters", body: body))
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
                        title: "Kirim ulang", session: session, active: "dead-letters",
                        body: Page.message("Versi kontrak harus bilangan bulat positif.", kind: "error")), .badRequest)
            }
            filter.contractVersion = number
        }
        let dryRun = form.first("action") != "replay"
        let canary = max(0, min(1000, Int(form.first("canary") ?? "0") ?? 0))
        guard !(filter.messageIDs.isEmpty && filter.fingerprints.isEmpty && filter.codes.isEmpty && filter.contractType == nil)
        else {
            return html(
                Page.frame(
                    title: "Kirim ulang", session: session, active: "dead-letters",
                    body: Page.message("Pilih dulu pesan atau satu kelompok.", kind: "error")), .badRequest)
        }
        let report: ReplayReport
        do {
            report = try await desk.replay(
                roles: roles, filter: filter, canary: canary, canaryWait: configuration.canaryWait, dryRun: dryRun,
                by: who(session))
        } catch {
            // Some messages may be back in their queues already: the attempt is audited, and
            // the page does not invite a reload (which would post the replay again).
            logger.warning("console: a replay stopped", metadata: ["error": "\(error)"])
            if !dryRun {
                do {
                    // How many went back before it stopped is not known: the count is 0 and says so.
                    try configuration.auditLog.append(
                        AuditLog.Entry(
                            who: who(session), action: "replay-failed", target: roles.map(\.name).joined(separator: ","),
                            filter: filter.description, count: 0, details: ["via": "console", "replayed": "unknown"]))
                } catch {
                    logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
                }
            }
            let text =
                dryRun
                ? "Uji coba tidak dapat dijalankan: broker tidak dapat dihubungi (rinciannya ada di log konsol). "
                    + "Tidak ada yang dipindahkan."
                : "Kirim ulang terhenti: broker tidak dapat dihubungi (rinciannya ada di log konsol). Sebagian pesan "
                    + "mungkin sudah dikirim ulang; periksa daftar pesan gagal sebelum mencoba lagi."
            return html(
                Page.frame(
                    title: "Kirim ulang", session: session, active: "dead-letters",
                    body: Page.message(text, kind: "error") + "<p><a href=\"/dead-letters\">Kembali ke pesan gagal</a></p>"),
                .serviceUnavailable)
        }
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
            body = Page.message(
                "Uji coba: \(report.selected) pesan gagal akan dikirim ulang. Belum ada yang dipindahkan.")
            body += "<table id=\"dry-run\"><tr><th>Pesan</th><th>Peran</th><th>Kode</th><th>Kembali ke</th></tr>"
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
                    "<button name=\"action\" value=\"replay\" id=\"confirm-replay\">Kirim ulang \(report.selected) pesan ini</button></form>"
            }
        } else if report.stoppedAfterCanary {
            let untouched = report.selected - report.replayed - report.failed
            return redirect(
                session, to: "/dead-letters",
                flash: Page.message(
                    "Berhenti: \(report.canariesFailed) dari \(report.replayed) pesan uji kembali ke pesan gagal. "
                        + (untouched > 0 ? "\(untouched) pesan lainnya tidak dikirim ulang. " : "")
                        + "Perbaiki penyebabnya sebelum mencoba lagi.",
                    kind: "error"))
        } else {
            // Done: back to the list, which shows the outcome once (a reload replays nothing).
            let back = report.failed == 0 ? "" : " \(report.failed) tidak dapat dikirim dan tetap di pesan gagal."
            return redirect(
                session, to: "/dead-letters",
                flash: Page.message(
                    "Kirim ulang \(report.replayID): \(report.replayed) dari \(report.selected) pesan dikirim ulang.\(back)"
                        + (canary > 0 && report.replayed > 0 ? " Pesan uji tidak kembali gagal selama waktu tunggu." : ""),
                    kind: report.failed == 0 ? "ok" : "error"))
        }
        body += "<p><a href=\"/dead-letters\">Kembali ke pesan gagal</a>"
        if session.role.allows(.viewOperations) { body += " · <a href=\"/audit\">Log audit</a>" }
        body += "</p>"
        return html(
            Page.frame(
                title: dryRun ? "Kirim ulang: uji coba" : "Kirim ulang", session: session, active: "dead-letters", body: body))
    }

    func purge(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        guard let name = form.first("role"), let role = roles.first(where: { $0.name == name }) else {
            return html(
                Page.frame(title: "Hapus", session: session, body: Page.message("Peran tidak dikenal.", kind: "error")),
                .badRequest)
        }
        let queue = RoleTopology(role: role, prefix: configuration.topologyPrefix).deadLetterQueue
        guard form.first("confirm") == queue else {
            return html(
                Page.frame(
                    title: "Hapus", session: session, active: "dead-letters",
                    body: Page.message(
                        "Tidak dihapus: nama yang diketik bukan \(queue). Ketik nama itu untuk memastikan.", kind: "error")),
                .badRequest)
        }
        let purged: Int
        do {
            purged = try await desk.purge(queue)
        } catch {
            logger.warning("console: a purge failed", metadata: ["error": "\(error)"])
            return html(
                Page.frame(
                    title: "Hapus", session: session, active: "dead-letters",
                    body: Page.message(
                        "Penghapusan tidak dapat dijalankan: broker tidak dapat dihubungi (rinciannya ada di log konsol).",
                        kind: "error") + "<p><a href=\"/dead-letters\">Kembali ke pesan gagal</a></p>"), .serviceUnavailable)
        }
        try configuration.auditLog.append(
            AuditLog.Entry(who: who(session), action: "purge", target: queue, count: purged, details: ["via": "console"]))
        return redirect(
            session, to: "/dead-letters", flash: Page.message("\(purged) pesan gagal dihapus dari \(queue).", kind: "ok"))
    }

    func who(_ session: ConsoleSession) -> String { "\(session.user) (console)" }
}

/// How the dead-letter page groups.
enum DeadLetterGrouping: String, CaseIterable {
    case fingerprint, code, type

    var label: String {
        switch self {
        case .fingerprint: "Sidik kegagalan"
        case .code: "Kode kesalahan"
        case .type: "Jenis dan versi kontrak"
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
