import ContractKit
import Contracts
import Foundation
import Testing

/// The registry every worker uses, as the tests see it.
func makeRegistry(sizeLimit: Int = 256 * 1024) -> ContractRegistry {
    var registry = ContractRegistry.pipeline
    registry.sizeLimit = sizeLimit
    return registry
}

func fixture(_ name: String) throws -> Data {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "json"))
    return try Data(contentsOf: url)
}

/// Edits a fixture as a JSON object tree, for bad-input cases.
func edited(_ name: String, _ change: (inout [String: Any]) -> Void) throws -> Data {
    var object = try #require(try JSONSerialization.jsonObject(with: fixture(name)) as? [String: Any])
    change(&object)
    return try JSONSerialization.data(withJSONObject: object)
}

func decodeError(_ body: Data, registry: ContractRegistry = makeRegistry()) -> ContractError? {
    do {
        _ = try registry.decode(body)
        return nil
    } catch {
        return error
    }
}

struct GoldenFixtureTests {
    /// One golden fixture per (type, version), named `<type>.v<version>.json`.
    static let fixtures = ContractCatalogue.all.map { "\($0.eventType).v\($0.version)" }

    @Test func everyContractHasAFixtureAndNoFixtureIsOrphaned() throws {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        #expect(Set(files.map { String($0.dropLast(5)) }) == Set(Self.fixtures))
        #expect(Self.fixtures.count == 42)
    }

    @Test(arguments: fixtures)
    func everyFixtureDecodesIntoTheNewestVersionOfItsContract(name: String) throws {
        let event = try makeRegistry().decode(try fixture(name))
        #expect(name == "\(event.header.type).v\(event.receivedVersion)")
        let newest = try #require(ContractCatalogue.all.filter { $0.eventType == event.header.type }.map { $0.version }.max())
        let payloadType: any ContractMessage.Type = type(of: event.payload)
        let (payloadVersion, payloadEventType) = (payloadType.version, payloadType.eventType)
        #expect(payloadVersion == newest)
        #expect(payloadEventType == event.header.type)
    }

    @Test(arguments: fixtures)
    func everyFixtureRoundTripsThroughItsOwnType(name: String) throws {
        let contract = try #require(ContractCatalogue.all.first { "\($0.eventType).v\($0.version)" == name })
        func roundTrip<M: ContractMessage>(_ type: M.Type) throws {
            let decoder = ContractJSON.decoder()
            let envelope = try decoder.decode(EventEnvelope<M>.self, from: try fixture(name))
            #expect(try decoder.decode(EventEnvelope<M>.self, from: ContractJSON.encode(envelope)) == envelope)
        }
        try roundTrip(contract)
    }

    @Test(arguments: fixtures)
    func theEnvelopeWriterGivesJSONEncodersBytes(name: String) throws {
        let contract = try #require(ContractCatalogue.all.first { "\($0.eventType).v\($0.version)" == name })
        func compare<M: ContractMessage>(_ type: M.Type) throws {
            let envelope = try ContractJSON.decoder().decode(EventEnvelope<M>.self, from: try fixture(name))
            #expect(try ContractJSON.encode(envelope) == ContractJSON.encoder().encode(envelope))
        }
        try compare(contract)
    }

    @Test func theEnvelopeWriterEscapesAndDatesAsJSONEncoderDoes() throws {
        let payload = try ContractJSON.decoder().decode(
            EventEnvelope<EnrolmentWithdrawnV1>.self, from: try fixture("enrolment.withdrawn.v1")
        ).data
        var every = ""
        for code in 0..<0x80 { every.unicodeScalars.append(UnicodeScalar(UInt8(code))) }
        every += "/\u{2028}\u{2029}é😀"
        var generator = SystemRandomNumberGenerator()
        let times: [Double] =
            [0, 0.4, 0.9999, 951_782_400, 1_709_164_800.5, 253_402_300_799.9, -0.5, -86_400 * 400, 253_402_300_800]
            + (0..<200).map { _ in Double.random(in: 0..<4_102_444_800, using: &generator) }
        for (index, time) in times.enumerated() {
            let envelope = EventEnvelope(
                id: index == 0 ? every : EventID.random(), source: "/kaltim/" + every, time: Date(timeIntervalSince1970: time),
                subject: index % 2 == 0 ? nil : "REG-\"\(index)\"", correlationID: "c\n\t\u{7f}",
                causationID: index % 3 == 0 ? nil : "x",
                data: payload)
            #expect(try ContractJSON.encode(envelope) == ContractJSON.encoder().encode(envelope), "time \(time)")
        }
    }

    @Test func eventIDsAreDistinctVersionFourUUIDsInLowercase() throws {
        let ids = (0..<1_000).map { _ in EventID.random() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let uuid = try #require(UUID(uuidString: id))
            #expect(uuid.uuidString.lowercased() == id)
            #expect(uuid.uuid.6 >> 4 == 4)
            #expect(uuid.uuid.8 >> 6 == 0b10)
        }
    }

    @Test func anAcceptanceOfVersionOneUpcastsWithoutItsSubmissionTime() throws {
        let old = try #require(
            try makeRegistry().decode(try fixture("registration.accepted.v1")).payload as? RegistrationAcceptedV2)
        #expect(old.submittedAt == nil && old.priorityTier == .neverTrained && old.apprenticeshipInterest)
        let new = try #require(
            try makeRegistry().decode(try fixture("registration.accepted.v2")).payload as? RegistrationAcceptedV2)
        #expect(new.submittedAt == ISO8601DateFormatter().date(from: "2025-04-02T02:59:58Z"))
    }

    @Test func aCertificateOfVersionOneUpcastsToItsKindWithNoQualificationAndVersionTwoCarriesALicence() throws {
        let old = try #require(
            try makeRegistry().decode(try fixture("certificate.issued.v1")).payload as? CertificateIssuedV2)
        #expect(old.kind == .competency && old.qualification == nil && old.certificateNumber == "45200 2421 1 0000101 2025")
        let new = try #require(
            try makeRegistry().decode(try fixture("certificate.issued.v2")).payload as? CertificateIssuedV2)
        #expect(new.kind == .safetyLicence && new.qualification == "Operator Forklift Kelas II")
        // Every kind version 1 can say keeps its meaning.
        for kind in [CertificateIssuedV1.Kind.training, .competency] {
            var message = try ContractJSON.decoder().decode(
                EventEnvelope<CertificateIssuedV1>.self, from: try fixture("certificate.issued.v1")
            ).data
            message.kind = kind
            #expect(message.upcast().kind.rawValue == kind.rawValue)
        }
    }

    @Test func versionOneUpcastsWithTheNewFieldsUnknown() throws {
        let event = try makeRegistry().decode(try fixture("registration.submitted.v1"))
        let registration = try #require(event.payload as? RegistrationSubmittedV3)
        #expect(event.receivedVersion == 1)
        #expect(registration.registrationID == "REG-2025-000101")
        #expect(registration.fullName == "Siti Rahmawati")
        #expect(registration.sex == .female)
        #expect(registration.preferredCentre == .balikpapan)
        #expect(registration.domicile.regionCode == "6471051001")
        #expect(registration.guardianConsent == nil)
        #expect(registration.whatsApp == nil)
        #expect(registration.employmentStatus == nil)
        #expect(registration.secondChoiceProgramme == nil)
    }

    @Test func versionTwoLosesTheFamilyCardNumberWhenDecoded() throws {
        let event = try makeRegistry().decode(try fixture("registration.submitted.v2"))
        let registration = try #require(event.payload as? RegistrationSubmittedV3)
        #expect(event.receivedVersion == 2)
        // No step uses the KK number: the newest version has no field for it, so no worker holds it.
        let text = String(decoding: try ContractJSON.encode(EventEnvelope(source: "/t", data: registration)), as: UTF8.self)
        #expect(!text.contains("6474010101150007") && !text.contains("familyCardNumber"))
        #expect(registration.guardianConsent == nil)
        #expect(registration.employmentStatus == .unemployed)
        #expect(registration.declaredTrainings == [DeclaredTraining(programme: "LAS_LISTRIK", year: 2023, outcome: .failed)])
        #expect(event.header.correlationID == "9b2d7c40-5e6f-4a81-b3c2-7d8e9f0a1b02")
        #expect(event.header.causationID == nil)
    }

    @Test func versionThreeCarriesAGuardiansConsent() throws {
        let event = try makeRegistry().decode(try fixture("registration.submitted.v3"))
        let registration = try #require(event.payload as? RegistrationSubmittedV3)
        #expect(
            registration.guardianConsent
                == GuardianConsent(
                    guardianName: "Rahma Lestari", relation: .parent, givenAt: "2025-03-05T01:08:40Z",
                    textVersion: "pdp-wali-2025-01"))
        #expect(RegistrationSubmittedV3.personalFields.contains { $0.path == ["guardianConsent", "guardianName"] })
    }

    @Test func fixturesRoundTripThroughTheEncoder() throws {
        let decoder = ContractJSON.decoder()
        let v1 = try decoder.decode(EventEnvelope<RegistrationSubmittedV1>.self, from: try fixture("registration.submitted.v1"))
        #expect(try decoder.decode(EventEnvelope<RegistrationSubmittedV1>.self, from: ContractJSON.encode(v1)) == v1)
        let v2 = try decoder.decode(EventEnvelope<RegistrationSubmittedV2>.self, from: try fixture("registration.submitted.v2"))
        #expect(try decoder.decode(EventEnvelope<RegistrationSubmittedV2>.self, from: ContractJSON.encode(v2)) == v2)
        let v3 = try decoder.decode(EventEnvelope<RegistrationSubmittedV3>.self, from: try fixture("registration.submitted.v3"))
        #expect(try decoder.decode(EventEnvelope<RegistrationSubmittedV3>.self, from: ContractJSON.encode(v3)) == v3)
        // What a producer writes is what a consumer's registry reads.
        let event = try makeRegistry().decode(ContractJSON.encode(v3))
        #expect(event.payload as? RegistrationSubmittedV3 == v3.data)
    }

    @Test func aNewEnvelopeCarriesTypeVersionAndIDs() throws {
        let original = try makeRegistry().decode(try fixture("registration.submitted.v2"))
        let payload = try #require(original.payload as? RegistrationSubmittedV3)
        let envelope = EventEnvelope(
            source: "/kaltim/tests", subject: payload.registrationID, correlationID: "corr-1", causationID: "cause-1",
            data: payload)
        #expect(envelope.type == "registration.submitted")
        #expect(envelope.dataVersion == 3)
        #expect(envelope.specVersion == "1.0")
        let decoded = try makeRegistry().decode(ContractJSON.encode(envelope))
        #expect(decoded.header.id == envelope.id)
        #expect(decoded.header.correlationID == "corr-1")
        #expect(decoded.header.causationID == "cause-1")
    }
}

struct BadInputTests {
    @Test func unknownTypeIsADistinctPermanentFailure() throws {
        let body = try edited("registration.submitted.v2") { $0["type"] = "registration.teleported" }
        let error = try #require(decodeError(body))
        #expect(error.reason == "unknown-contract-type")
    }

    @Test func aVersionNewerThanKnownIsUnsupported() throws {
        let body = try edited("registration.submitted.v2") { $0["dataversion"] = 4 }
        let error = try #require(decodeError(body))
        #expect(error.reason == "unsupported-contract-version")
        #expect(error.message.contains("known versions: 1, 2, 3"))
    }

    @Test(arguments: [
        (#"{"id":"a","id":"b"}"#, "id"),
        (#"{"data":{"domicile":{"regionCode":"1","regionCode":"2"}}}"#, "data.domicile.regionCode"),
        (#"{"data":{"nik":"1","\u006eik":"2"}}"#, "data.nik"),
        (#"{"data":{"declaredTrainings":[{"year":1},{"year":2,"year":3}]}}"#, "data.declaredTrainings[1].year"),
    ])
    func duplicateKeysAreRejectedWithTheirPath(json: String, path: String) {
        let error = decodeError(Data(json.utf8))
        #expect(error?.reason == "duplicate-json-key")
        #expect(error?.path == path)
    }

    @Test func aRealDocumentWithADuplicateKeyIsRejected() throws {
        let text = String(decoding: try fixture("registration.submitted.v2"), as: UTF8.self)
        let doubled = text.replacingOccurrences(
            of: #""fullName": "Andi Saputra","#, with: #""fullName": "Andi Saputra", "fullName": "Someone Else","#)
        #expect(doubled != text)
        #expect(decodeError(Data(doubled.utf8))?.path == "data.fullName")
        // Same keys in different objects are fine.
        #expect(decodeError(try fixture("registration.submitted.v2")) == nil)
    }

    @Test func aBodyOverTheSizeLimitIsRejected() throws {
        let body = try fixture("registration.submitted.v2")
        let error = try #require(decodeError(body, registry: makeRegistry(sizeLimit: body.count - 1)))
        #expect(error.reason == "message-too-large")
        #expect(decodeError(body, registry: makeRegistry(sizeLimit: body.count)) == nil)
    }

    @Test func aMissingRequiredFieldIsNamedByPath() throws {
        let body = try edited("registration.submitted.v2") { envelope in
            var data = envelope["data"] as! [String: Any]
            var domicile = data["domicile"] as! [String: Any]
            domicile["regionCode"] = nil
            data["domicile"] = domicile
            envelope["data"] = data
        }
        let error = try #require(decodeError(body))
        #expect(error.reason == "missing-field")
        #expect(error.path == "data.domicile.regionCode")
    }

    @Test func aWrongTypeIsNamedByPathAndNeverQuotesPersonalData() throws {
        let body = try edited("registration.submitted.v2") { envelope in
            var data = envelope["data"] as! [String: Any]
            data["nik"] = 6_474_011_203_980_002
            envelope["data"] = data
        }
        let error = try #require(decodeError(body))
        #expect(error.reason == "wrong-type")
        #expect(error.path == "data.nik")
        #expect(!error.description.contains("6474011203980002"))
    }

    @Test func aWrongTypeIsSaidInJSONWordsNotSwiftTypeNames() throws {
        // What a publisher reads in a dead letter or on the console: never a Swift type name.
        let cases: [(String, Any, String)] = [
            ("domicile", "Jl. Mawar 1", "must be an object"), ("nik", ["6474011203980002"], "must be a string"),
            ("education", ["SMA"], "must be a string"),
        ]
        for (field, value, expected) in cases {
            let body = try edited("registration.submitted.v2") { envelope in
                var data = envelope["data"] as! [String: Any]
                data[field] = value
                envelope["data"] = data
            }
            let error = try #require(decodeError(body))
            #expect(error.reason == "wrong-type")
            #expect(error.description.contains(expected), "\(field): \(error.description)")
            for swiftName in ["Dictionary", "Array", "Swift.", "Any>", "String>"] {
                #expect(!error.description.contains(swiftName), "\(field): \(error.description)")
            }
        }
        let envelope = try #require(decodeError(Data("[1, 2]".utf8)))
        #expect(envelope.description.contains("an object"), "\(envelope.description)")
    }

    @Test func aValueOutsideAnEnumIsInvalidWithoutQuotingIt() throws {
        let body = try edited("registration.submitted.v2") { envelope in
            var data = envelope["data"] as! [String: Any]
            data["sex"] = "Andi Saputra"
            envelope["data"] = data
        }
        let error = try #require(decodeError(body))
        #expect(error.reason == "invalid-value")
        #expect(error.path == "data.sex")
        #expect(!error.description.contains("Andi"))
    }

    @Test(arguments: ["", "not json", "{", "[1,2", #"{"a":"unterminated}"#])
    func malformedJSONIsRejected(text: String) {
        let error = decodeError(Data(text.utf8))
        #expect(error?.reason == "malformed-json")
    }

    @Test func unknownExtraFieldsAreTolerated() throws {
        let body = try edited("registration.submitted.v2") { envelope in
            envelope["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            var data = envelope["data"] as! [String: Any]
            data["fieldFromTheFuture"] = ["nested": true]
            envelope["data"] = data
        }
        let event = try makeRegistry().decode(body)
        #expect((event.payload as? RegistrationSubmittedV3)?.registrationID == "REG-2025-000202")
    }
}
