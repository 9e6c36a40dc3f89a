import ContractKit
import Contracts
import Foundation
import Testing

/// Personal data is masked by field, whatever its spelling, and by shape as a second line; the
/// marks on the contracts cannot drift from the contracts' fields.
@Suite struct PersonalDataMaskingTests {
    let masker = PersonalDataMasker.contracts
    let nik = "6474011203980002"

    // MARK: The marks

    /// Every property path of a contract's `data`, from its schema.
    private func paths(_ schema: JSONSchema, prefix: [String] = []) -> [[String]] {
        switch schema {
        case .object(let properties, _):
            return properties.flatMap { name, child in [prefix + [name]] + paths(child, prefix: prefix + [name]) }
        case .array(let items): return paths(items, prefix: prefix)
        case .map(let values): return [prefix + ["*"]] + paths(values, prefix: prefix + ["*"])
        case .nullable(let inner): return paths(inner, prefix: prefix)
        default: return []
        }
    }

    private func dataPaths(_ contract: any ContractMessage.Type) throws -> [[String]] {
        func open<M: ContractMessage>(_ type: M.Type) throws -> JSONSchema { try JSONSchema.describe(type) }
        return paths(try open(contract))
    }

    @Test func everyMarkedFieldExistsInItsContract() throws {
        for contract in ContractCatalogue.all {
            let known = Set(try dataPaths(contract))
            for field in contract.personalFields {
                // A map's entries are named by their key: `parameters.nama` is `parameters.*`.
                let generic = field.path.enumerated().map { index, step in
                    known.contains(Array(field.path.prefix(index + 1))) ? step : "*"
                }
                #expect(known.contains(field.path) || known.contains(generic), "\(contract.contractName): \(field)")
            }
        }
    }

    @Test func everyFieldWhoseNameSuggestsPersonalDataIsMarked() throws {
        let suggestive = [
            "nik", "name", "nama", "phone", "whatsapp", "email", "address", "alamat", "birth", "lahir", "family", "recipient",
        ]
        // Names that match a word above but hold no one's personal data.
        let notPersonal: Set = ["companyName"]
        for contract in ContractCatalogue.all {
            let marked = Set(contract.personalFields.map(\.path))
            for path in try dataPaths(contract) {
                let name = path.last!.lowercased()
                guard !notPersonal.contains(path.last!), suggestive.contains(where: { name.contains($0) }) else { continue }
                #expect(marked.contains(path), "\(contract.contractName): \(path.joined(separator: ".")) is not marked personal")
            }
        }
        #expect(RegistrationSubmittedV2.personalFields.count == 10)
    }

    // MARK: By field

    @Test func aRegistrationBodyKeepsItsShapeAndLosesItsPersonalData() throws {
        let body = """
            {"id":"e-1","type":"registration.submitted","dataversion":2,"data":{"registrationID":"REG-7",\
            "nik":"\(nik)","familyCardNumber":"6474010101010001","fullName":"Siti Rahmawati","birthPlace":"Bontang",\
            "birthDate":"1999-03-12","phone":"+6281234567890","whatsApp":"081298765432","email":"siti@contoh.id",\
            "domicile":{"regionCode":"6474011001","address":"Jl. Cendana 4 RT 07"},"jobSeekerCardNumber":"AK1-99",\
            "programme":"MEKANIK_SEPEDA_MOTOR"}}
            """
        let masked = masker.mask(body)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(masked.utf8)) as? [String: Any])
        let data = try #require(object["data"] as? [String: Any])
        #expect(data["nik"] as? String == "647401******0002")
        #expect(data["familyCardNumber"] as? String == "647401******0001")
        #expect(data["fullName"] as? String == "S*** R***")
        #expect(data["birthPlace"] as? String == "***")
        #expect(data["birthDate"] as? String == "****-**-**")
        #expect(data["phone"] as? String == "+**********890")
        #expect(data["whatsApp"] as? String == "*********432")
        #expect(data["email"] as? String == "s***@contoh.id")
        #expect((data["domicile"] as? [String: Any])?["address"] as? String == "***")
        #expect(data["jobSeekerCardNumber"] as? String == "***")
        // What is not personal stays readable: that is what an operator needs to act.
        #expect(data["registrationID"] as? String == "REG-7")
        #expect(data["programme"] as? String == "MEKANIK_SEPEDA_MOTOR")
        #expect((data["domicile"] as? [String: Any])?["regionCode"] as? String == "6474011001")
        for clear in ["Siti", "Rahmawati", "Bontang", "1999-03-12", "81234567", "9876", "siti@", "Cendana", "AK1-99", "1203980"] {
            #expect(!masked.contains(clear), "\(clear) in \(masked)")
        }
    }

    /// How an attacker, or a careless publisher, spells a NIK so that a pattern misses it.
    @Test(arguments: [
        #"{"nik":"6474 0112 0398 0002"}"#, #"{"nik":"6474.0112.0398.0002"}"#, #"{"nik":"6474-0112-0398-0002"}"#,
        #"{"nik":"\u0036\u0034\u0037\u0034011203980002"}"#, #"{"nik":6474011203980002}"#,
        #"{"n\u0069k":"6474011203980002"}"#, #"{"NIK" : "6474011203980002"}"#, #"{"Nik":["647401","1203980002"]}"#,
        #"{"nik":{"value":"6474011203980002"}}"#, #"{"data":{"nik":"٦٤٧٤٠١١٢٠٣٩٨٠٠٠٢"}}"#,
        #"{"nik":"6474011203980002"#, #"{"nik":"64740112"#, #"{"note":"NIK saya 6474 0112 0398 0002"}"#,
        #"{"note":"647401\u00312\u00303980002"}"#, #"{"x":"\u0036474011203980002"}"#, #"nik=6474011203980002 ditolak"#,
        #"{"nik":"6474011203980002\"}"#, #"{"nik": "6474011203980002", "nik": "6474011203980002"}"#,
        #"{"nik": 6474 0112 0398 0002}"#, "NIK 6474\t0112  0398\u{200B}0002 ditolak",
        // Split by characters a terminal or a reader does not show as text: an escape, a line
        // break, a C1 control, a soft hyphen, reordering marks.
        "NIK 6474011203\u{1B}980002", "6474011203\r\n980002", "6474\u{85}011203980002", "6474011203\u{AD}980002",
        "6474\u{200E}0112\u{202E}0398\u{2066}0002", "6474011203\u{7F}980002",
        // Look-alike dashes and spaces, and marks that show nothing.
        "6474\u{2013}0112\u{2013}0398\u{2013}0002", "6474\u{2212}0112\u{FF0D}0398\u{3000}0002",
        "6474011203\u{34F}980002", "6474011203\u{FE0F}980002", "6474011203\u{E0020}980002", "6474\u{202F}011203980002",
        "6474011203\u{200B}\u{200B}\u{200B}\u{200B}\u{FE0F}980002", "6474\u{1680}0112\u{3164}0398\u{301}\u{301}0002",
    ])
    func aNIKIsMaskedWhateverItsSpelling(body: String) {
        let masked = masker.mask(body)
        #expect(masked != body)
        // Read as ASCII digits with separators and escapes dropped: the region digits and the
        // last four may survive, the birth date in the middle never does.
        let digits = String(
            String.UnicodeScalarView(
                masked.replacingOccurrences(of: "\\u00", with: "").unicodeScalars.compactMap { scalar in
                    scalar.properties.numericType == .decimal
                        ? Unicode.Scalar(UInt8(48 + Int(scalar.properties.numericValue!))) : nil
                }))
        #expect(!digits.contains("120398"), "\(masked)")
    }

    @Test func aBodyWithoutPersonalDataIsLeftExactlyAsItWas() {
        for body in [
            #"{"id":"e-9","type":"class.opened","data":{"classID":"BPN-01","capacity":16,"startDate":"2025-07-07"}}"#,
            #"{"a":"\u00e9\n","b":[1,2,3],"c":null}"#, "not json at all: 42 and 2025-07-07", "",
        ] {
            #expect(masker.mask(body) == body)
        }
    }

    @Test func aBareValueIsMaskedWholeUpToItsEnd() {
        let masked = masker.mask(#"{"fullName": Budi Santoso, "phone": +62 812 3456 7890, "programme": "LAS"}"#)
        #expect(!masked.contains("Santoso") && !masked.contains("3456"), "\(masked)")
        #expect(masked.contains(#""programme": "LAS""#), "\(masked)")
        #expect(masker.mask("hubungi (0812) 3456 7890") == "hubungi (*********890")
    }

    @Test func notificationRequestsMaskTheRecipientAndTheGreetedName() {
        let masked = masker.mask(
            #"{"data":{"recipient":"budi.santoso@contoh.id","channel":"EMAIL","parameters":{"nama":"Budi Santoso","program":"LAS"}}}"#
        )
        #expect(masked.contains(#""recipient":"b***@contoh.id""#))
        #expect(masked.contains(#""nama":"B*** S***""#))
        #expect(masked.contains(#""program":"LAS""#))
        #expect(!masked.contains("Santoso"))
    }

    // MARK: By shape, in free text

    @Test func freeTextMasksNIKsAndMobileNumbersButNotOtherNumbers() {
        #expect(masker.mask("NIK 6471054107990003 tidak valid") == "NIK 647105******0003 tidak valid")
        #expect(masker.mask("6471054107990003 6474011203980002") == "647105******0003 647401******0002")
        #expect(masker.mask("hubungi 0812-3456-7890 atau +62 812 3456 7890") == "hubungi *********890 atau +**********890")
        #expect(
            masker.mask("region 6474011001, year 2025, 17 digits 64710541079900031")
                == "region 6474011001, year 2025, 17 digits 64710541079900031")
        // A number and a date on lines of their own, four line breaks apart, are two things.
        #expect(masker.mask("REG-2025-000123\n\n\n\n2025-01-15") == "REG-2025-000123\n\n\n\n2025-01-15")
    }

    @Test func hostileInputNeverTraps() {
        let pieces = [
            "\"", "\\", "\\u", "\\uD83D", "\\uDE00", "{", "}", "[", "]", ":", ",", "nik", "6474", " ", "٣", "\u{0}", "+62", "@",
        ]
        // Deterministic inputs: the nth is up to 24 pieces chosen by a hash of n.
        for n in 0..<5_000 {
            var rest = n &* 2_654_435_761
            var text = ""
            for _ in 0..<(n % 25) {
                text += pieces[rest % pieces.count]
                rest = rest / pieces.count &+ n
            }
            _ = masker.mask(text)
            _ = masker.mask(body: Array(text.utf8) + [0xFF, 0xC3])
        }
    }
}
