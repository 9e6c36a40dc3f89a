import Foundation
import Testing

/// The allowed dependency table is the module table of docs/ARCHITECTURE.md: its last column
/// names, for each target, the project targets it may depend on (besides outside libraries).
/// A new arrow, in Package.swift or in an `import` line, that the table does not allow fails
/// here, so a layer holds in substance and the document stays true.
struct DependencyRulesTests {
    /// A target of Package.swift: its name, its source folder and the project targets it names.
    struct Target {
        let name: String
        let folder: String
        let dependencies: Set<String>
        let isTest: Bool
    }

    static func targets() throws -> [Target] {
        let package = try String(contentsOf: repositoryRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        let starts = package.ranges(of: /\.(target|executableTarget|systemLibrary|testTarget)\(/)
        var found: [(name: String, kind: String, text: Substring)] = []
        for (index, start) in starts.enumerated() {
            let end = index + 1 < starts.count ? starts[index + 1].lowerBound : package.endIndex
            let text = package[start.lowerBound..<end]
            guard let name = text.firstMatch(of: /name: "([^"]+)"/)?.output.1 else { continue }
            let kind = String(package[start].dropFirst().dropLast())
            found.append((String(name), kind, text))
        }
        let names = Set(found.map(\.name))
        return found.map { name, kind, text in
            var dependencies: Set<String> = []
            if let list = text.firstMatch(of: /dependencies: \[([^\]]*)\]/)?.output.1 {
                let withoutProducts = list.replacing(/\.product\([^)]*\)/, with: "")
                dependencies = Set(withoutProducts.matches(of: /"([^"]+)"/).map { String($0.output.1) }).intersection(names)
            }
            let folder =
                text.firstMatch(of: /path: "([^"]+)"/).map { String($0.output.1) }
                ?? (kind == "testTarget" ? "Tests/\(name)" : "Sources/\(name)")
            // A test target may use anything; a helper under Tests/ (TestSupport, the probe
            // worker) is checked like any other target.
            return Target(name: name, folder: folder, dependencies: dependencies, isTest: kind == "testTarget")
        }
    }

    /// The module table: target → the project targets its last column allows.
    static func allowedTable(names: Set<String>) throws -> [String: Set<String>] {
        let document = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        let start = try #require(document.range(of: "## Modules"))
        let end = try #require(document.range(of: "\n## ", range: start.upperBound..<document.endIndex))
        var table: [String: Set<String>] = [:]
        for line in document[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 4 else { continue }
            let rowNames = cells[1].matches(of: /`([^`]+)`/).map { String($0.output.1) }
            let allowed = Set(
                cells[cells.count - 2].split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
                }
            ).intersection(names)
            for name in rowNames { table[name] = allowed }
        }
        return table
    }

    /// The project modules a folder's Swift files import.
    static func imports(in folder: String, names: Set<String>) throws -> [String: Set<String>] {
        let root = repositoryRoot.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [:] }
        var found: [String: Set<String>] = [:]
        for case let file as URL in walker where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: /(?m)^(?:@testable |@_exported )?(?:public |package |internal )?import (\w+)/) {
                let module = String(match.output.1)
                if names.contains(module) { found[module, default: []].insert(file.lastPathComponent) }
            }
        }
        return found
    }

    @Test func everyArrowInPackageSwiftAndInTheImportsIsAllowedByTheTable() throws {
        let targets = try Self.targets()
        let names = Set(targets.map(\.name))
        let table = try Self.allowedTable(names: names)
        for target in targets where !target.isTest {
            let allowed = try #require(table[target.name], "\(target.name) has no row in the module table")
            let extra = target.dependencies.subtracting(allowed)
            #expect(extra.isEmpty, "Package.swift: \(target.name) → \(extra.sorted()), which the module table does not allow")
            for (module, files) in try Self.imports(in: target.folder, names: names) where module != target.name {
                #expect(
                    allowed.contains(module),
                    "\(target.name) imports \(module) (\(files.sorted().joined(separator: ", "))), which the module table does not allow"
                )
                #expect(
                    target.dependencies.contains(module),
                    "\(target.name) imports \(module) without naming it in Package.swift")
            }
        }
    }

    /// The table checks itself: it is not allowed to name an arrow that Package.swift does not
    /// have, so it cannot drift into a list of permissions nobody uses.
    @Test func theTableNamesNoArrowThatPackageSwiftDoesNotHave() throws {
        let targets = try Self.targets()
        let table = try Self.allowedTable(names: Set(targets.map(\.name)))
        for target in targets where !target.isTest {
            let unused = (table[target.name] ?? []).subtracting(target.dependencies)
            #expect(
                unused.isEmpty, "the module table allows \(target.name) → \(unused.sorted()), which Package.swift does not have")
        }
    }

    /// A checker that cannot fail checks nothing: a table that allows too little is caught.
    @Test func aForbiddenArrowIsFound() throws {
        let targets = try Self.targets()
        let jobs = try #require(targets.first { $0.name == "Jobs" })
        #expect(jobs.dependencies == ["AMQP", "ContractKit"])
        let table = try Self.allowedTable(names: Set(targets.map(\.name)))
        #expect(table["Jobs"] == ["AMQP", "ContractKit"])
        #expect(table["Console"]?.contains("Workers") == false, "the console does not depend on the workers")
    }

    /// The runtime and the AMQP client are generic: no name of this programme and no
    /// environment read in them; only `DeploymentSettings` among the libraries reads the
    /// environment (executables read it through it). `CMalloc` reads glibc's own malloc
    /// variables, as glibc does, before `main`: no setting of this project.
    @Test func theRuntimeKnowsNoProgrammeAndLibrariesReadNoEnvironment() throws {
        let targets = try Self.targets()
        let names = Set(targets.map(\.name))
        for target in targets where ["Jobs", "AMQP"].contains(target.name) {
            for (file, text) in try Self.sources(in: target.folder) {
                #expect(!text.lowercased().contains("kaltim"), "\(target.name)/\(file) names the programme")
            }
        }
        let libraries = targets.filter {
            !$0.isTest && $0.folder.hasPrefix("Sources/") && $0.name.first?.isUppercase == true
                && $0.name != "DeploymentSettings" && $0.name != "CMalloc"
        }
        #expect(libraries.count > 8 && names.contains("DeploymentSettings"))
        // CMalloc reads glibc's two malloc variables and nothing else.
        let glibcVariables = try Self.sources(in: "Sources/CMalloc").flatMap { _, text in
            text.matches(of: /getenv\("([^"]*)"\)/).map { String($0.1) }
        }
        #expect(Set(glibcVariables) == ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"], "CMalloc reads \(glibcVariables)")
        for target in libraries {
            for (file, text) in try Self.sources(in: target.folder) {
                #expect(
                    !text.contains("processInfo.environment") && !text.contains("getenv("),
                    "\(target.name)/\(file) reads the environment; read it in DeploymentSettings at the edge")
            }
        }
    }

    static func sources(in folder: String) throws -> [(String, String)] {
        let root = repositoryRoot.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        return try walker.compactMap { item in
            guard let file = item as? URL, ["swift", "c", "h"].contains(file.pathExtension) else { return nil }
            return (file.lastPathComponent, try String(contentsOf: file, encoding: .utf8))
        }
    }
}
