import DataProtection
import Foundation
public import Jobs
import Stores

/// Where each role's store is, for a data subject's export or erasure (`ROLE=PATH` for a SQLite
/// file, `ROLE=postgres://…` for the schema named after the role), checked when given and
/// opened for each request: for reading beside the running workers, or for an erasure (an
/// existing store only, so a mistyped path cannot become a new, empty store that "erases"
/// nothing).
public struct SubjectStores: Sendable {
    /// Role and location, in the order given.
    public let locations: [(role: String, location: String)]

    /// - Throws: ``Problem`` naming the first bad entry: not `ROLE=…`, a role the register does
    ///   not know, an empty location, a role given twice.
    public init(_ entries: [String]) throws(Problem) {
        var locations: [(role: String, location: String)] = []
        var roles: Set<String> = []
        for entry in entries {
            guard let equals = entry.firstIndex(of: "=") else {
                throw Problem("wants ROLE=PATH, e.g. intake=var/intake.sqlite")
            }
            let role = String(entry[..<equals])
            let location = String(entry[entry.index(after: equals)...])
            guard PersonalDataRegister.storeRoles.contains(role) else {
                throw Problem(
                    "no role \(String(role.prefix(40)).debugDescription) (one of \(PersonalDataRegister.storeRoles.joined(separator: ", ")))"
                )
            }
            guard !location.isEmpty else { throw Problem("\(role)= names no store") }
            guard roles.insert(role).inserted else { throw Problem("\(role) is given twice") }
            locations.append((role, location))
        }
        self.locations = locations
    }

    /// A bad entry, said without the location (it may hold a password).
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The stores, for reading or (`writing`) for an erasure; a SQLite file must exist.
    /// - Throws: ``Problem`` naming the role and the location (a password replaced by `***`).
    public func open(writing: Bool) async throws -> [(role: String, store: any MessageStore)] {
        var opened: [(role: String, store: any MessageStore)] = []
        for (role, location) in locations {
            do {
                if writing && !Stores.isPostgres(location) {
                    guard FileManager.default.fileExists(atPath: location) else { throw Problem("no such file") }
                    opened.append((role, try SQLiteStore(path: location)))
                } else {
                    // A PostgreSQL schema is opened without creating anything either way.
                    opened.append((role, try await Stores.openForReading(location, schema: role)))
                }
            } catch {
                throw Problem("cannot open the \(role) store \(Stores.redacted(location)): \(error)")
            }
        }
        return opened
    }
}
