import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import TestSupport
import Testing
import Topology

/// `kaltim-worker republish-names` on an intake store an earlier version filled: the names of
/// the accepted participants, as in the registry extract, dated at their decision, published
/// as intake's `participant.named`; nobody rejected, nothing on a dry run, one message id per
/// participant however often it runs.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(5))
)
struct RepublishNamesCommandTests {
    @Test func theAcceptedParticipantsNamesGoToTheCertificatesRoleDatedAtTheirDecision() async throws {
        let url = try #require(BrokerEnvironment.url)
        let intake = try await IntakeDriver.make()
        // Accepted (the name typed in capitals; the registry's spelling is the one sent) and
        // rejected (domiciled outside East Kalimantan).
        let accepted = try await intake.submit(IntakeDriver.registration("REG-N1", name: "SITI RAHMAWATI"))
        #expect(accepted.type == RegistrationAcceptedV2.eventType)
        let rejected = try await intake.submit(
            IntakeDriver.registration(
                "REG-N2", nik: "6471054510009903", name: "Dewi Lestari", birthDate: "2000-10-05", phone: "0812-5000-1002"))
        #expect(rejected.type == RegistrationRejectedV1.eventType)
        let participant = try ContractJSON.decoder().decode(EventEnvelope<RegistrationAcceptedV2>.self, from: accepted.event.body)
            .data.participantID

        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName() + "."
        let topology = RoleTopology(role: .certificates, prefix: prefix)
        try await topology.declare(on: connection)
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let asIntakeOnly = [
            "republish-names", "--broker-url", url, "--topology-prefix", prefix, "--database", intake.kit.path, "--year", "2025",
        ]
        func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(binary, arguments, environment: [:], standardErrorToo: true)
        }
        let refused = try await run(asIntakeOnly)
        #expect(refused.status != 0 && refused.output.contains("kaltim-intake"), "the test node's user is not intake's")
        let arguments = asIntakeOnly + ["--allow-other-broker-user"]
        let dry = try await run(arguments + ["--dry-run"])
        #expect(dry.status == 0 && dry.output.contains("would publish 1 names"), "\(dry.output)")
        #expect(try await connection.queueState(topology.queue).messageCount == 0, "a dry run sends nothing")
        #expect(try await run(arguments + ["--year", "1999"]).status != 0, "a year that is not one is refused")
        for _ in 0..<2 {
            let published = try await run(arguments)
            #expect(published.status == 0 && published.output.contains("published 1 names"), "\(published.output)")
            #expect(!published.output.contains("Siti"), "no name in the output")
        }
        var deliveries: [AMQPDelivery] = []
        while let delivery = try await connection.get(queue: topology.queue) { deliveries.append(delivery) }
        #expect(deliveries.count == 2)
        #expect(Set(deliveries.map { $0.properties.messageID ?? "" }) == ["named-by-intake-backfill-\(participant)"])
        let first = try #require(deliveries.first)
        let event = try ContractRegistry.pipeline.decode(first.body)
        let named = try #require(event.payload as? ParticipantNamedV1)
        #expect(named == ParticipantNamedV1(participantID: participant, registrationID: "REG-N1", fullName: "Siti Rahmawati"))
        #expect(
            event.header.time == (try Date("2000-01-01T00:00:00Z", strategy: .iso8601)),
            "dated before any name intake publishes, so that none is replaced")
        #expect(first.properties.userID == connection.username)
        // Someone intake holds no registry name for (here: the row dropped) is listed by id, not skipped silently.
        try await intake.kit.store.write { transaction in
            try transaction.execute("DELETE FROM intake_registry", [])
        }
        let unnamed = try await run(arguments + ["--dry-run"])
        #expect(unnamed.output.contains("would publish 0 names; without a name in intake's store"), "\(unnamed.output)")
        #expect(unnamed.output.contains(participant) && !unnamed.output.contains("Siti"), "\(unnamed.output)")
        await topology.delete(on: connection)
        await connection.close()
    }
}
