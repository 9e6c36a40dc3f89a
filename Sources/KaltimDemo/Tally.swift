import AMQP
import ContractKit
import Contracts
import Foundation
import Programme
import Topology
import Workers

/// Watches every event of the run on an observer queue and keeps the counts the progress
/// lines and the report need.
actor Tally {
    struct Counts {
        var accepted = 0, rejected = 0, review = 0
        /// Of the accepted and the rejected, those an officer decided after a review; requests
        /// for documents (the review stays open).
        var reviewAccepted = 0, reviewRejected = 0, documentsRequested = 0
        var scheduled = 0, waitlisted = 0, apprenticeships = 0
        /// Seats left (no-show at daftar ulang, or withdrawn), and seats given to someone from
        /// the waiting list in their place.
        var withdrawn = 0, replacements = 0
        /// Reserves (peserta cadangan) named for full classes, and those who took a seat in their class.
        var reserves = 0, reservesSeated = 0
        /// Seats offered at the other BLKI, and offers not settled yet (no seat, waiting list or
        /// withdrawal seen for the person since).
        var offers = 0, offersPending = 0
        /// The BLKIs' training results.
        var trainingResults = 0
        var graded = 0, competent = 0, trainingPassed = 0, assessmentRejected = 0
        /// Graded uji ulang (re-assessments), and those that made the candidate KOMPETEN.
        var retakes = 0, retakesCompetent = 0
        /// Steps of appeals (banding) recorded by grading, and the appeals upheld.
        var appealSteps = 0, appealsUpheld = 0
        var certificates = 0, trainingCertificates = 0, competencyCertificates = 0
        /// The office's licence records (`licence.recorded`) and the records the certificates role
        /// issued for them.
        var licencesRecorded = 0, licenceCertificates = 0
        var submitted = 0, notified = 0, notificationsFailed = 0
        /// Intake's first answer to each registration: accepted, rejected or review.
        var decided: Int { accepted + rejected + review - reviewAccepted - reviewRejected }
        /// Reviews no officer has approved or rejected yet.
        var reviewsPending: Int { review - reviewAccepted - reviewRejected }
        var placed: Int { scheduled + waitlisted }
        var expectedCertificates: Int { trainingPassed + competent + licencesRecorded }
        /// One message per event that concerns a job seeker.
        var expectedNotifications: Int {
            submitted + accepted + rejected + review + documentsRequested + scheduled + waitlisted + offers + reserves
                + withdrawn + apprenticeships + trainingResults + graded + appealSteps + certificates
        }
    }

    private var seen = Set<String>()
    /// The ledger of effects: for each kind of effect and its subject, the distinct events
    /// seen. A subject with two events is a duplicated effect (the same event delivered twice
    /// has one id and counts once).
    private(set) var ledger: [String: [String: Set<String>]] = [:]
    /// Participants graded KOMPETEN and those who passed training (the certificates they are owed).
    private(set) var owedCertificates: [String: Set<String>] = [:]
    private(set) var counts = Counts()
    /// The seats held now (a seat left at daftar ulang is removed).
    private(set) var seats: [ClassScheduledV2] = []
    /// Per programme, who waits on its waiting list now.
    private(set) var waiting: [String: Set<String>] = [:]
    /// The class each reserve (cadangan) was named for.
    private var reserveOf: [String: String] = [:]
    /// The BLKI whose waiting list each waiting person is on (the one they chose).
    private var waitingAt: [String: TrainingCentre] = [:]

    /// How many of those waiting for `programme` chose `centre`: they take a seat freed there
    /// at once (others may be offered it and say no, so they are not counted).
    func waitingForHome(_ programme: String, at centre: TrainingCentre) -> Int {
        (waiting[programme] ?? []).filter { waitingAt[$0] == centre }.count
    }
    /// Who holds an apprenticeship place now.
    private var apprentices: Set<String> = []
    /// The registration number of each accepted participant.
    private(set) var registrationOfParticipant: [String: String] = [:]
    private var rejectionReasons: [String: Int] = [:]
    private var reviewReasons: [String: Int] = [:]
    /// The registrations sent to review, with their reasons' codes, in the order they came.
    private(set) var reviewCases: [(registrationID: String, reasons: [String])] = []
    private var inReview: Set<String> = []
    /// Per participant: the BLKI of their seat, and whether they were graded BELUM KOMPETEN or
    /// got a competency certificate (the target's figures).
    private var centreOfParticipant: [String: TrainingCentre] = [:]
    private var notYetCompetent: Set<String> = []
    /// Who was offered a seat at the other BLKI, and the offers the portal has not answered yet.
    private var offered: Set<String> = []
    private var unsettledOffers: Set<String> = []
    private(set) var offersToAnswer: [EnrolmentTransferOfferedV1] = []
    /// Each assessed participant's latest graded result (the one an uji ulang follows).
    private var latestResult: [String: AssessmentGradedV3] = [:]
    private var certified: Set<String> = []
    private var tiers: [Int: Int] = [:]
    private var certificatesByIssuer: [String: Int] = [:]
    private var notificationsByChannel: [String: Int] = [:]
    private var notificationFailures: [String: Int] = [:]
    /// Submission time by correlation id, and the latencies from submission to the message
    /// telling the person the decision (accepted, rejected, review).
    private var submittedAt: [String: Date] = [:]
    private(set) var decisionLatencies: [Double] = []
    /// From submission to the observer's receipt of intake's decision event (accepted,
    /// rejected, review), the first decision of each registration only.
    private(set) var decisionEventLatencies: [Double] = []
    private var decisionEventSeen: Set<String> = []
    /// In the open loop, the registrations published at the rate (by correlation id): only
    /// their latencies are measured (not the second wave's, published at once).
    private var measured: Set<String>?

    /// The publisher's own submission times of `published` (event id → time), to the
    /// microsecond: the envelope's `time` on the wire has whole seconds only, and measuring from
    /// it added up to a second to every latency. With `onlyThese`, only these registrations' latencies are
    /// measured (the open loop); by default every registration's.
    func submitted(_ published: [String: Date], onlyThese: Bool) {
        submittedAt.merge(published) { first, _ in first }
        if onlyThese { measured = (measured ?? []).union(published.keys) }
    }

    private func isMeasured(_ correlationID: String) -> Bool { measured?.contains(correlationID) ?? true }
    /// The rate the portal published at (`--rate`), for the report; nil: all at once.
    let openLoopRate: Double?
    /// When the first and the last output of each role was seen, and how many.
    private var roleActivity: [String: (count: Int, first: Date, last: Date)] = [:]
    /// How many distinct events of the types bound to each role's queue were seen: the messages
    /// it consumed (but `notification.requested`, which the observer does not bind).
    private var roleInputs: [String: Int] = [:]
    /// Each event type and the roles whose queues bind it.
    private static let consumers: [String: [String]] = Dictionary(
        WorkerRole.all.flatMap { role in role.consumes.map { ($0, [role.name]) } }, uniquingKeysWith: +)
    /// When the last message telling someone the decision on their registration was seen.
    private(set) var lastDecisionMessage: Date?

    /// The name a licence kind's records are owed under (the report's check).
    static func owedName(_ kind: LicenceRecordedV1.Kind) -> String {
        kind == .constructionCompetency ? "SKK Konstruksi" : "Lisensi K3"
    }

    static let producer: [String: String] = [
        RegistrationAcceptedV1.eventType: "intake", RegistrationRejectedV1.eventType: "intake",
        RegistrationReceivedV1.eventType: "intake",
        RegistrationReviewNeededV1.eventType: "intake", RegistrationDocumentsRequestedV1.eventType: "intake",
        ClassScheduledV2.eventType: "scheduling",
        EnrolmentWaitlistedV1.eventType: "scheduling", ApprenticeshipPlacedV1.eventType: "scheduling",
        EnrolmentWithdrawnV1.eventType: "scheduling", EnrolmentTransferOfferedV1.eventType: "scheduling",
        EnrolmentReserveDesignatedV1.eventType: "scheduling",
        AssessmentGradedV2.eventType: "grading", AssessmentRejectedV1.eventType: "grading",
        AssessmentAppealRecordedV1.eventType: "grading",
        CertificateIssuedV2.eventType: "certificates", NotificationDeliveredV1.eventType: "notifications",
        NotificationFailedV1.eventType: "notifications",
    ]

    /// How long ``wait(_:_:_:)`` waits for a stage.
    let stageTimeout: TimeInterval

    init(stageTimeout: TimeInterval = 20 * 60, openLoopRate: Double? = nil) {
        self.stageTimeout = stageTimeout
        self.openLoopRate = openLoopRate
    }

    /// Counts every event of `queue` as it arrives (a consumer with a deep prefetch: the run
    /// produces several events per registration, and one `basic.get` each could not keep up).
    /// Subscribes again if the consumer ends before the run does (a broker restart).
    func watch(_ queue: String, on connection: AMQPConnection) async {
        while !Task.isCancelled {
            do {
                let consumer = try await connection.consume(queue: queue, prefetch: 2000)
                for try await delivery in consumer {
                    record(delivery)
                    delivery.ack(onFailure: nil)
                }
                try? await consumer.cancel()
            } catch {
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    private func record(_ delivery: AMQPDelivery) {
        // Count each event once (a redelivered or republished copy has the same id).
        guard let id = delivery.properties.messageID, seen.insert(id).inserted else { return }
        let decoder = ContractJSON.decoder()
        func data<M: ContractMessage>(_ type: M.Type) -> M? {
            try? decoder.decode(EventEnvelope<M>.self, from: delivery.body).data
        }
        let now = Date()
        let header = try? decoder.decode(EnvelopeHeader.self, from: delivery.body)
        let subject = header?.subject ?? ""
        func note(_ kind: String, _ key: String) { ledger[kind, default: [:]][key, default: []].insert(id) }
        switch delivery.properties.type {
        case RegistrationAcceptedV1.eventType, RegistrationRejectedV1.eventType: note("registration decision", subject)
        case RegistrationReviewNeededV1.eventType: note("review opened", subject)
        case ClassScheduledV2.eventType: note("seat", subject)
        case EnrolmentWaitlistedV1.eventType:
            // Back on the list after a no to an offer is a second, expected waiting-list message.
            note("waiting list", offered.contains(subject) ? "\(subject) after offer" : subject)
        case EnrolmentTransferOfferedV1.eventType: note("transfer offer", subject)
        case EnrolmentReserveDesignatedV1.eventType: note("reserve", subject)
        case EnrolmentWithdrawnV1.eventType: note("withdrawal", subject)
        case ApprenticeshipPlacedV1.eventType: note("apprenticeship", subject)
        case AssessmentGradedV2.eventType, AssessmentRejectedV1.eventType:
            if let graded = data(AssessmentGradedV3.self) {
                note("assessment outcome", graded.assessmentID)
                if graded.outcome == .competent { owedCertificates["competency", default: []].insert(graded.participantID) }
            } else {
                note("assessment outcome", subject)
            }
        case AssessmentAppealRecordedV1.eventType:
            if let appeal = data(AssessmentAppealRecordedV1.self) {
                note("appeal step", "\(appeal.assessmentID) \(appeal.status.rawValue)")
            }
        case CertificateIssuedV2.eventType:
            if let issued = data(CertificateIssuedV2.self) {
                note("certificate", "\(issued.participantID) \(issued.kind.rawValue) \(issued.scheme ?? "")")
            }
        case NotificationDeliveredV1.eventType:
            if let delivered = data(NotificationDeliveredV1.self) { note("notification", delivered.notificationID) }
        case NotificationFailedV1.eventType:
            if let failed = data(NotificationFailedV1.self) { note("notification", failed.notificationID) }
        default: break
        }
        for role in delivery.properties.type.flatMap({ Self.consumers[$0] }) ?? [] { roleInputs[role, default: 0] += 1 }
        if let role = delivery.properties.type.flatMap({ Self.producer[$0] }) {
            let activity = roleActivity[role] ?? (0, now, now)
            roleActivity[role] = (activity.count + 1, activity.first, now)
        }
        switch delivery.properties.type {
        case RegistrationAcceptedV1.eventType, RegistrationRejectedV1.eventType, RegistrationReviewNeededV1.eventType:
            if let header, let start = submittedAt[header.correlationID], isMeasured(header.correlationID),
                decisionEventSeen.insert(header.correlationID).inserted
            {
                decisionEventLatencies.append(now.timeIntervalSince(start))
            }
        default: break
        }
        switch delivery.properties.type {
        case RegistrationSubmittedV3.eventType:
            counts.submitted += 1
            // A registration the publisher did not stamp (another publisher's): the envelope's
            // time, in whole seconds.
            if let header, submittedAt[header.correlationID] == nil { submittedAt[header.correlationID] = header.time }
        case NotificationDeliveredV1.eventType:
            counts.notified += 1
            if let envelope = try? decoder.decode(EventEnvelope<NotificationDeliveredV1>.self, from: delivery.body) {
                notificationsByChannel[envelope.data.channel.rawValue, default: 0] += 1
                let id = envelope.data.notificationID
                let decision = ["memenuhi_syarat", "pendaftaran_ditolak", "pendaftaran_ditinjau"].contains {
                    id.hasSuffix(":" + $0)
                }
                if decision { lastDecisionMessage = now }
                if decision, isMeasured(envelope.correlationID), let start = submittedAt[envelope.correlationID],
                    let end = try? Date(
                        envelope.data.deliveredAt, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
                {
                    decisionLatencies.append(end.timeIntervalSince(start))
                }
            }
        case NotificationFailedV1.eventType:
            counts.notificationsFailed += 1
            if let failed = data(NotificationFailedV1.self) { notificationFailures[failed.reasonCode, default: 0] += 1 }
        case RegistrationAcceptedV1.eventType:
            counts.accepted += 1
            if inReview.contains(subject) { counts.reviewAccepted += 1 }
            if let accepted = data(RegistrationAcceptedV2.self) {
                tiers[accepted.priorityTier.rawValue, default: 0] += 1
                registrationOfParticipant[accepted.participantID] = accepted.registrationID
            }
        case RegistrationRejectedV1.eventType:
            counts.rejected += 1
            if inReview.contains(subject) { counts.reviewRejected += 1 }
            for reason in data(RegistrationRejectedV1.self)?.reasons ?? [] { rejectionReasons[reason.code, default: 0] += 1 }
        case RegistrationReviewNeededV1.eventType:
            counts.review += 1
            inReview.insert(subject)
            let reasons = data(RegistrationReviewNeededV1.self)?.reasons ?? []
            for reason in reasons { reviewReasons[reason.code, default: 0] += 1 }
            reviewCases.append((subject, reasons.map(\.code)))
        case RegistrationDocumentsRequestedV1.eventType: counts.documentsRequested += 1
        case EnrolmentTransferOfferedV1.eventType:
            counts.offers += 1
            if let offer = data(EnrolmentTransferOfferedV1.self) {
                offered.insert(offer.participantID)
                unsettledOffers.insert(offer.participantID)
                offersToAnswer.append(offer)
            }
            counts.offersPending = unsettledOffers.count
        case ClassScheduledV2.eventType:
            counts.scheduled += 1
            if let seat = data(ClassScheduledV2.self) {
                unsettledOffers.remove(seat.participantID)
                counts.offersPending = unsettledOffers.count
                seats.append(seat)
                centreOfParticipant[seat.participantID] = seat.centre
                waiting[seat.programme]?.remove(seat.participantID)
                if seat.replacing { counts.replacements += 1 }
                if reserveOf[seat.participantID] == seat.classID { counts.reservesSeated += 1 }
            }
        case EnrolmentReserveDesignatedV1.eventType:
            counts.reserves += 1
            if let reserve = data(EnrolmentReserveDesignatedV1.self) { reserveOf[reserve.participantID] = reserve.classID }
        case EnrolmentWaitlistedV1.eventType:
            counts.waitlisted += 1
            if let waitlisted = data(EnrolmentWaitlistedV1.self) {
                unsettledOffers.remove(waitlisted.participantID)
                counts.offersPending = unsettledOffers.count
                waiting[waitlisted.programme, default: []].insert(waitlisted.participantID)
                waitingAt[waitlisted.participantID] = waitlisted.centre
            }
        case EnrolmentWithdrawnV1.eventType:
            counts.withdrawn += 1
            if let withdrawn = data(EnrolmentWithdrawnV1.self) {
                unsettledOffers.remove(withdrawn.participantID)
                counts.offersPending = unsettledOffers.count
                seats.removeAll { $0.participantID == withdrawn.participantID }
                apprentices.remove(withdrawn.participantID)
                for programme in waiting.keys { waiting[programme]?.remove(withdrawn.participantID) }
            }
        case ApprenticeshipPlacedV1.eventType:
            counts.apprenticeships += 1
            if let placed = data(ApprenticeshipPlacedV1.self) { apprentices.insert(placed.participantID) }
        case AssessmentGradedV2.eventType:
            counts.graded += 1
            if let graded = data(AssessmentGradedV3.self) {
                if graded.outcome == .competent {
                    counts.competent += 1
                    notYetCompetent.remove(graded.participantID)
                } else {
                    notYetCompetent.insert(graded.participantID)
                }
                if graded.retakeOf != nil {
                    counts.retakes += 1
                    if graded.outcome == .competent { counts.retakesCompetent += 1 }
                }
                latestResult[graded.participantID] = graded
            }
        case AssessmentRejectedV1.eventType: counts.assessmentRejected += 1
        case AssessmentAppealRecordedV1.eventType:
            counts.appealSteps += 1
            if data(AssessmentAppealRecordedV1.self)?.status == .upheld { counts.appealsUpheld += 1 }
        case LicenceRecordedV1.eventType:
            counts.licencesRecorded += 1
            if let licence = data(LicenceRecordedV1.self) {
                owedCertificates[Self.owedName(licence.kind), default: []].insert(licence.participantID)
            }
        case TrainingCompletedV1.eventType:
            counts.trainingResults += 1
            if let completed = data(TrainingCompletedV1.self), completed.result == .passed {
                counts.trainingPassed += 1
                owedCertificates["training", default: []].insert(completed.participantID)
            }
        case CertificateIssuedV2.eventType:
            counts.certificates += 1
            if let issued = data(CertificateIssuedV2.self) {
                if issued.kind == .training {
                    counts.trainingCertificates += 1
                } else if issued.kind == .competency {
                    counts.competencyCertificates += 1
                    certified.insert(issued.participantID)
                } else {
                    counts.licenceCertificates += 1
                }
                certificatesByIssuer[issued.issuer, default: 0] += 1
            }
        default: break
        }
    }

    /// Prints a live progress line until `done` holds (deadline 20 minutes).
    func wait(_ stage: String, _ started: Date, _ done: @Sendable (Counts) -> Bool) async throws {
        let deadline = started.addingTimeInterval(stageTimeout)
        while !done(counts) {
            guard Date() < deadline else {
                throw FleetError("\(stage) did not finish in \(Int(stageTimeout)) s")
            }
            progress(stage, started, final: false)
            try await Task.sleep(for: .milliseconds(500))
        }
        progress(stage, started, final: true)
    }

    private func progress(_ stage: String, _ started: Date, final: Bool) {
        let c = counts
        let line = String(
            format:
                "  %@ %6.1f s | decided %5d (accepted %5d, rejected %4d, review %4d) | seated %4d, waitlisted %4d | graded %4d | certificates %4d | notified %5d",
            stage.padding(toLength: 24, withPad: " ", startingAt: 0), Date().timeIntervalSince(started), c.decided, c.accepted,
            c.rejected, c.review, c.scheduled,
            c.waitlisted, c.graded, c.certificates, c.notified)
        FileHandle.standardOutput.write(Data(("\r" + line + (final ? "\n" : "")).utf8))
    }

    /// Withdrawals the office asked for in the run, and how many of them before the class started.
    private var officeWithdrawals = (asked: 0, beforeStart: 0)

    func noteOfficeWithdrawals(asked: Int, beforeStart: Int) { officeWithdrawals = (asked, beforeStart) }

    /// Takes the offers the portal has not answered yet.
    func takeOffersToAnswer() -> [EnrolmentTransferOfferedV1] {
        defer { offersToAnswer.removeAll() }
        return offersToAnswer
    }

    /// Puts back offers whose answers could not be published.
    func returnOffers(_ offers: [EnrolmentTransferOfferedV1]) { offersToAnswer += offers }

    /// The BELUM KOMPETEN results that may still be followed by an uji ulang, in participant order.
    var retakeCandidates: [AssessmentGradedV3] {
        latestResult.values.filter { $0.outcome == .notYetCompetent && $0.retakeAvailable == true }
            .sorted { $0.participantID < $1.participantID }
    }

    /// Certified (a competency certificate) against the programme's target, per BLKI, and what
    /// could close a gap: the BELUM KOMPETEN who may take a re-assessment (uji ulang) and the
    /// reserves on the waiting list.
    private func targetLines(catalogue: ProgrammeCatalogue) -> [String] {
        let target = catalogue.centres.map(\.quota).reduce(0, +)
        var lines = ["target: \(certified.count) certified of \(target) (a competency certificate)"]
        for centre in catalogue.centres {
            let inCentre = { (participant: String) in self.centreOfParticipant[participant] == centre.centre }
            let done = certified.filter(inCentre).count
            // Who waits now (seated or withdrawn applicants have left the lists).
            let stillWaiting = Set(waiting.values.joined())
            let failed = notYetCompetent.filter(inCentre).count
            let canRetake = notYetCompetent.filter { inCentre($0) && latestResult[$0]?.retakeAvailable == true }.count
            let assessed = done + failed
            var line = "  \(centre.centre.rawValue): \(done) of \(centre.quota)"
            if done < centre.quota {
                let gap = centre.quota - done
                let rate = assessed > 0 ? Double(done) / Double(assessed) : 0
                line +=
                    ", gap \(gap): \(failed) BELUM KOMPETEN, of whom \(canRetake) may still take an uji ulang "
                    + "(the others have used their attempts)"
                if rate > 0 {
                    line += String(
                        format:
                            "; at the observed %.0f %% pass rate about %d more trainees are needed, %d wait on its waiting lists",
                        rate * 100, Int((Double(gap) / rate).rounded(.up)),
                        stillWaiting.filter { waitingAt[$0] == centre.centre }.count)
                }
            }
            lines.append(line)
        }
        lines.append("  apprenticeships: \(apprentices.count) held of \(catalogue.apprenticeships.places)")
        return lines
    }

    func report(
        catalogue: ProgrammeCatalogue, seconds: Double, deadLetters: [String: Int], cohort: Cohort, passRates: [String: Double],
        publishingStarted: Date, usage: [ProcessUsage], relayRate: Double?
    ) -> String {
        let c = counts
        var lines: [String] = []
        lines.append("")
        lines.append("== Kaltim 2025 programme: report (seeded synthetic cohort) ==")
        lines.append(
            "registrations \(cohort.registrations.count): accepted \(c.accepted), rejected \(c.rejected) "
                + "(\(c.reviewAccepted) and \(c.reviewRejected) of them after an officer's review)")
        lines.append(
            "  reviews: \(c.review) opened, \(c.reviewAccepted) approved, \(c.reviewRejected) rejected, "
                + "\(c.documentsRequested) asked for documents first; \(c.reviewsPending) still pending")
        lines.append(
            "  priority of the accepted: tier 1 \(tiers[1] ?? 0), tier 2 \(tiers[2] ?? 0), tier 3 \(tiers[3] ?? 0)")
        lines.append("  rejections by reason:")
        for (code, count) in rejectionReasons.sorted(by: { $0.value > $1.value }) { lines.append("    \(code): \(count)") }
        lines.append("  reviews by reason:")
        for (code, count) in reviewReasons.sorted(by: { $0.value > $1.value }) { lines.append("    \(code): \(count)") }
        lines.append("places (target 1,000 Balikpapan / 500 Bontang / about 400 apprenticeships):")
        for centre in catalogue.centres {
            let seated = seats.filter { $0.centre == centre.centre }
            lines.append("  \(centre.centre.rawValue): seated \(seated.count) of quota \(centre.quota)")
            for programme in centre.programmes {
                let n = seated.filter { $0.programme == programme.code }.count
                lines.append("    \(programme.sector) \(programme.code): \(n) (\(programme.classes) classes)")
            }
        }
        lines.append(
            "  waitlisted \(c.waitlisted); apprenticeships placed \(c.apprenticeships) (\(apprentices.count) held at the end)")
        lines.append(
            "  offers of a seat at the other BLKI: \(c.offers) (the portal answered each; a no leaves the person "
                + "waiting for their own BLKI)")
        lines.append(
            "  withdrawals asked by the office: \(officeWithdrawals.asked) (\(officeWithdrawals.beforeStart) before the "
                + "class started: refilled from the waiting list; the others after it started: not refilled)")
        lines.append(
            "  daftar ulang and withdrawals: \(c.withdrawn) seats left (no-shows at daftar ulang and the withdrawals), "
                + "\(c.replacements) given to the next on the waiting list")
        lines.append(
            "  reserves (peserta cadangan) named for full classes: \(c.reserves) (the plan's \(catalogue.reserveSeats) per "
                + "class, from its BLKI's waiting list); \(c.reservesSeated) took a seat freed in their class")
        lines += targetLines(catalogue: catalogue)
        lines.append(
            "training results from the BLKIs \(c.trainingResults) (LULUS \(c.trainingPassed)); assessments: graded \(c.graded) (KOMPETEN \(c.competent)), rejected \(c.assessmentRejected)"
        )
        lines.append(
            "  banding: \(c.appealSteps) steps of appeals recorded (filed, then upheld or dismissed), \(c.appealsUpheld) upheld")
        lines.append("  uji ulang: \(c.retakes) re-assessments graded, \(c.retakesCompetent) of them made the candidate KOMPETEN")
        lines.append(
            "  pass rates drawn per programme: "
                + passRates.sorted { $0.key < $1.key }.map { "\($0.key) \(Int($0.value * 100)) %" }.joined(separator: ", "))
        lines.append(
            "certificates: \(c.certificates) (training \(c.trainingCertificates), competency \(c.competencyCertificates), licence records \(c.licenceCertificates) of \(c.licencesRecorded) the office recorded)"
        )
        for (issuer, count) in certificatesByIssuer.sorted(by: { $0.key < $1.key }) { lines.append("  \(issuer): \(count)") }
        lines.append(
            "notifications: delivered \(c.notified) of \(c.expectedNotifications) expected (one per event), failed \(c.notificationsFailed)"
        )
        lines.append(
            "  by channel: "
                + notificationsByChannel.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        for (code, count) in notificationFailures.sorted(by: { $0.key < $1.key }) { lines.append("  failed \(code): \(count)") }
        let how =
            openLoopRate.map { String(format: "published at %.0f/s", $0) } ?? "all registrations at once"
        for (what, latencies) in [
            ("intake's decision event (as the observer received it)", decisionEventLatencies),
            ("decision message delivered", decisionLatencies),
        ] where !latencies.isEmpty {
            let sorted = latencies.sorted()
            func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
            lines.append(
                String(
                    format: "  submission → %@: p50 %.3f s, p99 %.3f s, max %.3f s (%d registrations, %@)", what,
                    percentile(0.5), percentile(0.99), sorted.last ?? 0, sorted.count, how))
        }
        lines.append("dead letters (only the deliberately malformed messages belong here):")
        if deadLetters.isEmpty { lines.append("  none") }
        for (key, count) in deadLetters.sorted(by: { $0.key < $1.key }) { lines.append("  \(key): \(count)") }
        lines.append(String(format: "run: %.1f s (with building the cohort and starting the workers)", seconds))
        if let last = lastDecisionMessage {
            let window = last.timeIntervalSince(publishingStarted)
            lines.append(
                String(
                    format:
                        "  end to end: %.0f registrations/s (%d registrations from the portal's first publish to the last decision message, %.1f s)",
                    Double(cohort.registrations.count) / window, cohort.registrations.count, window)
                    + (openLoopRate.map { String(format: "; bounded by the open loop's %.0f/s", $0) } ?? ""))
        }
        lines.append(
            "  per role (outputs from its first to its last, as the observer saw them; CPU of its processes per output, "
                + "and per message consumed: the events of the types bound to its queue):")
        for role in WorkerRole.all.map(\.name) {
            guard let activity = roleActivity[role] else { continue }
            let span = max(0.001, activity.last.timeIntervalSince(activity.first))
            let processes = usage.filter { $0.role == role }
            let cpu = processes.reduce(0) { $0 + $1.cpuSeconds }
            let consumed = roleInputs[role] ?? 0
            // Under a supervisor (the chaos run) the role's processes are not the job's own.
            let cost =
                processes.isEmpty
                ? "; CPU not measured (its processes run under the supervisor)"
                : String(
                    format: "; CPU %7.1f s, %.3f ms/output; %d consumed, %.3f ms/message", cpu,
                    cpu * 1000 / Double(max(1, activity.count)), consumed, cpu * 1000 / Double(max(1, consumed)))
            lines.append(
                String(
                    format: "    %@ %7d outputs in %6.1f s: %6.0f/s", role.padding(toLength: 14, withPad: " ", startingAt: 0),
                    activity.count, span, Double(activity.count) / span) + cost)
        }
        lines.append(
            "  peak memory per process (VmHWM); at the end: its own (heap, stacks), the program's and libraries' pages "
                + "(shared), and its proportional share (PSS):")
        for process in usage {
            lines.append(
                String(
                    format: "    %@ %6.1f MiB", process.name.padding(toLength: 14, withPad: " ", startingAt: 0),
                    Double(process.peakKiB) / 1024)
                    + String(
                        format: " (own %.1f, program %.1f, PSS %.1f)", Double(process.anonymousKiB) / 1024,
                        Double(process.fileKiB) / 1024, Double(process.proportionalKiB) / 1024))
        }
        if let relayRate {
            lines.append(
                String(
                    format:
                        "  ceiling: the raw C relay (Benchmarks/c-relay, quorum, persistent, confirms) moved %.0f msg/s in this run",
                    relayRate))
        }
        return lines.joined(separator: "\n")
    }
}
