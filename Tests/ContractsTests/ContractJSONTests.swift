import Foundation
import Testing

@testable import ContractKit
@testable import Contracts

/// The registry with Foundation's `JSONDecoder` behind it: the reference the document decoder
/// must agree with.
func referenceRegistry() -> ContractRegistry {
    var registry = makeRegistry()
    registry.engine = .foundation
    return registry
}

/// What the default engine and the reference make of one body.
struct Verdicts {
    let fast: Result<DecodedEvent, ContractError>
    let reference: Result<DecodedEvent, ContractError>

    init(_ body: Data) {
        fast = Result { () throws(ContractError) in try makeRegistry().decode(body) }
        reference = Result { () throws(ContractError) in try referenceRegistry().decode(body) }
    }

    /// Accepted by both, as equal values; refused by both; or accepted by Foundation only
    /// because its `JSONDecoder` skips what a type does not read, where the document decoder
    /// refuses malformed JSON anywhere.
    var agree: Bool {
        switch (fast, reference) {
        case (.success(let a), .success(let b)): a == b
        case (.failure, .failure): true
        case (.failure(let error), .success): error.reason == "malformed-json"
        case (.success, .failure): false
        }
    }
}

struct DocumentDecoderTests {
    @Test(arguments: GoldenFixtureTests.fixtures)
    func everyFixtureDecodesAsJSONDecoderDecodesIt(name: String) throws {
        let verdicts = Verdicts(try fixture(name))
        #expect(verdicts.agree)
        #expect((try? verdicts.fast.get()) != nil)
        // The document decoder handles every contract itself: no fallback to Foundation.
        let document = try JSONDocument.parse(try fixture(name))
        let contract = try #require(ContractCatalogue.all.first { "\($0.eventType).v\($0.version)" == name })
        func decode<M: ContractMessage>(_ type: M.Type) throws {
            _ = try EventEnvelope<M>(from: ContractJSONDecoder(document: document))
        }
        try decode(contract)
    }

    /// Thousands of damaged fixtures: whatever the document decoder accepts, Foundation accepts
    /// as the same value; whatever Foundation refuses, it refuses. (A failure prints the body.)
    @Test(arguments: GoldenFixtureTests.fixtures)
    func damagedFixturesGetTheVerdictJSONDecoderGives(name: String) throws {
        let original = Array(try fixture(name))
        var generator = SystemRandomNumberGenerator()
        let replacements: [[UInt8]] = [
            Array("0".utf8), Array("-".utf8), Array("1e400".utf8), Array("2.0".utf8), Array("01".utf8), Array("null".utf8),
            Array("true".utf8), Array("\"".utf8), Array("\\".utf8), Array("\\u0041".utf8), Array("\\ud800".utf8),
            Array(",".utf8), Array(":".utf8), Array("{".utf8), Array("}".utf8), Array("[".utf8), Array("]".utf8), [0xFF],
            [0xC3, 0xA9], [0x01], Array(" ".utf8), Array("\"x\":1,".utf8), Array("1.5".utf8), Array("\\n".utf8),
        ]
        var accepted = 0
        var refused = 0
        for round in 0..<300 {
            var body = original
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0..<body.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: body.remove(at: at)
                case 1: body.insert(contentsOf: replacements.randomElement(using: &generator)!, at: at)
                case 2: body[at] = replacements.randomElement(using: &generator)!.first!
                default:
                    // Replace a whole token: from a structural character to the next one.
                    let end = body[at...].firstIndex { [UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains($0) }
                    body.replaceSubrange(at..<(end ?? body.count), with: replacements.randomElement(using: &generator)!)
                }
            }
            let verdicts = Verdicts(Data(body))
            #expect(verdicts.agree, "\(name) round \(round): \(String(decoding: body, as: UTF8.self))")
            if case .success = verdicts.fast { accepted += 1 } else { refused += 1 }
        }
        // Both verdicts occur, so the comparison tested something.
        #expect(accepted > 10 && refused > 10, "accepted \(accepted), refused \(refused)")
    }

    @Test(arguments: [
        (#""extra":"x",}"#, "a trailing comma"),
        (#""extra":01,"#, "a leading zero"),
        (#""extra":"\ud800","#, "a lone surrogate"),
        (#""extra":"\q","#, "an unknown escape"),
        (#""extra":-,"#, "a sign without digits"),
        (#""extra":1.e5,"#, "a fraction without digits"),
        ("\"extra\":\"\u{1}\",", "a control character"),
    ])
    func malformedJSONInAFieldNoContractReadsIsRefused(member: String, what: String) throws {
        let good = String(decoding: try fixture("registration.submitted.v2"), as: UTF8.self)
        let body =
            member.hasSuffix("}")
            ? good[..<good.lastIndex(of: "}")!] + "," + member
            : "{" + member + good[good.index(after: good.firstIndex(of: "{")!)...]
        let verdicts = Verdicts(Data(body.utf8))
        #expect((try? verdicts.reference.get()) != nil, "Foundation skips \(what) in a field it does not read")
        guard case .failure(let error) = verdicts.fast else {
            Issue.record("\(what) was accepted")
            return
        }
        #expect(error.reason == "malformed-json", "\(what)")
    }

    @Test func invalidUTF8InAFieldNoContractReadsIsRefused() throws {
        var body = Array(try fixture("registration.submitted.v2"))
        body.insert(contentsOf: Array(#""extra":""#.utf8) + [0x52, 0xFF] + Array(#"","#.utf8), at: 1)
        #expect(throws: ContractError.self) { try makeRegistry().decode(Data(body)) }
        #expect((try? referenceRegistry().decode(Data(body))) != nil)
    }

    @Test func wholeNumbersWithAFractionOrExponentAreIntegersAsJSONDecoderReadsThem() throws {
        let good = String(decoding: try fixture("registration.submitted.v2"), as: UTF8.self)
        for (text, accepted) in [
            ("2.0", true), ("0.2e1", true), ("2.5", false), ("1e400", false), ("123456789012345678901234567890", false),
            ("-0", false), ("2e0", true),
        ] {
            let body = Data(good.replacingOccurrences(of: #""dataversion": 2"#, with: #""dataversion": \#(text)"#).utf8)
            #expect(body != Data(good.utf8))
            let verdicts = Verdicts(body)
            #expect(verdicts.agree, "\(text)")
            switch verdicts.fast {
            case .success(let event): #expect(accepted && event.receivedVersion == 2, "\(text)")
            case .failure(let error): #expect(!accepted, "\(text): \(error)")
            }
        }
    }

    @Test func timestampsDecodeAsJSONDecoderDecodesThem() throws {
        let good = String(decoding: try fixture("registration.submitted.v2"), as: UTF8.self)
        let time = try #require(good.firstRange(of: /"time": "[^"]*"/))
        var generator = SystemRandomNumberGenerator()
        var texts = [
            "2025-03-01T08:00:00+07:00", "2025-03-01T08:00:00.5Z", "2025-02-30T08:00:00Z", "2024-02-29T23:59:59Z",
            "2025-02-29T00:00:00Z", "2025-03-01T24:00:00Z", "1969-12-31T23:59:59Z", "2025-13-01T00:00:00Z",
            "2025-03-01 08:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2025-3-1T8:0:0Z", "not a date",
        ]
        for _ in 0..<300 {
            let seconds = Double(Int.random(in: 0..<253_402_300_800, using: &generator))
            texts.append(EnvelopeWriter.timestamp(Date(timeIntervalSince1970: seconds))!)
        }
        for text in texts {
            let body = Data(good.replacingCharacters(in: time, with: #""time": "\#(text)""#).utf8)
            let verdicts = Verdicts(body)
            #expect(verdicts.agree, "\(text)")
            if case .success(let event) = verdicts.fast, let canonical = ContractJSONDecoder.canonicalTimestamp(text) {
                #expect(event.header.time == canonical)
            }
        }
    }

    @Test func duplicateKeysInLargeObjectsAreFound() {
        let members = (0..<100).map { #""k\#($0)":\#($0)"# }
        let body = "{" + (members + [#""k\u0037":1"#]).joined(separator: ",") + "}"
        #expect(decodeError(Data(body.utf8))?.path == "k7")
    }

    @Test func errorsNameTheSamePathsAsJSONDecoder() throws {
        let cases: [(String, Any?)] = [
            ("nik", 6_474_011_203_980_002), ("nik", nil), ("sex", "X"), ("declaredTrainings", "none"),
            ("declaredTrainings", [["programme": "LAS", "year": "2023", "outcome": "FAILED"]]), ("domicile", [1]),
            ("consent", ["given": true]),
        ]
        for (field, value) in cases {
            let body = try edited("registration.submitted.v2") { envelope in
                var data = envelope["data"] as! [String: Any]
                data[field] = value
                envelope["data"] = data
            }
            let verdicts = Verdicts(body)
            guard case .failure(let fast) = verdicts.fast, case .failure(let reference) = verdicts.reference else {
                Issue.record("\(field): both must refuse")
                continue
            }
            #expect(fast.reason == reference.reason, "\(field)")
            #expect(fast.path == reference.path, "\(field)")
        }
    }
}

struct DocumentEncoderTests {
    /// JSONEncoder's own bytes for a value, as the contracts are encoded.
    func reference<T: Encodable>(_ value: T) throws -> [UInt8] { Array(try ContractJSON.encoder().encode(value)) }

    @Test(arguments: GoldenFixtureTests.fixtures)
    func everyFixturePayloadEncodesToJSONEncodersBytes(name: String) throws {
        let contract = try #require(ContractCatalogue.all.first { "\($0.eventType).v\($0.version)" == name })
        func compare<M: ContractMessage>(_ type: M.Type) throws {
            let envelope = try ContractJSON.decoder().decode(EventEnvelope<M>.self, from: try fixture(name))
            #expect(try ContractJSONEncoder.encode(envelope.data) == reference(envelope.data))
        }
        try compare(contract)
    }

    @Test func randomPayloadsEncodeToJSONEncodersBytes() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("aZ09 \"\\/\n\t\u{7f}é😀\u{2028}\u{0}-_.") + ["\u{1}", "\u{1f}"]
        func text() -> String {
            String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        let base = try ContractJSON.decoder().decode(
            EventEnvelope<AssessmentSubmittedV2>.self, from: try fixture("assessment.submitted.v2")
        ).data
        let notification = try ContractJSON.decoder().decode(
            EventEnvelope<NotificationRequestedV1>.self, from: try fixture("notification.requested.v1")
        ).data
        for _ in 0..<500 {
            var assessment = base
            assessment.assessmentID = text()
            assessment.testSite = text()
            assessment.attendancePercent = [
                Double.random(in: 0...100, using: &generator), Double(Int.random(in: 0...100, using: &generator)), 1e21, 1e-7,
                -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
            ].randomElement(using: &generator)!
            assessment.units = (0..<Int.random(in: 0...3, using: &generator)).map { _ in
                AssessmentSubmittedV1.Unit(code: text(), result: Bool.random(using: &generator) ? .competent : .notYetCompetent)
            }
            #expect(try ContractJSONEncoder.encode(assessment) == reference(assessment))
            var message = notification
            message.parameters = Dictionary(
                uniqueKeysWithValues: (0..<Int.random(in: 0...6, using: &generator)).map { "\(text())\($0)" }.map { ($0, text()) }
            )
            #expect(try ContractJSONEncoder.encode(message) == reference(message))
        }
    }

    @Test func valuesItLeavesToJSONEncoderStillGiveJSONEncodersBytes() throws {
        struct Odd: Encodable {
            var data = Data([1, 2, 3])
            var url = URL(string: "https://example.org/a")!
            var float: Float = 0.1
            var nan = Double.nan
        }
        #expect(throws: ContractJSONEncoder.Unsupported.self) { try ContractJSONEncoder.encode(Odd()) }
        struct Twice: Encodable {
            func encode(to encoder: any Encoder) throws {
                var first = encoder.container(keyedBy: DocumentKey.self)
                var nested = first.nestedContainer(keyedBy: DocumentKey.self, forKey: DocumentKey(stringValue: "a"))
                try nested.encode(1, forKey: DocumentKey(stringValue: "b"))
            }
        }
        #expect(throws: ContractJSONEncoder.Unsupported.self) { try ContractJSONEncoder.encode(Twice()) }
        struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
        #expect(throws: ContractJSONEncoder.Unsupported.self) { try ContractJSONEncoder.encode([Nothing()]) }
    }
}
