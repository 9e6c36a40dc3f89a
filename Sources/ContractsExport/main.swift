// Writes the JSON Schemas (schemas/) and the AsyncAPI document (docs/asyncapi.json) generated
// from the contract types. Run from the repository root: `swift run contracts-export`.
import Foundation
import Topology

let arguments = CommandLine.arguments.dropFirst()
if !arguments.isEmpty {
    FileHandle.standardError.write(Data("usage: contracts-export   (run from the repository root; takes no arguments)\n".utf8))
    exit(64)
}
let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
let fixtures = root.appendingPathComponent("Tests/ContractsTests/Fixtures")
guard FileManager.default.fileExists(atPath: fixtures.path) else {
    FileHandle.standardError.write(
        Data("contracts-export: run it from the repository root (no Tests/ContractsTests/Fixtures here)\n".utf8))
    exit(64)
}
do {
    var examples: [String: Data] = [:]
    for file in try FileManager.default.contentsOfDirectory(atPath: fixtures.path) where file.hasSuffix(".json") {
        examples[String(file.dropLast(5))] = try Data(contentsOf: fixtures.appendingPathComponent(file))
    }
    let files = try ContractDocuments.generate(examples: examples)
    for (path, data) in files.sorted(by: { $0.key < $1.key }) {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }
    print("contracts-export: wrote \(files.count) files")
} catch {
    FileHandle.standardError.write(Data("contracts-export: \(error)\n".utf8))
    exit(1)
}
