import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Topology

/// What a delivery's path lets the worker believe, written as an attacker would try it.
struct DeliveryProvenanceTests {
    let queue = "kaltim.intake"
    let hostileAttempts: [AMQPFieldValue] = [
        .int64(.max), .int64(.min), .int64(-5), .uint32(.max), .int8(-1), .string("9223372036854775808"), .double(.nan),
        .double(1e300), .bytes([0xFF]), .array([.int64(3)]), .table(["x-attempt": .int64(3)]), .void, .bool(true),
        .decimal(scale: 255, value: .max), .timestamp(.distantFuture),
    ]

    @Test func aPublishersWorkerOwnedHeadersAreIgnoredWhateverTheyHold() {
        for value in hostileAttempts {
            let provenance = DeliveryProvenance(
                exchange: "kaltim.events", routingKey: "registration.submitted", userID: "kaltim-portal",
                headers: [
                    FailureRouter.Header.attempt: value, FailureRouter.Header.firstFailureAt: .timestamp(.distantPast),
                    FailureRouter.Header.publishedRoutingKey: .string("notification.requested"),
                    FailureRouter.Header.publishedBy: .string("kaltim-office"),
                ], roleQueue: queue)
            #expect(provenance.path == .publisher)
            #expect(provenance.previousAttempts == 0, "\(value)")
            #expect(provenance.firstFailureAt == nil)
            #expect(provenance.routingKey == "registration.submitted", "the key it was published with, not a header")
            #expect(provenance.publisher == "kaltim-portal", "the validated user_id, not a header")
        }
    }

    @Test func onTheInternalPathEveryAttemptCountIsClampedAndNothingTraps() {
        for value in hostileAttempts {
            let provenance = DeliveryProvenance(
                exchange: "", routingKey: queue, userID: "kaltim-intake", headers: [FailureRouter.Header.attempt: value],
                roleQueue: queue)
            #expect(provenance.path == .internal)
            #expect((0...DeliveryProvenance.attemptCeiling).contains(provenance.previousAttempts), "\(value)")
        }
        let retried = DeliveryProvenance(
            exchange: "", routingKey: queue, userID: "kaltim-intake",
            headers: [
                FailureRouter.Header.attempt: .int64(2),
                FailureRouter.Header.publishedRoutingKey: .string("registration.submitted"),
                FailureRouter.Header.publishedBy: .string("kaltim-portal"),
            ], roleQueue: queue)
        #expect(retried.previousAttempts == 2)
        #expect(retried.routingKey == "registration.submitted")
        #expect(retried.publisher == "kaltim-portal", "a retry copy is the role's, but the event is still the portal's")
        // Through the default exchange into another queue: not this role's internal path.
        let elsewhere = DeliveryProvenance(
            exchange: "", routingKey: "kaltim.notifications", userID: nil, headers: [FailureRouter.Header.attempt: .int64(2)],
            roleQueue: queue)
        #expect(elsewhere.path == .publisher && elsewhere.previousAttempts == 0)
    }

    @Test func theRoutingKeyAndTheTypePropertyMustBeTheEnvelopesType() throws {
        let event = try ContractRegistry.pipeline.decode(Self.notificationRequest())
        let policy = PublisherPolicy.anyPublisher
        func check(_ key: String, type: String? = nil) -> Failure.Code? {
            DeliveryProvenance(exchange: "kaltim.events", routingKey: key, userID: nil, headers: [:], roleQueue: queue)
                .check(event, typeProperty: type, policy: policy)?.code
        }
        #expect(check("registration.submitted") == .typeMismatch)
        #expect(check("notification.requested") == nil)
        #expect(check("notification.requested", type: "registration.submitted") == .typeMismatch)
        #expect(check("notification.requested", type: "notification.requested") == nil)
        let unrecorded = DeliveryProvenance(exchange: "", routingKey: queue, userID: nil, headers: [:], roleQueue: queue)
        #expect(unrecorded.check(event, typeProperty: nil, policy: policy)?.code == .typeMismatch)
    }

    @Test func onlyTheContractsPublishersMayPublishIt() throws {
        let event = try ContractRegistry.pipeline.decode(Self.notificationRequest())
        let policy = PublisherPolicy.enforcing(ContractPublishers.allowedUsers())
        func check(_ user: String?) -> Failure? {
            DeliveryProvenance(
                exchange: "kaltim.events", routingKey: "notification.requested", userID: user, headers: [:], roleQueue: queue
            ).check(event, typeProperty: nil, policy: policy)
        }
        #expect(check("kaltim-office") == nil)
        #expect(check("kaltim-portal")?.code == .publisherNotAllowed)
        #expect(check("kaltim-intake")?.code == .publisherNotAllowed)
        #expect(check(nil)?.code == .publisherNotAllowed)
        let hostile = try #require(check("kaltim-\u{1B}[31m" + String(repeating: "x", count: 500)))
        #expect(!hostile.message.contains("\u{1B}") && hostile.message.count < 200, "an outside name is cut and cleaned")
        #expect(ContractPublishers.principals(publishing: "registration.accepted") == ["intake"])
        #expect(ContractPublishers.principals(publishing: "certificate.revoked") == ["office", "certificates"])
        // The console publishes what staff record in it, next to the office and the BLKIs.
        #expect(ContractPublishers.principals(publishing: "registration.reviewed") == ["office", "console"])
        #expect(ContractPublishers.principals(publishing: "enrolment.reregistered") == ["blki", "console"])
        #expect(
            ContractPublishers.principals(publishing: "enrolment.withdrawal-requested") == [
                "office", "blki", "console", "intake",
            ])
        #expect(ContractPublishers.allowedUsers()["registration.accepted"] == ["kaltim-intake"])
    }

    /// One LSP, or one BLKI, among several: each has a broker user of its own, and an event is
    /// taken only from the user of the party it names. The shared users publish nothing.
    @Test func anLSPOrABLKISpeaksOnlyForItself() throws {
        let policy = PublisherPolicy.enforcing(ContractPublishers.allowedUsers(), parties: ContractPublishers.partyRules())
        func check<M: ContractMessage>(_ message: M, from user: String?) throws -> Failure.Code? {
            let event = try ContractRegistry.pipeline.decode(
                try OutgoingEvent(EventEnvelope(source: "/test", data: message), exchange: "x").body)
            return DeliveryProvenance(
                exchange: "kaltim.events", routingKey: M.eventType, userID: user, headers: [:], roleQueue: queue
            ).check(event, typeProperty: nil, policy: policy)?.code
        }
        func assessment(_ licence: String) -> AssessmentSubmittedV3 {
            AssessmentSubmittedV3(
                assessmentID: "A-1", participantID: "PST-1", lspLicence: licence, scheme: "SKM", assessorRegistration: "MET",
                testSite: "TUK", assessedOn: "2025-09-02", units: [], attendancePercent: 90, certificateNumber: nil,
                registrationNumber: nil, retakeOf: nil)
        }
        #expect(try check(assessment("BNSP-LSP-0123-ID"), from: "kaltim-lsp-BNSP-LSP-0123-ID") == nil)
        #expect(try check(assessment("BNSP-LSP-0123-ID"), from: "kaltim-lsp-BNSP-LSP-0999-ID") == .publisherNotAllowed)
        #expect(
            try check(assessment("BNSP-LSP-0123-ID"), from: "kaltim-lsp") == .publisherNotAllowed, "the shared user reads only")
        #expect(try check(assessment("BNSP-LSP-0123-ID"), from: "kaltim-lsp-") == .publisherNotAllowed)
        #expect(try check(assessment(""), from: "kaltim-lsp-") == .publisherNotAllowed, "an empty licence is no party")
        #expect(try check(assessment("BNSP-LSP-0123-ID"), from: "kaltim-portal") == .publisherNotAllowed)
        let appeal = AssessmentAppealedV1(
            assessmentID: "A-1", participantID: "PST-1", lspLicence: "BNSP-LSP-0999-ID", scheme: "SKM", status: .filed,
            on: "2025-09-03", revisedUnits: [], certificateNumber: nil, registrationNumber: nil)
        #expect(try check(appeal, from: "kaltim-lsp-BNSP-LSP-0123-ID") == .publisherNotAllowed)
        #expect(try check(appeal, from: "kaltim-lsp-BNSP-LSP-0999-ID") == nil)
        // A BLKI's records name their class, whose id begins with the BLKI's code.
        let completed = TrainingCompletedV1(
            participantID: "PST-1", classID: "BTG-2025-TATA_GRAHA-01", attendancePercent: 95, result: .passed,
            recordedBy: "Staf BLKI")
        #expect(try check(completed, from: "kaltim-blki-BTG") == nil)
        #expect(try check(completed, from: "kaltim-blki-BPN") == .publisherNotAllowed)
        #expect(try check(completed, from: "kaltim-blki") == .publisherNotAllowed)
        #expect(try check(completed, from: "kaltim-console") == nil, "the console records for signed-in BLKI staff")
        let reRegistered = EnrolmentReRegisteredV1(
            participantID: "PST-1", classID: "BPN-2025-LAS-01", attended: true, recordedBy: "Staf BLKI")
        #expect(try check(reRegistered, from: "kaltim-blki-BPN") == nil)
        #expect(try check(reRegistered, from: "kaltim-blki-BTG") == .publisherNotAllowed)
        func withdrawal(_ classID: String?) -> EnrolmentWithdrawalRequestedV1 {
            EnrolmentWithdrawalRequestedV1(
                participantID: "PST-1", classID: classID, reason: .participantResigned, on: "2025-07-10", requestedBy: "Staf")
        }
        #expect(try check(withdrawal("BPN-2025-LAS-01"), from: "kaltim-blki-BPN") == nil)
        #expect(try check(withdrawal("BTG-2025-LAS-01"), from: "kaltim-blki-BPN") == .publisherNotAllowed)
        #expect(try check(withdrawal(nil), from: "kaltim-blki-BPN") == .publisherNotAllowed, "no class: the office's")
        #expect(try check(withdrawal("BPN"), from: "kaltim-blki-BPN") == .publisherNotAllowed, "an id without a code")
        #expect(try check(withdrawal(nil), from: "kaltim-office") == nil)
        #expect(ContractPublishers.allowedUsers()[AssessmentSubmittedV3.eventType] == nil, "no user publishes for every LSP")
        // The users they shared before, for the console's history only.
        #expect(ContractPublishers.retiredUsers()[AssessmentSubmittedV3.eventType] == ["kaltim-lsp"])
        #expect(ContractPublishers.retiredUsers()[TrainingCompletedV1.eventType] == ["kaltim-blki"])
        #expect(ContractPublishers.retiredUsers()[RegistrationSubmittedV3.eventType] == nil)
    }

    @Test func theInboxKeyNamesThePublisher() {
        let portal = DeliveryProvenance(
            exchange: "kaltim.events", routingKey: "registration.submitted", userID: "kaltim-portal", headers: [:],
            roleQueue: queue)
        let certificates = DeliveryProvenance(
            exchange: "kaltim.events", routingKey: "certificate.issued", userID: "kaltim-certificates", headers: [:],
            roleQueue: queue)
        #expect(portal.inboxKey(messageID: "issued-C1") != certificates.inboxKey(messageID: "issued-C1"))
        let anonymous = DeliveryProvenance(
            exchange: "kaltim.events", routingKey: "registration.submitted", userID: nil, headers: [:], roleQueue: queue)
        #expect(anonymous.inboxKey(messageID: "m-1") == "m-1", "rows written before the rule keep their keys")
    }

    static func notificationRequest() throws -> Data {
        let request = NotificationRequestedV1(
            notificationID: "REQ-1", participantID: "PST-1", registrationID: nil, channel: .whatsApp,
            recipient: "+6281250001001", template: "pengumuman", parameters: ["urgent": "ya"])
        return try OutgoingEvent(EventEnvelope(source: "/kaltim/office", data: request), exchange: "x").body
    }
}

@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(10))
)
struct TrustBoundaryBrokerTests {
    /// Issue: a body `{` with `x-attempt` = Int64.max (or -5) killed every consumer with an
    /// arithmetic overflow, and the broker's redeliveries killed each restart again.
    @Test func noWorkerOwnedHeaderFromAPublisherCanTrapTheWorker() async throws {
        let harness = try await WorkerHarness.make()
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange))
        let running = Task { try await worker.run() }
        let hostile: [AMQPFieldValue] = [.int64(.max), .int64(-5), .int64(.min), .string("x"), .array([]), .void]
        for (index, value) in hostile.enumerated() {
            try await harness.connection.publish(
                Data("{".utf8), exchange: harness.topology.exchange, routingKey: "registration.submitted",
                properties: AMQPProperties(headers: [FailureRouter.Header.attempt: value, "x-failure-code": .int64(.max)]))
            try await harness.submit(
                "REG-H\(index)", headers: [FailureRouter.Header.attempt: value, FailureRouter.Header.firstFailureAt: value])
        }
        // The largest wire timestamp, in the property and in a header the router copies: it
        // reads back as 2^64 s, and copying it to the dead letters must not trap.
        var far = AMQPProperties(headers: ["x-far": .timestamp(Date(timeIntervalSince1970: 1e30))])
        far.timestamp = Date(timeIntervalSince1970: 1e30)
        try await harness.connection.publish(
            Data("{".utf8), exchange: harness.topology.exchange, routingKey: "registration.submitted", properties: far)
        // A transient failure with a forged attempt count is retried as a first failure.
        try await harness.submit("REG-T", programme: "TRANSIENT_ONCE", headers: [FailureRouter.Header.attempt: .int64(.max)])
        try await waitUntil(timeout: .seconds(30), "every message settled") {
            worker.statistics.succeeded == hostile.count + 1 && worker.statistics.deadLettered == hostile.count + 1
        }
        #expect(worker.statistics.retried == 1, "the forged count did not exhaust the retries")
        let letters = try await harness.deadLetters()
        #expect(letters.map(\.code) == Array(repeating: "malformed-json", count: hostile.count + 1))
        for letter in letters {
            #expect(letter.delivery.properties.headers?[FailureRouter.Header.attempts]?.intValue == 1)
        }
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    /// Issue: a body of another type under an allowed routing key was handled as that type.
    @Test func anEventUnderAnotherTypesRoutingKeyIsDeadLetteredAsTypeMismatch() async throws {
        let harness = try await WorkerHarness.make()
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange))
        let running = Task { try await worker.run() }
        let request = try DeliveryProvenanceTests.notificationRequest()
        try await harness.connection.publish(
            request, exchange: harness.topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(contentType: "application/json"))
        // The right key, but an AMQP type property that says otherwise.
        let registration = try BodyOf.registration(harness)
        try await harness.connection.publish(
            registration, exchange: harness.topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(contentType: "application/json", type: "assessment.graded"))
        try await harness.submit("REG-OK")
        try await waitUntil(timeout: .seconds(30), "settled") {
            worker.statistics.succeeded == 1 && worker.statistics.deadLettered == 2
        }
        let letters = try await harness.deadLetters()
        #expect(letters.map(\.code) == ["type-mismatch", "type-mismatch"])
        #expect(
            Set(letters.compactMap { $0.delivery.properties.headers?[FailureRouter.Header.contractType]?.stringValue })
                == ["notification.requested", "registration.submitted"])
        #expect(try await harness.acceptedRows() == 1)
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    @Test func anEnforcingWorkerHandlesOnlyTheContractsPublishersAndStampsItsOwnUser() async throws {
        let harness = try await WorkerHarness.make()
        let me = harness.connection.username
        let policy = PublisherPolicy.enforcing([
            RegistrationSubmittedV2.eventType: [me], RegistrationAcceptedV1.eventType: ["kaltim-intake"],
        ])
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange), publishers: policy)
        let running = Task { try await worker.run() }
        try await harness.submit("REG-SIGNED", userID: me)
        try await harness.submit("REG-UNSIGNED")
        // The same message id as the signed one, without user_id: another publisher's id space.
        try await harness.submit("REG-UNSIGNED-2", id: "shared-id", userID: nil)
        try await harness.submit("REG-SIGNED-2", id: "shared-id", userID: me)
        try await waitUntil(timeout: .seconds(30), "settled") {
            worker.statistics.succeeded == 2 && worker.statistics.deadLettered == 2
        }
        #expect(worker.statistics.duplicates == 0, "an unsigned message did not take the signed one's id")
        let letters = try await harness.deadLetters()
        #expect(letters.map(\.code) == ["publisher-not-allowed", "publisher-not-allowed"])
        for letter in letters {
            #expect(letter.delivery.properties.userID == me, "the router's copy carries the worker's own user")
        }
        try await waitUntil(timeout: .seconds(60), "two outputs") {
            try await harness.connection.queueState(harness.outputQueue).messageCount == 2
        }
        while let output = try await harness.connection.get(queue: harness.outputQueue) {
            #expect(output.properties.userID == me, "every output carries the validated user of its worker")
            try await output.ack()
        }
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    /// A retry copy keeps the publisher's key and user; a replay-like message through the default
    /// exchange with a huge attempt count is dead-lettered, never trapped.
    @Test func theInternalPathCarriesThePublishedKeyAndClampsItsCount() async throws {
        let harness = try await WorkerHarness.make(retryDelay: .milliseconds(200))
        let me = harness.connection.username
        let policy = PublisherPolicy.enforcing([RegistrationSubmittedV2.eventType: [me]])
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange), publishers: policy)
        let running = Task { try await worker.run() }
        try await harness.submit("REG-RETRY", programme: "TRANSIENT_ONCE", userID: me)
        try await waitUntil(timeout: .seconds(30), "retried then handled") { worker.statistics.succeeded == 1 }
        let body = try BodyOf.registration(harness, programme: "TRANSIENT_ONCE", registrationID: "REG-INTERNAL")
        try await harness.connection.publish(
            body, exchange: "", routingKey: harness.topology.queue,
            properties: AMQPProperties(
                contentType: "application/json",
                headers: [
                    FailureRouter.Header.attempt: .int64(.max),
                    FailureRouter.Header.publishedRoutingKey: .string(RegistrationSubmittedV2.eventType),
                    FailureRouter.Header.publishedBy: .string(me),
                ]))
        try await waitUntil(timeout: .seconds(30), "dead-lettered") { worker.statistics.deadLettered == 1 }
        let letters = try await harness.deadLetters()
        #expect(letters.map(\.code) == ["gateway-down"])
        #expect(
            letters.first?.delivery.properties.headers?[FailureRouter.Header.attempts]?.intValue
                == Int64(DeliveryProvenance.attemptCeiling + 1))
        #expect(
            letters.first?.delivery.properties.headers?[FailureRouter.Header.originalRoutingKey]?.stringValue
                == RegistrationSubmittedV2.eventType)
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }
}

/// Bodies for the broker tests.
enum BodyOf {
    static func registration(
        _ harness: WorkerHarness, programme: String = "MEKANIK_SEPEDA_MOTOR", registrationID: String = "REG-TYPE"
    ) throws -> Data {
        let registration = WorkerHarness.registration(registrationID, programme: programme)
        return try OutgoingEvent(
            EventEnvelope(source: "/kaltim/registration-portal", data: registration), exchange: harness.topology.exchange
        ).body
    }
}
