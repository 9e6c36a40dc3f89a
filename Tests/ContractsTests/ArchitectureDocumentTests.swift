import Foundation
import Testing

/// docs/ARCHITECTURE.md's module table names every target of Package.swift, and nothing that
/// is not one (a test target row may stand for its kind).
struct ArchitectureDocumentTests {
    @Test func theModuleTableNamesEveryTarget() throws {
        let package = try String(contentsOf: repositoryRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        let targets = Set(
            package.matches(of: /\.(?:target|executableTarget|systemLibrary|testTarget)\(\s*name: "([^"]+)"/).map {
                String($0.output.1)
            })
        let document = try String(
            contentsOf: repositoryRoot.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        let start = try #require(document.range(of: "## Modules"))
        let end = try #require(document.range(of: "\n## ", range: start.upperBound..<document.endIndex))
        // Every backticked name in a row's first cell (`CCairo`, `CQREncode` share one row).
        var named: Set<String> = []
        for line in document[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| `") {
            let cell = line.dropFirst(2).prefix { $0 != "|" }
            named.formUnion(cell.matches(of: /`([^`]+)`/).map { String($0.output.1) })
        }
        let sourceTargets = targets.filter { !$0.hasSuffix("Tests") }
        #expect(sourceTargets.subtracting(named).isEmpty, "not in the module table: \(sourceTargets.subtracting(named).sorted())")
        #expect(named.subtracting(targets).isEmpty, "not a target: \(named.subtracting(targets).sorted())")
    }
}
