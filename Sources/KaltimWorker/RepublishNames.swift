import AMQP
import ArgumentParser
import CommandOptions
import ContractKit
import Contracts
import DataProtection
import DeploymentSettings
import Foundation
import Jobs
import Stores
import Topology

/// `republish-names`: the names of participants an earlier version accepted, for the
/// certificates role (publishes `participant.named`, as intake).
struct RepublishNames: AsyncParsableCommand {
    /// When each backfilled name is dated: 1 January 2000, before any name intake publishes.
    static let backfillTime = Date(timeIntervalSince1970: 946_684_800)

    static let configuration = CommandConfiguration(
        commandName: "republish-names",
        abstract:
            "Give the certificates role the names of the participants intake accepted before it published names (participant.named, as intake).",
        discussion: """
            Intake publishes each participant's name when it accepts them. A participant accepted by \
            an earlier version has none at the certificates role, and their certificates wait \
            (holder-unknown). This reads intake's store: every accepted participant of the year whose \
            NIK intake still holds, named as in the civil-registry extract (the name on the KTP, \
            which is the one intake checked the registration against; intake keeps no declared \
            name). Each name is dated 1 January 2000, before anything intake publishes, so it names only \
            those the certificates role has no name for: a name intake published, or a correction the \
            office made through this version, stays (and no certificate is reissued for a spelling \
            the backfill brings); a correction made before the upgrade is not \
            known to intake and must be made again. A participant intake holds no registry name for \
            (approved by an officer without a registry match, or dropped by import-registry --replace) \
            is listed by participant id: give them a name with kaltim-admin subject correct --name. \
            Run it with intake's broker user (the certificates role takes names from no one else); \
            running it twice sends the same messages, which the certificates role takes once.
            """)

    @OptionGroup var broker: BrokerOptions
    @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""
    @Option(help: ArgumentHelp("The intake worker's store (a file, or a postgres:// URL).", valueName: "path"))
    var database = InstallLayout.current.state("intake.sqlite")
    @Option(help: ArgumentHelp("Its PostgreSQL schema (default: intake).", valueName: "name")) var storeSchema = "intake"
    @Option(help: ArgumentHelp("The programme year whose participants are named.", valueName: "year")) var year: Int
    @Flag(help: "Count what would be sent; send nothing.") var dryRun = false
    @Flag(help: "Development only: publish under a broker user that is not intake's (kaltim-intake).")
    var allowOtherBrokerUser = false

    func validate() throws {
        guard (2000...2100).contains(year) else { throw ValidationError("--year is a programme year, e.g. 2025") }
    }

    func run() async throws {
        let store = try await Stores.openForReading(database, schema: storeSchema)
        let rows = try await store.read(
            """
            SELECT r.participant_id, r.registration_id, g.full_name FROM intake_registrations r
            LEFT JOIN intake_registry g ON g.nik_index = r.nik_index
            WHERE r.outcome = 'accepted' AND r.participant_id IS NOT NULL AND r.year = ?
            ORDER BY r.registration_id
            """, [.integer(Int64(year))])
        let exchange = topologyPrefix + ContractDocuments.exchange
        var messages: [AMQPOutgoingMessage] = []
        // Participants named by nobody here (by id only: never a name on the terminal).
        var unnamed: [String] = []
        for row in rows {
            guard let participant = row["participant_id"]?.text, let registration = row["registration_id"]?.text else {
                continue
            }
            // Dated long before anything live (``backfillTime``): it names only those the
            // certificates role has no name for, and any name intake published, or a correction,
            // stays.
            guard let name = row["full_name"]?.text?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty
            else {
                unnamed.append(participant)
                continue
            }
            let event = try OutgoingEvent(
                EventEnvelope(
                    id: "named-by-intake-backfill-\(participant)", source: "/kaltim/workers/intake",
                    time: Self.backfillTime,
                    subject: participant,
                    data: ParticipantNamedV1(participantID: participant, registrationID: registration, fullName: name)),
                exchange: exchange)
            messages.append(event.amqpMessage)
        }
        let missing =
            unnamed.isEmpty
            ? "" : "; without a name in intake's store (correct their names): " + unnamed.joined(separator: " ")
        guard !dryRun else {
            print("would publish \(messages.count) names\(missing)")
            return
        }
        let connection = try await AMQPConnection.connect(try broker.configuration(connectionName: nil))
        guard allowOtherBrokerUser || connection.username.hasSuffix("kaltim-intake") else {
            await connection.close()
            throw ValidationError(
                "connect as intake's broker user (kaltim-intake): the certificates role dead-letters names from anyone else")
        }
        for index in messages.indices { messages[index].properties.userID = connection.username }
        let results = await connection.publish(messages, window: 200)
        await connection.close()
        let failed = results.filter { if case .failure = $0 { true } else { false } }.count
        guard failed == 0 else {
            throw ValidationError("the broker did not confirm \(failed) of \(messages.count) names; run the command again")
        }
        print("published \(messages.count) names\(missing)")
    }
}
