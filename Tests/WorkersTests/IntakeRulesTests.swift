// Every NIK in this file is SYNTHETIC (serials 9900–9999, DOMAIN.md §2.4). Never send them to Dukcapil.
import Contracts
import Foundation
import IntakeRules
import Testing
import Workers

// MARK: - Helpers

private let regions = RegionCodes.kemendagri2025
private let referenceDate = "2025-07-01"
private let window = 17...35

/// Runs the NIK rules with the test defaults; the declared data match the NIK unless overridden.
private func nik(
    _ raw: String,
    born declaredBirthDate: String = "1999-08-17",
    sex declaredSex: Sex = .female,
    window ageWindow: ClosedRange<Int> = window
) -> NIKCheck {
    let check = NIKCheck.check(
        raw,
        declaredBirthDate: declaredBirthDate,
        declaredSex: declaredSex,
        ageWindow: ageWindow,
        referenceDate: referenceDate,
        regions: regions
    )
    expectSafeMessages(check, raw: raw)
    return check
}

private func codes(_ check: NIKCheck) -> [String] {
    check.findings.map(\.code)
}

/// No message may contain the NIK, or any run of 16 digits.
private func expectSafeMessages(_ check: NIKCheck, raw: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for finding in check.findings {
        var run = 0
        var longestRun = 0
        for character in finding.message {
            run = character.isASCII && character.isWholeNumber ? run + 1 : 0
            longestRun = max(longestRun, run)
        }
        #expect(longestRun < 16, "digits in \(finding.code)", sourceLocation: sourceLocation)
        if let normalised = check.normalised {
            #expect(!finding.message.contains(normalised), sourceLocation: sourceLocation)
        }
        #expect(!finding.message.isEmpty, sourceLocation: sourceLocation)
        if !raw.isEmpty {
            #expect(!finding.message.contains(raw), sourceLocation: sourceLocation)
        }
    }
}

// MARK: - Region codes

@Suite("Region codes")
struct RegionCodesTests {
    @Test("Bundled Kemendagri 2025 table names Kaltim codes")
    func bundledKaltimNames() {
        #expect(regions.name(of: "64") == "Kalimantan Timur")
        #expect(regions.name(of: "6474") == "Kota Bontang")
        #expect(regions.name(of: "647401") == "Bontang Utara")
        #expect(regions.name(of: "6471") == "Kota Balikpapan")
        #expect(regions.name(of: "647105") == "Balikpapan Selatan")
        #expect(regions.name(of: "6402") == "Kabupaten Kutai Kartanegara")
        #expect(regions.name(of: "6411") == "Kabupaten Mahakam Ulu")
        #expect(regions.name(of: "64.74.01") == "Bontang Utara")
    }

    @Test("Unknown and retired codes have no name")
    func unknownCodes() {
        for code in ["99", "00", "6404", "6405", "6406", "6410", "6473", "6499", "647409", "640701", "", "64x"] {
            #expect(regions.name(of: code) == nil, "\(code)")
        }
    }

    @Test("Only the five retired Kaltim regencies are historical")
    func historicalRegencies() {
        for code in ["6404", "6405", "6406", "6410", "6473"] {
            #expect(regions.isHistoricalRegency(code), "\(code)")
        }
        for code in ["6401", "6474", "6499", "6501", "64", "640401"] {
            #expect(!regions.isHistoricalRegency(code), "\(code)")
        }
    }

    @Test("CSV text: header order, CRLF, quotes and junk rows")
    func csvParsing() {
        let csv =
            "level,name,code\r\nprovinsi,Contoh,91\r\nkabupaten_kota,\"Kota \"\"Baru\"\", Utara\",91.71\r\n"
            + "kecamatan, Satu ,91.71.01\n\nbroken\nkecamatan,Tanpa Kode,\ndesa,Desa Uji,91.71.01.2001\n"
        let table = RegionCodes(csv: csv)
        #expect(table.name(of: "91") == "Contoh")
        #expect(table.name(of: "9171") == "Kota \"Baru\", Utara")
        #expect(table.name(of: "917101") == "Satu")
        #expect(table.name(of: "9171012001") == "Desa Uji")
        #expect(table.name(of: "level") == nil)
        #expect(table.name(of: "64") == nil)
    }

    @Test("CSV text without a header uses code,name columns")
    func csvWithoutHeader() {
        let table = RegionCodes(csv: "64,Kalimantan Timur,provinsi\n64.74,Kota Bontang,kabupaten_kota")
        #expect(table.name(of: "6474") == "Kota Bontang")
        #expect(table.name(of: "64") == "Kalimantan Timur")
    }
}

// MARK: - NIK

@Suite("NIK rules N1–N8")
struct NIKTests {
    @Test("DOMAIN §2.1 example: Bontang Utara, female, 17-08-1999")
    func domainExample() {
        let check = nik("6474015708999901")
        #expect(check.normalised == "6474015708999901")
        #expect(check.derivedSex == .female)
        #expect(check.derivedBirthDate == "1999-08-17")
        #expect(check.findings.isEmpty)
    }

    @Test(
        "N1: spaces, dots, dashes and tabs are removed",
        arguments: ["6474 0157 0899 9901", "6474.01.57.08.99.9901", "6474-01-570899-9901", " 647401\t5708999901\n"]
    )
    func normalisation(raw: String) {
        let check = nik(raw)
        #expect(check.normalised == "6474015708999901")
        #expect(check.findings.isEmpty)
    }

    @Test(
        "N1: not 16 ASCII digits → reject NIK_FORMAT",
        arguments: [
            "647401570899990", "64740157089999011", "", "6474O15708999901", "6474015708999901x",
            "+6474015708999901", "6474/0157/0899/9901", "\u{FF16}474015708999901",
        ]
    )
    func format(raw: String) {
        let check = nik(raw)
        #expect(check.normalised == nil)
        #expect(check.derivedSex == nil)
        #expect(check.derivedBirthDate == nil)
        #expect(codes(check) == ["NIK_FORMAT"])
        #expect(check.findings.first?.severity == .reject)
        #expect(check.findings.first?.message == "NIK harus terdiri dari 16 angka.")
    }

    @Test("N2: unknown province → reject, no regency or district finding")
    func unknownProvince() {
        for raw in ["9974015708999909", "0074015708999909"] {
            let check = nik(raw)
            #expect(codes(check) == ["NIK_PROVINCE_UNKNOWN"])
            #expect(check.findings.first?.severity == .reject)
            #expect(check.derivedBirthDate == "1999-08-17")
        }
    }

    @Test("N9 is not a finding: a non-Kaltim prefix passes")
    func otherProvince() {
        #expect(nik("6501015708999910").findings.isEmpty)
        #expect(nik("3171015708999911").findings.isEmpty)
    }

    @Test(
        "N3: retired Kaltim regency (6404…) → warning NIK_REGENCY_HISTORICAL only",
        arguments: ["6404", "6405", "6406", "6410", "6473"])
    func historicalRegency(prefix: String) {
        let check = nik(prefix + "015708999912")
        #expect(codes(check) == ["NIK_REGENCY_HISTORICAL"])
        #expect(check.findings.first?.severity == .warning)
        #expect(check.derivedBirthDate == "1999-08-17")
    }

    @Test("N3: unknown current regency → warning NIK_REGENCY_UNKNOWN")
    func unknownRegency() {
        let check = nik("6499015708999913")
        #expect(codes(check) == ["NIK_REGENCY_UNKNOWN"])
        #expect(check.findings.first?.severity == .warning)
    }

    @Test("N4: unknown district → warning NIK_DISTRICT_UNKNOWN")
    func unknownDistrict() {
        for raw in ["6474095708999914", "6407015708999915"] {
            let check = nik(raw)
            #expect(codes(check) == ["NIK_DISTRICT_UNKNOWN"])
            #expect(check.findings.first?.severity == .warning)
        }
    }

    @Test("Female day 41–71 is the day + 40")
    func femaleDays() {
        let first = nik("6474014112959916", born: "1995-12-01")
        #expect(first.derivedSex == .female)
        #expect(first.derivedBirthDate == "1995-12-01")
        #expect(first.findings.isEmpty)
        let last = nik("6474017101009917", born: "2000-01-31")
        #expect(last.derivedSex == .female)
        #expect(last.derivedBirthDate == "2000-01-31")
        #expect(last.findings.isEmpty)
    }

    @Test("Male day 01–31")
    func maleDays() {
        let first = nik("6471050101009918", born: "2000-01-01", sex: .male)
        #expect(first.derivedSex == .male)
        #expect(first.derivedBirthDate == "2000-01-01")
        #expect(first.findings.isEmpty)
        let last = nik("6471053112999919", born: "1999-12-31", sex: .male)
        #expect(last.derivedSex == .male)
        #expect(last.derivedBirthDate == "1999-12-31")
        #expect(last.findings.isEmpty)
    }

    @Test(
        "N5: impossible day or month → reject NIK_BIRTH_DATE_INVALID",
        arguments: [
            ("6474010008999920", nil),  // day 00
            ("6474013208999921", nil),  // day 32
            ("6474014008999922", nil),  // day 40
            ("6474017208999923", nil),  // day 72
            ("6474013104999924", Sex.male),  // 31 April
            ("6474017104999925", Sex.female),  // 31 April, female
            ("6474011713999926", Sex.male),  // month 13
            ("6474011700999927", Sex.male),  // month 00
        ] as [(String, Sex?)]
    )
    func invalidBirthDate(raw: String, sex: Sex?) {
        let check = nik(raw)
        #expect(codes(check).first == "NIK_BIRTH_DATE_INVALID")
        #expect(check.findings.first?.severity == .reject)
        #expect(check.derivedBirthDate == nil)
        #expect(check.derivedSex == sex)
        #expect(!codes(check).contains("AGE_OUT_OF_RANGE"))
    }

    @Test("29 February in leap years is valid, for men and women")
    func leapDay() {
        let male = nik("6474012902049928", born: "2004-02-29", sex: .male)
        #expect(male.derivedBirthDate == "2004-02-29")
        #expect(male.findings.isEmpty)
        // YY 00: 1900 was not a leap year, 2000 was.
        let female = nik("6474016902009929", born: "2000-02-29")
        #expect(female.derivedBirthDate == "2000-02-29")
        #expect(female.findings.isEmpty)
        // A wide window where only 2000 exists.
        let wide = nik("6474016902009929", born: "2000-02-29", window: 0...200)
        #expect(wide.derivedBirthDate == "2000-02-29")
        // Only 1900 would fit 120...130, but 29 February 1900 did not exist.
        let only1900Fits = nik("6474016902009929", born: "2000-02-29", window: 120...130)
        #expect(only1900Fits.derivedBirthDate == "2000-02-29")
        #expect(codes(only1900Fits) == ["AGE_OUT_OF_RANGE"])
    }

    @Test("29 February in non-leap years is invalid")
    func nonLeapDay() {
        let cases: [(String, Sex)] = [("6474012902039930", .male), ("6474016902019931", .female), ("6474012902999932", .male)]
        for (raw, sex) in cases {
            let check = nik(raw, sex: sex)
            #expect(codes(check) == ["NIK_BIRTH_DATE_INVALID"], "\(raw)")
            #expect(check.derivedSex == sex)
            #expect(check.derivedBirthDate == nil)
        }
    }

    @Test("N6: serial 0000 → reject NIK_SERIAL_ZERO")
    func serialZero() {
        let check = nik("6474015708990000")
        #expect(codes(check) == ["NIK_SERIAL_ZERO"])
        #expect(check.findings.first?.severity == .reject)
        #expect(nik("6474015708999999").findings.isEmpty)
    }

    @Test(
        "N7: age window edges on 2025-07-01 with 17...35",
        arguments: [
            ("6474010107089933", "2008-07-01", true),  // 17 today
            ("6474010207089934", "2008-07-02", false),  // 16, turns 17 tomorrow
            ("6474010207899935", "1989-07-02", true),  // 35, turns 36 tomorrow
            ("6474010107899936", "1989-07-01", false),  // 36 today
        ]
    )
    func ageWindowEdges(raw: String, birthDate: String, inside: Bool) {
        let check = nik(raw, born: birthDate, sex: .male)
        #expect(check.derivedBirthDate == birthDate)
        #expect(codes(check) == (inside ? [] : ["AGE_OUT_OF_RANGE"]))
        if !inside {
            #expect(check.findings.first?.severity == .reject)
            #expect(check.findings.first?.message == "Usia pendaftar harus antara 17 dan 35 tahun.")
        }
    }

    @Test("N7: the century that fits the window is chosen")
    func centuryChoice() {
        let twenties = nik("6474011503059937", born: "2005-03-15", sex: .male)
        #expect(twenties.derivedBirthDate == "2005-03-15")
        #expect(twenties.findings.isEmpty)
        let nineties = nik("6474011503959938", born: "1995-03-15", sex: .male)
        #expect(nineties.derivedBirthDate == "1995-03-15")
        #expect(nineties.findings.isEmpty)
    }

    @Test("N7: neither 19YY nor 20YY fits → reject, birth date still derived in the past")
    func noCenturyFits() {
        let young = nik("6474011503109939", born: "2010-03-15", sex: .male)
        #expect(codes(young) == ["AGE_OUT_OF_RANGE"])
        #expect(young.derivedBirthDate == "2010-03-15")
        // 2030 would be in the future; 1930 is the only past candidate.
        let old = nik("6474011503309940", born: "1930-03-15", sex: .male)
        #expect(codes(old) == ["AGE_OUT_OF_RANGE"])
        #expect(old.derivedBirthDate == "1930-03-15")
    }

    @Test("N7: when both centuries fit, the declared year decides")
    func bothCenturiesFit() {
        let older = nik("6474011503209941", born: "1920-03-15", sex: .male, window: 0...120)
        #expect(older.derivedBirthDate == "1920-03-15")
        #expect(older.findings.isEmpty)
        let younger = nik("6474011503209941", born: "2020-03-15", sex: .male, window: 0...120)
        #expect(younger.derivedBirthDate == "2020-03-15")
        #expect(younger.findings.isEmpty)
    }

    @Test("N7: a declared birth date outside the window rejects once")
    func declaredAgeOutside() {
        // NIK fits (1999), declared date does not → one age finding plus review for the date mismatch.
        let declaredOnly = nik("6474015708999901", born: "1980-08-17")
        #expect(codes(declaredOnly) == ["AGE_OUT_OF_RANGE", "NIK_DATA_MISMATCH"])
        // Both outside → still one age finding.
        let both = nik("6474011503109939", born: "2010-03-16", sex: .male)
        #expect(codes(both) == ["AGE_OUT_OF_RANGE", "NIK_DATA_MISMATCH"])
        // Malformed NIK: the declared age is still reported.
        let malformed = nik("647401570899990", born: "2012-01-01")
        #expect(codes(malformed) == ["NIK_FORMAT", "AGE_OUT_OF_RANGE"])
    }

    @Test("N8: declared birth date ≠ NIK birth date → review, not reject")
    func birthDateMismatch() {
        let check = nik("6474015708999901", born: "1999-08-18")
        #expect(codes(check) == ["NIK_DATA_MISMATCH"])
        #expect(check.findings.first?.severity == .review)
        #expect(check.findings.first?.message.hasPrefix("Tanggal lahir pada NIK berbeda") == true)
        #expect(check.derivedBirthDate == "1999-08-17")
        #expect(codes(nik("6474015708999901", born: "17-08-1999")) == ["NIK_DATA_MISMATCH"])
    }

    @Test("N8: declared sex ≠ NIK sex → review; both differing → one finding")
    func sexMismatch() {
        let sex = nik("6474015708999901", sex: .male)
        #expect(codes(sex) == ["NIK_DATA_MISMATCH"])
        #expect(sex.findings.first?.severity == .review)
        #expect(sex.findings.first?.message.hasPrefix("Jenis kelamin pada NIK berbeda") == true)
        let both = nik("6474015708999901", born: "1999-08-07", sex: .male)
        #expect(codes(both) == ["NIK_DATA_MISMATCH"])
        #expect(both.findings.first?.message.hasPrefix("Jenis kelamin dan tanggal lahir") == true)
    }

    @Test("Findings come in rule order with their severities")
    func severitiesAndOrder() {
        let check = nik("9974010002990000", born: "2015-01-01", sex: .male)
        #expect(codes(check) == ["NIK_PROVINCE_UNKNOWN", "NIK_BIRTH_DATE_INVALID", "NIK_SERIAL_ZERO", "AGE_OUT_OF_RANGE"])
        #expect(check.findings.allSatisfy { $0.severity == .reject })
        let warnings = nik("6404095708999942", born: "1999-08-18")
        #expect(warnings.findings.map(\.severity) == [.warning, .review])
    }
}

// MARK: - Names

@Suite("Person names")
struct PersonNameTests {
    @Test(
        "Normalisation",
        arguments: [
            ("  siti   nur'aini  ", "SITI NURAINI"),
            ("Ma\u{2019}ruf Amin", "MARUF AMIN"),
            ("Abdul-Rahman, S.", "ABDUL RAHMAN S"),
            ("José Ñúñez", "JOSE NUNEZ"),
            ("Soekarno", "SUKARNO"),
            ("Djoko Tjahjono", "JOKO CAHJONO"),
            ("Chairul Anwar", "KHAIRUL ANWAR"),
            ("Jaya Jumadi", "JAYA JUMADI"),
            ("Noerul Hidayah", "NURUL HIDAYAH"),
            ("", ""),
            (" .,- ", ""),
        ]
    )
    func normalise(input: String, expected: String) {
        #expect(PersonName.normalise(input) == expected)
    }

    /// The old-spelling rules run on bytes for ASCII words: every word of up to five letters
    /// over the letters the rules involve comes out as `replacingOccurrences`, applied rule by
    /// rule, made it (overlaps such as OOE, TJH, DJJ and CCH included); a word with a letter
    /// beyond ASCII keeps the old path.
    @Test func oldSpellingsOnBytesAreTheOldRulesOnStrings() {
        func reference(_ word: String) -> String {
            var modern = word
            for (old, modern2) in [("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("CH", "KH")] {
                modern = modern.replacingOccurrences(of: old, with: modern2)
            }
            return modern
        }
        let letters = Array("OEDJTCHKA")
        var words = [""]
        var checked = 0
        for _ in 1...5 {
            words = words.flatMap { word in letters.map { word + String($0) } }
            for word in words {
                // (No M among the letters: no word becomes a form of Muhammad.)
                #expect(PersonName.normalise(word) == reference(word), "\(word)")
                checked += 1
            }
        }
        #expect(checked == 9 + 81 + 729 + 6_561 + 59_049)
        #expect(PersonName.normalise("Tjoeŋ") == "CUŊ")
    }

    @Test(
        "Forms of Muhammad become MUHAMMAD",
        arguments: [
            "Muhammad", "Mohammad", "Muhamad", "Mohamad", "Mochammad", "Mochamad", "Moch.", "Moh.", "Muh.", "M.",
            "Mohammed", "Muhammed", "MOCH", "m",
        ]
    )
    func muhammad(form: String) {
        #expect(PersonName.normalise("\(form) Rizki") == "MUHAMMAD RIZKI")
    }

    @Test(
        "Names that match",
        arguments: [
            ("Mochammad Soekarno", "MUHAMAD SUKARNO"),
            ("M. Rizki Pratama", "Muhammad Rizki Pratama"),
            ("Rahmawati Siti", "Siti Rahmawati"),
            ("Siti Rahmawati", "Siti Rahmawat"),
            ("Abdurrahman Wahid", "Abdurahman Wahid"),
            ("Siti Nur Aminah", "Siti Aminah"),
            ("Chairul Tanjung", "Khairul Tanjung"),
            ("Nur'aini", "NURAINI"),
            ("Djoko Susilo", "Joko Susilo"),
            ("Dewi  Lestari", "dewi lestari"),
            ("Muhammad Rizki Ramadhan Pratama", "Muhammad Rizky Ramadhan Pratama"),
        ]
    )
    func matching(a: String, b: String) {
        #expect(PersonName.matches(a, b))
        #expect(PersonName.matches(b, a))
    }

    @Test(
        "Names that do not match",
        arguments: [
            ("Siti Rahmawati", "Siti Rahayu"),
            ("Budi Santoso", "Agus Santoso"),
            ("Dewi Lestari", "Dewi Kartika"),
            ("Ahmad Fauzi", "Ahmad Fauzan"),
            ("Siti", "Siti Aminah"),
            ("Muhammad Rizki", "Muhammad Ridwan"),
            ("", ""),
            ("Siti", ""),
        ]
    )
    func notMatching(a: String, b: String) {
        #expect(!PersonName.matches(a, b))
        #expect(!PersonName.matches(b, a))
    }
}

// MARK: - Phone numbers

@Suite("Phone numbers")
struct PhoneNumberTests {
    @Test(
        "Indonesian mobile numbers become +62",
        arguments: [
            ("081234567890", "+6281234567890"),
            ("6281234567890", "+6281234567890"),
            ("+6281234567890", "+6281234567890"),
            ("+62 812-3456-7890", "+6281234567890"),
            ("(0812) 3456.7890", "+6281234567890"),
            ("(+62) 812 3456 7890", "+6281234567890"),
            ("0812345678", "+62812345678"),  // shortest: 8 + 8 digits
            ("+62 812 3456 78901", "+62812345678901"),  // longest: 8 + 11 digits
        ]
    )
    func valid(raw: String, expected: String) {
        #expect(PhoneNumber.normalise(raw) == expected)
    }

    @Test(
        "Everything else is nil",
        arguments: [
            "", "0211234567", "+62 21 1234567", "0541 123456", "+6591234567", "+1 415 555 0100",
            "081234567", "08123456789012", "+628123456789012", "812345678901", "0812-345a-7890",
            "+62 0812 3456 7890", "0062812345678", "08\u{FF11}2345678901", "0812/3456/7890", "++6281234567890",
        ]
    )
    func invalid(raw: String) {
        #expect(PhoneNumber.normalise(raw) == nil)
    }
}

// MARK: - E-mail

private let local64 = String(repeating: "a", count: 64)

/// An address of `64 + 1 + domainLength` characters with a local part of 64.
private func address(domainLength: Int) -> String {
    let labels = String(repeating: "b", count: 63) + "." + String(repeating: "c", count: 63) + "."
    return local64 + "@" + labels + String(repeating: "d", count: domainLength - labels.count - 4) + ".com"
}

@Suite("E-mail addresses")
struct EmailAddressTests {
    @Test("The length limits are 64 for the local part and 254 in all")
    func lengthLimits() {
        #expect(address(domainLength: 189).count == 254)
        #expect(EmailAddress.isValid(address(domainLength: 189)))
        #expect(!EmailAddress.isValid(address(domainLength: 190)))
        #expect(EmailAddress.isValid(local64 + "@example.com"))
        #expect(!EmailAddress.isValid(local64 + "a@example.com"))
    }

    @Test(
        "Valid addresses",
        arguments: [
            "siti@example.co.id", "a.b+tag@sub.example.com", "x@a-b.io", "budi_99@mail.id", "A@EXAMPLE.COM",
        ]
    )
    func valid(address: String) {
        #expect(EmailAddress.isValid(address))
    }

    @Test(
        "Invalid addresses",
        arguments: [
            "", "no-at-sign", "a@@example.com", "a@b@example.com", "@example.com", "a b@example.com",
            " a@example.com", "a@example.com ", "ab@example", "ab@-example.com", "ab@example-.com", "ab@example.c",
            "ab@example.123", "ab@exa_mple.com", "ab@example..com", "ab@.example.com", "ab@example.com.",
            "ab@exam ple.com", "ab@", "ab@contoh.co.i1", "ab@example.com\u{0}", "a\u{7}b@example.com", "a,b@example.com",
            "<a@example.com>",
            "a\"b@example.com", "a\\b@example.com", "a;b@example.com",
            "ab@" + String(repeating: "e", count: 64) + ".com",
        ]
    )
    func invalid(address: String) {
        #expect(!EmailAddress.isValid(address))
    }
}

@Suite("Calendar dates as the rules read them")
struct CalendarDateParsingTests {
    /// The parse the rules used before reading bytes: split on "-", each part of ASCII whole
    /// numbers, then a real date (the month's length, 29 February in leap years only).
    func previousAge(_ birth: String, _ reference: String) -> Int? {
        func parse(_ iso: String) -> (Int, Int, Int)? {
            let parts = iso.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
                parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isWholeNumber } }),
                let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
            else { return nil }
            var components = DateComponents()
            (components.year, components.month, components.day) = (year, month, day)
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            guard (1...12).contains(month), day >= 1,
                let first = calendar.date(from: DateComponents(year: year, month: month, day: 1)),
                day <= calendar.range(of: .day, in: .month, for: first)!.count
            else { return nil }
            return (year, month, day)
        }
        guard let b = parse(birth), let r = parse(reference) else { return nil }
        return r.0 - b.0 - ((r.1, r.2) >= (b.1, b.2) ? 0 : 1)
    }

    @Test func hostileDatesAreReadAsBefore() {
        var texts = [
            "2008-07-01", "2000-02-29", "1900-02-29", "2024-02-29", "2023-02-29", "2025-04-31", "2025-12-31", "2025-13-01",
            "2025-00-10", "2025-01-00", "0000-01-01", "9999-12-31", "2025-1-01", "2025-01-1", "20250-01-01", "2025-01-011",
            "2025/01/01", "2025--01-01", "-2025-01-01", "2025-01-01 ", " 2025-01-01", "2025-01-01\n", "２０２５-01-01",
            "2025-٠١-01", "2025-0\u{301}1-01", "2025-01-0\u{0}", "", "-", "--", "2025-01", "2025-01-01-", "+025-01-01",
            "2025\r\n01-01", "٢٠٢٥-01-01", "2025-01-01\u{200B}", "2025-O1-01",
        ]
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789-- /x\u{301}٣\n")
        for _ in 0..<20_000 {
            var text = Array("2025-06-15")
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                switch Int.random(in: 0..<3, using: &generator) {
                case 0 where !text.isEmpty: text[Int.random(in: 0..<text.count, using: &generator)] = alphabet.randomElement()!
                case 1: text.insert(alphabet.randomElement()!, at: Int.random(in: 0...text.count, using: &generator))
                default: if !text.isEmpty { text.remove(at: Int.random(in: 0..<text.count, using: &generator)) }
                }
            }
            texts.append(String(text))
        }
        for text in texts {
            #expect(NIKCheck.age(of: text, on: "2025-07-01") == previousAge(text, "2025-07-01"), "\(text.debugDescription)")
            #expect(NIKCheck.age(of: "2000-02-29", on: text) == previousAge("2000-02-29", text), "\(text.debugDescription)")
        }
    }
}
