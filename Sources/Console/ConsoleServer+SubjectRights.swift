import ContractKit
import Contracts
import Foundation
import Hummingbird
import IntakeRules
import Jobs

/// The data subject's rights (UU 27/2022) an admin carries out from the console: a correction of
/// how to reach a person (`registration.corrected`) and a withdrawal of consent
/// (`consent.withdrawn`), each recorded under the admin's name, audited and published by the
/// console's outbox; and, when the console was given every role's store (`--subject-store`), a
/// person's export and erasure (``exportSubject(_:_:)``, ``eraseSubject(_:_:)``). Without the
/// stores the page says which `kaltim-admin` commands do them.
extension ConsoleServer {
    /// `GET /subjects`.
    func subjectRightsPage(_ session: ConsoleSession, flash: HTML = .empty, status: HTTPResponse.Status = .ok) -> Response {
        let body: HTML = """
            \(flash)
            <p>Permintaan subjek data pribadi (UU 27/2022). Setiap tindakan dicatat atas nama Anda di log audit \
            dan dikirim sebagai peristiwa ke pipeline.</p>
            <h2>Koreksi data kontak</h2>
            <p>Hanya kolom yang diisi yang diubah: kontak di layanan notifikasi dan pesan yang masih menunggu.</p>
            <form method="post" action="/subjects/correct" id="correct" class="stacked">\(csrfField(session))
            <label>Nomor pendaftaran <input name="registration" required maxlength="64"></label>
            <label>Nama sesuai KTP <input name="name" maxlength="200"></label>
            <label>Nomor HP <input name="phone" maxlength="32"></label>
            <label>Nomor WhatsApp <input name="whatsapp" maxlength="32"></label>
            <label>E-mail <input name="email" maxlength="254"></label>
            <label>Nomor permohonan <input name="reference" required maxlength="200"></label>
            <button type="submit">Kirim koreksi</button></form>
            <h2>Penarikan persetujuan</h2>
            <p>Pemrosesan pendaftaran dihentikan: verifikasi ditutup, peserta dikeluarkan dari kelas atau daftar \
            tunggu, dan tidak ada pesan lagi yang dikirim kepadanya. Sertifikat yang sudah terbit tetap berlaku. \
            Tidak dapat dibatalkan: periksa nomor pendaftaran dengan permohonannya.</p>
            <form method="post" action="/subjects/withdraw-consent" id="withdraw-consent" class="stacked">\(csrfField(session))
            <label>Nomor pendaftaran <input name="registration" required maxlength="64"></label>
            <label>Ketik ulang nomor pendaftaran <input name="confirm" required maxlength="64"></label>
            <label>Ditarik oleh <select name="by"><option value="">pilih…</option>\
            <option value="pendaftar">pendaftar</option><option value="orang-tua-wali">orang tua / wali</option></select></label>
            <label>Nomor permohonan <input name="reference" required maxlength="200"></label>
            <button type="submit">Catat penarikan persetujuan</button></form>
            \(exportAndEraseSection(session))
            """
        return html(
            Page.frame(title: "Hak subjek data", session: session, active: "subjects", body: body, language: "id"), status)
    }

    /// `POST /subjects/correct`: checked as the notification worker checks it, then recorded and
    /// published as `registration.corrected`. The values go only into the event, not into the
    /// audit log or the console's record of staff actions (which name the fields).
    func correctSubject(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        func refuse(_ text: String) -> Response {
            subjectRightsPage(
                session, flash: Page.message("Tidak dikirim: \(text)", kind: "error"), status: .unprocessableContent)
        }
        let registration = (form.first("registration") ?? "").trimmingCharacters(in: .whitespaces)
        guard ConsentRules.isRegistrationNumber(registration) else {
            return refuse("nomor pendaftaran hanya huruf, angka, - atau _ (paling banyak 64).")
        }
        func given(_ name: String) -> String? {
            let value = (form.first(name) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            return value.isEmpty ? nil : value
        }
        let name = given("name")
        let phone = given("phone")
        let whatsApp = given("whatsapp")
        let email = given("email")
        guard name != nil || phone != nil || whatsApp != nil || email != nil else {
            return refuse("isi sedikitnya satu kolom yang dikoreksi.")
        }
        if let name, !PersonName.isAcceptable(name) { return refuse("nama harus satu baris, paling banyak 200 karakter.") }
        if let phone, PhoneNumber.normalise(phone) == nil { return refuse("nomor HP bukan nomor seluler Indonesia.") }
        if let whatsApp, PhoneNumber.normalise(whatsApp) == nil {
            return refuse("nomor WhatsApp bukan nomor seluler Indonesia.")
        }
        if let email, !EmailAddress.isValid(email) { return refuse("alamat e-mail tidak sah.") }
        let reference = (form.first("reference") ?? "").trimmingCharacters(in: .whitespaces)
        guard ConsentRules.isShortText(reference) else { return refuse("nomor permohonan wajib diisi, satu baris.") }
        guard try await isKnown(registration) else { return refuse(Self.unknownRegistration) }
        let correction = RegistrationCorrectedV1(
            registrationID: registration, fullName: name, phone: phone.flatMap(PhoneNumber.normalise),
            whatsApp: whatsApp.flatMap(PhoneNumber.normalise), email: email, correctedBy: session.user, reference: reference)
        let fields = [("nama", name), ("hp", phone), ("whatsapp", whatsApp), ("email", email)].filter { $0.1 != nil }
            .map(\.0)
        _ = try await record(
            EventEnvelope(
                id: "corrected-\(registration)-\(UUID().uuidString)", source: "/kaltim/console/koreksi-data",
                subject: registration, data: correction),
            session: session, action: "koreksi-data: " + fields.joined(separator: ","), subject: registration, classID: nil,
            once: nil, details: ["fields": fields.joined(separator: ","), "reference": reference])
        return redirect(
            session, to: "/subjects",
            flash: Page.message(
                "Koreksi \(fields.joined(separator: ", ")) untuk \(registration) dicatat atas nama \(session.user) dan dikirim.",
                kind: "ok"))
    }

    /// Whether the console has counted this registration (intake's `registration.received`): a
    /// number the programme never received is refused rather than sent.
    func isKnown(_ registration: String) async throws -> Bool {
        try await !store.read("SELECT 1 FROM console_registrations WHERE registration_id = ?", [.text(registration)]).isEmpty
    }

    static let unknownRegistration = "nomor pendaftaran ini tidak dikenal (belum diterima intake); periksa kembali permohonannya."

    /// `POST /subjects/withdraw-consent`: the registration number typed twice (a withdrawal is
    /// not taken back), checked as intake and notifications check it, recorded once per
    /// registration and published as `consent.withdrawn`.
    func withdrawSubjectConsent(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        func refuse(_ text: String, _ status: HTTPResponse.Status = .unprocessableContent) -> Response {
            subjectRightsPage(session, flash: Page.message("Tidak dicatat: \(text)", kind: "error"), status: status)
        }
        let registration = (form.first("registration") ?? "").trimmingCharacters(in: .whitespaces)
        guard registration == (form.first("confirm") ?? "").trimmingCharacters(in: .whitespaces) else {
            return refuse("nomor pendaftaran dan ketikan ulangnya berbeda.")
        }
        let by: ConsentWithdrawnV1.WithdrawnBy
        switch form.first("by") {
        case "pendaftar": by = .applicant
        case "orang-tua-wali": by = .parentOrGuardian
        default: return refuse("pilih siapa yang menarik persetujuan.")
        }
        let withdrawal = ConsentWithdrawnV1(
            registrationID: registration, withdrawnBy: by, withdrawnAt: Date().formatted(.iso8601), recordedBy: session.user,
            reference: (form.first("reference") ?? "").trimmingCharacters(in: .whitespaces))
        if ConsentRules.problem(with: withdrawal) != nil {
            return refuse(
                "nomor pendaftaran (huruf, angka, - atau _) dan nomor permohonan (satu baris) wajib diisi dengan benar.")
        }
        guard try await isKnown(registration) else { return refuse(Self.unknownRegistration) }
        let recorded = try await record(
            EventEnvelope(
                id: "consent-withdrawn-\(registration)-\(UUID().uuidString)", source: "/kaltim/console/penarikan-persetujuan",
                subject: registration, data: withdrawal),
            session: session, action: "penarikan-persetujuan", subject: registration, classID: nil,
            once: "consent-withdrawn:\(registration)",
            details: ["by": form.first("by") ?? "", "reference": withdrawal.reference])
        guard recorded else {
            return refuse(
                "penarikan persetujuan untuk \(registration) sudah dicatat sebelumnya dari konsol; bila perlu dikirim lagi, gunakan kaltim-admin subject withdraw-consent.",
                .conflict)
        }
        return redirect(
            session, to: "/subjects",
            flash: Page.message(
                "Penarikan persetujuan untuk \(registration) dicatat atas nama \(session.user) dan dikirim.", kind: "ok"))
    }

    /// The export and erasure forms, or (without `--subject-store`) the commands that do them.
    func exportAndEraseSection(_ session: ConsoleSession) -> HTML {
        guard configuration.subjectStores != nil else {
            return """
                <h2>Salinan data dan penghapusan</h2>
                <p>Keduanya membaca atau mengubah penyimpanan setiap layanan, yang tidak diberikan kepada konsol ini \
                (<code>--subject-store</code>). Admin sistem menjalankannya di server: <code>kaltim-admin subject \
                export</code> (satu dokumen JSON berisi semua data tentang orang itu) dan <code>kaltim-admin subject \
                erase</code> (uji coba dulu, lalu <code>--confirm</code>); lihat docs/OPERATIONS.md, "Personal data".</p>
                """
        }
        let kind: HTML = """
            <label>Jenis nomor <select name="kind"><option value="registration">nomor pendaftaran</option>\
            <option value="participant">ID peserta</option></select></label>
            <label>Nomor <input name="id" required maxlength="64"></label>
            """
        return """
            <h2>Salinan data (hak akses)</h2>
            <p>Satu dokumen JSON berisi semua yang disimpan setiap layanan tentang orang itu, dengan tujuan dan masa \
            simpan tiap tabel; NIK hanya sebagai indeks butanya. Dicatat di log audit sebelum diunduh. Permintaan \
            dengan NIK dijalankan dengan <code>kaltim-admin subject export --nik-from-stdin</code>.</p>
            <form method="post" action="/subjects/export" id="export" class="stacked">\(csrfField(session))
            \(kind)
            <button type="submit">Unduh salinan data</button></form>
            <h2>Penghapusan data</h2>
            <p>Pertama uji coba: halaman berikutnya menunjukkan apa yang akan dihapus, lalu Anda mengonfirmasi dengan \
            mengetik ulang nomornya. Catatan sertifikat tetap disimpan.</p>
            <form method="post" action="/subjects/erase" id="erase" class="stacked">\(csrfField(session))
            \(kind)
            <label>Nomor permohonan <input name="reference" required maxlength="200"></label>
            <button type="submit">Uji coba penghapusan</button></form>
            """
    }
}
