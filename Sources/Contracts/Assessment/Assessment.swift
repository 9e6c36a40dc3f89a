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
