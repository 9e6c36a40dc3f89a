import AMQP
import ArgumentParser
import CommandOptions
import ContractKit
import Contracts
import DeploymentSettings
import Foundation
import Jobs
import ReviewDesk
import Stores
import Topology
import Workers

/// `kaltim-worker review`: the officers' desk for registrations intake sent to review. `list`
/// and `show` read intake's store; `decide` publishes the officer's decision
/// (`registration.reviewed`), which intake carries out.
struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Registrations waiting for an officer's review: list, show, decide.",
        subcommands: [List.self, Show.self, Decide.self])

    /// Where intake's store is.
    struct StoreOptions: ParsableArguments {
        @Option(help: ArgumentHelp("The intake worker's store (a file or a postgres:// URL).", valueName: "path"))
        var database = InstallLayout.current.state("intake.sqlite")
        @Option(help: ArgumentHelp("Its PostgreSQL schema (default: intake).", valueName: "name")) var storeSchema = "intake"

        func cases(pendingOnly: Bool, registrationID: String? = nil) async throws -> [ReviewCase] {
            let store = try await Stores.openForReading(database, schema: storeSchema)
            return try await ReviewCase.read(from: store, pendingOnly: pendingOnly, registrationID: registrationID)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The reviews waiting for a decision, oldest first, with how long the oldest has waited.")

        @OptionGroup var store: StoreOptions
        @Flag(help: "Also the decided reviews.") var all = false

        func run() async throws {
            PersonalData.restrictNewFiles()
            let cases = try await store.cases(pendingOnly: !all)
            let pending = cases.filter(\.isPending)
            var summary = "reviews pending: \(pending.count)"
            if let oldest = pending.map(\.openedAt).min() {
                summary += String(format: "; the oldest has waited %.1f hours", Date().timeIntervalSince(oldest) / 3600)
            }
            print(summary)
            for reviewCase in cases {
                print(
                    [
                        reviewCase.registrationID, reviewCase.state, ReviewTime.format(reviewCase.openedAt),
                        reviewCase.centre, reviewCase.programme, reviewCase.reasons.map(\.code).joined(separator: ","),
                        reviewCase.officer ?? "", reviewCase.decisionCode ?? "",
                    ].joined(separator: "\t"))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One review: its reasons, the declared data beside the civil-registry record (NIK masked).")

        @OptionGroup var store: StoreOptions
        @Option(help: "The registration number.") var registrationID: String

        func run() async throws {
            PersonalData.restrictNewFiles()
            guard let reviewCase = try await store.cases(pendingOnly: false, registrationID: registrationID).first else {
                throw ValidationError("registration \(registrationID) is not in review")
            }
            print("pendaftaran \(reviewCase.registrationID): \(reviewCase.state), \(reviewCase.centre) \(reviewCase.programme)")
            print("alasan pemeriksaan:")
            for reason in reviewCase.reasons { print("  \(reason.code): \(reason.message)") }
            guard let file = reviewCase.caseFile else {
                print("diputuskan oleh \(reviewCase.officer ?? "-"); data pribadi berkas sudah dihapus")
                return
            }
            print("NIK: \(file.maskedNIK)")
            let registry = file.registry
            let rows: [(String, String, String)] = [
                ("nama", file.declared.fullName, registry?.fullName ?? "-"),
                ("tanggal lahir", file.declared.birthDate, registry?.birthDate ?? "-"),
                ("jenis kelamin", file.declared.sex.rawValue, "-"),
                (
                    "kode provinsi domisili", String(file.declared.domicileRegion.prefix(2)),
                    registry.map { String($0.regionCode.prefix(2)) } ?? "-"
                ),
            ]
            print("data\tdiisi pendaftar\tdata kependudukan" + (registry == nil ? " (tidak ditemukan)" : ""))
            for (field, declared, recorded) in rows { print("\(field)\t\(declared)\t\(recorded)") }
            print("tempat lahir (diisi): \(file.declared.birthPlace)")
            print(
                "pendidikan: \(file.declared.education.rawValue); kartu AK/I: \(file.declared.hasJobSeekerCard ? "ada" : "tidak ada")"
            )
            print("status kerja (diisi): \(file.declared.employmentStatus?.rawValue ?? "-")")
            if let registry { print("domisili menurut data kependudukan di Kaltim: \(registry.livesInKaltim ? "ya" : "tidak")") }
            for training in file.declared.declaredTrainings {
                print("pelatihan sebelumnya: \(training.programme) \(training.year) \(training.outcome.rawValue)")
            }
        }
    }

    struct Decide: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish an officer's decision on a review (registration.reviewed); intake carries it out.")

        enum DecisionOption: String, ExpressibleByArgument, CaseIterable {
            case approve
            case reject
            case requestDocuments = "request-documents"
        }

        @OptionGroup var store: StoreOptions
        @OptionGroup var broker: BrokerOptions
        @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""
        @Option(help: "The registration number.") var registrationID: String
        @Option(help: "approve, reject or request-documents.") var decision: DecisionOption
        @Option(help: "The deciding officer's name or staff number (kept in intake's audit).") var officer: String
        @Option(help: "A review reason the documents confirmed (repeat for each; approval needs them all).")
        var verified: [String] = []
        @Flag(help: "Every open reason was checked against the documents.") var allVerified = false
        @Option(help: "Reason code for the applicant (UPPER_SNAKE), for reject and request-documents.") var reasonCode: String?
        @Option(help: "Reason text for the applicant, in Bahasa Indonesia.") var reasonText: String?
        @Option(help: "For request-documents: the last day, YYYY-MM-DD.") var respondBy: String?

        func validate() throws {
            if (reasonCode == nil) != (reasonText == nil) {
                throw ValidationError("--reason-code and --reason-text go together")
            }
            if decision != .approve && reasonCode == nil {
                throw ValidationError("\(decision.rawValue) needs --reason-code and --reason-text for the applicant")
            }
            if decision != .approve && (allVerified || !verified.isEmpty) {
                throw ValidationError("--verified and --all-verified are for an approval")
            }
            let name = officer.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, name.count <= 200 else { throw ValidationError("--officer has 1 to 200 characters") }
            if let respondBy, respondBy.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}/) == nil {
                throw ValidationError("--respond-by is a date, YYYY-MM-DD")
            }
        }

        func run() async throws {
            PersonalData.restrictNewFiles()
            guard let reviewCase = try await store.cases(pendingOnly: false, registrationID: registrationID).first else {
                throw ValidationError("registration \(registrationID) is not in review")
            }
            let verifiedReasons = allVerified ? reviewCase.reasons.map(\.code) : verified
            let decided: RegistrationReviewedV1.Decision =
                switch decision {
                case .approve: .approve
                case .reject: .reject
                case .requestDocuments: .requestDocuments
                }
            let reviewed: RegistrationReviewedV1
            do {
                reviewed = try OfficerDecision(
                    registrationID: registrationID, decision: decided, officer: officer, verifiedReasons: verifiedReasons,
                    reason: reasonCode.map { RegistrationReason(code: $0, message: reasonText ?? "") }, respondBy: respondBy
                ).reviewed(of: reviewCase)
            } catch let error as ReviewDecisionError {
                throw ValidationError(error.description)
            }
            // Each decision its own message id: a second decision is never dropped as a duplicate
            // of the first; intake refuses it visibly (a dead letter) when the case is closed.
            try await publishConfirmed(
                EventEnvelope(
                    id: "reviewed-\(registrationID)-\(UUID().uuidString)", source: "/kaltim/office/review",
                    subject: registrationID,
                    data: reviewed),
                broker: broker, topologyPrefix: topologyPrefix)
            print("published \(decided.rawValue) for \(registrationID) by \(officer)")
        }
    }
}
