public import ContractKit
import Contracts
import Crypto
import Foundation
public import Jobs
public import Programme
public import Topology

/// The class scheduling worker: seats accepted applicants in the 2025 classes.
///
/// - An acceptance joins the applicant pool of its (centre, programme), ordered by priority
///   tier, then arrival (when the registration was submitted, from `registration.accepted` v2;
///   the acceptance's envelope time for a v1; a second's resolution), then the registration
///   number (portals number registrations as they arrive), then the participant id.
/// - A class opening seats the best pooled applicants; an acceptance that arrives while a
///   class of its programme has a free seat is seated at once (nobody better is waiting:
///   after every event, no pooled applicant could take a free seat).
/// - Seats: the preferred BLKI's classes of the programme first (earliest class first), then,
///   once every planned class of the programme there is open and full (or the BLKI's quota is
///   used up), a class of the same programme at the other BLKI, which is offered first
///   (`enrolment.transfer-offered`, the seat held, an answer date): a yes from the portal
///   (`enrolment.transfer-answered`) seats the applicant, a no or no answer frees the seat for
///   the next person and the applicant waits for a seat at their own BLKI (asked once).
/// - An applicant with no seat left anywhere for the programme is waitlisted, with a position.
/// - Withdrawals are asked for (`enrolment.withdrawal-requested`, by the office or the BLKI) and
///   published by scheduling (`enrolment.withdrawn`): a seat left before the class starts goes to
///   the best waitlisted (or pooled) applicant; one in a class that has started stays empty.
/// - Daftar ulang (`enrolment.reregistered`, from the BLKI): whoever did not come loses the
///   seat (scheduling publishes `enrolment.withdrawn`, `TIDAK_HADIR_DAFTAR_ULANG`), and the
///   seat goes to the next on the waiting list with a daftar ulang window of their own.
/// - Quotas (1,000 Balikpapan, 500 Bontang) and class capacity are checked inside the same
///   store transaction that seats someone, so processes sharing the store never overbook.
/// - Apprenticeship places (about 400) go to seated applicants who asked for one, in seating
///   order, with a company of the programme's sector.
/// - One message waitlists at most ``waitlistedPerMessage`` applicants of each programme; the
///   rest are waitlisted by the `enrolment.allocation-continued` events scheduling publishes to
///   itself, each carrying on in the list's order. Seating is not deferred. So the events and
///   the memory of one message do not grow with the number of applicants pooled (the README's
///   scaling table).
public struct SchedulingHandler: TypedMessageHandler {
    public let catalogue: ProgrammeCatalogue
    public let exchange: String
    public let source = "/kaltim/workers/scheduling"
    /// The most applicants of one programme one message moves onto a waiting list.
    public let waitlistedPerMessage: Int
    /// Applicants read from the store at once while walking a programme's list.
    public let walkPage: Int

    /// The most seats a class may have: a BLKI workshop seats 16 (the plan's `classSize`).
    public static let maximumClassCapacity = 100

    /// What is wrong with a class opening, if anything: an id of 1–64 letters, digits, `.`, `_`
    /// and `-` (it is carried to every role and printed on pages) that begins with the BLKI's
    /// code and a dash (`BPN-…`: the BLKI's broker user may send records for it, and no other
    /// BLKI's), a programme the plan has at that BLKI, 1–``maximumClassCapacity`` seats, reserves and a cohort that are not negative
    /// and not absurd, and real dates with the start not after the end (they decide who comes
    /// to daftar ulang when, and whether a seat left may be given again).
    func problem(with opened: ClassOpenedV1) -> String? {
        let id = opened.classID.utf8
        guard (1...64).contains(id.count),
            id.allSatisfy({
                (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || ".-_".utf8.contains($0)
            })
        else { return "the id must be 1-64 letters, digits, '.', '_' or '-'" }
        guard catalogue.programme(opened.programme, at: opened.centre) != nil,
            let code = catalogue.centres.first(where: { $0.centre == opened.centre })?.code
        else {
            return "programme \(opened.programme.prefix(60).debugDescription) is not planned at \(opened.centre.rawValue)"
        }
        // A BLKI's records name its classes, and only its own user may send them: the class id
        // says whose class it is (`ContractPublishers.classCentre`).
        guard opened.classID.hasPrefix(code + "-") else { return "the id must begin with its BLKI's code, \(code)-" }
        guard (1...Self.maximumClassCapacity).contains(opened.capacity) else {
            return "it must have 1 to \(Self.maximumClassCapacity) seats, not \(opened.capacity)"
        }
        guard (0...Self.maximumClassCapacity).contains(opened.reserveSeats), (1...1000).contains(opened.cohort),
            (0...10_000).contains(opened.trainingHours)
        else { return "reserve seats (0-100), cohort (1-1000) and training hours (0-10000) out of range" }
        guard let start = ProgrammeCatalogue.day(opened.startDate), let end = ProgrammeCatalogue.day(opened.endDate), start <= end
        else { return "the start and end dates must be YYYY-MM-DD, the start not after the end" }
        return nil
    }

    public init(
        catalogue: ProgrammeCatalogue, exchange: String = ContractDocuments.exchange, waitlistedPerMessage: Int = 500,
        walkPage: Int = 256
    ) {
        self.catalogue = catalogue
        self.exchange = exchange
        self.waitlistedPerMessage = max(1, waitlistedPerMessage)
        self.walkPage = max(1, walkPage)
    }

    public var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS sched_classes (
                class_id TEXT PRIMARY KEY, centre TEXT NOT NULL, programme TEXT NOT NULL, cohort INTEGER NOT NULL,
                capacity INTEGER NOT NULL, start_date TEXT NOT NULL, end_date TEXT NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS sched_applicants (
                participant_id TEXT PRIMARY KEY, registration_id TEXT NOT NULL, preferred_centre TEXT NOT NULL,
                programme TEXT NOT NULL, tier INTEGER NOT NULL, arrival TEXT NOT NULL, apprenticeship_interest INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pooled', 'scheduled', 'waitlisted', 'withdrawn')),
                class_id TEXT, seat INTEGER, waitlist_position INTEGER, correlation_id TEXT NOT NULL,
                UNIQUE (class_id, seat))
            """,
            // A programme's applicants of one status in the order they are served: the walk reads
            // them a page at a time from where the last page ended (replaces the index on the
            // first four columns).
            """
            CREATE INDEX IF NOT EXISTS sched_applicants_walk
                ON sched_applicants (programme, status, tier, arrival, registration_id, participant_id)
            """,
            "DROP INDEX IF EXISTS sched_applicants_queue",
            // Seat counts per class and per BLKI run on every message: index them.
            "CREATE INDEX IF NOT EXISTS sched_applicants_class ON sched_applicants (class_id, status)",
            "CREATE INDEX IF NOT EXISTS sched_classes_offer ON sched_classes (centre, programme)",
            // Each BLKI's waiting list per programme in its order: its last entry is found
            // without reading the list (a new applicant is usually put at its end).
            """
            CREATE INDEX IF NOT EXISTS sched_applicants_waitlist
                ON sched_applicants (programme, preferred_centre, status, tier, arrival, registration_id, participant_id)
            """,
            """
            CREATE TABLE IF NOT EXISTS sched_apprenticeships (
                placement_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL UNIQUE, company TEXT NOT NULL)
            """,
            // Places given back by participants who left: their numbers are never given again.
            """
            CREATE TABLE IF NOT EXISTS sched_apprenticeships_released (
                placement_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, company TEXT NOT NULL)
            """,
            // Daftar ulang as the BLKI recorded it: one row per seat taken.
            """
            CREATE TABLE IF NOT EXISTS sched_reregistrations (
                participant_id TEXT PRIMARY KEY, class_id TEXT NOT NULL, attended INTEGER NOT NULL,
                recorded_by TEXT NOT NULL)
            """,
            // Seats offered at the other BLKI: held (the applicant's row is 'scheduled' in that
            // class) while the offer is open; one offer per applicant.
            """
            CREATE TABLE IF NOT EXISTS sched_offers (
                participant_id TEXT PRIMARY KEY, class_id TEXT NOT NULL, answer_by TEXT NOT NULL,
                replacing INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('open', 'MENERIMA', 'MENOLAK', 'TIDAK_MENJAWAB', 'withdrawn')))
            """,
            // Withdrawals as requested: who asked, the day the participant left, whether the
            // seat went to someone else (the audit of the request).
            """
            CREATE TABLE IF NOT EXISTS sched_withdrawals (
                participant_id TEXT PRIMARY KEY, class_id TEXT, reason TEXT NOT NULL, left_on TEXT NOT NULL,
                requested_by TEXT NOT NULL, refilled INTEGER NOT NULL)
            """,
            // Reserves (peserta cadangan) of full classes, named from the waiting list of the
            // class's BLKI in its order: 'reserve' while waiting, 'promoted' once seated in the
            // class, 'released' once seated elsewhere or withdrawn. A person is named once;
            // `named` is the order of naming (the order they are served in), `rank` their
            // place in line when named (what they were told).
            """
            CREATE TABLE IF NOT EXISTS sched_reserves (
                participant_id TEXT PRIMARY KEY, class_id TEXT NOT NULL, named INTEGER NOT NULL UNIQUE, rank INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('reserve', 'promoted', 'released')))
            """,
            "CREATE INDEX IF NOT EXISTS sched_reserves_class ON sched_reserves (class_id, status, named)",
        ]
    }

    public func handle(_ input: SchedulingInput, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        var context = Context(handler: self, transaction: SeatCountCachingTransaction(transaction), event: event)
        switch input {
        case .accepted(let accepted):
            try context.accept(accepted, arrival: accepted.submittedAt ?? event.header.time)
        case .classOpened(let opened):
            try context.open(opened)
        case .reRegistered(let record):
            try context.reRegister(record)
        case .withdrawalRequested(let request):
            try context.withdraw(request)
        case .transferAnswered(let answer):
            try context.answer(answer)
        case .allocationContinued(let continued):
            guard catalogue.centres.contains(where: { $0.programmes.contains { $0.code == continued.programme } }) else {
                throw Failure.permanent(
                    .unknownProgramme, "programme \(continued.programme.prefix(60).debugDescription) is not planned")
            }
            try context.allocate(programme: continued.programme)
        }
        try context.continueUnfinished()
        return context.output
    }
}

/// The handler's transaction for one message, keeping each BLKI's count of seats taken until
/// the next statement that may write. One message asks for it up to ten times (the quotas
/// before and after, each free seat and each "nothing left to open"), and each is a join over
/// every seat taken at the BLKI, counted again while nothing changed (`quotasReached()` alone
/// was 12 % of the role's samples in a perf profile).
private final class SeatCountCachingTransaction: StoreTransaction {
    let base: any StoreTransaction
    /// Seats taken (scheduled or withdrawn) per BLKI, as last counted since the last write.
    var scheduledCounts: [TrainingCentre: Int] = [:]

    init(_ base: any StoreTransaction) { self.base = base }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws {
        scheduledCounts.removeAll()
        try base.execute(sql, arguments)
    }

    func query(_ sql: String, _ arguments: [SQLValue]) throws -> [[String: SQLValue]] {
        // A query that is not a plain SELECT (`… RETURNING`) may write.
        if !sql.utf8.drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }).starts(with: "SELECT".utf8) {
            scheduledCounts.removeAll()
        }
        return try base.query(sql, arguments)
    }
}

/// One message's work on the scheduling state.
private struct Context {
    let handler: SchedulingHandler
    let transaction: SeatCountCachingTransaction
    let event: DecodedEvent
    var output: [OutgoingEvent] = []
    /// The class whose seat a participant who did not come to daftar ulang left: whoever is
    /// seated in it now gets the later window (``ProgrammeCatalogue/replacementWindow(classStart:)``).
    var freedClass: String?
    /// The day a withdrawal freed that seat (an offer for it is answered no earlier).
    var freedOn: String?
    /// The class in which this message freed a seat (a no-show, a withdrawal before the start,
    /// an offer declined): its reserves are served first.
    var seatFreedIn: String?
    /// How many applicants of each programme this message has waitlisted.
    var waitlistedHere: [String: Int] = [:]
    /// The programmes whose waitlisting stopped at the budget, to be carried on by
    /// `enrolment.allocation-continued`.
    var unfinished: Set<String> = []

    var catalogue: ProgrammeCatalogue { handler.catalogue }

    mutating func accept(_ accepted: RegistrationAcceptedV2, arrival: Date) throws {
        guard catalogue.programme(accepted.programme, at: accepted.centre) != nil else {
            throw Failure.permanent(
                .unknownProgramme, "programme \(accepted.programme) is not planned at \(accepted.centre.rawValue)")
        }
        let existing = try transaction.query(
            "SELECT status FROM sched_applicants WHERE participant_id = ?", [.text(accepted.participantID)])
        guard existing.isEmpty else { return }  // the same acceptance again (another message id): already placed
        try transaction.execute(
            """
            INSERT INTO sched_applicants (participant_id, registration_id, preferred_centre, programme, tier, arrival,
                apprenticeship_interest, status, correlation_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'pooled', ?)
            """,
            [
                .text(accepted.participantID), .text(accepted.registrationID), .text(accepted.centre.rawValue),
                .text(accepted.programme), .integer(Int64(accepted.priorityTier.rawValue)),
                .text(Self.arrivalKey(arrival)), .integer(accepted.apprenticeshipInterest ? 1 : 0),
                .text(event.header.correlationID),
            ])
        try allocate(programme: accepted.programme)
    }

    /// A class the office opened. Checked first (``SchedulingHandler/problem(with:)``); the same
    /// class again changes nothing, and the same id with other values is refused.
    mutating func open(_ opened: ClassOpenedV1) throws {
        if let problem = handler.problem(with: opened) {
            throw Failure.permanent(.invalidClass, "class \(opened.classID.prefix(64).debugDescription): \(problem)")
        }
        let values: [SQLValue] = [
            .text(opened.centre.rawValue), .text(opened.programme), .integer(Int64(opened.cohort)),
            .integer(Int64(opened.capacity)), .text(opened.startDate), .text(opened.endDate),
        ]
        if let known = try transaction.query(
            "SELECT centre, programme, cohort, capacity, start_date, end_date FROM sched_classes WHERE class_id = ?",
            [.text(opened.classID)]
        ).first {
            let same = zip(["centre", "programme", "cohort", "capacity", "start_date", "end_date"], values).allSatisfy {
                known[$0.0] == $0.1
            }
            guard same else {
                throw Failure.permanent(
                    .invalidClass, "class \(opened.classID) is already open with other values (seats, dates or programme)")
            }
            return  // the same opening again
        }
        try transaction.execute(
            """
            INSERT INTO sched_classes (class_id, centre, programme, cohort, capacity, start_date, end_date)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [.text(opened.classID)] + values)
        try allocate(programme: opened.programme)
    }

    /// Daftar ulang as the BLKI recorded it. Attended: the seat is confirmed. Not attended:
    /// the participant loses the seat (published as `enrolment.withdrawn`,
    /// `TIDAK_HADIR_DAFTAR_ULANG`, for every role and for the person), an apprenticeship place
    /// they held is released, and the seat goes to the next eligible person, who gets a window
    /// of their own. The same record again changes nothing; a record that contradicts an
    /// earlier one, or names a class the participant has no seat in, is refused.
    mutating func reRegister(_ record: EnrolmentReRegisteredV1) throws {
        let recordedBy = record.recordedBy.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !recordedBy.isEmpty, recordedBy.count <= 200 else {
            throw Failure.permanent(.invalidReRegistration, "a daftar ulang record names who recorded it (1 to 200 characters)")
        }
        if let earlier = try transaction.query(
            "SELECT class_id, attended FROM sched_reregistrations WHERE participant_id = ?", [.text(record.participantID)]
        ).first {
            guard earlier["class_id"]?.text == record.classID, earlier["attended"]?.integer == (record.attended ? 1 : 0)
            else {
                throw Failure.permanent(
                    .reRegistrationConflict,
                    "daftar ulang of \(record.participantID) was already recorded otherwise; a record is not changed by another")
            }
            return
        }
        guard
            let applicant = try transaction.query(
                "SELECT programme, status, class_id FROM sched_applicants WHERE participant_id = ?", [.text(record.participantID)]
            ).first, applicant["status"]?.text == "scheduled", applicant["class_id"]?.text == record.classID,
            let programme = applicant["programme"]?.text
        else {
            throw Failure.permanent(
                .invalidReRegistration, "\(record.participantID) has no seat in class \(record.classID) to re-register for")
        }
        guard try openOffer(record.participantID) == nil else {
            throw Failure.permanent(
                .invalidReRegistration, "\(record.participantID) has not answered the offer of class \(record.classID) yet")
        }
        try transaction.execute(
            "INSERT INTO sched_reregistrations (participant_id, class_id, attended, recorded_by) VALUES (?, ?, ?, ?)",
            [.text(record.participantID), .text(record.classID), .integer(record.attended ? 1 : 0), .text(recordedBy)])
        guard !record.attended else { return }
        try transaction.execute(
            """
            UPDATE sched_applicants SET status = 'withdrawn', class_id = NULL, seat = NULL, waitlist_position = NULL
            WHERE participant_id = ?
            """, [.text(record.participantID)])
        try releaseApprenticeship(record.participantID)
        try emit(
            EnrolmentWithdrawnV1(participantID: record.participantID, classID: record.classID, reason: .noShow),
            id: "no-show-\(record.participantID)", subject: record.participantID, correlation: event.header.correlationID)
        freedClass = record.classID
        seatFreedIn = record.classID
        try allocate(programme: programme)
    }

    /// A withdrawal the office or the BLKI asked for. Checked (a known participant, the class
    /// they hold if one is named, a date, who recorded it; no-shows come from daftar ulang), then
    /// published as `enrolment.withdrawn`; an apprenticeship place is released. A seat left
    /// before the class starts goes to the next eligible person; a seat in a class that has
    /// started by the day the participant left stays empty (it keeps counting as taken, so
    /// nobody is put into a class mid-way). A repeat changes nothing.
    mutating func withdraw(_ request: EnrolmentWithdrawalRequestedV1) throws {
        let requestedBy = request.requestedBy.trimmingCharacters(in: .whitespacesAndNewlines)
        guard request.reason != .noShow, ProgrammeCatalogue.day(request.on) != nil, !requestedBy.isEmpty,
            requestedBy.count <= 200
        else {
            throw Failure.permanent(
                .invalidWithdrawal,
                "a withdrawal request needs a reason other than a no-show, a date (YYYY-MM-DD) and who recorded it")
        }
        guard
            let row = try transaction.query(
                "SELECT programme, status, class_id, seat, preferred_centre FROM sched_applicants WHERE participant_id = ?",
                [.text(request.participantID)]
            ).first, let programme = row["programme"]?.text
        else {
            throw Failure.transient(
                .participantNotYetKnown, "\(request.participantID) is not an accepted participant (not yet, or not at all)")
        }
        guard row["status"]?.text != "withdrawn" else { return }  // already withdrawn: a repeat
        // A seat still on offer is not theirs yet: they leave the waiting for it, not a class.
        let onOffer = try openOffer(request.participantID) != nil
        let heldClass = row["status"]?.text == "scheduled" && !onOffer ? row["class_id"]?.text : nil
        if request.reason == .attendanceTooLow && heldClass == nil {
            throw Failure.permanent(
                .invalidWithdrawal, "\(request.participantID) holds no seat: an attendance below 80 % concerns a class")
        }
        if let named = request.classID, named != heldClass {
            throw Failure.permanent(.invalidWithdrawal, "\(request.participantID) holds no seat in class \(named)")
        }
        let start = try heldClass.flatMap {
            try transaction.query("SELECT start_date FROM sched_classes WHERE class_id = ?", [.text($0)]).first?["start_date"]?
                .text
        }
        let started = start.map { request.on >= $0 } ?? false
        if request.reason == .attendanceTooLow && !started {
            throw Failure.permanent(
                .invalidWithdrawal, "an attendance below 80 % is known only once the class has started (on \(start ?? "-"))")
        }
        let freedSeat = row["status"]?.text == "scheduled" ? row["class_id"]?.text : nil
        // A seat in a class that has started stays with the row (taken, not refilled).
        try transaction.execute(
            started
                ? "UPDATE sched_applicants SET status = 'withdrawn', waitlist_position = NULL WHERE participant_id = ?"
                : """
                UPDATE sched_applicants SET status = 'withdrawn', class_id = NULL, seat = NULL, waitlist_position = NULL
                WHERE participant_id = ?
                """, [.text(request.participantID)])
        try transaction.execute(
            "UPDATE sched_offers SET status = 'withdrawn' WHERE participant_id = ? AND status = 'open'",
            [.text(request.participantID)])
        try releaseApprenticeship(request.participantID)
        try releaseReserve(request.participantID)
        if row["status"]?.text == "waitlisted",
            let preferred = row["preferred_centre"]?.text.flatMap(TrainingCentre.init(rawValue:))
        {
            try renumberWaitlist(programme: programme, centre: preferred)
        }
        try emit(
            EnrolmentWithdrawnV1(participantID: request.participantID, classID: heldClass, reason: request.reason),
            id: "withdrawn-\(request.participantID)", subject: request.participantID,
            correlation: event.header.correlationID)
        if !started {
            // The next person in the seat comes to daftar ulang in the later window, as for a no-show.
            freedClass = freedSeat
            freedOn = request.on
            seatFreedIn = freedSeat
            try allocate(programme: programme)
        }
        // The audit of the request: who asked, the day, the seat left, whether it was given away.
        let seatNumber = row["seat"]?.integer
        let refilled =
            try freedSeat.map { classID in
                try !transaction.query(
                    "SELECT 1 FROM sched_applicants WHERE class_id = ? AND seat = ? AND participant_id <> ?",
                    [.text(classID), seatNumber.map(SQLValue.integer) ?? .null, .text(request.participantID)]
                ).isEmpty
            } ?? false
        try transaction.execute(
            """
            INSERT INTO sched_withdrawals (participant_id, class_id, reason, left_on, requested_by, refilled)
            VALUES (?, ?, ?, ?, ?, ?)
            """,
            [
                .text(request.participantID), freedSeat.map(SQLValue.text) ?? .null, .text(request.reason.rawValue),
                .text(request.on), .text(requestedBy), .integer(refilled ? 1 : 0),
            ])
    }

    // MARK: Offers of a seat at the other BLKI

    /// The applicant's answer to the offer. Yes: the held seat is theirs (the selection
    /// message, the apprenticeship). No, or no answer by the date: the seat goes to the next
    /// person, and the applicant waits for a seat at their own BLKI. The same answer again
    /// changes nothing; another answer, or one for a class not offered, is refused.
    mutating func answer(_ answer: EnrolmentTransferAnsweredV1) throws {
        guard
            let offer = try transaction.query(
                "SELECT class_id, status, replacing, answer_by FROM sched_offers WHERE participant_id = ?",
                [.text(answer.participantID)]
            ).first, offer["class_id"]?.text == answer.classID
        else {
            throw Failure.permanent(
                .invalidTransferAnswer, "\(answer.participantID) was offered no seat in class \(answer.classID)")
        }
        guard ProgrammeCatalogue.day(answer.answeredOn) != nil else {
            throw Failure.permanent(.invalidTransferAnswer, "an answer needs the day it was given (YYYY-MM-DD)")
        }
        // A yes after the answer date counts as no answer (the seat may have been promised on).
        let late = answer.answer == .accept && answer.answeredOn > (offer["answer_by"]?.text ?? "")
        let outcome: EnrolmentTransferAnsweredV1.Answer = late ? .noAnswer : answer.answer
        guard offer["status"]?.text == "open" else {
            if offer["status"]?.text == outcome.rawValue { return }  // the same answer again
            throw Failure.permanent(
                .transferAnswerConflict,
                "the offer of class \(answer.classID) to \(answer.participantID) is already \(offer["status"]?.text ?? "closed")")
        }
        try transaction.execute(
            "UPDATE sched_offers SET status = ? WHERE participant_id = ?",
            [.text(outcome.rawValue), .text(answer.participantID)])
        guard
            let applicant = try transaction.query(
                "SELECT * FROM sched_applicants WHERE participant_id = ?", [.text(answer.participantID)]
            ).first, applicant["status"]?.text == "scheduled", applicant["class_id"]?.text == answer.classID,
            let seat = applicant["seat"]?.integer, let programme = applicant["programme"]?.text
        else { throw Failure.permanent(.brokenInvariant, "the held seat of \(answer.participantID) is gone") }
        let replacing = offer["replacing"]?.integer == 1
        if outcome == .accept {
            try releaseReserve(answer.participantID)
            try announce(
                answer.participantID, classID: answer.classID, seat: Int(seat), applicant: applicant, replacing: replacing)
            return
        }
        try transaction.execute(
            "UPDATE sched_applicants SET status = 'pooled', class_id = NULL, seat = NULL WHERE participant_id = ?",
            [.text(answer.participantID)])
        if replacing { freedClass = answer.classID }
        seatFreedIn = answer.classID
        // The next offer of this seat is answered no earlier than the day it was freed again.
        freedOn = answer.answeredOn
        try allocate(programme: programme)
    }

    /// The class of the participant's open offer, if one is open.
    func openOffer(_ participant: String) throws -> String? {
        try transaction.query(
            "SELECT class_id FROM sched_offers WHERE participant_id = ? AND status = 'open'", [.text(participant)]
        ).first?["class_id"]?.text
    }

    /// Holds the seat and asks the applicant (`enrolment.transfer-offered`).
    mutating func offer(
        _ participant: String, classID: String, seat: Int, preferred: TrainingCentre, applicant: [String: SQLValue]
    ) throws {
        try transaction.execute(
            """
            UPDATE sched_applicants SET status = 'scheduled', class_id = ?, seat = ?, waitlist_position = NULL
            WHERE participant_id = ?
            """, [.text(classID), .integer(Int64(seat)), .text(participant)])
        if applicant["status"]?.text == "waitlisted", let programme = applicant["programme"]?.text {
            try renumberWaitlist(programme: programme, centre: preferred)
        }
        // A reserve keeps their place while they consider the offer (a no brings them back).
        guard let row = try transaction.query("SELECT * FROM sched_classes WHERE class_id = ?", [.text(classID)]).first,
            let centre = row["centre"]?.text.flatMap(TrainingCentre.init(rawValue:)), let programme = row["programme"]?.text,
            let start = row["start_date"]?.text, let end = row["end_date"]?.text
        else { throw Failure.permanent(.brokenInvariant, "class \(classID) vanished") }
        let replacing = freedClass == classID
        // Never a date before the seat was freed, nor after the day before the class starts.
        var answerBy = catalogue.transferAnswerBy(classStart: start, replacing: replacing) ?? start
        if let freedOn, freedOn > answerBy { answerBy = freedOn }
        if let first = ProgrammeCatalogue.day(start).map({ ProgrammeCatalogue.format($0.addingTimeInterval(-86_400)) }),
            answerBy > first
        {
            answerBy = first
        }
        try transaction.execute(
            "INSERT INTO sched_offers (participant_id, class_id, answer_by, replacing, status) VALUES (?, ?, ?, ?, 'open')",
            [.text(participant), .text(classID), .text(answerBy), .integer(replacing ? 1 : 0)])
        try emit(
            EnrolmentTransferOfferedV1(
                participantID: participant, programme: programme, preferredCentre: preferred, centre: centre,
                classID: classID, cohort: row["cohort"]?.integer.map { Int($0) }, startDate: start, endDate: end,
                answerBy: answerBy),
            id: "offer-\(participant)", subject: participant,
            correlation: applicant["correlation_id"]?.text ?? event.header.correlationID)
    }

    // MARK: Allocation

    /// Seats pooled and waitlisted applicants of `programme` in priority order while seats are
    /// free, then waitlists those whose every option is used up. When this fills a BLKI's
    /// quota, every programme is looked at again (its pooled applicants may now be waitlisted).
    mutating func allocate(programme: String) throws {
        if let classID = seatFreedIn {
            seatFreedIn = nil
            try promoteReserve(in: classID)
        }
        let quotaReachedBefore = try quotasReached()
        try allocateOne(programme: programme)
        if try quotasReached() != quotaReachedBefore {
            let programmes = Set(catalogue.centres.flatMap { $0.programmes.map(\.code) })
            for other in programmes.sorted() where other != programme { try allocateOne(programme: other) }
        }
    }

    func quotasReached() throws -> [Bool] {
        try catalogue.centres.map { try scheduledCount(centre: $0.centre) >= $0.quota }
    }

    private mutating func allocateOne(programme: String) throws {
        let centres: [TrainingCentre] = [.balikpapan, .bontang]
        let anyFree = try centres.contains { try freeSeat(programme: programme, centre: $0) != nil }
        var exhaustedAt: [TrainingCentre: Bool] = [:]
        for centre in centres { exhaustedAt[centre] = try exhausted(programme: programme, centre: centre) }
        let allExhausted = exhaustedAt.values.allSatisfy { $0 }
        // Those who said no to (or did not answer) an offer at the other BLKI wait for their own.
        // The offers (a few, bounded by the seats) drive the query, each applicant found by its
        // key: as a join, SQLite read every applicant of the programme for every message, so
        // scheduling's cost grew with the waiting list (the README's scaling table).
        let stayHome = Set(
            try transaction.query(
                """
                SELECT o.participant_id FROM sched_offers o
                WHERE o.status IN ('MENOLAK', 'TIDAK_MENJAWAB') AND EXISTS (
                    SELECT 1 FROM sched_applicants a WHERE a.participant_id = o.participant_id AND a.programme = ?
                        AND a.status IN ('pooled', 'waitlisted'))
                """, [.text(programme)]
            ).compactMap { $0["participant_id"]?.text })
        // Nothing to seat and nobody to waitlist: the common case while classes are not open.
        guard anyFree || allExhausted || !stayHome.isEmpty else { return }
        // With no free seat and nobody waiting for their own BLKI, those already waitlisted have
        // nothing to gain: only the pooled are read (to waitlist them), not the whole waiting
        // list, so a decision costs the same however long the list is.
        let seating = anyFree || !stayHome.isEmpty
        // Read a page at a time in the list's order (the keys of the rows do not change while
        // they are worked on), so a long list is never held in memory whole.
        let columns =
            "participant_id, registration_id, programme, preferred_centre, tier, arrival, status, apprenticeship_interest, correlation_id"
        var last: [SQLValue]?
        var noSeatFor: Set<TrainingCentre> = []
        while true {
            // Once nothing is left anywhere (no seat free, nothing to open: taking seats only
            // makes that more so), only the pooled have anything to gain: they are waitlisted.
            let statuses =
                seating && !exhaustedAt.values.allSatisfy({ $0 }) ? "'pooled', 'waitlisted'" : "'pooled'"
            let page = try transaction.query(
                last == nil
                    ? """
                    SELECT \(columns) FROM sched_applicants WHERE programme = ? AND status IN (\(statuses))
                    ORDER BY tier, arrival, registration_id, participant_id LIMIT \(handler.walkPage)
                    """
                    : """
                    SELECT \(columns) FROM sched_applicants WHERE programme = ? AND status IN (\(statuses))
                        AND (tier, arrival, registration_id, participant_id) > (?, ?, ?, ?)
                    ORDER BY tier, arrival, registration_id, participant_id LIMIT \(handler.walkPage)
                    """, [.text(programme)] + (last ?? []))
            guard let end = page.last else { return }
            last = ["tier", "arrival", "registration_id", "participant_id"].map { end[$0] ?? .null }
            for applicant in page {
                guard
                    try place(
                        applicant, programme: programme, stayHome: stayHome, seating: seating,
                        noSeatFor: &noSeatFor, exhaustedAt: &exhaustedAt)
                else { return }
            }
        }
    }

    /// One applicant of ``allocateOne(programme:)``'s walk down the list: seated, offered a
    /// seat, waitlisted, or left as they are. Returns false when nobody further down can get
    /// anything from this message.
    private mutating func place(
        _ applicant: [String: SQLValue], programme: String, stayHome: Set<String>, seating: Bool,
        noSeatFor: inout Set<TrainingCentre>, exhaustedAt: inout [TrainingCentre: Bool]
    ) throws -> Bool {
        let centres: [TrainingCentre] = [.balikpapan, .bontang]
        guard let participant = applicant["participant_id"]?.text,
            let preferred = applicant["preferred_centre"]?.text.flatMap(TrainingCentre.init(rawValue:))
        else { return true }
        if stayHome.contains(participant) {
            if let (classID, seat) = try freeSeat(programme: programme, centre: preferred) {
                try seatApplicant(participant, classID: classID, seat: seat, applicant: applicant)
            } else if applicant["status"]?.text == "pooled",
                try exhausted(programme: programme, centre: preferred)
            {
                return try waitlistWithinBudget(participant, programme: programme, centre: preferred, applicant, seating)
            }
            return true
        }
        if !noSeatFor.contains(preferred) {
            if let (classID, seat) = try freeSeat(programme: programme, preferred: preferred) {
                if try centre(of: classID) != preferred {
                    try offer(participant, classID: classID, seat: seat, preferred: preferred, applicant: applicant)
                } else {
                    try seatApplicant(participant, classID: classID, seat: seat, applicant: applicant)
                }
                return true
            }
            noSeatFor.insert(preferred)
            // Seating may have used up the last seats: look again.
            for centre in centres { exhaustedAt[centre] = try exhausted(programme: programme, centre: centre) }
        }
        if applicant["status"]?.text == "pooled", exhaustedAt.values.allSatisfy({ $0 }) {
            guard try waitlistWithinBudget(participant, programme: programme, centre: preferred, applicant, seating) else {
                return false
            }
        }
        return !(noSeatFor.count == centres.count && !exhaustedAt.values.allSatisfy({ $0 }))
    }

    /// Waitlists the applicant if this message's budget for the programme allows; past it, the
    /// programme is left for `enrolment.allocation-continued`. Returns false when the walk has
    /// nothing more to do: the budget is spent and no seat of the programme is free, so nobody
    /// further down can be seated either (the walk does not read the rest of the list).
    private mutating func waitlistWithinBudget(
        _ participant: String, programme: String, centre: TrainingCentre, _ applicant: [String: SQLValue], _ seating: Bool
    ) throws -> Bool {
        guard waitlistedHere[programme, default: 0] < handler.waitlistedPerMessage else {
            unfinished.insert(programme)
            return try seating
                && [TrainingCentre.balikpapan, .bontang].contains { try freeSeat(programme: programme, centre: $0) != nil }
        }
        waitlistedHere[programme, default: 0] += 1
        try waitlist(participant, programme: programme, centre: centre, applicant: applicant)
        return true
    }

    /// Publishes `enrolment.allocation-continued` for each programme whose waitlisting this
    /// message left unfinished. Its id is derived from this message's (a replay is recognised)
    /// through a hash, so that a chain of continuations keeps ids of one length.
    mutating func continueUnfinished() throws {
        for programme in unfinished.sorted() {
            let digest = SHA256.hash(data: Data("\(programme)\u{0}\(event.header.id)".utf8))
            let key = Hex.lowercase(digest.prefix(12))
            try emit(
                EnrolmentAllocationContinuedV1(programme: programme), id: "allocation-continued-\(key)",
                subject: programme, correlation: event.header.correlationID)
        }
        unfinished = []
    }

    /// The earliest free seat for an applicant preferring `preferred`: there first, at the
    /// other BLKI once the preferred one has nothing left to open for this programme.
    func freeSeat(programme: String, preferred: TrainingCentre) throws -> (String, Int)? {
        if let seat = try freeSeat(programme: programme, centre: preferred) { return seat }
        guard try exhausted(programme: programme, centre: preferred) else { return nil }
        return try freeSeat(programme: programme, centre: Self.other(preferred))
    }

    func freeSeat(programme: String, centre: TrainingCentre) throws -> (String, Int)? {
        guard try scheduledCount(centre: centre) < (catalogue.centre(centre)?.quota ?? 0) else { return nil }
        let classes = try transaction.query(
            """
            SELECT c.class_id, c.capacity, COUNT(a.participant_id) AS taken
            FROM sched_classes c LEFT JOIN sched_applicants a ON a.class_id = c.class_id
                AND a.status IN ('scheduled', 'withdrawn')
            WHERE c.centre = ? AND c.programme = ?
            GROUP BY c.class_id, c.capacity, c.start_date HAVING COUNT(a.participant_id) < c.capacity ORDER BY c.start_date, c.class_id LIMIT 1
            """, [.text(centre.rawValue), .text(programme)])
        guard let row = classes.first, let classID = row["class_id"]?.text, let capacity = row["capacity"]?.integer else {
            return nil
        }
        let taken = Set(
            try transaction.query(
                "SELECT seat FROM sched_applicants WHERE class_id = ? AND status IN ('scheduled', 'withdrawn')",
                [.text(classID)]
            ).compactMap { $0["seat"]?.integer })
        guard let seat = (1...capacity).first(where: { !taken.contains($0) }) else { return nil }
        return (classID, Int(seat))
    }

    /// Whether `centre` can offer nothing more for `programme`: its quota is used up, or every
    /// planned class of the programme there is open and full (or the programme is not there).
    func exhausted(programme: String, centre: TrainingCentre) throws -> Bool {
        guard let planned = catalogue.programme(programme, at: centre) else { return true }
        guard try scheduledCount(centre: centre) < (catalogue.centre(centre)?.quota ?? 0) else { return true }
        let opened =
            try transaction.query(
                "SELECT COUNT(*) AS n FROM sched_classes WHERE centre = ? AND programme = ?",
                [.text(centre.rawValue), .text(programme)]
            ).first?["n"]?.integer ?? 0
        guard opened >= planned.classes else { return false }
        return try freeSeat(programme: programme, centre: centre) == nil
    }

    func centre(of classID: String) throws -> TrainingCentre? {
        try transaction.query("SELECT centre FROM sched_classes WHERE class_id = ?", [.text(classID)]).first?["centre"]?.text
            .flatMap(TrainingCentre.init(rawValue:))
    }

    func scheduledCount(centre: TrainingCentre) throws -> Int {
        if let counted = transaction.scheduledCounts[centre] { return counted }
        let counted = Int(
            try transaction.query(
                """
                SELECT COUNT(*) AS n FROM sched_applicants a JOIN sched_classes c ON c.class_id = a.class_id
                WHERE a.status IN ('scheduled', 'withdrawn') AND c.centre = ?
                """, [.text(centre.rawValue)]
            ).first?["n"]?.integer ?? 0)
        transaction.scheduledCounts[centre] = counted
        return counted
    }

    mutating func seatApplicant(_ participant: String, classID: String, seat: Int, applicant: [String: SQLValue]) throws {
        try transaction.execute(
            """
            UPDATE sched_applicants SET status = 'scheduled', class_id = ?, seat = ?, waitlist_position = NULL
            WHERE participant_id = ?
            """, [.text(classID), .integer(Int64(seat)), .text(participant)])
        if applicant["status"]?.text == "waitlisted", let programme = applicant["programme"]?.text,
            let preferred = applicant["preferred_centre"]?.text.flatMap(TrainingCentre.init(rawValue:))
        {
            try renumberWaitlist(programme: programme, centre: preferred)
        }
        try releaseReserve(participant)
        try announce(participant, classID: classID, seat: seat, applicant: applicant, replacing: freedClass == classID)
    }

    /// Tells everyone the seat is the participant's (`class.scheduled`, with their daftar ulang
    /// window: a later one for a seat left by a no-show) and places them in an apprenticeship
    /// if they asked for one.
    mutating func announce(
        _ participant: String, classID: String, seat: Int, applicant: [String: SQLValue], replacing: Bool
    ) throws {
        guard let row = try transaction.query("SELECT * FROM sched_classes WHERE class_id = ?", [.text(classID)]).first,
            let centre = row["centre"]?.text.flatMap(TrainingCentre.init(rawValue:)), let programme = row["programme"]?.text,
            let start = row["start_date"]?.text, let end = row["end_date"]?.text
        else { throw Failure.permanent(.brokenInvariant, "class \(classID) vanished") }
        let correlation = applicant["correlation_id"]?.text ?? event.header.correlationID
        let window =
            replacing ? catalogue.replacementWindow(classStart: start) : catalogue.reRegistrationWindow(classStart: start)
        try emit(
            ClassScheduledV2(
                participantID: participant, classID: classID, centre: centre, programme: programme,
                cohort: row["cohort"]?.integer.map { Int($0) }, startDate: start, endDate: end, seat: seat,
                reRegistration: window.map { DateWindow(from: $0.first, until: $0.last) }, replacing: replacing),
            id: "scheduled-\(participant)-\(classID)", subject: participant, correlation: correlation)
        if applicant["apprenticeship_interest"]?.integer == 1 {
            try placeApprentice(participant, centre: centre, programme: programme, classEnd: end, correlation: correlation)
        }
    }

    mutating func placeApprentice(
        _ participant: String, centre: TrainingCentre, programme: String, classEnd: String, correlation: String
    ) throws {
        let places = catalogue.apprenticeships
        let placed = Int(try transaction.query("SELECT COUNT(*) AS n FROM sched_apprenticeships").first?["n"]?.integer ?? 0)
        guard placed < places.places,
            try transaction.query(
                "SELECT 1 FROM sched_apprenticeships WHERE participant_id = ?", [.text(participant)]
            ).isEmpty
        else { return }
        let sector = catalogue.programme(programme, at: centre)?.sector ?? ""
        let candidates = places.companies.filter { $0.sectors.contains(sector) }
        let pool = candidates.isEmpty ? places.companies : candidates
        guard !pool.isEmpty else { return }
        let released = Int(
            try transaction.query("SELECT COUNT(*) AS n FROM sched_apprenticeships_released").first?["n"]?.integer ?? 0)
        let company = pool[(placed + released) % pool.count]
        let placementID = String(format: "MAG-%d-%04d", catalogue.year, placed + released + 1)
        try transaction.execute(
            "INSERT INTO sched_apprenticeships (placement_id, participant_id, company) VALUES (?, ?, ?)",
            [.text(placementID), .text(participant), .text(company.name)])
        let start = ProgrammeCatalogue.day(classEnd).map { $0.addingTimeInterval(10 * 86_400) } ?? Date()
        let end = start.addingTimeInterval(Double(places.months) * 30.4 * 86_400)
        try emit(
            ApprenticeshipPlacedV1(
                participantID: participant, placementID: placementID, companyName: company.name,
                regionCode: company.regionCode, startDate: ProgrammeCatalogue.format(start),
                endDate: ProgrammeCatalogue.format(end)),
            id: "apprenticeship-\(participant)", subject: participant, correlation: correlation)
    }

    /// Gives a leaving participant's apprenticeship place back to the programme's places (its
    /// number is kept with the released ones and never given again).
    func releaseApprenticeship(_ participant: String) throws {
        try transaction.execute(
            """
            INSERT INTO sched_apprenticeships_released (placement_id, participant_id, company)
            SELECT placement_id, participant_id, company FROM sched_apprenticeships WHERE participant_id = ?
            """, [.text(participant)])
        try transaction.execute("DELETE FROM sched_apprenticeships WHERE participant_id = ?", [.text(participant)])
    }

    mutating func waitlist(_ participant: String, programme: String, centre: TrainingCentre, applicant: [String: SQLValue])
        throws
    {
        try transaction.execute(
            "UPDATE sched_applicants SET status = 'waitlisted' WHERE participant_id = ?", [.text(participant)])
        try placeOnWaitlist(participant, programme: programme, centre: centre)
        let position = Int(
            try transaction.query(
                "SELECT waitlist_position FROM sched_applicants WHERE participant_id = ?", [.text(participant)]
            ).first?["waitlist_position"]?.integer ?? 0)
        // Back on the list after saying no to an offer: a second message, with an id of its own.
        let afterOffer = try !transaction.query(
            "SELECT 1 FROM sched_offers WHERE participant_id = ?", [.text(participant)]
        ).isEmpty
        try emit(
            EnrolmentWaitlistedV1(participantID: participant, centre: centre, programme: programme, position: position),
            id: afterOffer ? "waitlisted-\(participant)-after-offer" : "waitlisted-\(participant)", subject: participant,
            correlation: applicant["correlation_id"]?.text ?? event.header.correlationID)
        try designateReserves(programme: programme, centre: centre)
    }

    // MARK: Reserves (peserta cadangan)

    /// Names reserves for the full classes of `programme` at `centre` until each has the
    /// plan's `reserveSeats`: waiting applicants of that BLKI's list, in its order, who are no
    /// class's reserve yet (`enrolment.reserve-designated`). A class's reserves are served first
    /// when one of its seats is freed before it starts (``promoteReserve(in:)``).
    mutating func designateReserves(programme: String, centre: TrainingCentre) throws {
        let wanted = catalogue.reserveSeats
        guard wanted > 0 else { return }
        let classes = try transaction.query(
            """
            SELECT c.class_id, c.cohort, c.start_date, c.capacity,
                (SELECT COUNT(*) FROM sched_applicants a
                    WHERE a.class_id = c.class_id AND a.status IN ('scheduled', 'withdrawn')) AS taken,
                (SELECT COUNT(*) FROM sched_reserves r WHERE r.class_id = c.class_id AND r.status = 'reserve') AS reserves
            FROM sched_classes c WHERE c.centre = ? AND c.programme = ? ORDER BY c.start_date, c.class_id
            """, [.text(centre.rawValue), .text(programme)])
        for row in classes {
            guard let classID = row["class_id"]?.text, let start = row["start_date"]?.text,
                let capacity = row["capacity"]?.integer, (row["taken"]?.integer ?? 0) >= capacity
            else { continue }
            let missing = wanted - Int(row["reserves"]?.integer ?? 0)
            guard missing > 0 else { continue }
            let candidates = try transaction.query(
                """
                SELECT participant_id, correlation_id FROM sched_applicants a
                WHERE programme = ? AND preferred_centre = ? AND status = 'waitlisted'
                    AND NOT EXISTS (SELECT 1 FROM sched_reserves r WHERE r.participant_id = a.participant_id)
                ORDER BY tier, arrival, registration_id, participant_id LIMIT ?
                """, [.text(programme), .text(centre.rawValue), .integer(Int64(missing))])
            // Their place among the class's reserves waiting when they are named.
            var rank = Int(row["reserves"]?.integer ?? 0)
            for candidate in candidates {
                guard let participant = candidate["participant_id"]?.text else { continue }
                rank += 1
                try transaction.execute(
                    """
                    INSERT INTO sched_reserves (participant_id, class_id, named, rank, status)
                    SELECT ?, ?, COALESCE(MAX(named), 0) + 1, ?, 'reserve' FROM sched_reserves
                    """, [.text(participant), .text(classID), .integer(Int64(rank))])
                try emit(
                    EnrolmentReserveDesignatedV1(
                        participantID: participant, classID: classID, centre: centre, programme: programme,
                        cohort: row["cohort"]?.integer.map { Int($0) }, startDate: start, rank: rank),
                    id: "reserve-\(participant)-\(classID)", subject: participant,
                    correlation: candidate["correlation_id"]?.text ?? event.header.correlationID)
            }
        }
    }

    /// Gives a seat freed in `classID` to its first reserve still waiting (they get the later
    /// daftar ulang window of a replacement), and names the next reserve in their place.
    mutating func promoteReserve(in classID: String) throws {
        let reserves = try transaction.query(
            """
            SELECT a.*, r.rank FROM sched_reserves r JOIN sched_applicants a ON a.participant_id = r.participant_id
            WHERE r.class_id = ? AND r.status = 'reserve' ORDER BY r.named
            """, [.text(classID)])
        guard
            let reserve = reserves.first(where: { $0["status"]?.text == "waitlisted" }),
            let participant = reserve["participant_id"]?.text, let programme = reserve["programme"]?.text,
            let centre = try centre(of: classID), let seat = try freeSeat(in: classID, centre: centre)
        else { return }
        // A seat freed on or after the class's first day (an offer answered late) is not given
        // to a reserve. (A message without a date, a daftar ulang record, is taken as made
        // before the start: the window closes before it. Ordinary allocation does not look at
        // the date: docs/ARCHITECTURE.md, "Reserves", limits.)
        if let freedOn,
            let start = try transaction.query(
                "SELECT start_date FROM sched_classes WHERE class_id = ?", [.text(classID)]
            ).first?["start_date"]?.text, freedOn >= start
        {
            return
        }
        try transaction.execute(
            "UPDATE sched_reserves SET status = 'promoted' WHERE participant_id = ?", [.text(participant)])
        try seatApplicant(participant, classID: classID, seat: seat, applicant: reserve)
        try designateReserves(programme: programme, centre: centre)
    }

    /// Ends the participant's reserve place, if they hold one (seated elsewhere, or withdrawn),
    /// and names the next reserve of that class.
    mutating func releaseReserve(_ participant: String) throws {
        guard
            let held = try transaction.query(
                """
                SELECT r.class_id, c.programme, c.centre FROM sched_reserves r JOIN sched_classes c ON c.class_id = r.class_id
                WHERE r.participant_id = ? AND r.status = 'reserve'
                """, [.text(participant)]
            ).first, let programme = held["programme"]?.text,
            let centre = held["centre"]?.text.flatMap(TrainingCentre.init(rawValue:))
        else { return }
        try transaction.execute(
            "UPDATE sched_reserves SET status = 'released' WHERE participant_id = ?", [.text(participant)])
        try designateReserves(programme: programme, centre: centre)
    }

    /// A free seat number in `classID`, if the class and its BLKI's quota have room.
    func freeSeat(in classID: String, centre: TrainingCentre) throws -> Int? {
        guard try scheduledCount(centre: centre) < (catalogue.centre(centre)?.quota ?? 0),
            let capacity = try transaction.query(
                "SELECT capacity FROM sched_classes WHERE class_id = ?", [.text(classID)]
            ).first?["capacity"]?.integer
        else { return nil }
        let taken = Set(
            try transaction.query(
                "SELECT seat FROM sched_applicants WHERE class_id = ? AND status IN ('scheduled', 'withdrawn')",
                [.text(classID)]
            ).compactMap { $0["seat"]?.integer })
        return (1...max(1, capacity)).first(where: { !taken.contains($0) }).map { Int($0) }
    }

    /// Gives a newly waitlisted applicant their position: the last one's plus one when they
    /// come after everyone waiting (the same or a worse tier, a later arrival: the usual case,
    /// found through the list's index without reading it), else the whole list renumbered.
    func placeOnWaitlist(_ participant: String, programme: String, centre: TrainingCentre) throws {
        guard
            let new = try transaction.query(
                "SELECT tier, arrival, registration_id FROM sched_applicants WHERE participant_id = ?", [.text(participant)]
            ).first,
            let last = try transaction.query(
                """
                SELECT tier, arrival, registration_id, participant_id, waitlist_position FROM sched_applicants
                WHERE programme = ? AND preferred_centre = ? AND status = 'waitlisted' AND participant_id <> ?
                ORDER BY tier DESC, arrival DESC, registration_id DESC, participant_id DESC LIMIT 1
                """, [.text(programme), .text(centre.rawValue), .text(participant)]
            ).first
        else {
            // Alone on the list (or gone): numbering it is cheap.
            return try renumberWaitlist(programme: programme, centre: centre)
        }
        func key(_ row: [String: SQLValue], _ id: String) -> (Int64, [UInt8], [UInt8], [UInt8]) {
            (
                row["tier"]?.integer ?? 0, Array((row["arrival"]?.text ?? "").utf8),
                Array((row["registration_id"]?.text ?? "").utf8), Array(id.utf8)
            )
        }
        let newKey = key(new, participant)
        let lastKey = key(last, last["participant_id"]?.text ?? "")
        let after =
            newKey.0 != lastKey.0
            ? newKey.0 > lastKey.0
            : newKey.1 != lastKey.1
                ? lastKey.1.lexicographicallyPrecedes(newKey.1)
                : newKey.2 != lastKey.2
                    ? lastKey.2.lexicographicallyPrecedes(newKey.2) : lastKey.3.lexicographicallyPrecedes(newKey.3)
        guard after, let lastPosition = last["waitlist_position"]?.integer else {
            return try renumberWaitlist(programme: programme, centre: centre)
        }
        try transaction.execute(
            "UPDATE sched_applicants SET waitlist_position = ? WHERE participant_id = ?",
            [.integer(lastPosition + 1), .text(participant)])
    }

    /// Numbers the waiting list of a programme at a BLKI 1, 2, 3… in the order it is served
    /// (tier, then arrival): a later applicant of a better tier goes ahead of those already
    /// waiting, and everyone behind a seated or withdrawn applicant moves up. The waitlisted
    /// event carries the position at the time of waitlisting; the store keeps the current one.
    func renumberWaitlist(programme: String, centre: TrainingCentre) throws {
        try transaction.execute(
            """
            UPDATE sched_applicants SET waitlist_position = ranked.position
            FROM (
                SELECT participant_id,
                    ROW_NUMBER() OVER (ORDER BY tier, arrival, registration_id, participant_id) AS position
                FROM sched_applicants WHERE programme = ? AND preferred_centre = ? AND status = 'waitlisted'
            ) AS ranked
            WHERE sched_applicants.participant_id = ranked.participant_id
                AND (sched_applicants.waitlist_position IS NULL OR sched_applicants.waitlist_position <> ranked.position)
            """, [.text(programme), .text(centre.rawValue)])
    }

    mutating func emit<M: ContractMessage>(_ message: M, id: String, subject: String, correlation: String) throws {
        // Ids derived from the decision make a replayed decision recognisable downstream.
        output.append(
            try OutgoingEvent(
                EventEnvelope(
                    id: id, source: handler.source, subject: subject, correlationID: correlation,
                    causationID: event.header.id, data: message),
                exchange: handler.exchange))
    }

    static func other(_ centre: TrainingCentre) -> TrainingCentre { centre == .balikpapan ? .bontang : .balikpapan }

    /// Sortable arrival time (UTC, microseconds).
    static func arrivalKey(_ date: Date) -> String {
        String(format: "%017.6f", date.timeIntervalSince1970)
    }
}
