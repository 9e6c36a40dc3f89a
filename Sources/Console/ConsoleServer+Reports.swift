// Laporan: the reports' page and CSV, and one registration's progress by its number.
import Admin
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Logging
import NIOCore

extension ConsoleServer {
    /// The BLKI a user's reports are limited to (a BLKI administrator's own), or nil for all.
    func reportCentre(_ session: ConsoleSession) -> String? { session.role == .blki ? session.centre ?? "-" : nil }

    /// The lines of the report `dimension`, or a message saying why there are none.
    func reportLines(_ session: ConsoleSession, _ dimension: ReportDimension) async throws -> Result<[ReportLine], ReportRefusal>
    {
        var profiles: [String: String] = [:]
        if dimension.needsIntakeStore {
            guard let intake = configuration.intakeStore else { return .failure(.noIntakeStore) }
            do {
                profiles = try await ProgrammeReports.profiles(dimension, in: intake)
            } catch {
                logger.warning("console: intake's profiles cannot be read", metadata: ["error": "\(error)"])
                return .failure(.intakeUnreadable)
            }
        }
        let registrations = try await ProgrammeReports.registrations(in: store, centre: reportCentre(session))
        return .success(
            ProgrammeReports.lines(registrations, by: dimension, profiles: profiles, programmeName: programmeName))
    }

    /// Why a report cannot be shown.
    enum ReportRefusal: Error {
        case noIntakeStore, intakeUnreadable

        var text: String {
            switch self {
            case .noIntakeStore:
                "Laporan ini membaca profil ringkas pendaftar dari penyimpanan intake: jalankan konsol dengan --intake-store."
            case .intakeUnreadable: "Penyimpanan intake tidak dapat dibaca saat ini (rinciannya ada di log konsol)."
            }
        }
    }

    func reportsPage(_ session: ConsoleSession, request: Request) async throws -> Response {
        let dimension =
            ReportDimension(rawValue: String(request.uri.queryParameters["menurut"] ?? "")) ?? .centreProgramme
        var body: HTML = """
            <p class="muted">Jumlah saja, tanpa data pribadi. Mendaftar = pendaftaran yang masuk ke intake; kompeten = \
            sertifikat kompetensi BNSP yang tidak dicabut; daftar tunggu = diterima, belum mendapat kursi, tidak \
            mengundurkan diri\(session.role == .blki ? "; hanya BLKI Anda" : "").</p><p id="report-menu">Menurut: 
            """
        for option in ReportDimension.allCases {
            body +=
                option == dimension
                ? "<b>\(option.title)</b> · " : "<a href=\"/laporan?menurut=\(option.rawValue)\">\(option.title)</a> · "
        }
        body += "</p><h2>\(dimension.title)</h2>"
        switch try await reportLines(session, dimension) {
        case .failure(let refusal):
            body += Page.message(refusal.text, kind: "error")
        case .success(let lines):
            let hiding = dimension.hidesSmallFigures && !session.role.allows(.seeSmallFigures)
            let shown = ProgrammeReports.shown(lines, hidingSmall: hiding)
            if hiding {
                body += """
                    <p class="muted" id="small-figures">Semua angka laporan ini dibulatkan ke kelipatan 5 terdekat, jumlah \
                    juga, dan angka 1 sampai 4 ditampilkan sebagai &lt;5, agar selisih antarangka tidak menunjuk \
                    seseorang. Petugas verifikasi dan admin melihat angka sebenarnya.</p>
                    """
            }
            body += """
                <table id="report" data-dimension="\(dimension.rawValue)"><tr><th>Kelompok</th><th>Mendaftar</th>\
                <th>Diterima</th><th>Ditolak</th><th>Daftar tunggu</th><th>Dijadwalkan</th><th>Kompeten</th></tr>
                """
            var total = ReportLine(key: "", label: "Jumlah")
            // Each BLKI's waiting list for a programme, for those who may see who waits.
            let listsWaiting = dimension == .centreProgramme && session.role.allows(.lookUpRegistration)
            for (line, figures) in zip(lines, shown) {
                body += "<tr class=\"line\" data-key=\"\(line.key)\"><td>\(line.label)</td>"
                for (column, figure) in figures.enumerated() {
                    let parts = line.key.split(separator: "|").map(String.init)
                    if listsWaiting, column == 3, line.waiting > 0, parts.count == 2 {
                        body += """
                            <td class="number"><a class="waiting-list" \
                            href="/laporan/daftar-tunggu?blki=\(query: parts[0])&amp;program=\(query: parts[1])">\(figure)</a></td>
                            """
                    } else {
                        body += "<td class=\"number\">\(figure)</td>"
                    }
                }
                body += "</tr>"
                total.registered += line.registered
                total.accepted += line.accepted
                total.rejected += line.rejected
                total.waiting += line.waiting
                total.scheduled += line.scheduled
                total.certified += line.certified
            }
            var totals: HTML = ""
            for figure in ProgrammeReports.shown([total], hidingSmall: hiding)[0] {
                totals += "<th class=\"number\">\(figure)</th>"
            }
            body += """
                <tr class="total"><th>Jumlah</th>\(totals)</tr></table>
                <p><a href="/laporan.csv?menurut=\(dimension.rawValue)" id="report-csv">Unduh CSV</a></p>
                """
        }
        if session.role.allows(.lookUpRegistration) {
            body += """
                <h2>Cari pendaftaran</h2>
                <form method="get" action="/laporan/pendaftaran" id="lookup"><label>Nomor pendaftaran \
                <input name="nomor" maxlength="64" autocomplete="off" required></label> <button type="submit">Cari</button></form>
                <p class="muted">Konsol tidak menyimpan nama atau NIK. Setiap pencarian dicatat di log audit. Petugas \
                verifikasi melihat nama dalam berkas kasus.</p>
                <h2>Ekspor untuk Kemnaker</h2>
                <p><a href="/laporan/kemnaker.csv" id="kemnaker-csv">Unduh CSV peserta pelatihan</a>: satu baris per \
                kursi, dengan daftar ulang, kehadiran, hasil pelatihan, hasil uji kompetensi dan nomor sertifikat BNSP \
                dari LSP\(configuration.certificatesStore == nil ? "" : ", dengan nama peserta"). Tanpa NIK: cocokkan \
                dengan data BLKI menurut nomor peserta. Setiap unduhan dicatat di log audit.</p>
                """
            if configuration.certificatesStore != nil {
                body += """
                    <h2>Cari peserta menurut nama</h2>
                    <form method="post" action="/laporan/peserta" id="name-search">\(csrfField(session))<label>Nama \
                    (sebagian, paling sedikit 3 huruf) <input name="nama" minlength="3" maxlength="100" autocomplete="off" \
                    required></label> <button type="submit">Cari</button></form>
                    <p class="muted">Peserta yang sudah diterima, menurut nama pada sertifikatnya (dari layanan sertifikat). \
                    Tidak ada pencarian menurut NIK. Setiap pencarian dicatat di log audit, tanpa nama yang diketik.</p>
                    """
            }
        }
        return html(Page.frame(title: "Laporan", session: session, active: "reports", body: body))
    }

    func reportCSV(_ session: ConsoleSession, request: Request) async throws -> Response {
        let dimension =
            ReportDimension(rawValue: String(request.uri.queryParameters["menurut"] ?? "")) ?? .centreProgramme
        guard case .success(let lines) = try await reportLines(session, dimension) else {
            return Response(
                status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "laporan ini tidak tersedia\n")))
        }
        // A byte-order mark first: a spreadsheet then reads the file as UTF-8 ("–", "·").
        var csv = "\u{FEFF}kelompok,kode,mendaftar,diterima,ditolak,daftar_tunggu,dijadwalkan,kompeten\r\n"
        let hiding = dimension.hidesSmallFigures && !session.role.allows(.seeSmallFigures)
        for (line, figures) in zip(lines, ProgrammeReports.shown(lines, hidingSmall: hiding)) {
            let plain = figures.map { $0.replacingOccurrences(of: ".", with: "") }  // 1.500 → 1500 in a CSV
            csv += ([Self.csvField(line.label), Self.csvField(line.key)] + plain).joined(separator: ",") + "\r\n"
        }
        return csvDownload(csv, filename: "laporan-\(dimension.rawValue).csv")
    }

    func registrationLookup(_ session: ConsoleSession, request: Request) async throws -> Response {
        let number = String(request.uri.queryParameters["nomor"] ?? "").trimmingCharacters(in: .whitespaces)
        guard number.wholeMatch(of: /[A-Za-z0-9._-]{1,64}/) != nil else {
            return html(
                Page.frame(
                    title: "Cari pendaftaran", session: session, active: "reports",
                    body: Page.message(
                        "Nomor pendaftaran terdiri dari huruf, angka, titik, garis bawah atau tanda hubung (paling banyak 64).",
                        kind: "error") + "<p><a href=\"/laporan\">Kembali ke laporan</a></p>"), .badRequest)
        }
        let found = try await ProgrammeReports.registration(number, in: store, centre: reportCentre(session))
        // One person's steps: who looked, at which number, is kept (a number can be guessed).
        do {
            try configuration.auditLog.append(
                .init(
                    who: who(session), action: "registration-lookup", target: number, count: found == nil ? 0 : 1,
                    details: ["via": "console"]))
        } catch {
            logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
            return html(
                Page.frame(
                    title: "Cari pendaftaran", session: session, active: "reports",
                    body: Page.message("Pencarian tidak dapat dicatat di log audit, jadi tidak dijalankan.", kind: "error")),
                .serviceUnavailable)
        }
        guard let found else {
            return html(
                Page.frame(
                    title: "Cari pendaftaran", session: session, active: "reports",
                    body: Page.message("Pendaftaran \(number) tidak ditemukan.", kind: "error")
                        + "<p><a href=\"/laporan\">Kembali ke laporan</a></p>"), .notFound)
        }
        func when(_ date: Date?) -> String { date.map(IndonesianText.dateTime) ?? "–" }
        // The tier says who failed before: only for those who decide on applicants.
        let tier =
            session.role.allows(.seeSmallFigures)
            ? found.tier.map { ProgrammeReports.label(String($0), .priority, programmeName: programmeName) } ?? "–"
            : "(hanya untuk petugas verifikasi dan admin)"
        let certified =
            found.certifiedAt.map { IndonesianText.dateTime($0) + (found.revoked ? " (DICABUT)" : "") } ?? "–"
        let fields: [(String, String)] = [
            ("Nomor pendaftaran", found.registrationID), ("Nomor peserta", found.participantID ?? "–"),
            ("BLKI", found.centre.map(IndonesianText.centre) ?? "–"), ("Program", found.programme.map(programmeName) ?? "–"),
            ("Tingkat prioritas", tier), ("Mendaftar", when(found.registeredAt)), ("Diterima", when(found.acceptedAt)),
            ("Ditolak", when(found.rejectedAt)), ("Masuk daftar tunggu", when(found.waitlistedAt)),
            ("Mendapat kursi", when(found.scheduledAt)), ("Mengundurkan diri / dikeluarkan", when(found.withdrawnAt)),
            ("Diuji", when(found.assessedAt)), ("Sertifikat kompetensi", certified),
            ("Diberi tahu", when(found.notifiedAt)),
        ]
        var body: HTML = "<table id=\"registration\">"
        for (name, value) in fields { body += "<tr><th>\(name)</th><td>\(value)</td></tr>" }
        body += "</table><p><a href=\"/laporan\">Kembali ke laporan</a></p>"
        return html(Page.frame(title: "Pendaftaran \(found.registrationID)", session: session, active: "reports", body: body))
    }

    /// `POST /laporan/peserta`: accepted participants whose certificate name contains the text
    /// typed (3–100 characters and at most 400 bytes, one line; ASCII letters in any case,
    /// other letters as written), from the certificates role's `cert_holders`, with their
    /// registration, BLKI and programme from the read model; a BLKI administrator finds their
    /// own BLKI's only. At most 50 registrations are shown, and a user makes at most
    /// ``ConsoleConfiguration/nameSearchesPerHour`` searches an hour (a list of everyone cannot
    /// be drawn up by trying every syllable). Each search is audited
    /// (`participant-name-search`, the participant ids found, not the text typed: the audit log
    /// is kept long after an erasure). The text is sent in the form's body, so that it stays
    /// out of addresses and access logs.
    func participantNameSearch(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        func page(_ body: HTML, _ status: HTTPResponse.Status = .ok) -> Response {
            html(
                Page.frame(
                    title: "Cari peserta menurut nama", session: session, active: "reports",
                    body: body + "<p><a href=\"/laporan\">Kembali ke laporan</a></p>"), status)
        }
        guard let certificates = configuration.certificatesStore else {
            return page(
                Page.message(
                    "Pencarian menurut nama memerlukan penyimpanan layanan sertifikat (--certificates-store).", kind: "error"),
                .serviceUnavailable)
        }
        // Composed (NFC) as names are stored, and only ASCII letters folded: SQLite's LOWER and
        // PostgreSQL's in the "C" collation fold nothing else.
        let text = (form.first("nama") ?? "").trimmingCharacters(in: .whitespaces).precomposedStringWithCanonicalMapping
        guard (3...100).contains(text.count), text.utf8.count <= 400,
            !text.unicodeScalars.contains(where: {
                $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
                    || $0 == "\u{2028}" || $0 == "\u{2029}"
            })
        else {
            return page(Page.message("Ketik 3 sampai 100 huruf dari nama, satu baris.", kind: "error"), .unprocessableContent)
        }
        guard nameSearches.allow(session.user, perHour: configuration.nameSearchesPerHour) else {
            return page(
                Page.message(
                    "Batas pencarian menurut nama (\(configuration.nameSearchesPerHour) per jam) sudah tercapai; coba lagi nanti.",
                    kind: "error"), .tooManyRequests)
        }
        // LIKE's own characters are taken literally.
        var pattern = "%"
        for character in text {
            if character == "%" || character == "_" || character == "\\" { pattern.append("\\") }
            pattern.append(character.isASCII ? Character(character.lowercased()) : character)
        }
        pattern.append("%")
        let holders = try await certificates.read(
            """
            SELECT participant_id, full_name FROM cert_holders WHERE LOWER(full_name) LIKE ? ESCAPE '\\'
            ORDER BY full_name, participant_id
            """, [.text(pattern)])
        var names: [String: String] = [:]
        var order: [String] = []
        for holder in holders {
            guard let participant = holder["participant_id"]?.text, let name = holder["full_name"]?.text else { continue }
            names[participant] = name
            order.append(participant)
        }
        // Their registrations, 500 participants a query, a BLKI administrator's own BLKI only,
        // until more than 50 are found.
        struct Found {
            let name, participant, registration: String
            let centre, programme: String?
        }
        var found: [Found] = []
        let centre = reportCentre(session)
        for start in stride(from: 0, to: order.count, by: 500) where found.count <= 50 {
            let chunk = Array(order[start..<min(start + 500, order.count)])
            var sql =
                "SELECT registration_id, participant_id, centre, programme FROM console_registrations WHERE participant_id IN ("
                + Array(repeating: "?", count: chunk.count).joined(separator: ", ") + ")"
            var arguments = chunk.map(SQLValue.text)
            if let centre {
                sql += " AND centre = ?"
                arguments.append(.text(centre))
            }
            var rows: [String: [Found]] = [:]
            for row in try await store.read(sql + " ORDER BY registration_id", arguments) {
                guard let participant = row["participant_id"]?.text, let registration = row["registration_id"]?.text else {
                    continue
                }
                rows[participant, default: []].append(
                    Found(
                        name: names[participant] ?? "", participant: participant, registration: registration,
                        centre: row["centre"]?.text, programme: row["programme"]?.text))
            }
            for participant in chunk { found += rows[participant] ?? [] }
        }
        let shown = found.prefix(50)
        let participants = Set(shown.map(\.participant))
        do {
            try configuration.auditLog.append(
                .init(
                    who: who(session), action: "participant-name-search", target: "nama", count: participants.count,
                    details: ["via": "console", "participants": participants.sorted().joined(separator: ",")]))
        } catch {
            logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
            return page(
                Page.message("Pencarian tidak dapat dicatat di log audit, jadi tidak dijalankan.", kind: "error"),
                .serviceUnavailable)
        }
        guard !shown.isEmpty else {
            return page(Page.message("Tidak ada peserta dengan nama yang memuat teks itu.", kind: "error"), .notFound)
        }
        var body: HTML = """
            <table id="name-results"><tr><th>Nama</th><th>Nomor peserta</th><th>Nomor pendaftaran</th><th>BLKI</th>\
            <th>Program</th></tr>
            """
        for item in shown {
            body += """
                <tr><td>\(item.name)</td><td>\(item.participant)</td>\
                <td><a href="/laporan/pendaftaran?nomor=\(query: item.registration)">\(item.registration)</a></td>\
                <td>\(item.centre.map(IndonesianText.centre) ?? "–")</td>\
                <td>\(item.programme.map(programmeName) ?? "–")</td></tr>
                """
        }
        body += "</table>"
        if found.count > shown.count {
            body += Page.message("Lebih dari 50 pendaftaran: ketik nama lebih lengkap.")
        }
        return page(body)
    }
}
