// The printable daftar hadir of a class: a sheet per training week, with a column per training
// day to sign in, for the BLKI administrator to print (the browser's print, with the console's
// print stylesheet). Names come from the certificates role's store when the console has it,
// and printing them is audited.
import Admin
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Logging

extension ConsoleServer {
    /// The training days of a class: Monday to Friday from its first to its last day (both
    /// given as `YYYY-MM-DD`), grouped by calendar week; empty when the dates are not days or
    /// the class would run longer than a year.
    static func trainingWeeks(from start: String, to end: String) -> [[DateComponents]] {
        let calendar = IndonesianText.calendar()
        func day(_ text: String) -> Date? {
            guard text.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}/) != nil else { return nil }
            let parts = text.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3 else { return nil }
            let components = DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: 12)
            guard let date = calendar.date(from: components),
                calendar.dateComponents([.year, .month, .day], from: date)
                    == DateComponents(year: parts[0], month: parts[1], day: parts[2])
            else { return nil }
            return date
        }
        guard let first = day(start), let last = day(end), first <= last,
            last.timeIntervalSince(first) <= 366 * 86_400
        else { return [] }
        var weeks: [[DateComponents]] = []
        var week: [DateComponents] = []
        var current = first
        while current <= last {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: current)
            // weekday: 1 Sunday … 7 Saturday.
            if let weekday = parts.weekday, (2...6).contains(weekday) {
                if weekday == 2, !week.isEmpty {
                    weeks.append(week)
                    week = []
                }
                week.append(parts)
            }
            guard let next = calendar.date(byAdding: .day, value: 1, to: current) else { break }
            current = next
        }
        if !week.isEmpty { weeks.append(week) }
        return weeks
    }

    static let weekdayNames = ["Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu"]

    /// `GET /blki/class/daftar-hadir?id=…`: the printable daftar hadir of one of the BLKI's
    /// classes, for the participants who hold their seat (not withdrawn, not absent at daftar
    /// ulang).
    func attendanceSheet(_ session: ConsoleSession, classID: String) async throws -> Response {
        guard let roster = try await roster(session, classID: classID), let centre = session.centre else {
            return deskRefusal(session, "Daftar hadir", "Kelas ini tidak ada di BLKI Anda.", .notFound, active: "blki")
        }
        let seats = roster.seats.filter { $0.withdrawnAt == nil && $0.reRegistered != false }
        var names: [String: String] = [:]
        if let certificates = configuration.certificatesStore, !seats.isEmpty {
            for row in try await certificates.read(
                "SELECT participant_id, full_name FROM cert_holders WHERE participant_id IN ("
                    + Array(repeating: "?", count: seats.count).joined(separator: ", ") + ")",
                seats.map { SQLValue.text($0.participantID) })
            {
                if let id = row["participant_id"]?.text, let name = row["full_name"]?.text { names[id] = name }
            }
            do {
                try configuration.auditLog.append(
                    .init(
                        who: who(session), action: "attendance-sheet", target: classID, count: seats.count,
                        details: ["via": "console", "names": String(names.count)]))
            } catch {
                logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
                return deskRefusal(
                    session, "Daftar hadir", "Log audit tidak dapat ditulis; daftar hadir dengan nama tidak dibuat.",
                    .serviceUnavailable, active: "blki")
            }
        }
        let weeks = Self.trainingWeeks(from: roster.start, to: roster.end)
        var body: HTML = """
            <p class="no-print"><a href="/blki/class?id=\(percentEncoded(classID))">Kembali ke kelas</a> · \
            Cetak halaman ini dengan menu Cetak peramban (Ctrl+P): satu lembar per minggu pelatihan.\
            \(configuration.certificatesStore == nil ? " Kolom nama diisi tangan: konsol ini tidak membaca nama peserta." : " Nama dicetak dari data sertifikat; pencetakan ini dicatat di log audit.")</p>
            """
        if seats.isEmpty {
            body += "<p id=\"no-seats\">Tidak ada peserta yang memegang kursi di kelas ini.</p>"
        }
        for (index, week) in weeks.enumerated() where !seats.isEmpty {
            let firstDay = week.first.map { "\($0.day ?? 1) \(IndonesianText.months[($0.month ?? 1) - 1]) \($0.year ?? 0)" } ?? ""
            let lastDay = week.last.map { "\($0.day ?? 1) \(IndonesianText.months[($0.month ?? 1) - 1]) \($0.year ?? 0)" } ?? ""
            body += """
                <section class="sheet" data-week="\(index + 1)">
                <h2>Daftar Hadir Peserta Pelatihan · Minggu ke-\(index + 1) (\(firstDay) – \(lastDay))</h2>
                <dl class="case"><dt>BLKI</dt><dd>\(IndonesianText.centre(centre))</dd>\
                <dt>Program</dt><dd>\(programmeName(roster.programme))</dd><dt>Kelas</dt><dd>\(classID)</dd>\
                <dt>Pelatihan</dt><dd>\(IndonesianText.date(roster.start)) – \(IndonesianText.date(roster.end))</dd></dl>
                <table class="attendance"><tr><th>No.</th><th>No. peserta</th><th>Nama</th>
                """
            for day in week {
                body += """
                    <th class="day">\(Self.weekdayNames[(day.weekday ?? 1) - 1])<br>\(day.day ?? 1)/\(day.month ?? 1)</th>
                    """
            }
            body += "</tr>"
            for (number, seat) in seats.enumerated() {
                body += """
                    <tr class="attendee" data-participant="\(seat.participantID)"><td class="number">\(number + 1)</td>\
                    <td>\(seat.participantID)</td><td class="name">\(names[seat.participantID] ?? "")</td>
                    """
                for _ in week { body += "<td class=\"sign\"></td>" }
                body += "</tr>"
            }
            body += """
                </table>
                <div class="signatures"><p>Instruktur,<br><br><br>(……………………………)</p>\
                <p>Mengetahui, Kepala \(IndonesianText.centre(centre)),<br><br><br>(……………………………)</p></div>
                </section>
                """
        }
        return html(
            Page.frame(title: "Daftar hadir kelas \(classID)", session: session, active: "blki", body: body, language: "id"))
    }
}
