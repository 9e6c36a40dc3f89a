// The reports staff ask for: counts by kabupaten/kota, sex, age band, education, priority tier,
// and by BLKI and programme with the waiting lists; one registration's progress by its number.
import Contracts
import Foundation
import IntakeRules
import Jobs

/// What a report counts by.
enum ReportDimension: String, CaseIterable, Sendable {
    case centreProgramme = "program"
    case regency = "wilayah"
    case sex = "jenis-kelamin"
    case ageBand = "umur"
    case education = "pendidikan"
    case priority = "prioritas"

    /// The heading of the report, in Bahasa Indonesia.
    var title: String {
        switch self {
        case .centreProgramme: "BLKI dan program (dengan daftar tunggu)"
        case .regency: "Kabupaten/kota domisili"
        case .sex: "Jenis kelamin"
        case .ageBand: "Kelompok umur"
        case .education: "Pendidikan terakhir"
        case .priority: "Tingkat prioritas seleksi"
        }
    }

    /// Whether the figures come from intake's store (the coarse profile), which the console
    /// reads only with `--intake-store`.
    var needsIntakeStore: Bool { [.regency, .sex, .ageBand, .education].contains(self) }

    /// Whether a small figure could point at a person (a profile or the priority tier, which
    /// says who failed before): shown as "<5" to those who do not decide on applicants.
    var hidesSmallFigures: Bool { self != .centreProgramme }
}

/// One line of a report: a group and its counts along the way.
struct ReportLine: Sendable, Equatable {
    var key: String
    var label: String
    var registered = 0
    var accepted = 0
    var rejected = 0
    /// Accepted, on a waiting list, not seated and not withdrawn.
    var waiting = 0
    var scheduled = 0
    /// A competency certificate (BNSP), not revoked.
    var certified = 0
}

/// The reports, computed on request from the console's read model and, for the profile's
/// dimensions, intake's `intake_profiles` (counts only leave this type).
struct ProgrammeReports {
    /// One registration as the console knows it.
    struct Progress: Sendable, Equatable {
        var registrationID: String
        var participantID: String?
        var centre: String?
        var programme: String?
        var tier: Int?
        var registeredAt: Date?
        var acceptedAt: Date?
        var rejectedAt: Date?
        var waitlistedAt: Date?
        var scheduledAt: Date?
        var withdrawnAt: Date?
        var assessedAt: Date?
        var certifiedAt: Date?
        var revoked = false
        var notifiedAt: Date?
    }

    /// The columns every report and the lookup read (`r` registrations, `p` participants, `x`
    /// revocations, `q` priorities).
    static let progressQuery = """
        SELECT r.registration_id, r.participant_id, r.centre, r.programme, q.tier, r.registered_at, r.accepted_at,
            r.rejected_at, p.waitlisted_at, p.scheduled_at, p.withdrawn_at, p.assessed_at, p.certified_at,
            p.notified_at, x.certificate_id AS revoked
        FROM console_registrations r LEFT JOIN console_participants p ON p.participant_id = r.participant_id
        LEFT JOIN console_revocations x ON x.certificate_id = p.certificate_id
        LEFT JOIN console_priorities q ON q.registration_id = r.registration_id
        """

    static func progress(_ row: [String: SQLValue]) -> Progress? {
        guard let id = row["registration_id"]?.text else { return nil }
        func date(_ column: String) -> Date? { row[column]?.real.map(Date.init(timeIntervalSince1970:)) }
        return Progress(
            registrationID: id, participantID: row["participant_id"]?.text, centre: row["centre"]?.text,
            programme: row["programme"]?.text, tier: row["tier"]?.integer.map(Int.init), registeredAt: date("registered_at"),
            acceptedAt: date("accepted_at"), rejectedAt: date("rejected_at"), waitlistedAt: date("waitlisted_at"),
            scheduledAt: date("scheduled_at"), withdrawnAt: date("withdrawn_at"), assessedAt: date("assessed_at"),
            certifiedAt: date("certified_at"), revoked: row["revoked"]?.text != nil, notifiedAt: date("notified_at"))
    }

    /// Every registration of the read model (a BLKI's only, when `centre` is given).
    static func registrations(in store: any MessageStore, centre: String?) async throws -> [Progress] {
        let rows =
            if let centre {
                try await store.read(progressQuery + " WHERE r.centre = ?", [.text(centre)])
            } else {
                try await store.read(progressQuery)
            }
        return rows.compactMap(progress)
    }

    /// One registration by its number, or nil (or one of another BLKI than `centre`).
    static func registration(_ id: String, in store: any MessageStore, centre: String?) async throws -> Progress? {
        let rows = try await store.read(progressQuery + " WHERE r.registration_id = ?", [.text(id)])
        guard let found = rows.first.flatMap(progress) else { return nil }
        if let centre, found.centre != centre { return nil }
        return found
    }

    /// The coarse profiles intake recorded, by registration number: what `dimension` reads.
    static func profiles(_ dimension: ReportDimension, in intake: any MessageStore) async throws -> [String: String] {
        let column =
            switch dimension {
            case .regency: "regency"
            case .sex: "sex"
            case .ageBand: "age_band"
            case .education: "education"
            case .centreProgramme, .priority: ""
            }
        guard !column.isEmpty else { return [:] }
        var profiles: [String: String] = [:]
        for row in try await intake.read("SELECT registration_id, \(column) AS value FROM intake_profiles") {
            if let id = row["registration_id"]?.text, let value = row["value"]?.text { profiles[id] = value }
        }
        return profiles
    }

    /// Counts `registrations` by `dimension`: one line per group, largest first, and a last
    /// line for what no group names (`profiles` has no value for it).
    static func lines(
        _ registrations: [Progress], by dimension: ReportDimension, profiles: [String: String],
        programmeName: (String) -> String
    ) -> [ReportLine] {
        var lines: [String: ReportLine] = [:]
        for registration in registrations {
            let key: String
            switch dimension {
            case .centreProgramme:
                key = "\(registration.centre ?? "")|\(registration.programme ?? "")"
            case .priority:
                key = registration.tier.map(String.init) ?? ""
            case .regency, .sex, .ageBand, .education:
                key = profiles[registration.registrationID] ?? ""
            }
            var line = lines[key] ?? ReportLine(key: key, label: label(key, dimension, programmeName: programmeName))
            if registration.registeredAt != nil { line.registered += 1 }
            if registration.rejectedAt != nil { line.rejected += 1 }
            if registration.acceptedAt != nil {
                line.accepted += 1
                if registration.scheduledAt != nil { line.scheduled += 1 }
                if registration.waitlistedAt != nil && registration.scheduledAt == nil && registration.withdrawnAt == nil {
                    line.waiting += 1
                }
                if registration.certifiedAt != nil && !registration.revoked { line.certified += 1 }
            }
            lines[key] = line
        }
        return lines.values.sorted {
            ($0.key.isEmpty ? 1 : 0, -$0.registered, $0.label) < ($1.key.isEmpty ? 1 : 0, -$1.registered, $1.label)
        }
    }

    /// Figures below this, above zero, are shown as `<5` where small figures are hidden.
    static let smallestShown = 5

    /// One figure as shown: as it is, or, where small figures are hidden, rounded to the
    /// nearest multiple of 5, with 1 to 4 shown as `<5` (0 stays 0). Every figure of such a
    /// report is rounded on its own, totals too, so that no difference of shown figures (a row's
    /// registered less its accepted, a total less the other lines) gives a small one exactly.
    static func shown(_ figure: Int, hidingSmall: Bool) -> String {
        guard hidingSmall, figure > 0 else { return IndonesianText.number(figure) }
        guard figure >= smallestShown else { return "<\(smallestShown)" }
        return IndonesianText.number((figure + 2) / 5 * 5)
    }

    /// The six figures of each line as shown (see ``shown(_:hidingSmall:)``).
    static func shown(_ lines: [ReportLine], hidingSmall: Bool) -> [[String]] {
        lines.map { line in
            [line.registered, line.accepted, line.rejected, line.waiting, line.scheduled, line.certified].map {
                shown($0, hidingSmall: hidingSmall)
            }
        }
    }

    /// A group's name as a report shows it.
    static func label(_ key: String, _ dimension: ReportDimension, programmeName: (String) -> String) -> String {
        switch dimension {
        case .centreProgramme:
            let parts = key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { return "tidak diketahui" }
            return IndonesianText.centre(parts[0]) + " · " + (parts[1].isEmpty ? "–" : programmeName(parts[1]))
        case .regency:
            guard !key.isEmpty else { return "tidak diketahui" }
            return RegionCodes.kemendagri2025.name(of: key).map { "\($0) (\(key.prefix(2)).\(key.dropFirst(2)))" } ?? key
        case .sex:
            return switch Sex(rawValue: key) {
            case .male: "Laki-laki"
            case .female: "Perempuan"
            case nil: "tidak diketahui"
            }
        case .ageBand: return AgeBand(rawValue: key)?.label ?? "tidak diketahui"
        case .education:
            guard let level = EducationLevel(rawValue: key) else { return "tidak diketahui" }
            return level == .none ? "Tidak sekolah" : level.rawValue
        case .priority:
            return switch key {
            case "1": "1 · belum pernah ikut pelatihan"
            case "2": "2 · pernah ikut, tidak lulus atau tidak selesai"
            case "3": "3 · pernah lulus pelatihan"
            default: "tanpa tingkat prioritas tercatat"
            }
        }
    }
}
