public import ContractKit

/// A registration from the portal (or an assisted walk-in), version 1.
///
/// The only contract that carries the NIK: after intake, messages name the participant by id.
public struct RegistrationSubmittedV1: ContractMessage {
    public static let eventType = "registration.submitted"
    public static let version = 1

    /// The portal's id of this registration.
    public var registrationID: String
    /// 16 digits; validated by the intake worker (a bad NIK is a rejection, not a bad message).
    public var nik: String
    public var fullName: String
    public var birthPlace: String
    /// `YYYY-MM-DD`.
    public var birthDate: String
    public var sex: Sex
    /// E.164, e.g. `+6281234567890`.
    public var phone: String
    public var email: String?
    public var domicile: Domicile
    public var education: EducationLevel
    /// Kartu AK/I number, if the applicant has one.
    public var jobSeekerCardNumber: String?
    public var preferredCentre: TrainingCentre
    /// Programme code, e.g. `MEKANIK_SEPEDA_MOTOR`.
    public var programme: String
    public var apprenticeshipInterest: Bool
    public var declaredTrainings: [DeclaredTraining]
    public var consent: Consent

    public init(
        registrationID: String, nik: String, fullName: String, birthPlace: String, birthDate: String, sex: Sex, phone: String,
        email: String?, domicile: Domicile, education: EducationLevel, jobSeekerCardNumber: String?,
        preferredCentre: TrainingCentre, programme: String, apprenticeshipInterest: Bool, declaredTrainings: [DeclaredTraining],
        consent: Consent
    ) {
        self.registrationID = registrationID
        self.nik = nik
        self.fullName = fullName
        self.birthPlace = birthPlace
        self.birthDate = birthDate
        self.sex = sex
        self.phone = phone
        self.email = email
        self.domicile = domicile
        self.education = education
        self.jobSeekerCardNumber = jobSeekerCardNumber
        self.preferredCentre = preferredCentre
        self.programme = programme
        self.apprenticeshipInterest = apprenticeshipInterest
        self.declaredTrainings = declaredTrainings
        self.consent = consent
    }

    /// The same registration as version 2: the fields v2 added are unknown.
    public func upcast() -> RegistrationSubmittedV2 {
        RegistrationSubmittedV2(
            registrationID: registrationID, nik: nik, familyCardNumber: nil, fullName: fullName, birthPlace: birthPlace,
            birthDate: birthDate, sex: sex, phone: phone, whatsApp: nil, email: email, domicile: domicile, education: education,
            employmentStatus: nil, jobSeekerCardNumber: jobSeekerCardNumber, preferredCentre: preferredCentre,
            programme: programme,
            secondChoiceProgramme: nil, apprenticeshipInterest: apprenticeshipInterest, declaredTrainings: declaredTrainings,
            consent: consent)
    }
}

/// A registration, version 2: adds the family card (KK) number, a WhatsApp number, the
/// employment status and a second-choice programme. Superseded by version 3, which no longer
/// collects the family card number.
public struct RegistrationSubmittedV2: ContractMessage {
    public static let eventType = "registration.submitted"
    public static let version = 2

    /// Current employment, as declared.
    public enum EmploymentStatus: String, SchemaEnumeration {
        case unemployed = "BELUM_BEKERJA"
        case employed = "BEKERJA"
        case laidOff = "PHK"
        case student = "PELAJAR"
    }

    public var registrationID: String
    public var nik: String
    /// Nomor KK, 16 digits; `nil` when it came from a v1 message.
    public var familyCardNumber: String?
    public var fullName: String
    public var birthPlace: String
    public var birthDate: String
    public var sex: Sex
    public var phone: String
    /// E.164; `nil` means use ``phone``.
    public var whatsApp: String?
    public var email: String?
    public var domicile: Domicile
    public var education: EducationLevel
    public var employmentStatus: EmploymentStatus?
    public var jobSeekerCardNumber: String?
    public var preferredCentre: TrainingCentre
    public var programme: String
    public var secondChoiceProgramme: String?
    public var apprenticeshipInterest: Bool
    public var declaredTrainings: [DeclaredTraining]
    public var consent: Consent

    public init(
        registrationID: String, nik: String, familyCardNumber: String?, fullName: String, birthPlace: String, birthDate: String,
        sex: Sex, phone: String, whatsApp: String?, email: String?, domicile: Domicile, education: EducationLevel,
        employmentStatus: EmploymentStatus?, jobSeekerCardNumber: String?, preferredCentre: TrainingCentre, programme: String,
        secondChoiceProgramme: String?, apprenticeshipInterest: Bool, declaredTrainings: [DeclaredTraining], consent: Consent
    ) {
        self.registrationID = registrationID
        self.nik = nik
        self.familyCardNumber = familyCardNumber
        self.fullName = fullName
        self.birthPlace = birthPlace
        self.birthDate = birthDate
        self.sex = sex
        self.phone = phone
        self.whatsApp = whatsApp
        self.email = email
        self.domicile = domicile
        self.education = education
        self.employmentStatus = employmentStatus
        self.jobSeekerCardNumber = jobSeekerCardNumber
        self.preferredCentre = preferredCentre
        self.programme = programme
        self.secondChoiceProgramme = secondChoiceProgramme
        self.apprenticeshipInterest = apprenticeshipInterest
        self.declaredTrainings = declaredTrainings
        self.consent = consent
    }
}

extension RegistrationSubmittedV2 {
    /// The same registration as version 3: the family card number, which no step uses, is
    /// dropped here, when the message is decoded; a guardian's consent is unknown.
    public func upcast() -> RegistrationSubmittedV3 {
        RegistrationSubmittedV3(
            registrationID: registrationID, nik: nik, fullName: fullName, birthPlace: birthPlace, birthDate: birthDate,
            sex: sex, phone: phone, whatsApp: whatsApp, email: email, domicile: domicile, education: education,
            employmentStatus: employmentStatus, jobSeekerCardNumber: jobSeekerCardNumber, preferredCentre: preferredCentre,
            programme: programme, secondChoiceProgramme: secondChoiceProgramme,
            apprenticeshipInterest: apprenticeshipInterest, declaredTrainings: declaredTrainings, consent: consent,
            guardianConsent: nil)
    }
}

/// A registration, version 3: version 2 without the family card (KK) number, which no step of
/// the programme uses (UU 27/2022 Art. 16(2): collect only what the purpose needs), and with the
/// consent of a parent or guardian, which an applicant under 18 needs (Art. 25: a child's data
/// is processed with the consent of the child's parent or guardian).
public struct RegistrationSubmittedV3: ContractMessage {
    public static let eventType = "registration.submitted"
    public static let version = 3

    public var registrationID: String
    /// 16 digits; validated by the intake worker (a bad NIK is a rejection, not a bad message).
    public var nik: String
    public var fullName: String
    public var birthPlace: String
    /// `YYYY-MM-DD`.
    public var birthDate: String
    public var sex: Sex
    /// E.164, e.g. `+6281234567890`.
    public var phone: String
    /// E.164; `nil` means use ``phone``.
    public var whatsApp: String?
    public var email: String?
    public var domicile: Domicile
    public var education: EducationLevel
    public var employmentStatus: RegistrationSubmittedV2.EmploymentStatus?
    /// Kartu AK/I number, if the applicant has one.
    public var jobSeekerCardNumber: String?
    public var preferredCentre: TrainingCentre
    /// Programme code, e.g. `MEKANIK_SEPEDA_MOTOR`.
    public var programme: String
    public var secondChoiceProgramme: String?
    public var apprenticeshipInterest: Bool
    public var declaredTrainings: [DeclaredTraining]
    /// The applicant's own consent.
    public var consent: Consent
    /// A parent's or guardian's consent: required when the applicant is under 18 on the
    /// programme's reference date, ignored (and not kept) otherwise.
    public var guardianConsent: GuardianConsent?

    public init(
        registrationID: String, nik: String, fullName: String, birthPlace: String, birthDate: String, sex: Sex,
        phone: String, whatsApp: String?, email: String?, domicile: Domicile, education: EducationLevel,
        employmentStatus: RegistrationSubmittedV2.EmploymentStatus?, jobSeekerCardNumber: String?,
        preferredCentre: TrainingCentre, programme: String, secondChoiceProgramme: String?, apprenticeshipInterest: Bool,
        declaredTrainings: [DeclaredTraining], consent: Consent, guardianConsent: GuardianConsent?
    ) {
        self.registrationID = registrationID
        self.nik = nik
        self.fullName = fullName
        self.birthPlace = birthPlace
        self.birthDate = birthDate
        self.sex = sex
        self.phone = phone
        self.whatsApp = whatsApp
        self.email = email
        self.domicile = domicile
        self.education = education
        self.employmentStatus = employmentStatus
        self.jobSeekerCardNumber = jobSeekerCardNumber
        self.preferredCentre = preferredCentre
        self.programme = programme
        self.secondChoiceProgramme = secondChoiceProgramme
        self.apprenticeshipInterest = apprenticeshipInterest
        self.declaredTrainings = declaredTrainings
        self.consent = consent
        self.guardianConsent = guardianConsent
    }
}
