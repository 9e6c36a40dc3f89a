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
    func notify(_ submitted: RegistrationSubmittedV3, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        // The same message again never gets here while the inbox knows its id; after the inbox
        // forgot it, it changes nothing. The same number under another id (a portal's resend,
        // or a forgery) is refused as intake refuses it, whether or not the contact is still
        // held: taken, it would undo a correction of the contact (the right to correction),
        // bring back a contact after a withdrawal of consent or an erasure, or send its
        // confirmation twice.
        let registration = SQLValue.text(submitted.registrationID)
        let taken = try transaction.query(
            "SELECT message_id FROM notif_registrations WHERE registration_id = ?", [registration]
        ).first?["message_id"]?.text
        if taken == event.header.id { return }
        guard taken == nil,
            try transaction.query("SELECT 1 FROM notif_contacts WHERE registration_id = ?", [registration]).isEmpty
        else {
            throw Failure.permanent(
                .registrationNumberReused,
                "registration number \(submitted.registrationID) was already taken here from another message; "
                    + "a change of contact comes as registration.corrected")
        }
        try transaction.execute(
            "INSERT INTO notif_registrations (registration_id, message_id) VALUES (?, ?)", [registration, .text(event.header.id)])
        // Consent withdrawn before the registration got here: its contact is not kept.
        guard try !withdrawalConcerns(submitted.registrationID, submittedAt: event.header.time, in: transaction) else {
            return
        }
        try transaction.execute(
            """
            INSERT INTO notif_contacts (registration_id, name, phone, whatsapp, email, updated_at) VALUES (?, ?, ?, ?, ?, ?)
            """,
            [
                // Numbers in +62 form, as intake checked them; one that is not a valid
                // Indonesian mobile number is not used (intake rejects a bad phone and warns
                // that a bad WhatsApp number will not be used). Intake checks the rest in
                // another worker, after this one may have written: an e-mail address that is
                // not valid is not used either, and a name that is no plain name is not put in
                // a message (``greeting(_:)``).
                .text(submitted.registrationID), .text(Self.greeting(submitted.fullName)),
                PhoneNumber.normalise(submitted.phone).map { .text($0) } ?? .null,
                submitted.whatsApp.flatMap(PhoneNumber.normalise).map { .text($0) } ?? .null,
                submitted.email.flatMap(Self.usableEmail).map { .text($0) } ?? .null, .real(Date().timeIntervalSince1970),
            ])
        try queue(
            EventTemplates.RegistrationReceived(
                registrationNumber: submitted.registrationID, programme: programmeName(submitted.programme),
                centre: centreName(submitted.preferredCentre), maskedNIK: PersonalData.maskNIKForCitizen(submitted.nik)),
            for: event, contact: .registration(submitted.registrationID), in: transaction)
    }

    func notify(_ accepted: RegistrationAcceptedV2, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        // Withdrawn: remember the participant id, so that later events about them are not sent
        // either, and drop what waits for them under that id (an office's request).
        if try hasWithdrawnConsent(.registration(accepted.registrationID), in: transaction) {
            try transaction.execute(
                "UPDATE notif_withdrawals SET participant_id = ? WHERE registration_id = ?",
                [.text(accepted.participantID), .text(accepted.registrationID)])
            try transaction.execute(
                "DELETE FROM notif_messages WHERE participant_id = ? AND state = 'pending'", [.text(accepted.participantID)])
            return
        }
        try transaction.execute(
            "UPDATE notif_contacts SET participant_id = ? WHERE registration_id = ?",
            [.text(accepted.participantID), .text(accepted.registrationID)])
        try queue(
            EventTemplates.RegistrationEligible(
                registrationNumber: accepted.registrationID, participantNumber: accepted.participantID,
                programme: programmeName(accepted.programme), centre: centreName(accepted.centre),
                apprenticeshipInterest: accepted.apprenticeshipInterest),
            for: event, contact: .registration(accepted.registrationID), in: transaction)
    }

    func notify(_ rejected: RegistrationRejectedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        // The end of a registration whose consent was withdrawn is not told: the person asked
        // to hear nothing more (and this may overtake the withdrawal itself).
        if rejected.reasons.contains(where: { $0.code == "CONSENT_WITHDRAWN" }) { return }
        try queue(
            EventTemplates.RegistrationRejected(
                registrationNumber: rejected.registrationID, reasons: reasons(rejected.reasons)),
            for: event, contact: .registration(rejected.registrationID), in: transaction)
    }

    func notify(_ review: RegistrationReviewNeededV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try queue(
            EventTemplates.RegistrationInReview(registrationNumber: review.registrationID, reasons: reasons(review.reasons)),
            for: event, contact: .registration(review.registrationID), in: transaction)
    }

    func notify(_ documents: RegistrationDocumentsRequestedV1, event: DecodedEvent, in transaction: any StoreTransaction)
        throws
    {
        try queue(
            EventTemplates.DocumentsRequested(
                registrationNumber: documents.registrationID, reason: documents.reason.message,
                centre: centreName(documents.centre),
                respondBy: documents.respondBy.map(IndonesianCalendar.date) ?? "", hasDeadline: documents.respondBy != nil),
            for: event, contact: .registration(documents.registrationID), in: transaction)
    }

    /// A seat is the selection's result: the message names the class by its programme, BLKI,
    /// cohort (angkatan) and dates, never by its internal id, and gives the person's own daftar
    /// ulang window (a later one when they take the seat of someone who did not come).
    func notify(_ scheduled: ClassScheduledV2, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        // The newest seat (by scheduling's own time) stands: one retried after a newer one
        // (another class, a replacement) does not overwrite it.
        try transaction.execute(
            """
            INSERT INTO notif_seats (participant_id, class_id, scheduled_at) VALUES (?, ?, ?)
            ON CONFLICT (participant_id) DO UPDATE SET class_id = excluded.class_id, scheduled_at = excluded.scheduled_at
            WHERE excluded.scheduled_at >= notif_seats.scheduled_at
            """, [.text(scheduled.participantID), .text(scheduled.classID), .real(event.header.time.timeIntervalSince1970)])
        let programme = catalogue.programme(scheduled.programme, at: scheduled.centre)
        let address = catalogue.centre(scheduled.centre)?.address ?? ""
        let window = scheduled.reRegistration
        let hours = catalogue.reRegistration.map {
            "\($0.start.replacingOccurrences(of: ":", with: "."))-\($0.end.replacingOccurrences(of: ":", with: "."))"
        }
        let cohort = scheduled.cohort ?? plannedClasses[scheduled.classID]?.cohort
        try queue(
            EventTemplates.SelectionPassed(
                participantNumber: scheduled.participantID, programme: programme?.name ?? scheduled.programme,
                centre: centreName(scheduled.centre), address: address, hasAddress: !address.isEmpty,
                cohort: cohort.map(String.init) ?? "-", startWeekday: IndonesianCalendar.weekday(scheduled.startDate),
                startDate: IndonesianCalendar.date(scheduled.startDate),
                endDate: IndonesianCalendar.date(scheduled.endDate),
                weeks: programme.map { String($0.weeks) } ?? "", weeklyHours: catalogue.weeklyHours,
                startTime: catalogue.startTime(on: scheduled.startDate)
                    ?? catalogue.sessions[0].start.replacingOccurrences(of: ":", with: "."),
                replacing: scheduled.replacing, hasReRegistration: window != nil,
                reRegistrationFirst: window.map { IndonesianCalendar.date($0.from) } ?? "",
                reRegistrationLast: window.map { IndonesianCalendar.date($0.until) } ?? "",
                reRegistrationHours: hours ?? ""),
            for: event, contact: .participant(scheduled.participantID), in: transaction)
    }

    func notify(_ offer: EnrolmentTransferOfferedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        let address = catalogue.centre(offer.centre)?.address ?? ""
        let cohort = offer.cohort ?? plannedClasses[offer.classID]?.cohort
        try queue(
            EventTemplates.TransferOffered(
                participantNumber: offer.participantID,
                programme: catalogue.programme(offer.programme, at: offer.centre)?.name ?? offer.programme,
                preferredCentre: centreName(offer.preferredCentre), centre: centreName(offer.centre), address: address,
                hasAddress: !address.isEmpty, cohort: cohort.map(String.init) ?? "-",
                startDate: IndonesianCalendar.date(offer.startDate), endDate: IndonesianCalendar.date(offer.endDate),
                answerBy: IndonesianCalendar.date(offer.answerBy)),
            for: event, contact: .participant(offer.participantID), in: transaction)
    }

    /// A waiting applicant is a reserve (cadangan) of a full class: its place, dates and their
    /// rank among its reserves.
    func notify(_ reserve: EnrolmentReserveDesignatedV1, event: DecodedEvent, in transaction: any StoreTransaction)
        throws
    {
        let cohort = reserve.cohort ?? plannedClasses[reserve.classID]?.cohort
        try queue(
            EventTemplates.ReserveDesignated(
                participantNumber: reserve.participantID,
                programme: catalogue.programme(reserve.programme, at: reserve.centre)?.name ?? reserve.programme,
                centre: centreName(reserve.centre), cohort: cohort.map(String.init) ?? "", hasCohort: cohort != nil,
                startDate: IndonesianCalendar.date(reserve.startDate), rank: String(reserve.rank)),
            for: event, contact: .participant(reserve.participantID), in: transaction)
    }

    /// A participant left a class or the waiting list: why, in words they understand.
    func notify(_ withdrawn: EnrolmentWithdrawnV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        let planned = withdrawn.classID.flatMap { plannedClasses[$0] }
        let programme = planned.flatMap { catalogue.programme($0.programme, at: $0.centre)?.name } ?? "pelatihan"
        let centre = planned.map { centreName($0.centre) } ?? "BLKI"
        // No class: the waiting list; a class the plan does not know: the training, unnamed.
        let place =
            withdrawn.classID == nil
            ? "daftar tunggu pelatihan" : planned == nil ? "pelatihan" : "pelatihan \(programme) di \(centre)"
        let explanation =
            switch withdrawn.reason {
            case .noShow:
                "karena Anda tidak melakukan daftar ulang dalam batas waktunya, kursi Anda pada \(place) telah dilepaskan "
                    + "untuk peserta lain."
            case .participantResigned: "pengunduran diri Anda dari \(place) telah kami catat."
            case .attendanceTooLow:
                "kehadiran Anda pada \(place) kurang dari 80%, sehingga Anda tidak dapat melanjutkan pelatihan."
            case .administrative:
                "keikutsertaan Anda pada \(place) dihentikan karena alasan administrasi; \(centre) dapat menjelaskan alasannya."
            }
        try queue(
            EventTemplates.Withdrawn(
                participantNumber: withdrawn.participantID, programme: programme, centre: centre, explanation: explanation),
            for: event, contact: .participant(withdrawn.participantID), in: transaction)
    }

    func notify(_ waitlisted: EnrolmentWaitlistedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try queue(
            EventTemplates.Waitlisted(
                participantNumber: waitlisted.participantID, programme: programmeName(waitlisted.programme),
                centre: centreName(waitlisted.centre), position: String(waitlisted.position)),
            for: event, contact: .participant(waitlisted.participantID), in: transaction)
    }

    func notify(_ placed: ApprenticeshipPlacedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        try queue(
            EventTemplates.ApprenticeshipPlacement(
                participantNumber: placed.participantID, company: placed.companyName,
                startDate: IndonesianCalendar.date(placed.startDate), endDate: IndonesianCalendar.date(placed.endDate)),
            for: event, contact: .participant(placed.participantID), in: transaction)
    }

    func notify(_ graded: AssessmentGradedV3, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        let programme = catalogue.programme(scheme: graded.scheme)
        try queue(
            EventTemplates.AssessmentResult(
                participantNumber: graded.participantID,
                scheme: programme.map { "\($0.name) (\(graded.scheme))" } ?? graded.scheme,
                programme: programme?.name ?? graded.scheme,
                assessedOn: graded.assessedOn.map(IndonesianCalendar.date) ?? "-",
                outcome: graded.outcome == .competent ? "KOMPETEN" : "BELUM KOMPETEN",
                competent: graded.outcome == .competent,
                notYetCompetentUnits: graded.notYetCompetentUnits.joined(separator: ", "),
                lsp: graded.lspLicence.flatMap(catalogue.lspName(licence:)) ?? "LSP yang menguji Anda",
                kind: graded.retakeOf == nil ? "uji kompetensi" : "uji ulang",
                retakeAvailable: graded.retakeAvailable == true, attemptsUsed: graded.retakeAvailable == false,
                retakeUnknown: graded.retakeAvailable == nil, attemptsPerUnit: "\(catalogue.attemptsPerUnit)"),
            for: event, contact: .participant(graded.participantID), in: transaction)
    }

    func notify(_ appeal: AssessmentAppealRecordedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        let programme = catalogue.programme(scheme: appeal.scheme)
        let status =
            switch appeal.status {
            case .filed: "DIPROSES"
            case .upheld: "DIKABULKAN"
            case .dismissed: "DITOLAK"
            }
        try queue(
            EventTemplates.Appeal(
                participantNumber: appeal.participantID,
                scheme: programme.map { "\($0.name) (\(appeal.scheme))" } ?? appeal.scheme,
                programme: programme?.name ?? appeal.scheme,
                date: ProgrammeCatalogue.day(appeal.on) != nil ? IndonesianCalendar.date(appeal.on) : "-", status: status,
                lsp: catalogue.lspName(licence: appeal.lspLicence) ?? "LSP yang menguji Anda", filed: appeal.status == .filed,
                upheld: appeal.status == .upheld, dismissed: appeal.status == .dismissed,
                retakeAvailable: appeal.retakeAvailable),
            for: event, contact: .participant(appeal.participantID), in: transaction)
    }

    /// The BLKI's training result (the training certificate follows it; the LSP's assessment is
    /// a message of its own).
    func notify(_ completed: TrainingCompletedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        // The same checks as the certificates role's: a record that cannot be true is not told.
        guard (0...100).contains(completed.attendancePercent), completed.result == .failed || completed.attendancePercent >= 80,
            let planned = plannedClasses[completed.classID]
        else {
            throw Failure.permanent(
                .invalidTrainingResult,
                "a training result needs a planned class, an attendance of 0–100 %, and LULUS at least 80 %")
        }
        // A BLKI may record only for its own classes (the trust boundary), and only for someone
        // seated in the class it names: another BLKI's participant is not told a result from a
        // class they never sat in. A seat from before this table was kept is not known.
        if let seat = try transaction.query(
            "SELECT class_id FROM notif_seats WHERE participant_id = ?", [.text(completed.participantID)]
        ).first?["class_id"]?.text, seat != completed.classID {
            throw Failure.permanent(
                .invalidTrainingResult, "\(completed.participantID) has no seat in class \(completed.classID)")
        }
        if let earlier = try transaction.query(
            "SELECT result FROM notif_training_results WHERE participant_id = ?", [.text(completed.participantID)]
        ).first {
            guard earlier["result"]?.text == completed.result.rawValue else {
                throw Failure.permanent(
                    .trainingResultConflict, "the training result of \(completed.participantID) was already told otherwise")
            }
            return
        }
        try transaction.execute(
            "INSERT INTO notif_training_results (participant_id, result) VALUES (?, ?)",
            [.text(completed.participantID), .text(completed.result.rawValue)])
        let programme = catalogue.programme(planned.programme, at: planned.centre)?.name ?? planned.programme
        try queue(
            EventTemplates.TrainingResult(
                participantNumber: completed.participantID, programme: programme,
                centre: centreName(planned.centre), outcome: completed.result == .passed ? "LULUS" : "TIDAK LULUS",
                passed: completed.result == .passed,
                // Rounded down: 79.6 % is not "80 %" beside a TIDAK LULUS for less than 80 %.
                attendance: "\(Int(completed.attendancePercent.rounded(.down)))%"),
            for: event, contact: .participant(completed.participantID), in: transaction)
    }

    func notify(_ issued: CertificateIssuedV2, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        // The number a revocation message will name (the revocation carries only the id).
        try transaction.execute(
            "INSERT INTO notif_certificates (certificate_id, certificate_number) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [.text(issued.certificateID), .text(issued.certificateNumber)])
        try transaction.execute(
            """
            INSERT INTO notif_certificate_holders (certificate_id, participant_id, certificate_number) VALUES (?, ?, ?)
            ON CONFLICT DO NOTHING
            """, [.text(issued.certificateID), .text(issued.participantID), .text(issued.certificateNumber)])
        if issued.kind == .constructionCompetency || issued.kind == .safetyLicence {
            try transaction.execute(
                "INSERT INTO notif_licence_records (certificate_id, kind) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [.text(issued.certificateID), .text(issued.kind.rawValue)])
        }
        let programme = issued.scheme.flatMap { catalogue.programme(scheme: $0) }
        try queue(
            EventTemplates.CertificateIssued(
                participantNumber: issued.participantID,
                kind: Self.kindName(issued.kind), isCompetency: issued.kind == .competency,
                isLicenceRecord: issued.kind == .constructionCompetency || issued.kind == .safetyLicence,
                certificateNumber: issued.certificateNumber, registrationNumber: issued.registrationNumber ?? "",
                hasRegistrationNumber: issued.registrationNumber != nil,
                // A licence names what it qualifies for, then the programme that led to it.
                scheme: issued.qualification.map { q in programme.map { "\(q) (program \($0.name))" } ?? q }
                    ?? programme.map { "\($0.name) (\($0.scheme.code))" } ?? issued.scheme ?? "-",
                programme: programme?.name ?? "-",
                issuedOn: IndonesianCalendar.date(issued.issuedOn),
                validUntil: issued.validUntil.map(IndonesianCalendar.date) ?? "",
                hasValidity: issued.validUntil != nil,
                verificationCode: issued.verificationCode,
                verificationLink: verificationBaseURL + "/" + issued.verificationCode),
            for: event, contact: .participant(issued.participantID), in: transaction)
    }

    /// How the message names a certificate: the licences are records of what LPJK and Kemnaker
    /// issued, and say so.
    static func kindName(_ kind: CertificateIssuedV2.Kind) -> String {
        switch kind {
        case .training: "Sertifikat Pelatihan"
        case .competency: "Sertifikat Kompetensi"
        case .constructionCompetency: "Catatan SKK Konstruksi"
        case .safetyLicence: "Catatan Lisensi K3 (SIO)"
        }
    }

    func notify(_ revoked: CertificateRevokedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        guard
            let number = try transaction.query(
                "SELECT certificate_number FROM notif_certificates WHERE certificate_id = ?", [.text(revoked.certificateID)]
            ).first?["certificate_number"]?.text
        else {
            throw Failure.transient(
                .certificateUnknown,
                "certificate \(revoked.certificateID) is revoked before its issuance reached this worker; retrying")
        }
        // The message says a replacement follows: only once that replacement (the holder's, the
        // same number under another id, not revoked) is known here. The certificates role
        // publishes both together; the office may publish revocations too, and one of its own
        // with this reason waits, then ends in the dead letters, rather than promise what never
        // comes.
        if revoked.reasonCode == CertificateHandler.nameCorrected {
            let replacement = try transaction.query(
                """
                SELECT 1 FROM notif_certificate_holders h
                WHERE h.participant_id = ? AND h.certificate_number = ? AND h.certificate_id <> ?
                    AND NOT EXISTS (SELECT 1 FROM notif_revoked_certificates r WHERE r.certificate_id = h.certificate_id)
                """, [.text(revoked.participantID), .text(number), .text(revoked.certificateID)])
            guard !replacement.isEmpty else {
                throw Failure.transient(
                    .replacementUnknown,
                    "certificate \(revoked.certificateID) is replaced under a corrected name, and the replacement has not reached this worker; retrying"
                )
            }
        }
        try transaction.execute(
            "INSERT INTO notif_revoked_certificates (certificate_id) VALUES (?) ON CONFLICT DO NOTHING",
            [.text(revoked.certificateID)])
        let licence = try transaction.query(
            "SELECT kind FROM notif_licence_records WHERE certificate_id = ?", [.text(revoked.certificateID)]
        ).first?["kind"]?.text.flatMap(CertificateIssuedV2.Kind.init(rawValue:))
        try queue(
            EventTemplates.CertificateRevoked(
                participantNumber: revoked.participantID, certificateNumber: number,
                reason: Self.revocationReason(revoked.reasonCode, licenceRecord: licence != nil),
                kind: licence == .constructionCompetency ? "SKK Konstruksi" : licence == .safetyLicence ? "Lisensi K3 (SIO)" : "",
                isLicenceRecord: licence != nil),
            for: event, contact: .participant(revoked.participantID), in: transaction)
    }

    func notify(_ requested: NotificationRequestedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        guard let template = templates.templates[requested.template] else {
            throw Failure.permanent(.unknownTemplate, "no notification template named \(requested.template)")
        }
        // Only a free template: an event's template filled by a requester would put the
        // requester's words (a link as the certificate's verification address, a seat that
        // does not exist) into a message the programme sends as its own.
        // A channel's wording (`lulus_seleksi.sms`) is the dispatcher's to choose, never named.
        guard !requested.template.contains("."),
            NotificationTemplates.fields[requested.template] == nil
        else {
            throw Failure.permanent(
                .templateNotRequestable,
                "\(requested.template) is an event's template; notification.requested takes free templates only")
        }
        let missing = template.fields.subtracting(requested.parameters.keys)
        guard missing.isEmpty else {
            throw Failure.permanent(
                .missingTemplateValues,
                "template \(requested.template) needs \(missing.sorted().joined(separator: ", "))")
        }
        for key in [requested.registrationID.map(ContactKey.registration), requested.participantID.map(ContactKey.participant)] {
            if let key, try hasWithdrawnConsent(key, in: transaction) { return }
        }
        let recipient: String?
        switch requested.channel {
        case .whatsApp, .sms: recipient = PhoneNumber.normalise(requested.recipient)
        case .email: recipient = Self.usableEmail(requested.recipient.trimmingCharacters(in: .whitespaces))
        }
        guard let recipient else {
            throw Failure.permanent(
                .invalidRecipient, "the recipient is not an address of the \(requested.channel.rawValue) channel")
        }
        try insert(
            notificationID: "req:" + requested.notificationID, event: event, template: requested.template,
            parameters: requested.parameters, routes: [Route(channel: requested.channel, recipient: recipient)],
            urgent: template.urgent, registrationID: requested.registrationID, participantID: requested.participantID,
            in: transaction)
    }
}

extension NotificationHandler {
    /// The name a message greets: the person's when it is a plain name, otherwise "Bapak/Ibu".
    /// Plain: ``PersonName`` accepts it; at most 100 characters and 12 words; letters and marks
    /// of any script, spaces (a no-break space counts as one), apostrophes (`'`, `’`, `‘`, `` ` ``,
    /// `´`), hyphens, commas (also `،`), dots, at most 4 digits. A dot with a letter right after
    /// it is followed by a space in the greeting ("S.Pd." → "S. Pd.", "M.Yusuf" → "M. Yusuf"),
    /// so that no part of a name reads as a web address. The name comes from a publisher: a
    /// link, a phone number or an e-mail address in it would be put in the programme's own
    /// message.
    static func greeting(_ name: String) -> String {
        let trimmed = name.replacingOccurrences(of: "\u{00A0}", with: " ").trimmingCharacters(in: .whitespacesAndNewlines)
        var out = String.UnicodeScalarView()
        var digits = 0
        var afterDot = false
        for scalar in trimmed.unicodeScalars {
            let properties = scalar.properties
            if afterDot && properties.isAlphabetic { out.append(" ") }
            afterDot = scalar == "."
            if properties.numericType == .decimal {
                digits += 1
            } else if !(properties.isAlphabetic || properties.generalCategory == .nonspacingMark
                || properties.generalCategory == .spacingMark || properties.generalCategory == .dashPunctuation
                || " .,'’‘`´،".unicodeScalars.contains(scalar))
            {
                return "Bapak/Ibu"
            }
            out.append(scalar)
        }
        let greeted = String(out)
        let words = greeted.split(separator: " ").count
        return digits <= 4 && words <= 12 && greeted.count <= 100 && PersonName.isAcceptable(trimmed) ? greeted : "Bapak/Ibu"
    }

    /// `address` when it is a valid e-mail address (``IntakeRules/EmailAddress``, which also
    /// refuses what would end an SMTP command); nil otherwise.
    static func usableEmail(_ address: String) -> String? {
        EmailAddress.isValid(address) ? address : nil
    }

    /// A correction of the person's name or addresses: the contact changes, and so do the
    /// messages still waiting for them (their addresses, and the name they greet); what was
    /// sent stays as sent. A registration not seen yet waits (transient), like any message.
    func correct(_ correction: RegistrationCorrectedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        var assignments: [String] = []
        var values: [SQLValue] = []
        if let name = correction.fullName {
            let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard PersonName.isAcceptable(trimmed) else {
                throw Failure.permanent(
                    .invalidCorrection, "the corrected name is empty, has control characters or is over 200 characters")
            }
            assignments.append("name = ?")
            values.append(.text(Self.greeting(trimmed)))
        }
        for (column, number, label) in [("phone", correction.phone, "phone"), ("whatsapp", correction.whatsApp, "WhatsApp")] {
            guard let number else { continue }
            guard let normalised = PhoneNumber.normalise(number) else {
                throw Failure.permanent(.invalidCorrection, "the corrected \(label) number is not an Indonesian mobile number")
            }
            assignments.append("\(column) = ?")
            values.append(.text(normalised))
        }
        if let email = correction.email {
            guard let email = Self.usableEmail(email) else {
                throw Failure.permanent(.invalidCorrection, "the corrected e-mail address is not valid")
            }
            assignments.append("email = ?")
            values.append(.text(email))
        }
        guard !assignments.isEmpty else { throw Failure.permanent(.invalidCorrection, "the correction changes nothing") }
        // Consent withdrawn: no contact is kept any more, so there is nothing to correct.
        guard try !hasWithdrawnConsent(.registration(correction.registrationID), in: transaction) else { return }
        let registration = SQLValue.text(correction.registrationID)
        guard try !transaction.query("SELECT 1 FROM notif_contacts WHERE registration_id = ?", [registration]).isEmpty else {
            throw Failure.transient(.contactUnknown, "no contact yet for the corrected registration")
        }
        try transaction.execute(
            "UPDATE notif_contacts SET \(assignments.joined(separator: ", ")), updated_at = ? WHERE registration_id = ?",
            values + [.real(Date().timeIntervalSince1970), registration])
        guard let contact = try transaction.query("SELECT * FROM notif_contacts WHERE registration_id = ?", [registration]).first
        else { return }
        // The messages of this registration still waiting and not tried yet go to the corrected
        // addresses, greeting the corrected name. Not: another registration of the same
        // participant, a notice requested for one chosen address (a breach notice), a message
        // already tried or being sent (its gateway knows it by its key), nor one whose data an
        // erasure or the retention cleared.
        let routes = String(decoding: try JSONEncoder.sorted.encode(Self.routes(of: contact)), as: UTF8.self)
        let pending = try transaction.query(
            """
            SELECT notification_id, parameters FROM notif_messages
            WHERE registration_id = ? AND state = 'pending' AND attempts = 0 AND claimed_until IS NULL
                AND event_type <> ? AND routes <> '[]'
            """, [registration, .text(NotificationRequestedV1.eventType)])
        for message in pending {
            guard let id = message["notification_id"]?.text else { continue }
            var parameters = FlatJSON.values(message["parameters"]?.text ?? "{}")
            if parameters["nama"] != nil, let name = contact["name"]?.text { parameters["nama"] = name }
            try transaction.execute(
                "UPDATE notif_messages SET routes = ?, route_index = 0, parameters = ? WHERE notification_id = ? AND attempts = 0 AND claimed_until IS NULL",
                [
                    .text(routes), .text(String(decoding: try JSONEncoder.sorted.encode(parameters), as: UTF8.self)),
                    .text(id),
                ])
        }
    }
}

extension NotificationHandler {
    /// A withdrawal of consent: the person is sent nothing more. Their contact is deleted, and
    /// so are all their messages still waiting, also one a sender holds at this moment (its
    /// send may still complete, but it is never retried or sent on another channel); what was
    /// sent stays as sent. Only the ids and the time are kept, so that every later event about
    /// them is recognised and not sent. Refused as intake refuses it (`ConsentRules`), so that
    /// both take it or neither does.
    func withdrawConsent(_ withdrawal: ConsentWithdrawnV1, in transaction: any StoreTransaction) throws {
        if let problem = ConsentRules.problem(with: withdrawal) {
            throw Failure.permanent(.invalidConsentWithdrawal, "a withdrawal of consent cannot be recorded: \(problem)")
        }
        let registration = SQLValue.text(withdrawal.registrationID)
        let participant =
            try transaction.query("SELECT participant_id FROM notif_contacts WHERE registration_id = ?", [registration])
            .first?["participant_id"] ?? .null
        let withdrawnAt = ConsentRules.time(withdrawal.withdrawnAt) ?? Date()
        try transaction.execute(
            """
            INSERT INTO notif_withdrawals (registration_id, participant_id, withdrawn_at) VALUES (?, ?, ?)
            ON CONFLICT (registration_id) DO NOTHING
            """, [registration, participant, .real(withdrawnAt.timeIntervalSince1970)])
        try transaction.execute(
            "DELETE FROM notif_messages WHERE (registration_id = ? OR participant_id = ?) AND state = 'pending'",
            [registration, participant])
        try transaction.execute("DELETE FROM notif_contacts WHERE registration_id = ?", [registration])
    }

    /// Whether a withdrawal recorded for this registration number concerns the registration
    /// submitted at `submittedAt`. One recorded before the submission was for a number not
    /// given out yet (a typo): it is dropped, and the registration is handled as usual.
    func withdrawalConcerns(_ registrationID: String, submittedAt: Date, in transaction: any StoreTransaction) throws -> Bool {
        guard
            let withdrawnAt = try transaction.query(
                "SELECT withdrawn_at FROM notif_withdrawals WHERE registration_id = ?", [.text(registrationID)]
            ).first?["withdrawn_at"]?.real
        else { return false }
        if ConsentRules.withdrawal(
            at: Date(timeIntervalSince1970: withdrawnAt), concernsSubmissionAt: submittedAt)
        {
            return true
        }
        try transaction.execute("DELETE FROM notif_withdrawals WHERE registration_id = ?", [.text(registrationID)])
        return false
    }

    /// Whether the person a message is about withdrew their consent.
    func hasWithdrawnConsent(_ key: ContactKey, in transaction: any StoreTransaction) throws -> Bool {
        switch key {
        case .registration(let id):
            try !transaction.query("SELECT 1 FROM notif_withdrawals WHERE registration_id = ?", [.text(id)]).isEmpty
        case .participant(let id):
            try !transaction.query("SELECT 1 FROM notif_withdrawals WHERE participant_id = ?", [.text(id)]).isEmpty
        }
    }
}

extension JSONEncoder {
    /// Sorted keys: the same values give the same text.
    fileprivate static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}
