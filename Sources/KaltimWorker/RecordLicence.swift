import ArgumentParser
import CertificateTrust
import CommandOptions
import ContractKit
import Contracts
import Foundation
import Workers

/// `record-licence`: the programme office records an SKK Konstruksi (registered with LPJK) or a Kemnaker Lisensi K3 of a
/// participant, with the issuer's own numbers (publishes `licence.recorded`).
struct RecordLicence: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record-licence",
        abstract:
            "Record an SKK Konstruksi (LPJK) or a Lisensi K3 (Kemnaker) a participant holds, with the issuer's numbers (publishes licence.recorded, as the office).",
        discussion: """
            The certificates worker records it for a participant who passed the training of a programme \
            the plan says leads to that licence, whose name is the one on the licence, dated between the \
            class's last day and today, and publishes certificate.issued v2. The same record sent again \
            changes nothing; a record that contradicts one already there is refused (dead letter \
            licence-conflict), as is one that cannot be true (invalid-licence): watch the dead letters.
            """)

    enum KindOption: String, ExpressibleByArgument, CaseIterable {
        case skkKonstruksi = "skk-konstruksi"
        case lisensiK3 = "lisensi-k3"
    }

    @OptionGroup var broker: BrokerOptions
    @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""
    @Option(help: "The participant (PST-…).") var participantID: String
    @Option(help: "The holder's name as printed on the licence (checked against the participant's).")
    var holderName: String
    @Option(help: "skk-konstruksi (LPJK) or lisensi-k3 (Kemnaker, the operator's SIO).") var kind: KindOption
    @Option(help: "The licence's number exactly as the issuer printed it.") var number: String
    @Option(help: "The issuer's registration number, when the licence has one.") var registrationNumber: String?
    @Option(help: "What it qualifies for, as the issuer wrote it (e.g. \"Operator Forklift Kelas II\").")
    var qualification: String
    @Option(help: ArgumentHelp("The issuer's date.", valueName: "YYYY-MM-DD")) var issuedOn: String
    @Option(help: ArgumentHelp("The last day it is valid.", valueName: "YYYY-MM-DD")) var validUntil: String
    @Option(help: "Who recorded it (name or staff number).") var recordedBy: String

    func validate() throws {
        guard participantID.wholeMatch(of: /[A-Z0-9-]{1,64}/) != nil else {
            throw ValidationError("--participant-id is an id such as PST-2025-…")
        }
        // The certificates worker's own checks, so that what it would refuse is not sent.
        guard CertificateHandler.isIssuerNumber(number.trimmingCharacters(in: .whitespaces)),
            registrationNumber.map({ CertificateHandler.isIssuerNumber($0.trimmingCharacters(in: .whitespaces)) }) ?? true
        else { throw ValidationError("--number and --registration-number are 1–64 letters, digits, spaces and . / - : ( )") }
        for (name, text, limit) in [
            ("--qualification", qualification, 100), ("--recorded-by", recordedBy, 200), ("--holder-name", holderName, 200),
        ] where !CertificateHandler.isShortText(text.trimmingCharacters(in: .whitespaces), limit: limit) {
            throw ValidationError("\(name) is 1 to \(limit) characters on one line, without control characters")
        }
        guard ![number, registrationNumber ?? "", qualification].contains(where: CertificateHandler.looksLikeLink) else {
            throw ValidationError("--number, --registration-number and --qualification are not web addresses")
        }
        guard CertificateHandler.isDay(issuedOn), CertificateHandler.isDay(validUntil), validUntil > issuedOn,
            let longest = CertificateHandler.adding(years: 10, to: issuedOn), validUntil <= longest
        else {
            throw ValidationError(
                "--issued-on and --valid-until are days (YYYY-MM-DD), --valid-until the later one and within 10 years")
        }
    }

    func run() async throws {
        let licenceKind: LicenceRecordedV1.Kind = kind == .skkKonstruksi ? .constructionCompetency : .safetyLicence
        let licence = LicenceRecordedV1(
            participantID: participantID, holderName: holderName, kind: licenceKind, certificateNumber: number,
            registrationNumber: registrationNumber, qualification: qualification, issuedOn: issuedOn,
            validUntil: validUntil, recordedBy: recordedBy)
        // The same record sent twice in a day is one message (the id is a digest of every field
        // and the WITA day); a record with anything changed is another, which the worker refuses
        // visibly if it contradicts one in force. On another day it is another message, so a
        // record revoked by mistake can be recorded again (one in force is not recorded twice).
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        let day = Data(CertificateKeyRing.witaDay(Date()).utf8)
        for byte in try ContractJSON.encoder().encode(licence) + day { digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3 }
        try await publishConfirmed(
            EventEnvelope(
                id: "licence-\(participantID)-\(licenceKind.rawValue)-" + String(digest, radix: 16),
                source: "/kaltim/office/lisensi", subject: participantID, data: licence),
            broker: broker, topologyPrefix: topologyPrefix)
        print(
            "published the \(licenceKind.rawValue) of \(participantID) (\(number)); the certificates worker records it, or dead-letters it with the reason"
        )
    }
}
