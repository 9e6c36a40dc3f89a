public import ContractKit

/// A training class (kelas = programme × centre × cohort) opened for enrolment.
public struct ClassOpenedV1: ContractMessage {
    public static let eventType = "class.opened"
    public static let version = 1

    public var classID: String
    public var centre: TrainingCentre
    public var programme: String
    /// Angkatan, 1-based within the year.
    public var cohort: Int
    /// Seats (16 by national practice).
    public var capacity: Int
    /// Reserve seats beyond the capacity (2 by practice).
    public var reserveSeats: Int
    /// `YYYY-MM-DD`.
    public var startDate: String
    public var endDate: String
    /// Training hours (JP) in total.
    public var trainingHours: Int

    public init(
        classID: String, centre: TrainingCentre, programme: String, cohort: Int, capacity: Int, reserveSeats: Int,
        startDate: String,
        endDate: String, trainingHours: Int
    ) {
        self.classID = classID
        self.centre = centre
        self.programme = programme
        self.cohort = cohort
        self.capacity = capacity
        self.reserveSeats = reserveSeats
        self.startDate = startDate
        self.endDate = endDate
        self.trainingHours = trainingHours
    }
}

/// A participant has a seat in a class.
public struct ClassScheduledV1: ContractMessage {
    public static let eventType = "class.scheduled"
    public static let version = 1

    public var participantID: String
    public var classID: String
    public var centre: TrainingCentre
    public var programme: String
    public var startDate: String
    public var endDate: String
    /// 1...capacity for a regular seat, above it for a reserve seat.
    public var seat: Int

    public init(
        participantID: String, classID: String, centre: TrainingCentre, programme: String, startDate: String, endDate: String,
        seat: Int
    ) {
        self.participantID = participantID
        self.classID = classID
        self.centre = centre
        self.programme = programme
        self.startDate = startDate
        self.endDate = endDate
        self.seat = seat
    }
}

extension ClassScheduledV1 {
    /// The same seat as version 2: the cohort and the daftar ulang window are unknown.
    public func upcast() -> ClassScheduledV2 {
        ClassScheduledV2(
            participantID: participantID, classID: classID, centre: centre, programme: programme, cohort: nil,
            startDate: startDate, endDate: endDate, seat: seat, reRegistration: nil, replacing: false)
    }
}

/// Days, both included (`YYYY-MM-DD`).
public struct DateWindow: Codable, Sendable, Equatable {
    public var from: String
    public var until: String

    public init(from: String, until: String) {
        self.from = from
        self.until = until
    }
}

/// A participant has a seat in a class: the selection's result. Version 2 adds the class's
/// cohort (angkatan), the participant's own daftar ulang window, and whether the seat is one a
/// participant who did not come to daftar ulang left (the person comes from the waiting list
/// and has a later window of their own).
public struct ClassScheduledV2: ContractMessage {
    public static let eventType = "class.scheduled"
    public static let version = 2

    public var participantID: String
    public var classID: String
    public var centre: TrainingCentre
    public var programme: String
    /// Angkatan, 1-based within the year; `nil` when upcast from version 1.
    public var cohort: Int?
    public var startDate: String
    public var endDate: String
    /// 1...capacity.
    public var seat: Int
    /// When this participant must come to daftar ulang; `nil` when the plan sets no window (or
    /// upcast from version 1).
    public var reRegistration: DateWindow?
    /// The seat was left by someone else before the class started (a no-show at daftar ulang,
    /// or a withdrawal): the participant comes to daftar ulang in the later window.
    public var replacing: Bool

    public init(
        participantID: String, classID: String, centre: TrainingCentre, programme: String, cohort: Int?, startDate: String,
        endDate: String, seat: Int, reRegistration: DateWindow?, replacing: Bool
    ) {
        self.participantID = participantID
        self.classID = classID
        self.centre = centre
        self.programme = programme
        self.cohort = cohort
        self.startDate = startDate
        self.endDate = endDate
        self.seat = seat
        self.reRegistration = reRegistration
        self.replacing = replacing
    }
}

/// The BLKI recorded whether a selected participant came to daftar ulang (re-registration)
/// within their window. Published by the BLKI office; carried out by scheduling: a participant
/// who did not come loses the seat (`enrolment.withdrawn`, `TIDAK_HADIR_DAFTAR_ULANG`), which
/// goes to the next eligible person on the waiting list.
public struct EnrolmentReRegisteredV1: ContractMessage {
    public static let eventType = "enrolment.reregistered"
    public static let version = 1

    public var participantID: String
    public var classID: String
    /// Came within the window with the original KTP-el and diploma.
    public var attended: Bool
    /// The BLKI staff member who recorded it.
    public var recordedBy: String

    public init(participantID: String, classID: String, attended: Bool, recordedBy: String) {
        self.participantID = participantID
        self.classID = classID
        self.attended = attended
        self.recordedBy = recordedBy
    }
}

/// No seat yet: the participant waits, in priority order, for the next class.
public struct EnrolmentWaitlistedV1: ContractMessage {
    public static let eventType = "enrolment.waitlisted"
    public static let version = 1

    public var participantID: String
    public var centre: TrainingCentre
    public var programme: String
    /// 1-based position on the waiting list when it was written.
    public var position: Int

    public init(participantID: String, centre: TrainingCentre, programme: String, position: Int) {
        self.participantID = participantID
        self.centre = centre
        self.programme = programme
        self.position = position
    }
}

/// A waiting applicant is named a reserve (peserta cadangan) of a full class: when a selected
/// participant of that class misses daftar ulang or leaves before it starts, the class's
/// reserves take the seat in their order (`rank`), before anyone else on the waiting list.
/// Scheduling names `reserveSeats` of them per class (the programme plan, 2 in 2025). The
/// applicant stays on the waiting list; a seat elsewhere ends the reserve place.
public struct EnrolmentReserveDesignatedV1: ContractMessage {
    public static let eventType = "enrolment.reserve-designated"
    public static let version = 1

    public var participantID: String
    public var classID: String
    public var centre: TrainingCentre
    public var programme: String
    public var cohort: Int?
    public var startDate: String
    /// Their place among the class's reserves waiting when they were named: 1 first in line,
    /// 2 second, …
    public var rank: Int

    public init(
        participantID: String, classID: String, centre: TrainingCentre, programme: String, cohort: Int?, startDate: String,
        rank: Int
    ) {
        self.participantID = participantID
        self.classID = classID
        self.centre = centre
        self.programme = programme
        self.cohort = cohort
        self.startDate = startDate
        self.rank = rank
    }
}

/// Scheduling's note to itself that a programme's allocation is not finished: one message
/// waitlists at most a bounded number of applicants (so that a class filling the last seats in
/// front of tens of thousands pooled is not one transaction and one burst of events held in
/// memory at once), and this event, published by scheduling and consumed only by scheduling,
/// carries on where it stopped. It holds no personal data.
public struct EnrolmentAllocationContinuedV1: ContractMessage {
    public static let eventType = "enrolment.allocation-continued"
    public static let version = 1

    /// The programme code whose applicants are still to be waitlisted.
    public var programme: String

    public init(programme: String) {
        self.programme = programme
    }
}

/// A participant was placed in the apprenticeship (pemagangan) programme.
public struct ApprenticeshipPlacedV1: ContractMessage {
    public static let eventType = "apprenticeship.placed"
    public static let version = 1

    public var participantID: String
    public var placementID: String
    public var companyName: String
    /// Kemendagri region code of the workplace.
    public var regionCode: String
    public var startDate: String
    public var endDate: String

    public init(
        participantID: String, placementID: String, companyName: String, regionCode: String, startDate: String, endDate: String
    ) {
        self.participantID = participantID
        self.placementID = placementID
        self.companyName = companyName
        self.regionCode = regionCode
        self.startDate = startDate
        self.endDate = endDate
    }
}

/// A participant left a class or the waiting list, as scheduling recorded it (a no-show at
/// daftar ulang, or an `enrolment.withdrawal-requested` it accepted).
public struct EnrolmentWithdrawnV1: ContractMessage {
    public static let eventType = "enrolment.withdrawn"
    public static let version = 1

    public enum Reason: String, SchemaEnumeration {
        case participantResigned = "MENGUNDURKAN_DIRI"
        case noShow = "TIDAK_HADIR_DAFTAR_ULANG"
        case attendanceTooLow = "KEHADIRAN_KURANG"
        case administrative = "ADMINISTRATIF"
    }

    public var participantID: String
    /// `nil` when withdrawn from the waiting list.
    public var classID: String?
    public var reason: Reason

    public init(participantID: String, classID: String?, reason: Reason) {
        self.participantID = participantID
        self.classID = classID
        self.reason = reason
    }
}

/// The programme office or the BLKI asks scheduling, which owns the seats, to withdraw a
/// participant from their class or the waiting list. Scheduling checks it and publishes the fact
/// (`enrolment.withdrawn`, which every role follows). A seat left before the class starts goes to
/// the next eligible person; a class that has started (by `on`) is not refilled.
public struct EnrolmentWithdrawalRequestedV1: ContractMessage {
    public static let eventType = "enrolment.withdrawal-requested"
    public static let version = 1

    public var participantID: String
    /// The class the participant leaves (checked against their seat); `nil` for the waiting list
    /// or when the office does not name it.
    public var classID: String?
    /// Why; `TIDAK_HADIR_DAFTAR_ULANG` is not requested (the BLKI's daftar ulang record says it).
    public var reason: EnrolmentWithdrawnV1.Reason
    /// The day the participant left, `YYYY-MM-DD` (WITA).
    public var on: String
    /// Who recorded it (name or staff number), 1–200 characters.
    public var requestedBy: String

    public init(
        participantID: String, classID: String?, reason: EnrolmentWithdrawnV1.Reason, on: String, requestedBy: String
    ) {
        self.participantID = participantID
        self.classID = classID
        self.reason = reason
        self.on = on
        self.requestedBy = requestedBy
    }
}

/// The BLKI's result of a participant's training: attendance and LULUS / TIDAK LULUS (LULUS needs
/// at least 80 % attendance). Published by the BLKI office when the class ends; the training
/// certificate follows it (not the LSP's assessment, which decides competency only).
public struct TrainingCompletedV1: ContractMessage {
    public static let eventType = "training.completed"
    public static let version = 1

    /// The training result.
    public enum Result: String, SchemaEnumeration {
        case passed = "LULUS"
        case failed = "TIDAK_LULUS"
    }

    public var participantID: String
    public var classID: String
    /// Share of the training hours attended, 0–100.
    public var attendancePercent: Double
    public var result: Result
    /// The BLKI staff member who recorded it.
    public var recordedBy: String

    public init(participantID: String, classID: String, attendancePercent: Double, result: Result, recordedBy: String) {
        self.participantID = participantID
        self.classID = classID
        self.attendancePercent = attendancePercent
        self.result = result
        self.recordedBy = recordedBy
    }
}

/// The applicant's BLKI has no seat left in the programme, the other BLKI has one: scheduling
/// holds it and asks the applicant first (an applicant is never moved to another city without
/// saying yes). The answer comes from the registration portal (`enrolment.transfer-answered`).
public struct EnrolmentTransferOfferedV1: ContractMessage {
    public static let eventType = "enrolment.transfer-offered"
    public static let version = 1

    public var participantID: String
    public var programme: String
    /// The BLKI the applicant chose (full).
    public var preferredCentre: TrainingCentre
    /// The BLKI whose seat is offered.
    public var centre: TrainingCentre
    public var classID: String
    public var cohort: Int?
    /// The class's first and last day, `YYYY-MM-DD`.
    public var startDate: String
    public var endDate: String
    /// The last day to answer, `YYYY-MM-DD`; with no answer by then the seat goes to the next
    /// person and the applicant stays on their BLKI's waiting list.
    public var answerBy: String

    public init(
        participantID: String, programme: String, preferredCentre: TrainingCentre, centre: TrainingCentre, classID: String,
        cohort: Int?, startDate: String, endDate: String, answerBy: String
    ) {
        self.participantID = participantID
        self.programme = programme
        self.preferredCentre = preferredCentre
        self.centre = centre
        self.classID = classID
        self.cohort = cohort
        self.startDate = startDate
        self.endDate = endDate
        self.answerBy = answerBy
    }
}

/// The applicant's answer to a seat offered at the other BLKI, from the registration portal
/// (where the applicant answers; the portal also reports an offer left unanswered by its date).
public struct EnrolmentTransferAnsweredV1: ContractMessage {
    public static let eventType = "enrolment.transfer-answered"
    public static let version = 1

    public enum Answer: String, SchemaEnumeration {
        /// Yes: the seat is taken (the selection message follows).
        case accept = "MENERIMA"
        /// No: the applicant waits for a seat at their own BLKI.
        case decline = "MENOLAK"
        /// The answer date passed without an answer: as a no.
        case noAnswer = "TIDAK_MENJAWAB"
    }

    public var participantID: String
    /// The class of the offer answered.
    public var classID: String
    public var answer: Answer
    /// The day the applicant answered (or, for `TIDAK_MENJAWAB`, the day the portal closed the
    /// offer), `YYYY-MM-DD` (WITA). A yes after the offer's `answerBy` counts as no answer.
    public var answeredOn: String

    public init(participantID: String, classID: String, answer: Answer, answeredOn: String) {
        self.participantID = participantID
        self.classID = classID
        self.answer = answer
        self.answeredOn = answeredOn
    }
}
