// The officers' review queue (verifikasi), in Bahasa Indonesia.
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Programme

extension ConsoleServer {
    func reviewsPage(_ session: ConsoleSession) async throws -> Response {
        let queue = try await ReviewQueue.read(from: store)
        let oldest = queue.oldestAgeSeconds.map(IndonesianText.duration) ?? "–"
        var body: HTML = """
            <div class="cards"><div class="card" id="reviews-pending"><span>Menunggu keputusan petugas</span>\
            <b>\(queue.count)</b></div><div class="card" id="reviews-oldest"><span>Terlama menunggu</span>\
            <b>\(oldest)</b></div></div>
            """
        if queue.pending.isEmpty {
            body += "<p id=\"reviews-empty\">Tidak ada pendaftaran yang menunggu verifikasi.</p>"
        } else {
            body += """
                <table id="reviews"><tr><th>No. pendaftaran</th><th>BLKI</th><th>Program</th><th>Masuk verifikasi</th>\
                <th>Lama menunggu</th><th>Alasan</th><th>Permintaan dokumen</th></tr>
                """
            for item in queue.pending {
                let reasons = item.reasons.map { "\($0.message) (\($0.code))" }.joined(separator: "; ")
                var documents = "–"
                if let asked = item.documentsRequestedAt {
                    documents = "\(IndonesianText.dateTime(asked)): \(item.documentsReason ?? "")"
                    if let until = item.respondBy { documents += " — paling lambat \(IndonesianText.date(until))" }
                }
                let number: HTML =
                    session.role.allows(.decideReviews)
                    ? "<a href=\"/reviews/case?id=\(percentEncoded(item.registrationID))\">\(item.registrationID)</a>"
                    : "\(item.registrationID)"
                body += """
                    <tr class="review" data-registration="\(item.registrationID)"><td>\(number)</td>\
                    <td>\(item.centre.map(IndonesianText.centre) ?? "–")</td>\
                    <td>\(item.programme.map(programmeName) ?? "–")</td>\
                    <td>\(IndonesianText.dateTime(item.openedAt))</td>\
                    <td class="number">\(IndonesianText.duration(queue.updatedAt.timeIntervalSince(item.openedAt)))</td>\
                    <td>\(reasons)</td><td>\(documents)</td></tr>
                    """
            }
            body += "</table>"
        }
        body += """
            <p class="muted">Petugas verifikasi membuka berkas kasus (data yang diisi pendaftar di samping data \
            kependudukan, NIK tersamar) dari nomor pendaftaran dan memutuskannya di sini; berkas dibaca dari \
            penyimpanan intake dan tidak disalin ke konsol. Di baris perintah: <code>kaltim-worker review show</code> \
            dan <code>kaltim-worker review decide</code>. \
            Diperbarui setiap 30 detik; metrik: kaltim_reviews_pending, kaltim_review_oldest_pending_age_seconds.</p>
            """
        return html(
            Page.frame(
                title: "Verifikasi pendaftaran", session: session, active: "reviews", refreshSeconds: 30, body: body,
                language: "id"))
    }
}

extension ConsoleServer {
    /// A programme's name from the plan (its code when the plan does not know it).
    func programmeName(_ code: String) -> String {
        configuration.catalogue.centres.flatMap(\.programmes).first { $0.code == code }?.name ?? code
    }
}

/// Dates, times and durations as Indonesians write them, in WITA (UTC+8, East Kalimantan).
enum IndonesianText {
    static let months = [
        "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November",
        "Desember",
    ]

    static func calendar() -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600) ?? .gmt
        return calendar
    }

    /// `5 Desember 2026 17.37 WITA`.
    static func dateTime(_ date: Date) -> String {
        let parts = calendar().dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return String(
            format: "%d %@ %d %02d.%02d WITA", parts.day ?? 1, months[(parts.month ?? 1) - 1], parts.year ?? 1970,
            parts.hour ?? 0, parts.minute ?? 0)
    }

    /// `2025-06-20` → `20 Juni 2025`; anything else as it is.
    static func date(_ text: String) -> String {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else { return text }
        return "\(parts[2]) \(months[parts[1] - 1]) \(parts[0])"
    }

    /// `45 detik`, `12 menit`, `3 jam`, `2 hari`.
    static func duration(_ seconds: Double) -> String {
        let seconds = max(0, seconds)  // an event dated ahead of this clock has waited no time
        return switch seconds {
        case ..<90: "\(Int(seconds.rounded())) detik"
        case ..<5400: "\(Int((seconds / 60).rounded())) menit"
        case ..<172_800: "\(Int((seconds / 3600).rounded())) jam"
        default: "\(Int((seconds / 86400).rounded())) hari"
        }
    }

    /// `1500` → `1.500` (a point groups the thousands).
    static func number(_ value: some BinaryInteger) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped += "." }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// `12.5` → `12,5` (one decimal, a comma before it, points between thousands).
    static func decimal(_ value: Double) -> String {
        // A rate from hostile counters (the management API's JSON) can be anything: past a
        // thousand million million it is no rate.
        guard value.isFinite, abs(value) < 1e15 else { return "–" }
        let tenths = Int((abs(value) * 10).rounded())
        return (value < 0 && tenths > 0 ? "-" : "") + number(tenths / 10) + "," + String(tenths % 10)
    }

    static func centre(_ code: String) -> String {
        switch code {
        case TrainingCentre.balikpapan.rawValue: "BLKI Balikpapan"
        case TrainingCentre.bontang.rawValue: "BLKI Bontang"
        default: code
        }
    }
}
