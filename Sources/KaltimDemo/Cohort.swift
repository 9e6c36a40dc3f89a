import Contracts
import Foundation
import Programme
import Workers

/// A seeded synthetic cohort: a civil-registry extract, training history of earlier years,
/// and the registrations of the 2025 programme with realistic defects. Applicants under 18 on
/// the reference date register with a parent's consent, except one in four, whose portal
/// record lacks it (intake rejects them: `GUARDIAN_CONSENT_MISSING`). Every NIK has a serial
/// in 9000–9999 and is marked synthetic; none belongs to anyone.
struct Cohort {
    struct Resident {
        var nik: String
        var name: String
        var birthDate: String
        var sex: Sex
        var regionCode: String
    }

    enum Defect: String, CaseIterable {
        case none, malformedNIK, unknownNIK, nonResident, duplicate, outsideAgeWindow
    }

    struct Registration {
        var registration: RegistrationSubmittedV3
        var defect: Defect
        var asVersion1: Bool
    }

    var residents: [Resident] = []
    var historyCSV = "nik,programme,year,outcome\n"
    var registrations: [Registration] = []

    static let firstNames = [
        "Siti", "Nur", "Dewi", "Rina", "Ayu", "Putri", "Fitri", "Wulan", "Rahma", "Indah", "Muhammad", "Ahmad", "Rizky", "Andi",
        "Budi", "Agus", "Dedi", "Hendra", "Yusuf", "Fajar", "Arif", "Eko", "Bayu", "Dimas", "Reza", "Aldi", "Ilham", "Taufik",
    ]
    static let lastNames = [
        "Rahmawati", "Lestari", "Pratama", "Saputra", "Hidayat", "Nugroho", "Santoso", "Wijaya", "Kurniawan", "Setiawan",
        "Permata", "Handayani", "Syahputra", "Ramadhan", "Firmansyah", "Maulana", "Anggraini", "Susanti", "Gunawan", "Siregar",
    ]
    /// Kaltim districts near the two BLKIs (Kemendagri codes) and, for non-residents, elsewhere.
    static let kaltimDistricts = [
        "647101", "647102", "647103", "647104", "647105", "647106", "640901", "640902", "647201", "647203", "647205",
        "647401", "647402", "647403", "640801", "640201",
    ]
    static let otherDistricts = ["317101", "317402", "637101", "630301", "737101"]

    init(seed: UInt64, residents count: Int, registrations total: Int, catalogue: ProgrammeCatalogue) {
        var random = SeededRandom(seed: seed)
        var used = Set<String>()
        for index in 0..<count {
            let nonResident = index % 20 == 19  // 5 % live outside Kaltim
            let district =
                nonResident
                ? Self.otherDistricts.randomElement(using: &random)! : Self.kaltimDistricts.randomElement(using: &random)!
            let sex: Sex = Bool.random(using: &random) ? .male : .female
            let year = Int.random(in: 1990...2007, using: &random)
            let month = Int.random(in: 1...12, using: &random)
            let day = Int.random(in: 1...28, using: &random)
            // The NIK's region: mostly where they live; some were first registered elsewhere.
            let nikRegion =
                Int.random(in: 0..<10, using: &random) == 0 ? Self.otherDistricts.randomElement(using: &random)! : district
            var nik = ""
            repeat {
                let serial = Int.random(in: 9000...9999, using: &random)
                nik = String(
                    format: "%@%02d%02d%02d%04d", nikRegion, day + (sex == .female ? 40 : 0), month, year % 100, serial)
            } while !used.insert(nik).inserted
            let name = "\(Self.firstNames.randomElement(using: &random)!) \(Self.lastNames.randomElement(using: &random)!)"
            residents.append(
                Resident(
                    nik: nik, name: name, birthDate: String(format: "%04d-%02d-%02d", year, month, day), sex: sex,
                    regionCode: district + "1001"))
        }
        // Earlier programmes: 8 % failed once (priority tier 2), 3 % passed (tier 3).
        for resident in residents {
            let draw = Int.random(in: 0..<100, using: &random)
            if draw < 8 {
                historyCSV += "\(resident.nik),TATA_GRAHA,\(Int.random(in: 2021...2024, using: &random)),TIDAK_LULUS\n"
            } else if draw < 11 {
                historyCSV += "\(resident.nik),MEKANIK_SEPEDA_MOTOR,\(Int.random(in: 2021...2024, using: &random)),LULUS\n"
            }
        }
        let offers = catalogue.centres.flatMap { centre in
            centre.programmes.flatMap { programme in
                Array(repeating: (centre.centre, programme.code), count: programme.classes)
            }
        }
        var registered: [Resident] = []
        // Born after this day: under 18 on the reference date.
        let childBornAfter = String(Int(catalogue.referenceDate.prefix(4))! - 18) + catalogue.referenceDate.dropFirst(4)
        var children = 0
        // Each resident registers at most once, except the deliberate duplicates.
        let order = residents.indices.shuffled(using: &random)
        for index in 0..<total {
            let draw = Int.random(in: 0..<100, using: &random)
            let defect: Defect =
                switch draw {
                case 0..<2: .malformedNIK
                case 2..<4: .unknownNIK
                case 4..<7: .duplicate
                case 7..<9: .outsideAgeWindow
                default: .none
                }
            var person = residents[order[index % order.count]]
            if defect == .duplicate, let earlier = registered.randomElement(using: &random) { person = earlier }
            let (centre, programme) = offers.randomElement(using: &random)!
            var nik = person.nik
            switch defect {
            case .malformedNIK: nik = String(nik.dropLast())
            case .unknownNIK: nik = String(nik.dropLast(4)) + "0999"
            case .outsideAgeWindow:
                person.birthDate = "1979" + person.birthDate.dropFirst(4)
                nik = String(nik.prefix(10)) + "79" + nik.suffix(4)
            default: break
            }
            registered.append(person)
            let phone = String(
                format: "08%02d%08d", Int.random(in: 11...59, using: &random), Int.random(in: 0..<100_000_000, using: &random))
            let isChild = person.birthDate > childBornAfter
            if isChild { children += 1 }
            let registration = RegistrationSubmittedV3(
                registrationID: String(format: "REG-2025-%06d", index + 1), nik: nik, fullName: person.name,
                birthPlace: "Balikpapan", birthDate: person.birthDate, sex: person.sex, phone: phone, whatsApp: phone,
                email: Int.random(in: 0..<3, using: &random) == 0 ? nil : "peserta\(index)@contoh.id",
                domicile: Domicile(regionCode: person.regionCode, address: "Jl. Contoh No. \(index % 200 + 1)"), education: .smk,
                employmentStatus: .unemployed, jobSeekerCardNumber: nil, preferredCentre: centre, programme: programme,
                secondChoiceProgramme: nil, apprenticeshipInterest: Int.random(in: 0..<10, using: &random) < 4,
                declaredTrainings: [],
                consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"),
                guardianConsent: isChild && children % 4 != 1
                    ? GuardianConsent(
                        guardianName:
                            "\(Self.firstNames[index % Self.firstNames.count]) \(person.name.split(separator: " ").last ?? "")",
                        relation: .parent, givenAt: "2025-03-03T01:12:40Z", textVersion: "pdp-wali-2025-01") : nil)
            // Version 1 cannot carry a guardian's consent: the portal sends children's as version 3.
            let asVersion1 = Int.random(in: 0..<5, using: &random) == 0 && !isChild
            registrations.append(
                Registration(
                    registration: registration, defect: person.regionCode.hasPrefix("64") ? defect : .nonResident,
                    asVersion1: asVersion1))
        }
    }

    var registryCSV: String {
        "nik,full_name,birth_date,sex,region_code\n"
            + residents.map { "\($0.nik),\($0.name),\($0.birthDate),\($0.sex.rawValue),\($0.regionCode)" }.joined(separator: "\n")
            + "\n"
    }
}

/// SplitMix64: the same seed gives the same cohort on every machine.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
