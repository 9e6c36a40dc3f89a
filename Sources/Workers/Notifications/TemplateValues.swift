import Foundation

/// The values one notification template is rendered with: one type per template the worker
/// sends for an event. Its coding keys are the template's field names, written once: the
/// worker fills the type's properties, and the templates' check at start-up
/// (``NotificationTemplates/fields``) takes the names from the keys. The greeting's `nama` comes
/// from the contact and is added to every one.
///
/// The types are `Codable` so that the compiler refuses a property without a key; a `Bool`
/// property is a Mustache section (`{{#kompeten}}…{{/kompeten}}`).
protocol TemplateValues: Codable, Sendable {
    /// The coding keys: the field names.
    associatedtype Field: CodingKey, CaseIterable, RawRepresentable<String>
    /// The template's name (`config/notifications/<name>.txt`).
    static var template: String { get }
}

extension TemplateValues {
    /// Every field the template may use: the keys and `nama`.
    static var fieldNames: Set<String> { Set(Field.allCases.map(\.rawValue)).union(["nama"]) }

    /// The values as the notification row stores them: text, `true`/`false` for sections.
    /// Taken by an encoder of their own (``ParameterEncoder``), not a round trip through JSON
    /// (which was 6 % of the notification role's CPU).
    func parameters() throws -> [String: String] {
        let encoder = ParameterEncoder()
        try encode(to: encoder)
        return encoder.values.values
    }
}

/// Collects a ``TemplateValues``' properties by their keys: strings as they are, flags as
/// `true`/`false`. Anything else (a number, a null, a nested value, a super encoder) is refused:
/// a template's values are text and flags.
private final class ParameterEncoder: Encoder {
    final class Values { var values: [String: String] = [:] }
    let values = Values()
    /// Refuses everything: the encoder of what is not a template's value.
    let refusing: Bool
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(refusing: Bool = false) { self.refusing = refusing }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Container<Key>(values: values, refusing: refusing))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { Refused(codingPath: []) }
    func singleValueContainer() -> any SingleValueEncodingContainer { Refused(codingPath: []) }

    static func refusal(_ value: Any, _ codingPath: [any CodingKey]) -> EncodingError {
        .invalidValue(value, .init(codingPath: codingPath, debugDescription: "a template's values are text and flags"))
    }

    struct Container<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let values: Values
        let refusing: Bool
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) throws { throw ParameterEncoder.refusal((), [key]) }
        mutating func encode(_ value: String, forKey key: Key) throws {
            guard !refusing else { throw ParameterEncoder.refusal(value, [key]) }
            values.values[key.stringValue] = value
        }
        mutating func encode(_ value: Bool, forKey key: Key) throws {
            guard !refusing else { throw ParameterEncoder.refusal(value, [key]) }
            values.values[key.stringValue] = value ? "true" : "false"
        }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            throw ParameterEncoder.refusal(value, [key])
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            KeyedEncodingContainer(Container<NestedKey>(values: Values(), refusing: true))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            Refused(codingPath: [key])
        }
        mutating func superEncoder() -> any Encoder { ParameterEncoder(refusing: true) }
        mutating func superEncoder(forKey key: Key) -> any Encoder { ParameterEncoder(refusing: true) }
    }

    /// Refuses every value (a template has no lists or single values).
    struct Refused: UnkeyedEncodingContainer, SingleValueEncodingContainer {
        let codingPath: [any CodingKey]
        var count: Int { 0 }
        mutating func encodeNil() throws { throw ParameterEncoder.refusal((), codingPath) }
        mutating func encode<T: Encodable>(_ value: T) throws { throw ParameterEncoder.refusal(value, codingPath) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
            -> KeyedEncodingContainer<NestedKey>
        {
            KeyedEncodingContainer(Container<NestedKey>(values: Values(), refusing: true))
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self }
        mutating func superEncoder() -> any Encoder { ParameterEncoder(refusing: true) }
    }
}

/// The templates the worker sends for the pipeline's events, one value type each.
enum EventTemplates {
    static let all: [any TemplateValues.Type] = [
        RegistrationReceived.self, RegistrationRejected.self, RegistrationInReview.self, DocumentsRequested.self,
        RegistrationEligible.self, SelectionPassed.self, Waitlisted.self, ReserveDesignated.self, TransferOffered.self,
        Withdrawn.self,
        ApprenticeshipPlacement.self,
        TrainingResult.self, AssessmentResult.self, Appeal.self, CertificateIssued.self, CertificateRevoked.self,
    ]

    /// `pendaftaran_diterima`: the registration arrived.
    struct RegistrationReceived: TemplateValues {
        static let template = "pendaftaran_diterima"
        typealias Field = CodingKeys
        let registrationNumber, programme, centre, maskedNIK: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case registrationNumber = "no_pendaftaran"
            case programme = "program"
            case centre = "blki"
            case maskedNIK = "nik_tersamar"
        }
    }

    /// `pendaftaran_ditolak`: intake rejected the registration.
    struct RegistrationRejected: TemplateValues {
        static let template = "pendaftaran_ditolak"
        typealias Field = CodingKeys
        let registrationNumber, reasons: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case registrationNumber = "no_pendaftaran"
            case reasons = "alasan"
        }
    }

    /// `pendaftaran_ditinjau`: the registration waits for an officer's review.
    struct RegistrationInReview: TemplateValues {
        static let template = "pendaftaran_ditinjau"
        typealias Field = CodingKeys
        let registrationNumber, reasons: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case registrationNumber = "no_pendaftaran"
            case reasons = "alasan"
        }
    }

    /// `pendaftaran_perlu_dokumen`: the officer reviewing the registration asks for documents.
    struct DocumentsRequested: TemplateValues {
        static let template = "pendaftaran_perlu_dokumen"
        typealias Field = CodingKeys
        let registrationNumber, reason, centre, respondBy: String
        let hasDeadline: Bool
        enum CodingKeys: String, CodingKey, CaseIterable {
            case registrationNumber = "no_pendaftaran"
            case reason = "alasan"
            case centre = "blki"
            case respondBy = "batas_waktu"
            case hasDeadline = "ada_batas_waktu"
        }
    }

    /// `memenuhi_syarat`: intake (or an officer's review) found the registration eligible; the
    /// selection (a seat, by priority) comes later.
    struct RegistrationEligible: TemplateValues {
        static let template = "memenuhi_syarat"
        typealias Field = CodingKeys
        let registrationNumber, participantNumber, programme, centre: String
        let apprenticeshipInterest: Bool
        enum CodingKeys: String, CodingKey, CaseIterable {
            case registrationNumber = "no_pendaftaran"
            case participantNumber = "no_peserta"
            case programme = "program"
            case centre = "blki"
            case apprenticeshipInterest = "minat_magang"
        }
    }

    /// `lulus_seleksi`: a seat in a class is the selection's result: the class's dates and
    /// hours, the BLKI's address, and the daftar ulang window.
    struct SelectionPassed: TemplateValues {
        static let template = "lulus_seleksi"
        typealias Field = CodingKeys
        let participantNumber, programme, centre, address: String
        let hasAddress: Bool
        let cohort, startWeekday, startDate, endDate, weeks, weeklyHours, startTime: String
        let replacing, hasReRegistration: Bool
        let reRegistrationFirst, reRegistrationLast, reRegistrationHours: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case programme = "program"
            case centre = "blki"
            case address = "alamat"
            case hasAddress = "ada_alamat"
            case cohort = "angkatan"
            case startWeekday = "hari_mulai"
            case startDate = "tanggal_mulai"
            case endDate = "tanggal_selesai"
            case weeks = "jumlah_minggu"
            case weeklyHours = "jam_latihan"
            case startTime = "jam_mulai"
            case replacing = "pengganti"
            case hasReRegistration = "ada_daftar_ulang"
            case reRegistrationFirst = "daftar_ulang_mulai"
            case reRegistrationLast = "daftar_ulang_selesai"
            case reRegistrationHours = "jam_daftar_ulang"
        }
    }

    /// `daftar_tunggu`: no seat yet, a place on the waiting list.
    struct Waitlisted: TemplateValues {
        static let template = "daftar_tunggu"
        typealias Field = CodingKeys
        let participantNumber, programme, centre, position: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case programme = "program"
            case centre = "blki"
            case position = "posisi"
        }
    }

    /// `peserta_cadangan`: a reserve (cadangan) of a full class, with its rank.
    struct ReserveDesignated: TemplateValues {
        static let template = "peserta_cadangan"
        typealias Field = CodingKeys
        let participantNumber, programme, centre, cohort: String
        let hasCohort: Bool
        let startDate, rank: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case programme = "program"
            case centre = "blki"
            case cohort = "angkatan"
            case hasCohort = "ada_angkatan"
            case startDate = "tanggal_mulai"
            case rank = "urutan_cadangan"
        }
    }

    /// `tawaran_pindah_blki`: the chosen BLKI is full; a seat at the other one is offered, to
    /// be answered by a date.
    struct TransferOffered: TemplateValues {
        static let template = "tawaran_pindah_blki"
        typealias Field = CodingKeys
        let participantNumber, programme, preferredCentre, centre, address: String
        let hasAddress: Bool
        let cohort, startDate, endDate, answerBy: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case programme = "program"
            case preferredCentre = "blki_pilihan"
            case centre = "blki"
            case address = "alamat"
            case hasAddress = "ada_alamat"
            case cohort = "angkatan"
            case startDate = "tanggal_mulai"
            case endDate = "tanggal_selesai"
            case answerBy = "batas_jawaban"
        }
    }

    /// `pengunduran_diri`: the participant left a class or the waiting list (no-show at daftar
    /// ulang, resigned, too little attendance, administrative); the explanation is a sentence.
    struct Withdrawn: TemplateValues {
        static let template = "pengunduran_diri"
        typealias Field = CodingKeys
        let participantNumber, programme, centre, explanation: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case programme = "program"
            case centre = "blki"
            case explanation = "keterangan"
        }
    }

    /// `penempatan_magang`: an apprenticeship place.
    struct ApprenticeshipPlacement: TemplateValues {
        static let template = "penempatan_magang"
        typealias Field = CodingKeys
        let participantNumber, company, startDate, endDate: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case company = "perusahaan"
            case startDate = "tanggal_mulai"
            case endDate = "tanggal_selesai"
        }
    }

    /// `hasil_pelatihan`: the BLKI's training result and the attendance.
    struct TrainingResult: TemplateValues {
        static let template = "hasil_pelatihan"
        typealias Field = CodingKeys
        let participantNumber, programme, centre, outcome: String
        let passed: Bool
        let attendance: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case programme = "program"
            case centre = "blki"
            case outcome = "hasil"
            case passed = "lulus"
            case attendance = "kehadiran"
        }
    }

    /// `hasil_uji_kompetensi`: the competency assessment's verdict (the LSP's).
    struct AssessmentResult: TemplateValues {
        static let template = "hasil_uji_kompetensi"
        typealias Field = CodingKeys
        let participantNumber, scheme, programme, assessedOn, outcome: String
        let competent: Bool
        let notYetCompetentUnits, lsp: String
        /// "uji kompetensi", or "uji ulang" for a re-assessment.
        let kind: String
        /// BELUM KOMPETEN with a unit that may still be re-assessed.
        let retakeAvailable: Bool
        /// BELUM KOMPETEN and every BK unit has used its attempts.
        let attemptsUsed: Bool
        /// An older event that does not say (neither of the two above).
        let retakeUnknown: Bool
        /// The plan's attempts per unit.
        let attemptsPerUnit: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case scheme = "skema"
            case programme = "program"
            case assessedOn = "tanggal"
            case outcome = "hasil"
            case competent = "kompeten"
            case notYetCompetentUnits = "unit_belum_kompeten"
            case lsp = "lsp"
            case kind = "jenis_uji"
            case retakeAvailable = "uji_ulang_tersedia"
            case attemptsUsed = "batas_uji_tercapai"
            case retakeUnknown = "uji_ulang_belum_diketahui"
            case attemptsPerUnit = "batas_uji"
        }
    }

    /// `banding`: a step of the candidate's appeal against a BELUM KOMPETEN result.
    struct Appeal: TemplateValues {
        static let template = "banding"
        typealias Field = CodingKeys
        let participantNumber, scheme, programme, date, status, lsp: String
        let filed, upheld, dismissed, retakeAvailable: Bool
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case scheme = "skema"
            case programme = "program"
            case date = "tanggal"
            case status = "status"
            case lsp = "lsp"
            case filed = "diajukan"
            case upheld = "diterima"
            case dismissed = "ditolak"
            case retakeAvailable = "uji_ulang_tersedia"
        }
    }

    /// `sertifikat_terbit`: a certificate was issued.
    struct CertificateIssued: TemplateValues {
        static let template = "sertifikat_terbit"
        typealias Field = CodingKeys
        let participantNumber, kind: String
        let isCompetency: Bool
        /// A record of a licence LPJK or Kemnaker issued: recorded, not issued, here.
        let isLicenceRecord: Bool
        let certificateNumber, registrationNumber: String
        let hasRegistrationNumber: Bool
        let scheme, programme, issuedOn, validUntil: String
        let hasValidity: Bool
        let verificationCode, verificationLink: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case kind = "jenis"
            case isCompetency = "kompetensi"
            case isLicenceRecord = "catatan_lisensi"
            case certificateNumber = "no_sertifikat"
            case registrationNumber = "no_registrasi"
            case hasRegistrationNumber = "ada_no_registrasi"
            case scheme = "skema"
            case programme = "program"
            case issuedOn = "tanggal_terbit"
            case validUntil = "berlaku_sd"
            case hasValidity = "ada_masa_berlaku"
            case verificationCode = "kode_verifikasi"
            case verificationLink = "tautan_verifikasi"
        }
    }

    /// `sertifikat_dicabut`: a certificate was revoked.
    struct CertificateRevoked: TemplateValues {
        static let template = "sertifikat_dicabut"
        typealias Field = CodingKeys
        let participantNumber, certificateNumber, reason: String
        /// A licence record's kind ("SKK Konstruksi", "Lisensi K3 (SIO)"); empty for a certificate.
        let kind: String
        /// Whether what was revoked is the record of a licence LPJK or Kemnaker issued (the
        /// holder's own document is not the one revoked).
        let isLicenceRecord: Bool
        enum CodingKeys: String, CodingKey, CaseIterable {
            case participantNumber = "no_peserta"
            case certificateNumber = "no_sertifikat"
            case reason = "alasan"
            case kind = "jenis"
            case isLicenceRecord = "catatan_lisensi"
        }
    }
}
