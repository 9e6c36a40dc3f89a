import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Topology
import Workers

/// One message of the bad-input corpus and where it must end.
struct CorpusCase: Sendable, CustomStringConvertible {
    enum Outcome: Sendable, Equatable {
        /// In the role's dead letters on the first delivery, with this failure code.
        case deadLetter(String)
        /// A business decision: `registration.rejected` carrying this reason code.
        case rejected(String)
        /// Handled normally (an older or richer version of a contract).
        case accepted
        /// Acknowledged without an effect: its message id was used by an earlier message.
        case duplicateOfEarlier
    }
    let name: String
    let body: Data
    var contentType: String? = "application/json"
    var contentEncoding: String?
    /// Headers and properties an attacker set (merged into the published properties).
    var headers: AMQPTable = [:]
    var typeProperty: String?
    var routingKey = RegistrationSubmittedV2.eventType
    /// The `message_id` property: the case's name unless another is given; `.some(nil)` sends none.
    var messageID: String?? = nil
    var extraProperties: @Sendable (inout AMQPProperties) -> Void = { _ in }
    let outcome: Outcome
    /// The registration id an outcome event carries (business cases).
    var registrationID: String?

    var description: String { name }

    /// The AMQP properties the case is published with.
    var properties: AMQPProperties {
        var properties = AMQPProperties(
            contentType: contentType, contentEncoding: contentEncoding, headers: headers.isEmpty ? nil : headers,
            deliveryMode: .persistent, messageID: messageID ?? name, type: typeProperty)
        extraProperties(&properties)
        return properties
    }
}

/// The bad-input corpus (RELIABILITY.md R17, R19, R20): malformed bodies, hostile JSON, wrong
/// properties, unknown and newer versions, malformed NIKs. Built in code from one valid
/// registration, so every case differs from a good message in exactly the way its name says.
enum BadInputCorpus {
    static let goodNIK = "6474015708999901"

    /// A valid `registration.submitted` v2 envelope for `id` (the registry knows its person).
    static func registration(_ id: String, nik: String = goodNIK) throws -> Data {
        try body(id, IntakeDriver.registration(id, nik: nik))
    }

    /// A valid registration of the registry's second person (one person registers once).
    static func secondPerson(_ id: String) throws -> Data {
        try body(
            id,
            IntakeDriver.registration(
                id, nik: "6471050302019902", name: "Mochamad Rizky Pratama", birthDate: "2001-02-03", sex: .male,
                centre: .balikpapan, programme: "MEKANIK_SEPEDA_MOTOR"))
    }

    static func body(_ id: String, _ registration: RegistrationSubmittedV2) throws -> Data {
        try OutgoingEvent(EventEnvelope(id: id, source: "/kaltim/registration-portal", data: registration), exchange: "unused")
            .body
    }

    /// `registration(id)` as a JSON object, to edit.
    static func object(_ id: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: try registration(id)) as! [String: Any]
    }

    static func json(_ object: [String: Any]) throws -> Data { try JSONSerialization.data(withJSONObject: object) }

    static func text(_ id: String) throws -> String { String(decoding: try registration(id), as: UTF8.self) }

    /// `registration(id)` with `data.<field>` replaced by `value`.
    static func withData(_ id: String, _ field: String, _ value: Any?) throws -> Data {
        var envelope = try object(id)
        var data = envelope["data"] as! [String: Any]
        data[field] = value
        envelope["data"] = data
        return try json(envelope)
    }

    /// `registration(id)` with the envelope's `key` replaced by `value`.
    static func withEnvelope(_ id: String, _ key: String, _ value: Any?) throws -> Data {
        var envelope = try object(id)
        envelope[key] = value
        return try json(envelope)
    }

    static func cases() throws -> [CorpusCase] {
        var cases: [CorpusCase] = []
        func dead(_ name: String, _ body: Data, _ code: String, contentType: String? = "application/json") {
            cases.append(CorpusCase(name: name, body: body, contentType: contentType, outcome: .deadLetter(code)))
        }
        func dead(_ name: String, _ text: String, _ code: String) { dead(name, Data(text.utf8), code) }
        func rejected(_ name: String, nik: String, _ code: String) throws {
            cases.append(
                CorpusCase(
                    name: name, body: try registration(name, nik: nik), outcome: .rejected(code), registrationID: name))
        }
        let malformed = "malformed-json"

        // Not JSON, or not a whole document.
        dead("empty", "", malformed)
        dead("not-json", "registration for Siti", malformed)
        dead("xml", "<registration><nik>\(goodNIK)</nik></registration>", malformed)
        dead("open-brace", "{", malformed)
        let good = try text("truncated")
        dead("truncated-half", String(good.prefix(good.count / 2)), malformed)
        dead("truncated-last-byte", String(good.dropLast()), malformed)
        dead("trailing-garbage", good + " x", malformed)
        dead("two-documents", good + good, malformed)
        dead("single-quotes", "{'specversion':'1.0'}", malformed)
        dead("comment", "{/* a comment */\"specversion\":\"1.0\"}", malformed)
        dead("nan-literal", good.replacingOccurrences(of: "\"dataversion\":2", with: "\"dataversion\":NaN"), malformed)
        dead("raw-newline-in-string", good.replacingOccurrences(of: "Siti Rahmawati", with: "Siti\nRahmawati"), malformed)
        dead("byte-order-mark", String(decoding: [0xEF, 0xBB, 0xBF], as: UTF8.self) + good, malformed)
        // Not UTF-8.
        var invalidUTF8 = try registration("invalid-utf8")
        invalidUTF8.replaceSubrange(invalidUTF8.range(of: Data("Rahmawati".utf8))!, with: [0x52, 0xFF, 0xFE])
        cases.append(CorpusCase(name: "invalid-utf8", body: invalidUTF8, outcome: .deadLetter(malformed)))
        var overlong = try registration("overlong-utf8")
        overlong.replaceSubrange(overlong.range(of: Data("Rahmawati".utf8))!, with: [0xC0, 0xAF])
        cases.append(CorpusCase(name: "overlong-utf8", body: overlong, outcome: .deadLetter(malformed)))
        var latin1 = try registration("latin1")
        latin1.replaceSubrange(latin1.range(of: Data("Rahmawati".utf8))!, with: [0x52, 0xE9, 0x6D, 0x69])
        cases.append(CorpusCase(name: "latin1", body: latin1, outcome: .deadLetter(malformed)))
        // Hostile structure.
        dead("deep-arrays", String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), malformed)
        dead("deep-objects", String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000), malformed)
        dead("deep-unclosed", String(repeating: "[", count: 100_000), malformed)
        dead("top-level-array", "[" + good + "]", "wrong-type")
        dead("top-level-string", "\"registration\"", "wrong-type")
        dead("top-level-null", "null", "wrong-type")
        // Huge numbers where integers belong: Foundation's decoder reports them like broken syntax.
        dead("dataversion-1e400", good.replacingOccurrences(of: "\"dataversion\":2", with: "\"dataversion\":1e400"), malformed)
        dead(
            "dataversion-huge-integer",
            good.replacingOccurrences(of: "\"dataversion\":2", with: "\"dataversion\":123456789012345678901234567890"),
            malformed)
        dead(
            "dataversion-fraction", good.replacingOccurrences(of: "\"dataversion\":2", with: "\"dataversion\":2.5"), malformed)
        dead("dataversion-string", try withEnvelope("dataversion-string", "dataversion", "2"), "wrong-type")
        // Duplicate keys: refused, never first- or last-wins.
        dead(
            "duplicate-nik",
            good.replacingOccurrences(of: "\"nik\":\"\(goodNIK)\"", with: "\"nik\":\"\(goodNIK)\",\"nik\":\"6471050302019902\""),
            "duplicate-json-key")
        dead(
            "duplicate-nik-escaped",
            good.replacingOccurrences(of: "\"nik\":\"\(goodNIK)\"", with: "\"nik\":\"\(goodNIK)\",\"\\u006eik\":\"1\""),
            "duplicate-json-key")
        dead(
            "duplicate-type", good.replacingOccurrences(of: "{\"", with: "{\"type\":\"certificate.revoked\",\""),
            "duplicate-json-key")
        // Missing, mistyped and invalid fields.
        dead("missing-nik", try withData("missing-nik", "nik", nil), "missing-field")
        dead("missing-data", try withEnvelope("missing-data", "data", nil), "missing-field")
        dead("missing-id", try withEnvelope("missing-id", "id", nil), "missing-field")
        dead("nik-as-number", try withData("nik-as-number", "nik", 6_474_015_708_999_901), "wrong-type")
        dead("data-as-array", try withEnvelope("data-as-array", "data", [1, 2]), "wrong-type")
        dead("consent-as-string", try withData("consent-as-string", "consent", "yes"), "wrong-type")
        dead("sex-outside-enum", try withData("sex-outside-enum", "sex", "X"), "invalid-value")
        dead("centre-outside-enum", try withData("centre-outside-enum", "preferredCentre", "SAMARINDA"), "invalid-value")
        // Envelope: types and versions.
        dead("unknown-type", try withEnvelope("unknown-type", "type", "registration.submited"), "unknown-contract-type")
        dead("missing-type", try withEnvelope("missing-type", "type", nil), "missing-field")
        dead("newer-version", try withEnvelope("newer-version", "dataversion", 4), "unsupported-contract-version")
        dead("version-zero", try withEnvelope("version-zero", "dataversion", 0), "unsupported-contract-version")
        dead("specversion-0.3", try withEnvelope("specversion-0.3", "specversion", "0.3"), "invalid-envelope")
        // Oversize: 300 KiB against the 256 KiB limit.
        dead("oversize", try withData("oversize", "padding", String(repeating: "x", count: 300 * 1024)), "message-too-large")
        // Wrong properties.
        dead("content-type-xml", try registration("content-type-xml"), "unsupported-content-type", contentType: "application/xml")
        dead("content-type-text", try registration("content-type-text"), "unsupported-content-type", contentType: "text/plain")
        dead(
            "content-type-latin1", try registration("content-type-latin1"), "unsupported-content-type",
            contentType: "application/json; charset=iso-8859-1")
        cases.append(
            CorpusCase(
                name: "gzip-encoding", body: try registration("gzip-encoding"), contentEncoding: "gzip",
                outcome: .deadLetter("unsupported-content-encoding")))

        // Malformed NIKs: business rejections with their code, not dead letters.
        try rejected("nik-15-digits", nik: "647401570899990", "NIK_FORMAT")
        try rejected("nik-17-digits", nik: "64740157089999011", "NIK_FORMAT")
        try rejected("nik-letters", nik: "64740157O8999901", "NIK_FORMAT")
        try rejected("nik-arabic-digits", nik: "٦٤٧٤٠١٥٧٠٨٩٩٩٩٠١", "NIK_FORMAT")
        try rejected("nik-empty", nik: "", "NIK_FORMAT")
        try rejected("nik-day-32", nik: "6474013208999901", "NIK_BIRTH_DATE_INVALID")
        try rejected("nik-day-72", nik: "6474017208999901", "NIK_BIRTH_DATE_INVALID")
        try rejected("nik-month-13", nik: "6474011713999901", "NIK_BIRTH_DATE_INVALID")
        try rejected("nik-serial-zero", nik: "6474015708990000", "NIK_SERIAL_ZERO")
        try rejected("nik-province-99", nik: "9974015708999901", "NIK_PROVINCE_UNKNOWN")

        // Headers and properties an attacker sets: the worker-owned ones are ignored from a
        // publisher, whatever their type or value, and no value traps the process (a NaN double
        // never reaches a worker: RabbitMQ 3.10 closes the publisher's connection with 541). Each body has a
        // NIK of 15 digits, so its outcome (a rejection) proves it was handled normally.
        let hostileAttempts: [(String, AMQPFieldValue)] = [
            ("max", .int64(.max)), ("min", .int64(.min)), ("minus-5", .int64(-5)), ("uint32-max", .uint32(.max)),
            ("string", .string("1e99")), ("bytes", .bytes([0xFF, 0x00])), ("double", .double(9.3e18)),
            ("decimal", .decimal(scale: 255, value: .max)), ("array", .array([.int64(.max)])),
            ("table", .table(["x-attempt": .int64(.max)])), ("void", .void), ("bool", .bool(true)),
        ]
        /// A registration whose NIK has 15 digits: handled normally, it is rejected as `NIK_FORMAT`.
        func handledNormally(_ name: String) throws -> CorpusCase {
            CorpusCase(
                name: name, body: try registration(name, nik: "647401570899990"), outcome: .rejected("NIK_FORMAT"),
                registrationID: name)
        }
        for (label, value) in hostileAttempts {
            var item = try handledNormally("header-x-attempt-\(label)")
            item.headers = [FailureRouter.Header.attempt: value, FailureRouter.Header.firstFailureAt: value]
            cases.append(item)
        }
        let forged: [(String, AMQPTable)] = [
            (
                "failure-record",
                [
                    FailureRouter.Header.code: .string("forged"), FailureRouter.Header.kind: .string("permanent"),
                    FailureRouter.Header.attempts: .int64(.max), FailureRouter.Header.message: .string(goodNIK),
                ]
            ),
            (
                "published-by-office",
                [
                    FailureRouter.Header.publishedBy: .string("kaltim-office"),
                    FailureRouter.Header.publishedRoutingKey: .string("notification.requested"),
                ]
            ),
            ("x-death", ["x-death": .array([.table(["queue": .string("kaltim.intake"), "count": .int64(.max)])])]),
            ("replay-count", ["x-replay-count": .int64(.max), "x-replay-id": .int64(-1)]),
            ("contract-version-99", ["x-contract-version": .int64(99)]),
            ("contract-version-string", ["x-contract-version": .string("two")]),
            ("deep-table", ["x-nested": (0..<30).reduce(AMQPFieldValue.int8(1)) { inner, _ in .table(["t": inner]) }]),
            ("long-string", ["x-long": .string(String(repeating: "x", count: 60_000))]),
            (
                "many-headers",
                Dictionary(uniqueKeysWithValues: (0..<2_000).map { ("x-h-\($0)", AMQPFieldValue.int64(Int64($0))) })
            ),
        ]
        for (label, headers) in forged {
            var item = try handledNormally("header-\(label)")
            item.headers = headers
            cases.append(item)
        }
        let odd: [(String, @Sendable (inout AMQPProperties) -> Void)] = [
            ("priority-255", { $0.priority = 255 }),
            ("timestamp-far-future", { $0.timestamp = Date(timeIntervalSince1970: 9e11) }),
            ("timestamp-1970", { $0.timestamp = Date(timeIntervalSince1970: 0) }),
            ("transient-delivery-mode", { $0.deliveryMode = .transient }),
            ("long-correlation-id", { $0.correlationID = String(repeating: "c", count: 255) }),
            ("app-id-control-characters", { $0.appID = "portal\u{0}\u{1B}[31m" }),
            ("reply-to-other-queue", { $0.replyTo = "kaltim.notifications" }),
        ]
        for (label, change) in odd {
            var item = try handledNormally("property-\(label)")
            item.extraProperties = change
            cases.append(item)
        }
        // No message_id property: the envelope id is the key.
        var noMessageID = try handledNormally("property-no-message-id")
        noMessageID.messageID = .some(nil)
        cases.append(noMessageID)
        // The routing key and the type property must be the envelope's type.
        var otherKey = CorpusCase(
            name: "routing-key-assessment-graded", body: try registration("routing-key-assessment-graded"),
            outcome: .deadLetter("type-mismatch"))
        otherKey.routingKey = AssessmentGradedV2.eventType
        cases.append(otherKey)
        var otherType = CorpusCase(
            name: "type-property-other", body: try registration("type-property-other"), outcome: .deadLetter("type-mismatch"))
        otherType.typeProperty = CertificateRevokedV1.eventType
        cases.append(otherType)
        // The same envelope id as an earlier message, with another body: one effect per id, so
        // this one is acknowledged without an effect (publishers must not reuse ids).
        cases.append(
            CorpusCase(
                name: "same-id-other-body",
                body: try body(
                    "property-priority-255",
                    IntakeDriver.registration("same-id-other-body", nik: "647401570899990")),
                messageID: .some("property-priority-255"), outcome: .duplicateOfEarlier, registrationID: "same-id-other-body"))

        // Handled normally: unknown optional fields, and the previous version (R19).
        cases.append(
            CorpusCase(
                name: "unknown-fields", body: try withData("unknown-fields", "favouriteColour", "hijau"), outcome: .accepted,
                registrationID: "unknown-fields"))
        return cases
    }
}

/// The corpus against a real intake process on the test broker: every case ends where it must
/// on its first delivery, the process never restarts, and no NIK reaches its log.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct BadInputCorpusTests {
    @Test func everyBadInputEndsInTheRightPlaceOnItsFirstDelivery() async throws {
        let cases = try BadInputCorpus.cases()
        #expect(cases.count >= 50, "the corpus has \(cases.count) cases")
        #expect(Set(cases.map(\.name)).count == cases.count, "case names are unique (they are the message ids)")

        let url = try #require(BrokerEnvironment.url)
        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName("corpus") + "."
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let registryFile = directory.appendingPathComponent("registry.csv").path
        try registryCSV.write(toFile: registryFile, atomically: true, encoding: .utf8)
        let database = directory.appendingPathComponent("intake.sqlite").path
        let importer = try ChildProcess(
            binary, ["import-registry", "--csv", registryFile, "--database", database, "--development-key"])
        #expect(try await importer.waitForExit(timeout: .seconds(30)) == 0, "\(importer.output)")

        let intake = RoleTopology(role: .intake, prefix: prefix)
        try await intake.declare(on: connection)
        let outputs = prefix + "outputs"
        try await connection.declareQueue(.quorum(outputs))
        for type in [
            RegistrationAcceptedV1.eventType, RegistrationRejectedV1.eventType, RegistrationReviewNeededV1.eventType,
        ] {
            try await connection.bindQueue(outputs, exchange: intake.exchange, routingKey: type)
        }
        let worker = try ChildProcess(
            binary,
            [
                "intake", "--database", database, "--development-key", "--broker-url", url, "--topology-prefix", prefix,
                "--no-http",
                "--programme-file", repositoryFile("config/programme-2025.json"), "--allow-any-publisher",
            ])
        try await worker.waitForLog("\"msg\":\"worker started\"")

        // Each case once, except one good registration published three times with one message
        // id (a publisher retrying after a lost confirm): one effect (R20).
        var published = cases
        let retried = CorpusCase(
            name: "published-three-times", body: try BadInputCorpus.secondPerson("published-three-times"),
            outcome: .accepted, registrationID: "published-three-times")
        published += [retried, retried, retried]
        for item in published {
            try await connection.publish(
                item.body, exchange: intake.exchange, routingKey: item.routingKey, properties: item.properties, mandatory: true)
        }

        let expectedDead = cases.filter { if case .deadLetter = $0.outcome { true } else { false } }
        let expectedOutcomes = Set(
            cases.filter { $0.outcome != .duplicateOfEarlier }.compactMap(\.registrationID) + [retried.name])
        let dead = Collector<AMQPDelivery>()
        let outcomes = Collector<(type: String, subject: String, body: Data)>()
        do {
            try await waitUntil(timeout: .seconds(90), "every case has ended somewhere") {
                while let delivery = try? await connection.get(queue: intake.deadLetterQueue) {
                    dead.append(delivery)
                    try? await delivery.ack()
                }
                while let delivery = try? await connection.get(queue: outputs) {
                    let subject =
                        (try? JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])?["subject"] as? String ?? ""
                    outcomes.append((delivery.properties.type ?? "", subject, delivery.body))
                    try? await delivery.ack()
                }
                return Set(dead.values.compactMap(\.properties.messageID)).count >= expectedDead.count
                    && Set(outcomes.values.map(\.subject)).isSuperset(of: expectedOutcomes)
            }
        } catch {
            let missingDead = Set(expectedDead.map(\.name)).subtracting(dead.values.compactMap(\.properties.messageID))
            let missingOutcomes = expectedOutcomes.subtracting(outcomes.values.map(\.subject))
            Issue.record(
                "not dead-lettered: \(missingDead.sorted()); no outcome: \(missingOutcomes.sorted()); log tail: \(worker.output.suffix(3000))"
            )
            throw error
        }

        // Dead letters: exactly the expected ones, each with its code, after one attempt.
        let deadByID = Dictionary(grouping: dead.values, by: { $0.properties.messageID ?? "" })
        #expect(Set(deadByID.keys) == Set(expectedDead.map(\.name)), "only the bad messages are dead letters")
        for item in expectedDead {
            guard case .deadLetter(let code) = item.outcome, let letters = deadByID[item.name] else { continue }
            #expect(letters.count == 1, "\(item): dead-lettered once")
            let headers = letters[0].properties.headers ?? [:]
            #expect(
                headers[FailureRouter.Header.code]?.stringValue == code,
                "\(item): \(headers[FailureRouter.Header.code]?.stringValue ?? "no code") \(headers[FailureRouter.Header.message]?.stringValue ?? "")"
            )
            #expect(headers[FailureRouter.Header.kind]?.stringValue == "permanent", "\(item)")
            #expect(headers[FailureRouter.Header.attempts]?.intValue == 1, "\(item): on the first delivery")
            #expect(letters[0].body == item.body, "\(item): the body byte for byte")
        }

        // Business outcomes: one per registration, with the expected reason.
        let bySubject = Dictionary(grouping: outcomes.values, by: \.subject)
        for item in cases + [retried] {
            guard let id = item.registrationID else { continue }
            let events = bySubject[id] ?? []
            let expected = item.outcome == .duplicateOfEarlier ? 0 : 1
            #expect(events.count == expected, "\(item): \(expected) outcome, got \(events.map(\.type))")
            switch item.outcome {
            case .rejected(let code):
                #expect(events.first?.type == RegistrationRejectedV1.eventType, "\(item)")
                let rejection = try? ContractJSON.decoder().decode(
                    EventEnvelope<RegistrationRejectedV1>.self, from: events.first?.body ?? Data())
                #expect(
                    rejection?.data.reasons.map(\.code).contains(code) == true,
                    "\(item): \(rejection?.data.reasons.map(\.code) ?? [])")
            case .accepted:
                #expect(events.first?.type == RegistrationAcceptedV1.eventType, "\(item)")
            case .deadLetter:
                break
            case .duplicateOfEarlier:
                #expect(events.isEmpty, "\(item): no effect of its own")
            }
        }

        // The same process handled everything, and exits cleanly.
        #expect(worker.status == nil, "the worker never stopped")
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(timeout: .seconds(30)) == 0, "\(worker.output.suffix(2000))")
        #expect(worker.output.components(separatedBy: "\"msg\":\"worker started\"").count == 2, "started once")
        // No NIK in clear in any log line: no run of 15 or more digits at all.
        let digitRuns = worker.output.matches(of: /[0-9]{15,}/).map { String($0.output) }
        #expect(digitRuns.isEmpty, "digit runs in the log: \(digitRuns.prefix(3))")

        _ = try? await connection.deleteQueue(outputs)
        await intake.delete(on: connection)
        await connection.close()
    }
}
