// The pages that read: programme progress, the roles' queues, the audit log.
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
    // MARK: Progress

    func progressPage(_ session: ConsoleSession) async throws -> Response {
        let report = try await ProgressReport.read(from: store, catalogue: configuration.catalogue)
        let reviews = try await ReviewQueue.read(from: store, limit: 0)
        let number = { (value: Int) in IndonesianText.number(value) }
        var gapRows: HTML = ""
        for gap in report.gaps {
            gapRows += """
                <tr data-centre="\(gap.key)"><td>\(gap.label)</td><td class="number">\(number(gap.gap))</td>\
                <td class="number">\(number(gap.notYetCompetent))</td><td class="number">\(number(gap.mayRetake))</td>\
                <td class="number">\(number(gap.waiting))</td></tr>
                """
        }
        var body: HTML = "<div class=\"cards\">"
        for stage in report.funnel {
            body += """
                <div class="card" id="count-\(stage.key)"><span>\(stage.label)</span>\
                <b data-count="\(stage.count)">\(number(stage.count))</b></div>
                """
        }
        body += """
            <div class="card" id="count-rejected"><span>Ditolak</span><b data-count="\(report.rejected)">\
            \(number(report.rejected))</b></div>
            <div class="card" id="count-waitlisted"><span>Daftar tunggu</span><b data-count="\(report.waitlisted)">\
            \(number(report.waitlisted))</b></div>
            <div class="card" id="count-reviews"><span><a href="/reviews">Menunggu verifikasi</a></span>\
            <b data-count="\(reviews.count)">\(number(reviews.count))</b>\
            <small>\(reviews.oldestAgeSeconds.map { "terlama " + IndonesianText.duration($0) } ?? "")</small>\
            </div></div>
            <p class="muted" id="certified-meaning"><b>Kompeten</b> = memegang sertifikat kompetensi BNSP (dicatat dari \
            nomor yang diberikan LSP) yang tidak dicabut. Sertifikat pelatihan dari BLKI saja tidak dihitung.</p>
            <h2>Alur peserta</h2>\(Chart.funnel(report.funnel))
            <h2>Per BLKI: kompeten dibanding target 2025</h2>
            \(Chart.targets(report.centres, id: "centre-chart", acceptedLabel: "Diterima", doneLabel: "Kompeten"))
            <h2>Menutup selisih dengan target</h2><table id="gaps"><tr><th>BLKI</th><th>Selisih</th>\
            <th>BELUM KOMPETEN</th><th>di antaranya boleh uji ulang</th><th>Di daftar tunggu</th></tr>\
            \(gapRows)</table>
            <h2>Pemagangan yang ditempatkan dibanding \(number(report.apprenticeships.target)) tempat</h2>
            \(Chart.targets([report.apprenticeships], id: "apprenticeship-chart", acceptedLabel: "Diterima", doneLabel: "Ditempatkan"))
            <h2>Per sektor (KBLI): kompeten dibanding kursi yang direncanakan</h2>
            \(Chart.targets(report.sectors, id: "sector-chart", acceptedLabel: "Diterima", doneLabel: "Kompeten"))
            <h2>Tabel</h2><table id="targets"><tr><th>Kelompok</th><th>Diterima</th><th>Kompeten / ditempatkan</th>\
            <th>Target</th></tr>
            """
        for line in report.centres + [report.apprenticeships] + report.sectors {
            body += """
                <tr><td>\(line.label)</td><td class="number">\(number(line.accepted))</td>\
                <td class="number">\(number(line.certified))</td><td class="number">\(number(line.target))</td></tr>
                """
        }
        body += """
            </table><p class="muted">Dari model baca konsol sendiri (antrean \
            \(RoleTopology(role: .console, prefix: configuration.topologyPrefix).queue)); diperbarui setiap 5 detik, \
            terakhir \(IndonesianText.dateTime(report.updatedAt)). Diberi tahu = diberi tahu setelah sertifikat \
            kompetensinya tercatat.</p>
            """
        return html(Page.frame(title: "Kemajuan program", session: session, active: "progress", refreshSeconds: 5, body: body))
    }

    // MARK: Queues

    func queuesPage(_ session: ConsoleSession) async throws -> Response {
        let rows: [QueueStatusRow]
        do {
            rows = try await desk.status(roles: roles, management: configuration.management)
        } catch {
            return brokerUnavailable(error, title: "Antrean", active: "queues", session: session)
        }
        func rate(_ value: Double?) -> String { value.map(IndonesianText.decimal) ?? "–" }
        func optional(_ value: Int?) -> String { value.map { IndonesianText.number($0) } ?? "–" }
        var body: HTML = """
            <table id="queues"><tr><th>Peran</th><th>Antrean</th><th>Siap</th><th>Belum di-ack</th><th>Konsumen</th>\
            <th>Masuk/detik</th><th>Ack/detik</th><th>Tingkat coba ulang</th><th>Pesan gagal</th>\
            <th>Pesan gagal tertua</th></tr>
            """
        for row in rows {
            let tiers = row.retryTiers.map { (name: $0.key.replacingOccurrences(of: "retry.", with: ""), depth: $0.value) }
                .sorted { Self.delaySeconds($0.name) < Self.delaySeconds($1.name) }
                .map { "\($0.name): \(IndonesianText.number($0.depth))" }.joined(separator: " · ")
            let rates = queueRates.observe(queue: row.queue, published: row.published, acknowledged: row.acknowledged)
            body += """
                <tr data-role="\(row.role)"><td>\(row.role)</td><td>\(row.queue)</td>\
                <td class="number">\(IndonesianText.number(row.ready))</td><td class="number">\(optional(row.unacknowledged))</td>\
                <td class="number">\(IndonesianText.number(row.consumers))</td>\
                <td class="number rate-in">\(rate(rates?.incoming))</td>\
                <td class="number rate-ack">\(rate(rates?.acknowledged))</td><td class="tiers">\(tiers)</td>\
                <td class="number dead">\(IndonesianText.number(row.deadLetters))</td>\
                <td>\(row.oldestDeadLetterAgeSeconds.map { IndonesianText.duration($0) } ?? "–")</td></tr>
                """
        }
        body += """
            </table><p class="muted">Kedalaman dari broker; belum di-ack dan laju dari API manajemen\
            \(configuration.management == nil ? " (tidak dikonfigurasi: tanpa laju)" : ""). Laju dihitung dari penghitung \
            broker selama sedikitnya 10 detik terakhir pembacaan halaman ini (halaman dimuat ulang setiap 5 detik; \
            sebelum konsol membacanya selama 10 detik, laju belum ada: –). Umur pesan tertua yang belum diproses di \
            antrean peran ada di metrik pekerja <code>jobs_oldest_unprocessed_age_seconds</code>.</p>
            """
        let missing = rows.filter { $0.managementProblem != nil }.map(\.role)
        if !missing.isEmpty {
            // The reason stays in the log (it may name the API's address); the page says where.
            for row in rows where row.managementProblem != nil {
                logger.warning(
                    "console: the management API gave no figures for a queue",
                    metadata: ["queue": "\(row.queue)", "error": "\(row.managementProblem ?? "")"])
            }
            body += """
                <p class="muted" id="management-missing">API manajemen tidak memberi angka untuk antrean peran: \
                \(missing.joined(separator: ", ")) (–). Alasannya ada di log konsol.</p>
                """
        }
        return html(Page.frame(title: "Antrean", session: session, active: "queues", refreshSeconds: 5, body: body))
    }

    /// The page for a broker the console cannot read: the reason goes to the log (it may name
    /// hosts and users), the page says what to do.
    func brokerUnavailable(_ error: any Error, title: String, active: String, session: ConsoleSession) -> Response {
        let text: String
        if configuration.adminBroker == nil {
            text =
                "Halaman ini memerlukan broker dengan akun admin: jalankan konsol dengan --admin-url "
                + "(atau KALTIM_ADMIN_URL)."
        } else {
            logger.warning("console: the broker cannot be read", metadata: ["error": "\(error)"])
            text = "Broker tidak dapat dibaca saat ini (rinciannya ada di log konsol). Muat ulang sebentar lagi."
        }
        return html(
            Page.frame(title: title, session: session, active: active, body: Page.message(text, kind: "error")),
            .serviceUnavailable)
    }

    /// `5s`, `30s`, `5m`, `2h` → seconds, to order the retry tiers.
    static func delaySeconds(_ text: String) -> Double {
        let number = Double(text.prefix { $0.isNumber || $0 == "." }) ?? 0
        switch text.last {
        case "m": return number * 60
        case "h": return number * 3600
        default: return number
        }
    }

    static func age(_ seconds: Double) -> String {
        switch seconds {
        case ..<90: String(format: "%.0f s", seconds)
        case ..<5400: String(format: "%.0f min", seconds / 60)
        case ..<172_800: String(format: "%.1f h", seconds / 3600)
        default: String(format: "%.1f d", seconds / 86400)
        }
    }

    // MARK: Audit

    func auditPage(_ session: ConsoleSession) throws -> Response {
        let entries: [AuditLog.Entry]
        let unreadable: Int
        do {
            (entries, unreadable) = try configuration.auditLog.read()
        } catch {
            // The error names the file on the server: it goes to the log, not to the page.
            logger.error("console: cannot read the audit log", metadata: ["error": "\(error)"])
            return html(
                Page.frame(
                    title: "Log audit", session: session, active: "audit",
                    body: Page.message("Log audit tidak dapat dibaca (rinciannya ada di log konsol).", kind: "error")))
        }
        var body: HTML =
            unreadable == 0
            ? ""
            : Page.message(
                "\(unreadable) baris log audit tidak terbaca (terpotong atau diubah) dan tidak ditampilkan; "
                    + "periksa berkas log audit di server.", kind: "error")
        body += """
            <table id="audit" class="audit"><colgroup><col class="when"><col class="who"><col class="action">\
            <col class="target"><col class="filter"><col class="count"><col class="details"></colgroup>\
            <tr><th>Waktu (WITA)</th><th>Oleh</th><th>Tindakan</th><th>Sasaran</th><th>Saringan</th>\
            <th>Jumlah</th><th>Rincian</th></tr>
            """
        for entry in entries.reversed().prefix(500) {
            let details = entry.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let when = Self.auditDate(entry.at).map(IndonesianText.dateTime) ?? "tidak terbaca: \(entry.at)"
            body += """
                <tr class="entry"><td>\(when)</td><td>\(entry.who)</td><td>\(entry.action)</td>\
                <td>\(entry.target)</td><td>\(entry.filter ?? "")</td><td class="number">\(entry.count)</td>\
                <td>\(details)</td></tr>
                """
        }
        body += """
            </table><p class="muted">Log yang sama dengan <code>kaltim-admin</code>; terbaru di atas, paling banyak 500 \
            baris; selebihnya ada di berkas log audit di server (JSON Lines).</p>
            """
        return html(Page.frame(title: "Log audit", session: session, active: "audit", body: body))
    }

    /// An audit entry's time (ISO 8601, as the log writes it), or nil for anything else.
    static func auditDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
