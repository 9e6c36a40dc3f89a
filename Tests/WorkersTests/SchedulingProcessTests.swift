import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import TestSupport
import Testing
import Topology
import Workers

@testable import kaltim_demo

/// Three scheduling processes (the real `kaltim-worker scheduling`) sharing one store compete
/// for the 1,500 places of the 2025 plan with 3,000 acceptances.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(15))
)
struct SchedulingProcessTests {
    struct Applicant {
        let participant: String
        let centre: TrainingCentre
        let programme: String
        let tier: RegistrationAcceptedV1.PriorityTier
        let arrival: Int
        var key: (Int, Int) { (tier.rawValue, arrival) }
    }

    @Test(arguments: StoreKind.available)
    func threeProcessesNeverOverbookAndKeepQuotasAndPriority(store: StoreKind) async throws {
        let url = try #require(BrokerEnvironment.url)
        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName() + "."
        let topology = RoleTopology(role: .scheduling, retryDelays: [.milliseconds(200)], prefix: prefix)
        try await topology.declare(on: connection)
        let outputs = topology.queue + ".outputs"
        try await connection.declareQueue(.quorum(outputs))
        for type in [
            ClassScheduledV1.eventType, EnrolmentWaitlistedV1.eventType, ApprenticeshipPlacedV1.eventType,
            EnrolmentTransferOfferedV1.eventType,
        ] {
            try await connection.bindQueue(outputs, exchange: topology.exchange, routingKey: type)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = try store.location(role: "scheduling", directory: directory)
        let programmeFile = repositoryFile("config/programme-2025.json")
        let catalogue = try ProgrammeCatalogue.load(path: programmeFile)
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let processes = try (0..<3).map { _ in
            try ChildProcess(
                binary,
                [
                    "scheduling", "--broker-url", url, "--topology-prefix", prefix,
                    "--programme-file", programmeFile, "--concurrency", "32", "--no-http", "--allow-any-publisher",
                ] + StoreKind.arguments(database))
        }
        defer { Task { for process in processes { await process.terminate() } } }
        for process in processes {
            try await process.waitForLog("\"msg\":\"worker started\"")
        }

        // 3,000 acceptances, two per place, spread over the programmes in proportion to their
        // classes; tiers and apprenticeship interest from a fixed-seed generator.
        var generator = SeededRandom(seed: 2025)  // the main job's cohort generator
        let offers = catalogue.centres.flatMap { centre in
            centre.programmes.flatMap { programme in Array(repeating: (centre.centre, programme.code), count: programme.classes) }
        }
        var applicants: [Applicant] = []
        var messages: [AMQPOutgoingMessage] = []
        let start = Date(timeIntervalSince1970: 1_751_000_000)
        for index in 0..<3000 {
            let (centre, programme) = offers[index % offers.count]
            let tier = [RegistrationAcceptedV1.PriorityTier.neverTrained, .neverTrained, .previouslyFailed, .previouslyTrained]
                .randomElement(using: &generator)!
            let participant = String(format: "PST-T-%05d", index)
            applicants.append(
                Applicant(participant: participant, centre: centre, programme: programme, tier: tier, arrival: index))
            let accepted = RegistrationAcceptedV1(
                registrationID: "REG-\(index)", participantID: participant, centre: centre, programme: programme,
                priorityTier: tier, priorityReasons: [], apprenticeshipInterest: Int.random(in: 0..<10, using: &generator) < 4)
            messages.append(
                try OutgoingEvent(
                    EventEnvelope(id: "acc-\(index)", source: "/test", time: start + Double(index), data: accepted),
                    exchange: topology.exchange
                ).amqpMessage)
        }
        #expect(await connection.publish(messages, window: 200).allSatisfy { if case .success = $0 { true } else { false } })
        try await waitUntil(timeout: .seconds(300), "every acceptance is pooled") {
            await StoreKind.count("SELECT COUNT(*) AS n FROM sched_applicants", database) == 3000
        }

        // Selection closes: the admin command announces the classes of the plan.
        let open = try ChildProcess(
            binary, ["open-classes", "--broker-url", url, "--topology-prefix", prefix, "--programme-file", programmeFile])
        #expect(try await open.waitForExit(timeout: .seconds(60)) == 0, "\(open.output)")
        #expect(open.output.contains("published 95 of 95 class.opened events"))
        await open.terminate()
        try await waitUntil(timeout: .seconds(400), "every applicant is scheduled or waitlisted") {
            await StoreKind.count("SELECT COUNT(*) AS n FROM sched_applicants WHERE status = 'pooled'", database) == 0
        }
        try await waitUntil(timeout: .seconds(120), "the outboxes are published") {
            try await StoreKind.open(database).outboxDepth() == 0
        }

        var scheduled: [String: ClassScheduledV2] = [:]
        var waitlisted: [String: EnrolmentWaitlistedV1] = [:]
        var placements: Set<String> = []
        // Seats at the other BLKI are offered first; the test answers yes for each applicant, as
        // the portal would.
        var offered: Set<String> = []
        // Decisions per participant, by message id (ids derive from the decision, so a message
        // published again by an outbox flush or redelivered counts once; a second decision
        // would have an id of its own).
        var decisions: [String: Set<String>] = [:]
        // Drain the decisions through a consumer (a basic.get per message was too slow on a busy
        // machine). An ack can be refused as stale if the test's connection was repaired
        // meanwhile; the broker then redelivers the message, which counts once.
        func take(_ delivery: AMQPDelivery) async throws {
            switch delivery.properties.type {
            case ClassScheduledV1.eventType:
                let event = try ContractJSON.decoder().decode(EventEnvelope<ClassScheduledV2>.self, from: delivery.body).data
                #expect(scheduled[event.participantID].map { $0 == event } ?? true, "one seat per participant")
                scheduled[event.participantID] = event
                decisions[event.participantID, default: []].insert(delivery.properties.messageID ?? "")
            case EnrolmentWaitlistedV1.eventType:
                let event = try ContractJSON.decoder().decode(EventEnvelope<EnrolmentWaitlistedV1>.self, from: delivery.body).data
                #expect(waitlisted[event.participantID].map { $0 == event } ?? true, "one waitlisting per participant")
                waitlisted[event.participantID] = event
                decisions[event.participantID, default: []].insert(delivery.properties.messageID ?? "")
            case EnrolmentTransferOfferedV1.eventType:
                let offer = try ContractJSON.decoder().decode(EventEnvelope<EnrolmentTransferOfferedV1>.self, from: delivery.body)
                    .data
                #expect(offer.centre != offer.preferredCentre, "an offer is for the other BLKI")
                if offered.insert(offer.participantID).inserted {
                    let answer = try OutgoingEvent(
                        EventEnvelope(
                            id: "answer-\(offer.participantID)", source: "/test/portal",
                            data: EnrolmentTransferAnsweredV1(
                                participantID: offer.participantID, classID: offer.classID, answer: .accept,
                                answeredOn: offer.answerBy)),
                        exchange: topology.exchange)
                    try await connection.publish(
                        answer.body, exchange: topology.exchange, routingKey: answer.routingKey,
                        properties: answer.amqpMessage.properties)
                }
            default:
                let event = try ContractJSON.decoder().decode(EventEnvelope<ApprenticeshipPlacedV1>.self, from: delivery.body)
                    .data
                placements.insert(event.participantID)
            }
            try? await delivery.ack()
        }
        let consumer = try await connection.consume(queue: outputs, prefetch: 500)
        let inbox = DeliveryInbox(consumer)
        let deadline = ContinuousClock.now + .seconds(240)
        while true {
            if scheduled.count + waitlisted.count == 3000, try await Self.outputsEmpty(connection, outputs) { break }
            guard ContinuousClock.now < deadline else {
                throw TestFailure(
                    "timed out draining the decisions: \(scheduled.count) scheduled, \(waitlisted.count) waitlisted")
            }
            guard let delivery = try? await inbox.next(within: .seconds(5)) else { continue }
            try await take(delivery)
        }
        // What the consumer holds beyond the 3,000 decisions (apprenticeship placements).
        while let delivery = try? await inbox.next(within: .seconds(2)) { try await take(delivery) }
        try? await consumer.cancel()
        // Quotas: exactly the announced places, no more.
        #expect(scheduled.values.filter { $0.centre == .balikpapan }.count == 1000)
        #expect(scheduled.values.filter { $0.centre == .bontang }.count == 500)
        #expect(placements.count <= 400 && placements.isSubset(of: scheduled.keys))
        // Every accepted applicant scheduled once or waitlisted once.
        #expect(scheduled.count + waitlisted.count == 3000)
        #expect(Set(scheduled.keys).isDisjoint(with: waitlisted.keys))
        #expect(offered.isSubset(of: scheduled.keys), "every offer answered yes became a seat")
        #expect(
            scheduled.values.filter { seat in applicants.first { $0.participant == seat.participantID }?.centre != seat.centre }
                .allSatisfy { offered.contains($0.participantID) }, "nobody is seated at the other BLKI without an offer")
        #expect(
            decisions.values.allSatisfy { $0.count == 1 },
            "\(decisions.filter { $0.value.count > 1 }.count) participants decided twice")
        // Waiting lists, as the store keeps them now: positions 1…n in each (BLKI, programme) list.
        let lists = try await StoreKind.open(database).read(
            """
            SELECT preferred_centre || '/' || programme AS list, waitlist_position AS position FROM sched_applicants
            WHERE status = 'waitlisted'
            """)
        #expect(lists.count == waitlisted.count)
        for (list, rows) in Dictionary(grouping: lists, by: { $0["list"]?.text ?? "" }) {
            #expect(rows.compactMap { $0["position"]?.integer }.sorted() == Array(1...Int64(rows.count)), "positions in \(list)")
        }
        // No class over capacity, no seat twice.
        let perClass = Dictionary(grouping: scheduled.values, by: \.classID)
        #expect(perClass.values.allSatisfy { $0.count <= catalogue.classSize })
        #expect(perClass.values.allSatisfy { Set($0.map(\.seat)).count == $0.count })
        // Priority: in each (BLKI, programme) queue, nobody waitlisted ranks above anyone seated.
        let byQueue = Dictionary(grouping: applicants) { "\($0.centre.rawValue)/\($0.programme)" }
        for (queue, members) in byQueue {
            let seatedKeys = members.filter { scheduled[$0.participant] != nil }.map(\.key)
            let waitingKeys = members.filter { waitlisted[$0.participant] != nil }.map(\.key)
            if let worstSeated = seatedKeys.max(by: <), let bestWaiting = waitingKeys.min(by: <) {
                #expect(worstSeated < bestWaiting, "priority order in \(queue)")
            }
        }
        // All three processes took part.
        for process in processes { process.signal(SIGTERM) }
        var shares: [Int] = []
        for process in processes {
            #expect(try await process.waitForExit(timeout: .seconds(30)) == 0)
            shares.append(try process.exitStatistics()["received"] ?? 0)
        }
        #expect(shares.allSatisfy { $0 > 0 }, "shares \(shares)")

        _ = try? await connection.deleteQueue(outputs)
        await topology.delete(on: connection)
        await connection.close()
        await StoreKind.remove(database)
        try? FileManager.default.removeItem(at: directory)
    }

    static func outputsEmpty(_ connection: AMQPConnection, _ queue: String) async throws -> Bool {
        (try? await connection.queueState(queue).messageCount) == 0
    }

}
