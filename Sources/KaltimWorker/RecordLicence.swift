import ArgumentParser
import CommandOptions
import ContractKit
import Contracts
import Foundation

/// `record-licence`: the programme office records a licence LPJK or Kemnaker issued to a
/// participant, with the issuer's own numbers (publishes `licence.recorded`).
struct RecordLicence: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record-licence",
        abstract:
            "Record an SKK Konstruksi (LPJK) or a Lisensi K3 (Kemnaker) a participant holds, with the issuer's numbers (publishes licence.recorded, as the office).",
        discussion: """
            The certificates worker records it for a participant of a programme the plan says leads to \
            that licence, dated no earlier than the class's last day, and publishes certificate.issued v2. \
            The same record sent again changes nothing; another number for the same person and licence is \
            refused (dead letter licence-conflict).
            """)

    enum KindOption: String, ExpressibleByArgument, CaseIterable {
        case skkKonstruksi = "skk-konstruksi"
        case lisensiK3 = "lisensi-k3"
    }

    @OptionGroup var broker: BrokerOptions
    @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""
    @Option(help: "The participant (PST-…).") var participantID: String
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
        let issuerNumber = /[A-Za-z0-9 .\/:()-]{1,64}/
        guard number.wholeMatch(of: issuerNumber) != nil,
            registrationNumber.map({ $0.wholeMatch(of: issuerNumber) != nil }) ?? true
        else { throw ValidationError("--number and --registration-number are 1–64 letters, digits, spaces and . / - : ( )") }
        for (name, text) in [("--qualification", qualification), ("--recorded-by", recordedBy)] {
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty, text.count <= 200,
                !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw ValidationError("\(name) is 1 to 200 characters on one line") }
        }
        let day = /\d{4}-\d{2}-\d{2}/
        guard issuedOn.wholeMatch(of: day) != nil, validUntil.wholeMatch(of: day) != nil, validUntil > issuedOn else {
            throw ValidationError("--issued-on and --valid-until are days (YYYY-MM-DD), --valid-until the later one")
        }
    }

    func run() async throws {
        let licenceKind: LicenceRecordedV1.Kind = kind == .skkKonstruksi ? .constructionCompetency : .safetyLicence
        try await publishConfirmed(
            EventEnvelope(
                // The same record sent twice is one message; another number is another, refused visibly.
                id: "licence-\(participantID)-\(licenceKind.rawValue)-\(number)", source: "/kaltim/office/lisensi",
                subject: participantID,
                data: LicenceRecordedV1(
                    participantID: participantID, kind: licenceKind, certificateNumber: number,
                    registrationNumber: registrationNumber, qualification: qualification, issuedOn: issuedOn,
                    validUntil: validUntil, recordedBy: recordedBy)),
            broker: broker, topologyPrefix: topologyPrefix)
        print("recorded the \(licenceKind.rawValue) of \(participantID): \(number)")
    }
}
