import AMQP
import Admin
import DataProtection
import Foundation
import HTTPTypes
import Hummingbird
import IntakeRules
import Jobs
import Logging
import NIOCore
import SubjectRights

/// A data subject's export and erasure from the console (for an admin, when the console was
/// given every role's store with `--subject-store`): the same search, erasure and audit entries
/// as `kaltim-admin subject export` and `subject erase`, with the dead letters swept through
/// the console's admin connection (in turn with its dead-letter page). The person is named by
/// a registration number or a participant id; a request by NIK goes through `kaltim-admin`
/// (the console holds no NIK key, so a dead letter naming the person by their NIK alone is not
/// found from here either). The local notification log is left to the command: the
/// notification worker rewrites it, and two rewrites at once would undo each other.
extension ConsoleServer {
    /// Who the form names: the search's start and the id as typed, or why it is refused.
    struct SubjectTarget {
        let start: SubjectIdentifiers
        let id: String
        let kind: String
    }

    func subjectTarget(_ form: Form) -> Result<SubjectTarget, SubjectRequestRefusal> {
        let id = (form.first("id") ?? "").trimmingCharacters(in: .whitespaces)
        switch form.first("kind") {
        case "registration":
            guard ConsentRules.isRegistrationNumber(id) else {
                return .failure(.init("nomor pendaftaran hanya huruf, angka, - atau _ (paling banyak 64)."))
            }
            return .success(.init(start: SubjectIdentifiers(registrationIDs: [id]), id: id, kind: "registration"))
        case "participant":
            guard Self.isParticipantID(id) else {
                return .failure(.init("ID peserta hanya huruf, angka dan - (paling banyak 64)."))
            }
            return .success(.init(start: SubjectIdentifiers(participantIDs: [id]), id: id, kind: "participant"))
        default:
            return .failure(.init("pilih jenis nomor: nomor pendaftaran atau ID peserta."))
        }
    }

    struct SubjectRequestRefusal: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    static func isParticipantID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.unicodeScalars.allSatisfy {
                $0.isASCII && ($0 == "-" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
            }
    }

    /// The stores, or a page saying why not (the reason goes to the console's log only: it
    /// names a file or a server).
    func openSubjectStores(_ session: ConsoleSession, writing: Bool) async -> Result<
        [(role: String, store: any MessageStore)], SubjectRequestRefusal
    > {
        guard let stores = configuration.subjectStores else {
            return .failure(.init("konsol ini tidak diberi penyimpanan setiap layanan (--subject-store); gunakan kaltim-admin."))
        }
        do {
            return .success(try await stores.open(writing: writing))
        } catch {
            logger.error("console: a role's store cannot be opened for a subject request", metadata: ["error": "\(error)"])
            return .failure(.init("penyimpanan sebuah layanan tidak dapat dibuka (rinciannya ada di log konsol)."))
        }
    }

    /// `POST /subjects/export`: everything held about the person as one JSON document, sent as
    /// a download and audited (`subject-export`) before it is sent; refused when the audit log
    /// cannot be written. With the admin's broker the document lists the dead letters that
    /// name the person (queue, id, type, failure: not their bodies), leaving them in place.
    func exportSubject(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        func refuse(_ text: String, _ status: HTTPResponse.Status = .unprocessableContent) -> Response {
            subjectRightsPage(session, flash: Page.message("Tidak diekspor: \(text)", kind: "error"), status: status)
        }
        let target: SubjectTarget
        switch subjectTarget(form) {
        case .success(let found): target = found
        case .failure(let refusal): return refuse(refusal.text)
        }
        let stores: [(role: String, store: any MessageStore)]
        switch await openSubjectStores(session, writing: false) {
        case .success(let opened): stores = opened
        case .failure(let refusal): return refuse(refusal.text, .serviceUnavailable)
        }
        var export = try await SubjectExport.collect(from: stores, start: target.start)
        guard export.rowCount > 0 else {
            return refuse("tidak ada data tentang nomor itu di penyimpanan mana pun.", .notFound)
        }
        if configuration.adminBroker != nil {
            let matcher = MessageMatcher(identifiers: export.identifiers, addresses: export.addresses, nikKey: nil)
            do {
                export.deadLetters = try await desk.sweepSubject(matching: matcher, remove: false)
            } catch {
                logger.error("console: dead letters cannot be read for a subject export", metadata: ["error": "\(error)"])
                return refuse("pesan gagal tidak dapat dibaca (broker; rinciannya ada di log konsol).", .serviceUnavailable)
            }
        }
        let document = try export.json()
        do {
            try configuration.auditLog.append(
                AuditLog.Entry(
                    who: who(session), action: "subject-export", target: target.id, count: export.rowCount,
                    details: [
                        "via": "console", "stores": stores.map(\.role).joined(separator: ","),
                        "participants": export.identifiers.participantIDs.sorted().joined(separator: ","),
                        "deadLetters": export.deadLetters.map { "\($0.count) listed" } ?? "not searched",
                    ]))
        } catch {
            logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
            return refuse("log audit tidak dapat ditulis, jadi tidak ada yang diekspor.", .serviceUnavailable)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json; charset=utf-8",
                .contentDisposition: "attachment; filename=\"data-subjek-\(target.id).json\"",
                .cacheControl: "no-store",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: document)))
    }

    /// `POST /subjects/erase`: without `confirm`, what an erasure would change (rows per table,
    /// the dead letters naming the person) and a form to confirm it with the id typed again;
    /// with it, after the audit entry `subject-erase` (refused when it cannot be written), the
    /// dead letters and every store (one transaction each; the local notification log is left
    /// to `kaltim-admin`), then `subject-erased` with what changed.
    func eraseSubject(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        func refuse(_ text: String, _ status: HTTPResponse.Status = .unprocessableContent) -> Response {
            subjectRightsPage(session, flash: Page.message("Tidak dihapus: \(text)", kind: "error"), status: status)
        }
        let target: SubjectTarget
        switch subjectTarget(form) {
        case .success(let found): target = found
        case .failure(let refusal): return refuse(refusal.text)
        }
        let reference = (form.first("reference") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard ConsentRules.isShortText(reference) else { return refuse("nomor permohonan wajib diisi, satu baris.") }
        let confirmed = form.first("confirm") == "1"
        if confirmed && (form.first("confirm-id") ?? "").trimmingCharacters(in: .whitespaces) != target.id {
            return refuse("ketikan ulang nomornya berbeda; tidak ada yang dihapus.")
        }
        let stores: [(role: String, store: any MessageStore)]
        switch await openSubjectStores(session, writing: confirmed) {
        case .success(let opened): stores = opened
        case .failure(let refusal): return refuse(refusal.text, .serviceUnavailable)
        }
        let found = try await SubjectExport.collect(from: stores, start: target.start)
        guard found.rowCount > 0 else {
            return refuse("tidak ada data tentang nomor itu di penyimpanan mana pun.", .notFound)
        }
        let sweep: ((MessageMatcher, Bool) async throws -> [SubjectExport.DeadLetterRecord])? =
            configuration.adminBroker == nil
            ? nil : { [desk] matcher, remove in try await desk.sweepSubject(matching: matcher, remove: remove) }
        guard confirmed else {
            var letters: [SubjectExport.DeadLetterRecord]?
            if let sweep {
                let matcher = MessageMatcher(identifiers: found.identifiers, addresses: found.addresses, nikKey: nil)
                do {
                    letters = try await sweep(matcher, false)
                } catch {
                    logger.error("console: dead letters cannot be read for an erasure", metadata: ["error": "\(error)"])
                    return refuse("pesan gagal tidak dapat dibaca (broker; rinciannya ada di log konsol).", .serviceUnavailable)
                }
            }
            return erasurePreview(session, target: target, reference: reference, found: found, letters: letters)
        }
        let participants = found.identifiers.participantIDs.sorted().joined(separator: ",")
        do {
            try configuration.auditLog.append(
                AuditLog.Entry(
                    who: who(session), action: "subject-erase", target: target.id, count: found.rowCount,
                    details: [
                        "via": "console", "reason": reference, "stores": stores.map(\.role).joined(separator: ","),
                        "participants": participants,
                    ]))
        } catch {
            logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
            return refuse("log audit tidak dapat ditulis, jadi tidak ada yang dihapus.", .serviceUnavailable)
        }
        let outcome: SubjectEraseRun.Outcome
        do {
            outcome = try await SubjectEraseRun.erase(found, in: stores, nikKey: nil, sweep: sweep, notificationLogs: [])
        } catch {
            logger.error("console: an erasure stopped", metadata: ["error": "\(error)"])
            try? configuration.auditLog.append(
                AuditLog.Entry(
                    who: who(session), action: "subject-erase-failed", target: target.id, count: 0,
                    details: ["via": "console", "reason": reference, "participants": participants]))
            return refuse(
                "penghapusan terhenti (rinciannya ada di log konsol). Yang sudah selesai tetap terhapus; jalankan lagi.",
                .serviceUnavailable)
        }
        try configuration.auditLog.append(
            AuditLog.Entry(
                who: who(session), action: "subject-erased", target: target.id, count: outcome.stores.rowCount,
                details: [
                    "via": "console", "reason": reference, "unpublished": "\(outcome.stores.unpublishedEvents)",
                    "notificationLogLines": "not touched",
                    "deadLetters": outcome.deadLetters == nil
                        ? "not searched"
                        : "\(outcome.deadLettersRemoved) removed, \(outcome.deadLettersRemaining) remaining",
                ]))
        return erasureDone(session, target: target, found: found, outcome: outcome)
    }

    /// The console leaves the local notification log alone: the notification worker rewrites
    /// it (its retention), and two rewrites at once would undo each other.
    static let notificationLogNote: HTML = """
        <p>Log notifikasi lokal (saluran berkas, hanya untuk uji coba) tidak diubah dari konsol: barisnya terhapus \
        sendiri setelah 30 hari, atau hapus dengan <code>kaltim-admin subject erase --notification-log</code> \
        setelah layanan notifikasi dihentikan.</p>
        """

    private func personLine(_ found: SubjectExport) -> HTML {
        let ids = found.identifiers
        return """
            <p>Nomor pendaftaran: \(ids.registrationIDs.sorted().joined(separator: ", ")). \
            ID peserta: \(ids.participantIDs.sorted().joined(separator: ", ")).</p>
            """
    }

    private func notFollowedNote(_ found: SubjectExport) -> HTML {
        guard !found.notFollowed.isEmpty else { return .empty }
        return Page.message(
            "Pendaftaran dengan NIK yang sama yang tidak diterima intake (mungkin milik orang lain) tidak diikuti: "
                + found.notFollowed.joined(separator: ", ") + ". Periksa, lalu hapus tersendiri bila memang miliknya.")
    }

    private func erasurePreview(
        _ session: ConsoleSession, target: SubjectTarget, reference: String, found: SubjectExport,
        letters: [SubjectExport.DeadLetterRecord]?
    ) -> Response {
        var rows: HTML = ""
        for store in found.stores {
            for table in store.tables {
                rows += "<tr><td>\(store.role)</td><td>\(table.table)</td><td class=\"number\">\(table.rows.count)</td></tr>"
            }
        }
        var lettersText: HTML
        if let letters {
            let theirs = letters.filter { $0.matchedBy == .person }.count
            let shared = letters.filter { $0.matchedBy == .addressOnly }
            lettersText = """
                <p>Pesan gagal yang menyebut orang ini: \(theirs) (akan dihapus). Pesan gagal yang hanya menyebut \
                NIK-nya tidak dikenali dari konsol (konsol tidak memegang kunci NIK): gunakan <code>kaltim-admin \
                subject erase --dead-letters --nik-key-file</code> bila perlu.</p>
                """
            if !shared.isEmpty {
                lettersText += """
                    <p>Pesan gagal yang hanya menyebut salah satu alamatnya (tetap disimpan; alamat itu mungkin \
                    dipakai orang lain, periksa di halaman pesan gagal): \
                    \(shared.map { "\($0.queue) \($0.messageID)" }.joined(separator: ", ")).</p>
                    """
            }
        } else {
            lettersText = """
                <p>Pesan gagal tidak diperiksa (konsol tanpa akses admin ke broker): gunakan \
                <code>kaltim-admin subject erase --dead-letters</code>.</p>
                """
        }
        let given = Set(found.stores.map(\.role))
        let missing = PersonalDataRegister.storeRoles.filter { !given.contains($0) }
        let missingStores: HTML =
            missing.isEmpty
            ? .empty
            : Page.message(
                "Penyimpanan yang tidak diberikan kepada konsol, jadi tidak dihapus: " + missing.joined(separator: ", ")
                    + ". Hapus di sana dengan kaltim-admin subject erase.", kind: "error")
        let body: HTML = """
            \(Page.message("Uji coba: belum ada yang dihapus. Periksa daftar ini dengan permohonannya."))
            \(personLine(found))
            \(notFollowedNote(found))
            <table id="erase-preview"><tr><th>Layanan</th><th>Tabel</th><th>Baris</th></tr>\(rows)</table>
            \(lettersText)
            \(missingStores)
            <p>Yang dihapus atau dikosongkan: kontak, data Dukcapil dan riwayat pelatihan orang ini, NIK tersamar \
            dan indeks butanya, berkas kasus, isi dan alamat pesan, dan peristiwa terkirim yang menyebutnya. Yang \
            tetap: ID, kode dan tanggal (agar hitungan, kursi dan catatan sertifikat tetap konsisten) dan catatan \
            sertifikat beserta nama pemegangnya.</p>
            \(Self.notificationLogNote)
            <form method="post" action="/subjects/erase" id="erase-confirm" class="stacked">\(csrfField(session))
            <input type="hidden" name="kind" value="\(target.kind)">
            <input type="hidden" name="id" value="\(target.id)">
            <input type="hidden" name="reference" value="\(reference)">
            <input type="hidden" name="confirm" value="1">
            <label>Ketik ulang \(target.id) <input name="confirm-id" required maxlength="64"></label>
            <button type="submit" class="danger">Hapus data orang ini</button></form>
            <p><a href="/subjects">Batal</a></p>
            """
        return html(Page.frame(title: "Penghapusan data: uji coba", session: session, active: "subjects", body: body))
    }

    private func erasureDone(
        _ session: ConsoleSession, target: SubjectTarget, found: SubjectExport, outcome: SubjectEraseRun.Outcome
    ) -> Response {
        var rows: HTML = ""
        for change in outcome.stores.changes {
            rows += "<tr><td>\(change.role)</td><td>\(change.table)</td><td class=\"number\">\(change.rows)</td></tr>"
        }
        var notes: HTML = ""
        if outcome.deadLetters != nil {
            notes += "<p>Pesan gagal yang dihapus: \(outcome.deadLettersRemoved).</p>"
            if outcome.deadLettersRemaining > 0 {
                notes += Page.message(
                    "\(outcome.deadLettersRemaining) pesan gagal yang menyebut orang ini masih ada (dipegang proses lain?): "
                        + "jalankan penghapusan lagi.", kind: "error")
            }
        } else {
            notes += "<p>Pesan gagal tidak diperiksa: gunakan <code>kaltim-admin subject erase --dead-letters</code>.</p>"
        }
        notes += Self.notificationLogNote
        if outcome.stores.unpublishedEvents > 0 {
            let again = found.identifiers.participantIDs.sorted() + found.identifiers.registrationIDs.sorted()
            notes += Page.message(
                "\(outcome.stores.unpublishedEvents) peristiwa yang menyebut orang ini belum terkirim ke broker: "
                    + "jalankan penghapusan lagi nanti dengan \(again.joined(separator: ", ")).", kind: "error")
        }
        let body: HTML = """
            \(Page.message("Data \(target.id) dihapus: \(outcome.stores.rowCount) baris diubah atau dihapus, dicatat atas nama \(session.user).", kind: "ok"))
            \(personLine(found))
            <table id="erased"><tr><th>Layanan</th><th>Tabel</th><th>Baris</th></tr>\(rows)</table>
            \(notes)
            <p>Tidak terjangkau: pesan yang masih di antrean sebuah layanan (hapus lagi beberapa menit kemudian), \
            cadangan, dan apa yang sudah terkirim kepada orang itu.</p>
            <p><a href="/subjects">Kembali</a></p>
            """
        return html(Page.frame(title: "Penghapusan data", session: session, active: "subjects", body: body))
    }
}
