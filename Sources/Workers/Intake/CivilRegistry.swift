import Foundation
public import Jobs

/// What the intake worker needs of the civil registry's (Dukcapil's) record of a resident: the
/// name and birth date the registration is compared with, and the province of the registered
/// domicile. Nothing else (no sex, no finer region): DOMAIN.md §6.4, keep only what the verdict
/// needs.
public struct CivilRecord: Sendable, Equatable {
    public var fullName: String
    /// yyyy-MM-dd.
    public var birthDate: String
    /// The Kemendagri code of the registered domicile's province (2 digits, `64` for Kalimantan
    /// Timur); a longer code (a live adapter's) is read by its first two digits.
    public var regionCode: String

    public init(fullName: String, birthDate: String, regionCode: String) {
        self.fullName = fullName
        self.birthDate = birthDate
        self.regionCode = regionCode
    }

    /// Domicile in Kalimantan Timur (province 64) according to the registry record.
    public var livesInKaltim: Bool { regionCode.filter(\.isNumber).hasPrefix("64") }
}

/// The civil-registry check behind the intake worker. ``RegistryExtract`` answers from an
/// imported Dukcapil extract in the worker's own store; a live Dukcapil web-service adapter
/// (PKS access, DOMAIN.md §6.4) can implement the same protocol.
public protocol CivilRegistry: Sendable {
    /// Table definitions the registry needs in the worker's store (may be empty).
    var migrations: [String] { get }
    /// The record of the person with this NIK blind index, or `nil` when the registry has none.
    /// - Throws: a transient ``Jobs/Failure`` when the registry cannot be asked right now.
    func record(nikIndex: String, in transaction: any StoreTransaction) throws -> CivilRecord?
}

/// The registry extract held in the intake worker's store (`intake_registry`), keyed by the NIK
/// blind index: no NIK is stored in clear. Loaded by `kaltim-worker import-registry`, which
/// keeps the name, the birth date and the domicile's province only; the `sex` column stays
/// empty (kept in the table so that older stores need no rebuild).
public struct RegistryExtract: CivilRegistry {
    public init() {}

    public var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS intake_registry (
                nik_index TEXT PRIMARY KEY, full_name TEXT NOT NULL, birth_date TEXT NOT NULL, sex TEXT,
                region_code TEXT NOT NULL)
            """,
            // Stores filled before the extract was reduced: the sex and the finer region go. The
            // partial index holds only such rows, so once they are gone the update at each start
            // finds nothing without reading the table.
            """
            CREATE INDEX IF NOT EXISTS intake_registry_unreduced ON intake_registry (nik_index)
            WHERE sex IS NOT NULL OR length(region_code) > 2
            """,
            """
            UPDATE intake_registry SET sex = NULL, region_code = substr(region_code, 1, 2)
            WHERE sex IS NOT NULL OR length(region_code) > 2
            """,
        ]
    }

    public func record(nikIndex: String, in transaction: any StoreTransaction) throws -> CivilRecord? {
        guard
            let row = try transaction.query(
                "SELECT full_name, birth_date, region_code FROM intake_registry WHERE nik_index = ?", [.text(nikIndex)]
            ).first
        else { return nil }
        return CivilRecord(
            fullName: row["full_name"]?.text ?? "", birthDate: row["birth_date"]?.text ?? "",
            regionCode: String((row["region_code"]?.text ?? "").prefix(2)))
    }
}
