import ContractKit
import Contracts
import Foundation
import Testing
import Topology

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func allFixtures() throws -> [String: Data] {
    var fixtures: [String: Data] = [:]
    for name in GoldenFixtureTests.fixtures { fixtures[name] = try fixture(name) }
    return fixtures
}

/// Runs `scripts/validate-fixtures.py` (Python's jsonschema); returns its exit status and output.
func validateWithPython(_ arguments: [String]) throws -> (Int32, String) {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("validate-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: output.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: output) }
    let handle = try FileHandle(forWritingTo: output)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", repositoryRoot.appendingPathComponent("scripts/validate-fixtures.py").path] + arguments
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    process.waitUntilExit()
    try handle.close()
    return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
}

struct SchemaTests {
    @Test func committedSchemasAndAsyncAPIDocumentAreUpToDate() throws {
        let generated = try ContractDocuments.generate(examples: try allFixtures())
        #expect(generated.count == GoldenFixtureTests.fixtures.count + 1)
        for (path, data) in generated.sorted(by: { $0.key < $1.key }) {
            let committed = try? Data(contentsOf: repositoryRoot.appendingPathComponent(path))
            #expect(committed == data, "\(path) is stale or missing: run `swift run contracts-export` and commit the result")
        }
        let schemaFiles = try FileManager.default.contentsOfDirectory(
            atPath: repositoryRoot.appendingPathComponent("schemas").path)
        #expect(
            Set(schemaFiles.map { "schemas/\($0)" }) == Set(generated.keys.filter { $0.hasPrefix("schemas/") }),
            "orphaned schema files")
    }

    @Test func everyGoldenFixtureValidatesAgainstItsSchemaWithPythonJSONSchema() throws {
        let fixtures = GoldenFixtureTests.fixtures.map {
            repositoryRoot.appendingPathComponent("Tests/ContractsTests/Fixtures/\($0).json").path
        }
        let (status, output) = try validateWithPython([repositoryRoot.appendingPathComponent("schemas").path] + fixtures)
        #expect(status == 0, "\(output)")
        #expect(output.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == fixtures.count, "\(output)")
    }

    @Test func theIndependentValidatorRejectsABrokenMessage() throws {
        let broken = try edited("registration.submitted.v2") { envelope in
            var data = envelope["data"] as! [String: Any]
            data["registrationID"] = nil
            data["sex"] = "X"
            envelope["data"] = data
            envelope["dataversion"] = 3
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).json")
        try broken.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try validateWithPython([
            repositoryRoot.appendingPathComponent("schemas").path, "--schema", "registration.submitted.v2", file.path,
        ])
        #expect(status == 1)
        #expect(output.contains("data: 'registrationID' is a required property"), "\(output)")
        #expect(output.contains("data/sex"), "\(output)")
        #expect(output.contains("dataversion"), "\(output)")
    }

    @Test func schemasFollowTheSwiftTypes() throws {
        let schema = try JSONSchema.describe(RegistrationSubmittedV2.self).jsonObject
        let properties = try #require(schema["properties"] as? [String: Any])
        let required = try #require(schema["required"] as? [String])
        #expect(required.contains("nik") && required.contains("consent"))
        #expect(!required.contains("email") && !required.contains("familyCardNumber"), "optional fields are not required")
        #expect((properties["email"] as? [String: Any])?["type"] as? [String] == ["string", "null"])
        let sex = try #require(properties["sex"] as? [String: Any])
        #expect(sex["enum"] as? [String] == ["L", "P"])
        let trainings = try #require(properties["declaredTrainings"] as? [String: Any])
        #expect(trainings["type"] as? String == "array")
        let parameters = try JSONSchema.describe(NotificationRequestedV1.self).jsonObject["properties"] as? [String: Any]
        #expect((parameters?["parameters"] as? [String: Any])?["additionalProperties"] as? [String: String] == ["type": "string"])
    }

    @Test func theAsyncAPIDocumentListsEveryRoleQueueWithTheContractsItConsumes() throws {
        let generated = try ContractDocuments.generate(examples: try allFixtures())
        let asyncAPI = try #require(generated["docs/asyncapi.json"])
        let document = try #require(try JSONSerialization.jsonObject(with: asyncAPI) as? [String: Any])
        let channels = try #require(document["channels"] as? [String: Any])
        let knownTypes = Set(ContractCatalogue.all.map { $0.eventType })
        for role in WorkerRole.all {
            #expect(Set(role.consumes).isSubset(of: knownTypes), "\(role.name) consumes an unknown type")
            let channel = try #require(channels["queue.\(role.name)"] as? [String: Any])
            #expect(channel["address"] as? String == role.queue)
            let messages = try #require(channel["messages"] as? [String: Any])
            let versions = ContractCatalogue.all.filter { role.consumes.contains($0.eventType) }
            #expect(Set(messages.keys) == Set(versions.map { "\($0.eventType).v\($0.version)" }))
        }
        // Every message has its golden fixture as an example.
        let messages = try #require((document["components"] as? [String: Any])?["messages"] as? [String: Any])
        for (name, message) in messages {
            #expect(((message as? [String: Any])?["examples"] as? [Any])?.count == 1, "\(name) has no example")
        }
    }
}
