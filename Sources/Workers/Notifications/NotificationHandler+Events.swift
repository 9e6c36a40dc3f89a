import ContractKit
import Contracts
import Foundation
import IntakeRules
import Jobs
import Programme

/// What each event the notification worker consumes means for the people it concerns: the
/// template and its values (and, for a registration, the contact details kept for later
/// messages). One function per event, called by ``NotificationHandler/handle(_:in:)``.
extension NotificationHandler {
    func notify(_ submitted: RegistrationSubmittedV2, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try transaction.execute(
            """
            INSERT INTO notif_contacts (registration_id, name, phone, whatsapp, email, updated_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (registration_id) DO UPDATE SET name = excluded.name, phone = excluded.phone,
                whatsapp = excluded.whatsapp, email = excluded.email, updated_at = excluded.updated_at
            """,
            [
                // Numbers in +62 form, as intake checked them; one that is not a valid
                // Indonesian mobile number is not used (intake rejects a bad phone and warns
                // that a bad WhatsApp number will not be used).
                .text(submitted.registrationID), .text(submitted.fullName),
                PhoneNumber.normalise(submitted.phone).map { .text($0) } ?? .null,
                submitted.whatsApp.flatMap(PhoneNumber.normalise).map { .text($0) } ?? .null,
                submitted.email.map { .text($0) } ?? .null, .real(Date().timeIntervalSince1970),
            ])
        try queue(
            "pendaftaran_diterima", for: event, contact: .registration(submitted.registrationID), in: transaction,
            [
                "no_pendaftaran": submitted.registrationID, "program": programmeName(submitted.programme),
                "blki": centreName(submitted.preferredCentre), "nik_tersamar": PersonalData.maskNIK(submitted.nik),
            ])
    }

    func notify(_ accepted: RegistrationAcceptedV2, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try transaction.execute(
            "UPDATE notif_contacts SET participant_id = ? WHERE registration_id = ?",
            [.text(accepted.participantID), .text(accepted.registrationID)])
        try queue(
            "lulus_seleksi", for: event, contact: .registration(accepted.registrationID), in: transaction,
            [
                "no_pendaftaran": accepted.registrationID, "no_peserta": accepted.participantID,
                "program": programmeName(accepted.programme), "blki": centreName(accepted.centre),
                "minat_magang": accepted.apprenticeshipInterest ? "true" : "false",
            ])
    }

    func notify(_ rejected: RegistrationRejectedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try queue(
            "pendaftaran_ditolak", for: event, contact: .registration(rejected.registrationID), in: transaction,
            ["no_pendaftaran": rejected.registrationID, "alasan": reasons(rejected.reasons)])
    }

    func notify(_ review: RegistrationReviewNeededV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try queue(
            "pendaftaran_ditinjau", for: event, contact: .registration(review.registrationID), in: transaction,
            ["no_pendaftaran": review.registrationID, "alasan": reasons(review.reasons)])
    }

    func notify(_ scheduled: ClassScheduledV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        let programme = catalogue.programme(scheduled.programme, at: scheduled.centre)
        try queue(
            "jadwal_kelas", for: event, contact: .participant(scheduled.participantID), in: transaction,
            [
                "no_peserta": scheduled.participantID, "program": programme?.name ?? scheduled.programme,
                "blki": centreName(scheduled.centre), "kode_kelas": scheduled.classID,
                "hari_mulai": IndonesianCalendar.weekday(scheduled.startDate),
                "tanggal_mulai": IndonesianCalendar.date(scheduled.startDate),
                "tanggal_selesai": IndonesianCalendar.date(scheduled.endDate),
                "jumlah_minggu": programme.map { String($0.weeks) } ?? "", "jam_latihan": catalogue.weeklyHours,
                "jam_mulai": catalogue.startTime(on: scheduled.startDate)
                    ?? catalogue.sessions[0].start.replacingOccurrences(of: ":", with: "."),
            ])
    }

    func notify(_ waitlisted: EnrolmentWaitlistedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try queue(
            "daftar_tunggu", for: event, contact: .participant(waitlisted.participantID), in: transaction,
            [
                "no_peserta": waitlisted.participantID, "program": programmeName(waitlisted.programme),
                "blki": centreName(waitlisted.centre), "posisi": String(waitlisted.position),
            ])
    }

    func notify(_ placed: ApprenticeshipPlacedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try queue(
            "penempatan_magang", for: event, contact: .participant(placed.participantID), in: transaction,
            [
                "no_peserta": placed.participantID, "perusahaan": placed.companyName,
                "tanggal_mulai": IndonesianCalendar.date(placed.startDate),
                "tanggal_selesai": IndonesianCalendar.date(placed.endDate),
            ])
    }

    func notify(_ graded: AssessmentGradedV2, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        let programme = catalogue.programme(scheme: graded.scheme)
        try queue(
            "hasil_uji_kompetensi", for: event, contact: .participant(graded.participantID), in: transaction,
            [
                "no_peserta": graded.participantID,
                "skema": programme.map { "\($0.name) (\(graded.scheme))" } ?? graded.scheme,
                "program": programme?.name ?? graded.scheme,
                "tanggal": graded.assessedOn.map(IndonesianCalendar.date) ?? "-",
                "hasil": graded.outcome == .competent ? "KOMPETEN" : "BELUM KOMPETEN",
                "kompeten": graded.outcome == .competent ? "true" : "false",
                "unit_belum_kompeten": graded.notYetCompetentUnits.joined(separator: ", "),
                "lsp": graded.lspLicence ?? "-",
                "hasil_pelatihan": graded.trainingOutcome == .failed ? "TIDAK LULUS" : "LULUS",
                "lulus_pelatihan": graded.trainingOutcome == .failed ? "false" : "true",
                "kehadiran": graded.attendancePercent.map { String(format: "%.0f%%", $0) } ?? "-",
            ])
    }

    func notify(_ issued: CertificateIssuedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        let programme = issued.scheme.flatMap { catalogue.programme(scheme: $0) }
        try queue(
            "sertifikat_terbit", for: event, contact: .participant(issued.participantID), in: transaction,
            [
                "no_peserta": issued.participantID,
                "jenis": issued.kind == .competency ? "Sertifikat Kompetensi" : "Sertifikat Pelatihan",
                "kompetensi": issued.kind == .competency ? "true" : "false",
                "no_sertifikat": issued.certificateNumber, "no_registrasi": issued.registrationNumber ?? "",
                "ada_no_registrasi": issued.registrationNumber == nil ? "false" : "true",
                "skema": programme.map { "\($0.name) (\($0.scheme.code))" } ?? issued.scheme ?? "-",
                "program": programme?.name ?? "-",
                "tanggal_terbit": IndonesianCalendar.date(issued.issuedOn),
                "berlaku_sd": issued.validUntil.map(IndonesianCalendar.date) ?? "",
                "ada_masa_berlaku": issued.validUntil == nil ? "false" : "true",
                "kode_verifikasi": issued.verificationCode,
                "tautan_verifikasi": verificationBaseURL + "/" + issued.verificationCode,
            ])
    }

    func notify(_ revoked: CertificateRevokedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try queue(
            "sertifikat_dicabut", for: event, contact: .participant(revoked.participantID), in: transaction,
            [
                "no_peserta": revoked.participantID, "no_sertifikat": revoked.certificateID,
                "alasan": Self.revocationReasons[revoked.reasonCode] ?? revoked.reasonCode,
            ])
    }

    func notify(_ requested: NotificationRequestedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        guard let template = templates.templates[requested.template] else {
            throw Failure.permanent(.unknownTemplate, "no notification template named \(requested.template)")
        }
        let missing = template.fields.subtracting(requested.parameters.keys)
        guard missing.isEmpty else {
            throw Failure.permanent(
                .missingTemplateValues,
                "template \(requested.template) needs \(missing.sorted().joined(separator: ", "))")
        }
        try insert(
            notificationID: "req:" + requested.notificationID, event: event, template: requested.template,
            parameters: requested.parameters, routes: [Route(channel: requested.channel, recipient: requested.recipient)],
            urgent: template.urgent, registrationID: requested.registrationID, participantID: requested.participantID,
            in: transaction)
    }
}
