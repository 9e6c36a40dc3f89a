public import ContractKit

/// Results of a competency assessment (uji kompetensi) from an LSP, per SKKNI unit.
public struct AssessmentSubmittedV1: ContractMessage {
    public static let eventType = "assessment.submitted"
    public static let version = 1

    /// K (kompeten) or BK (belum kompeten) for one unit.
    public enum UnitResult: String, SchemaEnumeration {
        case competent = "K"
        case notYetCompetent = "BK"
    }

    public struct Unit: Codable, Sendable, Equatable {
        /// SKKNI unit code, e.g. `G.45OTO01.001.1`.
        public var code: String
        public var result: UnitResult

        public init(code: String, result: UnitResult) {
            self.code = code
            self.result = result
        }
    }

    /// The LSP's id of this assessment.
    public var assessmentID: String
    public var participantID: String
    /// LSP licence number.
    public var lspLicence: String
    /// Certification scheme (skema) code.
    public var scheme: String
    /// Assessor registration (MET) number.
    public var assessorRegistration: String
    /// Tempat Uji Kompetensi (TUK) code or name.
    public var testSite: String
    /// `YYYY-MM-DD`.
    public var assessedOn: String
    public var units: [Unit]
    /// Training attendance, 0–100.
    public var attendancePercent: Double

    public init(
        assessmentID: String, participantID: String, lspLicence: String, scheme: String, assessorRegistration: String,
        testSite: String, assessedOn: String, units: [Unit], attendancePercent: Double
    ) {
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.lspLicence = lspLicence
        self.scheme = scheme
        self.assessorRegistration = assessorRegistration
        self.testSite = testSite
        self.assessedOn = assessedOn
        self.units = units
        self.attendancePercent = attendancePercent
    }
}

extension AssessmentSubmittedV1 {
    /// The same submission as version 2: no BNSP numbers yet.
    public func upcast() -> AssessmentSubmittedV2 {
        AssessmentSubmittedV2(
            assessmentID: assessmentID, participantID: participantID, lspLicence: lspLicence, scheme: scheme,
            assessorRegistration: assessorRegistration, testSite: testSite, assessedOn: assessedOn, units: units,
            attendancePercent: attendancePercent, certificateNumber: nil, registrationNumber: nil)
    }
}

/// Results of a competency assessment, version 2: adds the BNSP certificate and registration
/// numbers the LSP assigned to a competent candidate (DOMAIN.md §4.4: the pipeline never mints
/// them; it records them as received).
public struct AssessmentSubmittedV2: ContractMessage {
    public static let eventType = "assessment.submitted"
    public static let version = 2

    public var assessmentID: String
    public var participantID: String
    /// LSP licence number.
    public var lspLicence: String
    /// Certification scheme (skema) code.
    public var scheme: String
    /// Assessor registration (MET) number.
    public var assessorRegistration: String
    /// Tempat Uji Kompetensi (TUK) code or name.
    public var testSite: String
    /// `YYYY-MM-DD`.
    public var assessedOn: String
    public var units: [AssessmentSubmittedV1.Unit]
    /// Training attendance, 0–100.
    public var attendancePercent: Double
    /// e.g. `No. 85223 7233 3 0001234 2025` (when the candidate is competent and the LSP has it).
    public var certificateNumber: String?
    /// e.g. `No. Reg. OTO 0123 00456 2025`.
    public var registrationNumber: String?

    public init(
        assessmentID: String, participantID: String, lspLicence: String, scheme: String, assessorRegistration: String,
        testSite: String, assessedOn: String, units: [AssessmentSubmittedV1.Unit], attendancePercent: Double,
        certificateNumber: String?, registrationNumber: String?
    ) {
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.lspLicence = lspLicence
        self.scheme = scheme
        self.assessorRegistration = assessorRegistration
        self.testSite = testSite
        self.assessedOn = assessedOn
        self.units = units
        self.attendancePercent = attendancePercent
        self.certificateNumber = certificateNumber
        self.registrationNumber = registrationNumber
    }
}

/// The graded outcome of an assessment.
public struct AssessmentGradedV1: ContractMessage {
    public static let eventType = "assessment.graded"
    public static let version = 1

    public enum Outcome: String, SchemaEnumeration {
        case competent = "KOMPETEN"
        case notYetCompetent = "BELUM_KOMPETEN"
    }

    public var assessmentID: String
    public var participantID: String
    public var scheme: String
    public var outcome: Outcome
    /// The SKKNI unit codes still BK (empty when competent).
    public var notYetCompetentUnits: [String]

    public init(assessmentID: String, participantID: String, scheme: String, outcome: Outcome, notYetCompetentUnits: [String]) {
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.scheme = scheme
        self.outcome = outcome
        self.notYetCompetentUnits = notYetCompetentUnits
    }
}

extension AssessmentGradedV1 {
    /// The same outcome as version 2: what v2 added is unknown.
    public func upcast() -> AssessmentGradedV2 {
        AssessmentGradedV2(
            assessmentID: assessmentID, participantID: participantID, scheme: scheme, outcome: outcome,
            notYetCompetentUnits: notYetCompetentUnits, lspLicence: nil, assessedOn: nil, attendancePercent: nil,
            trainingOutcome: nil, supersedes: nil, lspCertificateNumber: nil, lspRegistrationNumber: nil)
    }
}

/// The graded outcome of an assessment, version 2: adds the LSP, the assessment date, the
/// training result (attendance, lulus / tidak lulus: recorded apart from the competency
/// result) and the assessment a correction supersedes.
public struct AssessmentGradedV2: ContractMessage {
    public static let eventType = "assessment.graded"
    public static let version = 2

    /// The training result (Permenaker 6/2025 Art. 33: attendance of at least 80 %).
    public enum TrainingOutcome: String, SchemaEnumeration {
        case passed = "LULUS"
        case failed = "TIDAK_LULUS"
    }

    public var assessmentID: String
    public var participantID: String
    public var scheme: String
    /// KOMPETEN only when every unit of the scheme is K.
    public var outcome: AssessmentGradedV1.Outcome
    /// The SKKNI unit codes still BK (empty when competent).
    public var notYetCompetentUnits: [String]
    /// LSP licence number (unknown for a v1 event).
    public var lspLicence: String?
    /// `YYYY-MM-DD` (unknown for a v1 event).
    public var assessedOn: String?
    /// Training attendance, 0–100 (unknown for a v1 event).
    public var attendancePercent: Double?
    /// The training result (unknown for a v1 event).
    public var trainingOutcome: TrainingOutcome?
    /// The assessment id this one corrects, when it is a correction.
    public var supersedes: String?
    /// The BNSP certificate number the LSP assigned, as the LSP sent it (never minted here).
    public var lspCertificateNumber: String?
    /// The BNSP registration number the LSP assigned, as the LSP sent it.
    public var lspRegistrationNumber: String?

    public init(
        assessmentID: String, participantID: String, scheme: String, outcome: AssessmentGradedV1.Outcome,
        notYetCompetentUnits: [String], lspLicence: String?, assessedOn: String?, attendancePercent: Double?,
        trainingOutcome: TrainingOutcome?, supersedes: String?, lspCertificateNumber: String? = nil,
        lspRegistrationNumber: String? = nil
    ) {
        self.lspCertificateNumber = lspCertificateNumber
        self.lspRegistrationNumber = lspRegistrationNumber
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.scheme = scheme
        self.outcome = outcome
        self.notYetCompetentUnits = notYetCompetentUnits
        self.lspLicence = lspLicence
        self.assessedOn = assessedOn
        self.attendancePercent = attendancePercent
        self.trainingOutcome = trainingOutcome
        self.supersedes = supersedes
    }
}

/// An assessment submission the grading worker cannot accept, with reasons the LSP's system
/// can act on (it should correct and submit again).
public struct AssessmentRejectedV1: ContractMessage {
    public static let eventType = "assessment.rejected"
    public static let version = 1

    public var assessmentID: String
    public var participantID: String
    public var lspLicence: String
    public var scheme: String
    /// Stable code and a Bahasa Indonesia text per problem (the same shape as a registration's).
    public var reasons: [RegistrationReason]

    public init(assessmentID: String, participantID: String, lspLicence: String, scheme: String, reasons: [RegistrationReason]) {
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.lspLicence = lspLicence
        self.scheme = scheme
        self.reasons = reasons
    }
}

extension AssessmentSubmittedV2 {
    /// The same submission as version 3: a whole assessment, not an uji ulang.
    public func upcast() -> AssessmentSubmittedV3 {
        AssessmentSubmittedV3(
            assessmentID: assessmentID, participantID: participantID, lspLicence: lspLicence, scheme: scheme,
            assessorRegistration: assessorRegistration, testSite: testSite, assessedOn: assessedOn, units: units,
            attendancePercent: attendancePercent, certificateNumber: certificateNumber,
            registrationNumber: registrationNumber, retakeOf: nil)
    }
}

/// Results of a competency assessment, version 3: adds the uji ulang (re-assessment). A
/// BELUM KOMPETEN candidate may be re-assessed on the units still BK, within the programme's
/// limit of attempts per unit; the re-assessment names the result it follows (`retakeOf`)
/// and carries only the re-assessed units. Without `retakeOf` it is a whole assessment (or a
/// correction of one, which replaces it and counts no attempt).
public struct AssessmentSubmittedV3: ContractMessage {
    public static let eventType = "assessment.submitted"
    public static let version = 3

    public var assessmentID: String
    public var participantID: String
    /// LSP licence number.
    public var lspLicence: String
    /// Certification scheme (skema) code.
    public var scheme: String
    /// Assessor registration (MET) number.
    public var assessorRegistration: String
    /// Tempat Uji Kompetensi (TUK) code or name.
    public var testSite: String
    /// `YYYY-MM-DD`.
    public var assessedOn: String
    /// Every unit of the scheme for a whole assessment; only the re-assessed ones for an uji ulang.
    public var units: [AssessmentSubmittedV1.Unit]
    /// Training attendance, 0–100.
    public var attendancePercent: Double
    /// e.g. `No. 85223 7233 3 0001234 2025` (when the candidate is competent and the LSP has it).
    public var certificateNumber: String?
    /// e.g. `No. Reg. OTO 0123 00456 2025`.
    public var registrationNumber: String?
    /// For an uji ulang: the assessment id of the candidate's current BELUM KOMPETEN result.
    public var retakeOf: String?

    public init(
        assessmentID: String, participantID: String, lspLicence: String, scheme: String, assessorRegistration: String,
        testSite: String, assessedOn: String, units: [AssessmentSubmittedV1.Unit], attendancePercent: Double,
        certificateNumber: String?, registrationNumber: String?, retakeOf: String?
    ) {
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.lspLicence = lspLicence
        self.scheme = scheme
        self.assessorRegistration = assessorRegistration
        self.testSite = testSite
        self.assessedOn = assessedOn
        self.units = units
        self.attendancePercent = attendancePercent
        self.certificateNumber = certificateNumber
        self.registrationNumber = registrationNumber
        self.retakeOf = retakeOf
    }
}

extension AssessmentGradedV2 {
    /// The same outcome as version 3: whether it followed an uji ulang, and whether one is
    /// still possible, are unknown.
    public func upcast() -> AssessmentGradedV3 {
        AssessmentGradedV3(
            assessmentID: assessmentID, participantID: participantID, scheme: scheme, outcome: outcome,
            notYetCompetentUnits: notYetCompetentUnits, lspLicence: lspLicence, assessedOn: assessedOn,
            attendancePercent: attendancePercent, trainingOutcome: trainingOutcome, supersedes: supersedes,
            lspCertificateNumber: lspCertificateNumber, lspRegistrationNumber: lspRegistrationNumber, retakeOf: nil,
            attempt: nil, retakeAvailable: nil)
    }
}

/// The graded outcome of an assessment, version 3: adds the uji ulang. The outcome is the
/// candidate's whole result for the scheme: the units an uji ulang re-assessed take their new
/// result, the others keep theirs.
public struct AssessmentGradedV3: ContractMessage {
    public static let eventType = "assessment.graded"
    public static let version = 3

    public var assessmentID: String
    public var participantID: String
    public var scheme: String
    /// KOMPETEN only when every unit of the scheme is K.
    public var outcome: AssessmentGradedV1.Outcome
    /// The SKKNI unit codes still BK (empty when competent).
    public var notYetCompetentUnits: [String]
    /// LSP licence number (unknown for a v1 event).
    public var lspLicence: String?
    /// `YYYY-MM-DD` (unknown for a v1 event).
    public var assessedOn: String?
    /// Training attendance, 0–100 (unknown for a v1 event).
    public var attendancePercent: Double?
    /// The training result (unknown for a v1 event; the BLKI's `training.completed` is the
    /// record that counts).
    public var trainingOutcome: AssessmentGradedV2.TrainingOutcome?
    /// The assessment id this one replaces: the one corrected, or the one an uji ulang followed.
    public var supersedes: String?
    /// The BNSP certificate number the LSP assigned, as the LSP sent it (never minted here).
    public var lspCertificateNumber: String?
    /// The BNSP registration number the LSP assigned, as the LSP sent it.
    public var lspRegistrationNumber: String?
    /// For an uji ulang: the BELUM KOMPETEN result it followed.
    public var retakeOf: String?
    /// The highest number of times any unit this result assessed has been assessed (1 for a
    /// first assessment; a correction reports the count so far; unknown before version 3).
    public var attempt: Int?
    /// BELUM KOMPETEN with at least one BK unit that may still be re-assessed (unknown before
    /// version 3; always false when competent).
    public var retakeAvailable: Bool?

    public init(
        assessmentID: String, participantID: String, scheme: String, outcome: AssessmentGradedV1.Outcome,
        notYetCompetentUnits: [String], lspLicence: String?, assessedOn: String?, attendancePercent: Double?,
        trainingOutcome: AssessmentGradedV2.TrainingOutcome?, supersedes: String?, lspCertificateNumber: String?,
        lspRegistrationNumber: String?, retakeOf: String?, attempt: Int?, retakeAvailable: Bool?
    ) {
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.scheme = scheme
        self.outcome = outcome
        self.notYetCompetentUnits = notYetCompetentUnits
        self.lspLicence = lspLicence
        self.assessedOn = assessedOn
        self.attendancePercent = attendancePercent
        self.trainingOutcome = trainingOutcome
        self.supersedes = supersedes
        self.lspCertificateNumber = lspCertificateNumber
        self.lspRegistrationNumber = lspRegistrationNumber
        self.retakeOf = retakeOf
        self.attempt = attempt
        self.retakeAvailable = retakeAvailable
    }
}

/// Where an appeal (banding, FR.AK.04) against a BELUM KOMPETEN result stands.
public enum AppealStatus: String, SchemaEnumeration {
    /// The candidate filed the appeal; the LSP is considering it.
    case filed = "DIAJUKAN"
    /// The appeal was upheld: the units it names are KOMPETEN.
    case upheld = "DITERIMA"
    /// The appeal was dismissed: the result stands.
    case dismissed = "DITOLAK"
}

/// An appeal (banding asesmen, FR.AK.04) against a BELUM KOMPETEN result, as the LSP that runs
/// it reports it: first filed, then upheld or dismissed. Checked and recorded by grading, which
/// answers with `assessment.appeal-recorded` (and, for an upheld appeal, the new
/// `assessment.graded`) or `assessment.rejected`.
public struct AssessmentAppealedV1: ContractMessage {
    public static let eventType = "assessment.appealed"
    public static let version = 1

    /// The assessment id of the result appealed against: the candidate's current one.
    public var assessmentID: String
    public var participantID: String
    /// LSP licence number (the LSP of the result).
    public var lspLicence: String
    public var scheme: String
    public var status: AppealStatus
    /// The day the appeal was filed or decided, `YYYY-MM-DD`.
    public var on: String
    /// For an upheld appeal: the units the appeal found competent (BK units of the result).
    public var revisedUnits: [String]
    /// For an upheld appeal that makes the candidate KOMPETEN: the BNSP numbers the LSP gave.
    public var certificateNumber: String?
    public var registrationNumber: String?

    public init(
        assessmentID: String, participantID: String, lspLicence: String, scheme: String, status: AppealStatus, on: String,
        revisedUnits: [String], certificateNumber: String?, registrationNumber: String?
    ) {
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.lspLicence = lspLicence
        self.scheme = scheme
        self.status = status
        self.on = on
        self.revisedUnits = revisedUnits
        self.certificateNumber = certificateNumber
        self.registrationNumber = registrationNumber
    }
}

/// Grading recorded a step of an appeal: the candidate is told where it stands.
public struct AssessmentAppealRecordedV1: ContractMessage {
    public static let eventType = "assessment.appeal-recorded"
    public static let version = 1

    /// The result appealed against.
    public var assessmentID: String
    public var participantID: String
    public var scheme: String
    public var lspLicence: String
    public var status: AppealStatus
    /// `YYYY-MM-DD`.
    public var on: String
    /// After a dismissed appeal: whether a BK unit may still be re-assessed (uji ulang).
    public var retakeAvailable: Bool

    public init(
        assessmentID: String, participantID: String, scheme: String, lspLicence: String, status: AppealStatus, on: String,
        retakeAvailable: Bool
    ) {
        self.assessmentID = assessmentID
        self.participantID = participantID
        self.scheme = scheme
        self.lspLicence = lspLicence
        self.status = status
        self.on = on
        self.retakeAvailable = retakeAvailable
    }
}
