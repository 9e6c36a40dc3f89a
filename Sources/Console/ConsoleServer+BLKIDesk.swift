// A BLKI administrator's desk, in Bahasa Indonesia: their own BLKI's classes with the seated
// participants (participant numbers only: the console keeps no personal data), and the records
// the BLKI makes: daftar ulang, the training result, a withdrawal. Each is recorded with its
// event in the console's store and published through its outbox, as `kaltim-worker reregister`,
// `training-result` and `withdraw` publish them from the command line; scheduling, grading and
// certificates check them as they check those.
import ContractKit
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import NIOCore
import ReviewDesk

extension ConsoleServer {
    /// One seat of a class roster.
    struct RosterSeat {
        let participantID: String
        let reRegistered: Bool?
        let attendance: Double?
        let trainingPassed: Bool?
        let withdrawnAt: Date?
        let withdrawalReason: String?
        /// The records sent from this console for the seat and not seen back yet, by kind
        /// (`daftar-ulang`, `hasil-pelatihan`, `pengunduran-diri`) → the action sent.
        var sent: [String: String] = [:]

        init(_ row: [String: SQLValue]) {
            participantID = row["participant_id"]?.text ?? ""
            reRegistered = row["reregistered"]?.integer.map { $0 == 1 }
            attendance = row["attendance"]?.real
            trainingPassed = row["training_passed"]?.integer.map { $0 == 1 }
            withdrawnAt = row["withdrawn_at"]?.real.map(Date.init(timeIntervalSince1970:))
            withdrawalReason = row["withdrawal_reason"]?.text
        }

        /// What the BLKI recorded, as recorded (scheduling or certificates may still refuse a
        /// record that contradicts theirs; the refusal is a dead letter for the operators); a
        /// record sent from the console and not back through the pipeline yet says so.
        var status: String {
            if withdrawnAt != nil { return "keluar (\(ConsoleServer.withdrawalLabel(withdrawalReason)))" }
            if sent["pengunduran-diri"] != nil { return "pengunduran diri dikirim, menunggu diproses" }
            if let trainingPassed { return trainingPassed ? "dicatat LULUS pelatihan" : "dicatat TIDAK LULUS pelatihan" }
            if let action = sent["hasil-pelatihan"] {
                return action == "hasil-pelatihan-lulus"
                    ? "hasil LULUS pelatihan dikirim, menunggu diproses"
                    : "hasil TIDAK LULUS pelatihan dikirim, menunggu diproses"
            }
            switch reRegistered {
            case true?: return "daftar ulang dicatat: hadir"
            case false?: return "daftar ulang dicatat: tidak hadir"
            case nil:
                if let action = sent["daftar-ulang"] {
                    return action == "daftar-ulang-hadir"
                        ? "daftar ulang dikirim: hadir, menunggu diproses"
                        : "daftar ulang dikirim: tidak hadir, menunggu diproses"
                }
                return "lulus seleksi, belum daftar ulang"
            }
        }
    }

    /// `GET /blki`: the classes of the administrator's BLKI.
    func blkiPage(_ session: ConsoleSession) async throws -> Response {
        guard let centre = session.centre else { return refusal(session, needs: .runBLKIDesk) }
        let rows = try await store.read(
            """
            SELECT s.class_id, MIN(s.programme) AS programme, MIN(s.start_date) AS start_date, MIN(s.end_date) AS end_date,
                SUM(CASE WHEN r.withdrawn_at IS NULL THEN 1 ELSE 0 END) AS seated,
                SUM(CASE WHEN r.withdrawn_at IS NULL AND r.reregistered = 1 THEN 1 ELSE 0 END) AS reregistered,
                SUM(CASE WHEN r.withdrawn_at IS NOT NULL THEN 1 ELSE 0 END) AS withdrawn,
                SUM(CASE WHEN r.training_passed = 1 THEN 1 ELSE 0 END) AS passed
            FROM console_seats s
            LEFT JOIN console_seat_records r ON r.participant_id = s.participant_id AND r.class_id = s.class_id
            WHERE s.centre = ? GROUP BY s.class_id ORDER BY MIN(s.start_date), s.class_id
            """, [.text(centre)])
        var body: HTML = "<p>Kelas \(IndonesianText.centre(centre)) beserta pesertanya.</p>"
        if rows.isEmpty {
            body += "<p id=\"classes-empty\">Belum ada peserta yang ditempatkan di kelas BLKI ini.</p>"
        } else {
            body += """
                <table id="classes"><tr><th>Kelas</th><th>Program</th><th>Mulai</th><th>Selesai</th><th>Peserta</th>\
                <th>Sudah daftar ulang</th><th>Keluar</th><th>LULUS pelatihan</th></tr>
                """
            for row in rows {
                let classID = row["class_id"]?.text ?? ""
                body += """
                    <tr class="class" data-class="\(classID)"><td><a href="/blki/class?id=\(percentEncoded(classID))">\
                    \(classID)</a></td><td>\(programmeName(row["programme"]?.text ?? ""))</td>\
                    <td>\(IndonesianText.date(row["start_date"]?.text ?? ""))</td>\
                    <td>\(IndonesianText.date(row["end_date"]?.text ?? ""))</td>\
                    <td class="number">\(Int(row["seated"]?.integer ?? 0))</td>\
                    <td class="number">\(Int(row["reregistered"]?.integer ?? 0))</td>\
                    <td class="number">\(Int(row["withdrawn"]?.integer ?? 0))</td>\
                    <td class="number">\(Int(row["passed"]?.integer ?? 0))</td></tr>
                    """
            }
            body += "</table>"
        }
        return html(Page.frame(title: "Kelas BLKI", session: session, active: "blki", body: body, language: "id"))
    }

    /// The class's roster when the class is the administrator's BLKI's; nil otherwise.
    func roster(_ session: ConsoleSession, classID: String) async throws -> (
        programme: String, start: String, end: String, window: String?, seats: [RosterSeat]
    )? {
        guard let centre = session.centre, Self.isClassID(classID) else { return nil }
        let rows = try await store.read(
            """
            SELECT s.*, r.reregistered, r.attendance, r.training_passed, r.withdrawn_at, r.withdrawal_reason
            FROM console_seats s
            LEFT JOIN console_seat_records r ON r.participant_id = s.participant_id AND r.class_id = s.class_id
            WHERE s.centre = ? AND s.class_id = ? ORDER BY s.participant_id
            """, [.text(centre), .text(classID)])
        guard let first = rows.first else { return nil }
        let window = first["reregistration_start"]?.text.map { start in
            "\(IndonesianText.date(start)) – \(IndonesianText.date(first["reregistration_end"]?.text ?? start))"
        }
        // What this console sent for the class (each kind once per seat: its `once` key).
        var sent: [String: [String: String]] = [:]
        for action in try await store.read(
            "SELECT subject, action, once_key FROM console_staff_actions WHERE class_id = ? AND once_key IS NOT NULL",
            [.text(classID)])
        {
            guard let participant = action["subject"]?.text, let kind = action["once_key"]?.text?.split(separator: ":").first,
                let name = action["action"]?.text
            else { continue }
            sent[participant, default: [:]][String(kind)] = name
        }
        return (
            first["programme"]?.text ?? "", first["start_date"]?.text ?? "", first["end_date"]?.text ?? "", window,
            rows.map { row in
                var seat = RosterSeat(row)
                seat.sent = sent[seat.participantID] ?? [:]
                return seat
            }
        )
    }

    /// `GET /blki/class?id=…`: the roster, with a form for each record the BLKI makes.
    func classPage(_ session: ConsoleSession, classID: String, flash: HTML = .empty) async throws -> Response {
        guard let roster = try await roster(session, classID: classID) else {
            return deskRefusal(session, "Kelas", "Kelas ini tidak ada di BLKI Anda.", .notFound, active: "blki")
        }
        let today = configuration.today()
        var body: HTML = flash
        body += """
            <dl class="case"><dt>Program</dt><dd>\(programmeName(roster.programme))</dd>\
            <dt>Pelatihan</dt><dd>\(IndonesianText.date(roster.start)) – \(IndonesianText.date(roster.end))</dd>\
            <dt>Daftar ulang</dt><dd>\(roster.window ?? "belum ditetapkan")</dd></dl>
            <p class="no-print"><a href="/blki/class.csv?id=\(percentEncoded(classID))" id="roster-csv">Daftar hadir (CSV)</a> · \
            <a href="/blki/class/daftar-hadir?id=\(percentEncoded(classID))" id="attendance-sheet">Daftar hadir untuk dicetak</a> · \
            halaman ini pun dapat dicetak sebagai daftar peserta (Ctrl+P)</p>
            <table id="roster"><tr><th>No. peserta</th><th>Status</th><th>Kehadiran</th><th>Daftar ulang</th>\
            <th>Hasil pelatihan</th><th>Pengunduran diri</th></tr>
            """
        for seat in roster.seats {
            let hidden: HTML = """
                \(csrfField(session))<input type="hidden" name="participant" value="\(seat.participantID)">\
                <input type="hidden" name="class" value="\(classID)">
                """
            var reRegister: HTML = "–"
            var training: HTML = "–"
            var withdraw: HTML = "–"
            // A withdrawal sent ends what else the BLKI can record for the seat.
            if seat.withdrawnAt == nil && seat.sent["pengunduran-diri"] == nil {
                if seat.reRegistered == nil && seat.sent["daftar-ulang"] == nil && today < roster.start {
                    reRegister = """
                        <form method="post" action="/blki/record" class="inline">\(hidden)\
                        <button name="action" value="attended">Hadir</button> \
                        <button name="action" value="absent">Tidak hadir</button></form>
                        """
                }
                if seat.trainingPassed == nil && seat.sent["hasil-pelatihan"] == nil && seat.reRegistered == true
                    && today >= roster.end
                {
                    training = """
                        <form method="post" action="/blki/record" class="inline">\(hidden)\
                        <input type="hidden" name="action" value="training">\
                        <input name="attendance" type="number" min="0" max="100" step="0.1" required aria-label="Kehadiran (%)">\
                        <select name="result" aria-label="Hasil"><option value="lulus">LULUS</option>\
                        <option value="tidak-lulus">TIDAK LULUS</option></select> <button>Catat</button></form>
                        """
                }
                withdraw = """
                    <form method="post" action="/blki/record" class="inline">\(hidden)\
                    <input type="hidden" name="action" value="withdraw">\
                    <select name="reason" aria-label="Alasan"><option value="resigned">mengundurkan diri</option>\
                    <option value="attendance">kehadiran kurang dari 80%</option>\
                    <option value="administrative">administratif</option></select>\
                    <input name="on" type="date" aria-label="Tanggal keluar"> <button>Catat</button></form>
                    """
            }
            let attendance = seat.attendance.map { String(format: "%.1f%%", $0).replacingOccurrences(of: ".", with: ",") } ?? "–"
            body += """
                <tr class="seat" data-participant="\(seat.participantID)"><td>\(seat.participantID)</td>\
                <td class="status">\(seat.status)</td><td class="number">\(attendance)</td><td>\(reRegister)</td>\
                <td>\(training)</td><td>\(withdraw)</td></tr>
                """
        }
        body += """
            </table><p class="muted">Yang tidak daftar ulang kehilangan kursinya; kursi itu diberikan kepada peserta \
            cadangan kelas ini menurut urutannya, atau bila tidak ada, kepada peserta berikutnya di daftar tunggu. \
            Kursi yang ditinggalkan setelah kelas dimulai tidak diisi lagi. Daftar ulang dicatat sampai hari kelas \
            dimulai, hasil pelatihan setelah kelas selesai; LULUS memerlukan kehadiran minimal 80%. Setiap catatan \
            dikirim atas nama Anda dan dicatat di log audit.</p>
            """
        return html(
            Page.frame(title: "Kelas \(classID)", session: session, active: "blki", body: body, language: "id"))
    }

    /// `GET /blki/class.csv?id=…`: the roster as a daftar hadir (participant numbers only).
    func classRosterCSV(_ session: ConsoleSession, classID: String) async throws -> Response {
        guard let roster = try await roster(session, classID: classID) else {
            return Response(status: .notFound, body: ResponseBody(byteBuffer: ByteBuffer(string: "kelas tidak ditemukan\n")))
        }
        var csv = "kelas,no_peserta,status,daftar_ulang,kehadiran_persen,hasil_pelatihan\r\n"
        for seat in roster.seats {
            let fields = [
                classID, seat.participantID, seat.status,
                seat.reRegistered.map { $0 ? "hadir" : "tidak hadir" } ?? "",
                seat.attendance.map { String(format: "%.1f", $0) } ?? "",
                seat.trainingPassed.map { $0 ? "LULUS" : "TIDAK LULUS" } ?? "",
            ]
            csv += fields.map(Self.csvField).joined(separator: ",") + "\r\n"
        }
        return csvDownload(csv, filename: "daftar-hadir-\(classID).csv")
    }

    /// `POST /blki/record`: daftar ulang (`attended`, `absent`), a training result (`training`)
    /// or a withdrawal (`withdraw`) for a participant seated in one of the BLKI's classes.
    func recordForClass(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        let classID = form.first("class") ?? ""
        let participant = form.first("participant") ?? ""
        guard let roster = try await roster(session, classID: classID),
            let seat = roster.seats.first(where: { $0.participantID == participant })
        else {
            return deskRefusal(
                session, "Catatan ditolak", "Peserta ini tidak duduk di kelas BLKI Anda.", .notFound, active: "blki")
        }
        func refuse(_ text: String, _ status: HTTPResponse.Status = .unprocessableContent) async throws -> Response {
            var response = try await classPage(
                session, classID: classID, flash: Page.message("Tidak dicatat: \(text)", kind: "error"))
            response.status = status
            return response
        }
        guard seat.withdrawnAt == nil else { return try await refuse("peserta ini sudah keluar dari kelas.", .conflict) }
        // As the page shows: after a withdrawal was sent, nothing else for the seat.
        guard seat.sent["pengunduran-diri"] == nil else {
            return try await refuse("pengunduran diri peserta ini sudah dikirim.", .conflict)
        }
        let by = session.user
        let today = configuration.today()
        let recorded: Bool
        let done: String
        /// Records `data` for this seat: its event id, source and once-key all name the seat.
        func recordSeat<M: ContractMessage>(_ data: M, kind: String, source: String, action: String) async throws -> Bool {
            try await record(
                EventEnvelope(
                    id: "\(kind)-\(participant)-\(UUID().uuidString)", source: "/kaltim/console/\(source)", subject: participant,
                    data: data),
                session: session, action: action, subject: participant, classID: classID,
                once: "\(source):\(participant):\(classID)")
        }
        switch form.first("action") {
        case "attended", "absent":
            let attended = form.first("action") == "attended"
            guard seat.reRegistered == nil else { return try await refuse("daftar ulang peserta ini sudah dicatat.", .conflict) }
            // After the start a missing participant is a withdrawal (the seat is not refilled).
            guard today < roster.start else {
                return try await refuse("kelas sudah dimulai; catat pengunduran diri bila peserta tidak hadir.")
            }
            recorded = try await recordSeat(
                EnrolmentReRegisteredV1(participantID: participant, classID: classID, attended: attended, recordedBy: by),
                kind: "reregistered", source: "daftar-ulang",
                action: attended ? "daftar-ulang-hadir" : "daftar-ulang-tidak-hadir")
            done = attended ? "daftar ulang \(participant): hadir" : "daftar ulang \(participant): tidak hadir"
        case "training":
            guard let attendance = Double((form.first("attendance") ?? "").replacingOccurrences(of: ",", with: ".")),
                attendance.isFinite, (0...100).contains(attendance)
            else { return try await refuse("kehadiran adalah angka 0 sampai 100.") }
            let passed: Bool
            switch form.first("result") {
            case "lulus": passed = true
            case "tidak-lulus": passed = false
            default: return try await refuse("pilih LULUS atau TIDAK LULUS.")
            }
            if passed && attendance < 80 { return try await refuse("LULUS memerlukan kehadiran minimal 80%.") }
            guard seat.reRegistered == true else { return try await refuse("peserta ini belum daftar ulang.") }
            guard seat.trainingPassed == nil else {
                return try await refuse("hasil pelatihan peserta ini sudah dicatat.", .conflict)
            }
            guard today >= roster.end else {
                return try await refuse("hasil pelatihan dicatat setelah kelas selesai (\(IndonesianText.date(roster.end))).")
            }
            recorded = try await recordSeat(
                TrainingCompletedV1(
                    participantID: participant, classID: classID, attendancePercent: attendance,
                    result: passed ? .passed : .failed, recordedBy: by),
                kind: "training", source: "hasil-pelatihan",
                action: passed ? "hasil-pelatihan-lulus" : "hasil-pelatihan-tidak-lulus")
            done = "hasil pelatihan \(participant): \(passed ? "LULUS" : "TIDAK LULUS")"
        case "withdraw":
            let reason: EnrolmentWithdrawnV1.Reason
            switch form.first("reason") {
            case "resigned": reason = .participantResigned
            case "attendance": reason = .attendanceTooLow
            case "administrative": reason = .administrative
            default: return try await refuse("pilih alasan pengunduran diri.")
            }
            let on = (form.first("on") ?? "").trimmingCharacters(in: .whitespaces)
            let day = on.isEmpty ? today : on
            guard OfficerDecision.isCalendarDate(day) else { return try await refuse("tanggal keluar harus tanggal yang sah.") }
            guard day <= today else { return try await refuse("tanggal keluar tidak boleh setelah hari ini.") }
            // Scheduling refills a seat left before the start: once the class runs, a date before
            // it would put someone into a running class. The office decides such a case.
            guard today < roster.start || day >= roster.start else {
                return try await refuse(
                    "kelas sudah berjalan; tanggal keluar sebelum kelas dimulai dicatat oleh Disnakertrans, bukan dari sini.")
            }
            if reason == .attendanceTooLow && day < roster.start {
                return try await refuse("kehadiran kurang dari 80% hanya dapat dicatat setelah kelas dimulai.")
            }
            recorded = try await recordSeat(
                EnrolmentWithdrawalRequestedV1(
                    participantID: participant, classID: classID, reason: reason, on: day, requestedBy: by),
                kind: "withdrawal", source: "pengunduran-diri", action: "pengunduran-diri")
            done = "pengunduran diri \(participant) per \(IndonesianText.date(day))"
        default:
            return try await refuse("catatan tidak dikenal.", .badRequest)
        }
        guard recorded else { return try await refuse("catatan ini sudah dikirim sebelumnya.", .conflict) }
        return redirect(
            session, to: Self.path("/blki/class", id: classID),
            flash: Page.message("Dicatat atas nama \(by) dan dikirim: \(done).", kind: "ok"))
    }

    static func isClassID(_ id: String) -> Bool { id.wholeMatch(of: /[A-Za-z0-9_-]{1,128}/) != nil }

    static func withdrawalLabel(_ reason: String?) -> String {
        switch reason.flatMap(EnrolmentWithdrawnV1.Reason.init(rawValue:)) {
        case .participantResigned: "mengundurkan diri"
        case .noShow: "tidak hadir daftar ulang"
        case .attendanceTooLow: "kehadiran kurang"
        case .administrative: "administratif"
        case nil: "–"
        }
    }

    /// A CSV file to download as `filename` (a name the console made, never one a request
    /// gave), not kept by a cache on the way.
    func csvDownload(_ text: String, filename: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8", .cacheControl: "no-store",
                .contentDisposition: "attachment; filename=\"\(filename)\"",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A CSV field, quoted when needed, and never read as a formula by a spreadsheet.
    static func csvField(_ value: String) -> String {
        var text = value
        // The first scalar after any spaces, not the first character: `=` with a combining
        // mark is one character and a spreadsheet still reads a formula.
        let lead = text.unicodeScalars.first { !$0.properties.isWhitespace || $0 == "\t" || $0 == "\r" }
        if let lead, "=+-@\t\r".unicodeScalars.contains(lead) { text = "'" + text }
        // `;` too: the list separator of a spreadsheet set to Indonesian.
        guard text.contains(where: { ",;\"\r\n".contains($0) }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
