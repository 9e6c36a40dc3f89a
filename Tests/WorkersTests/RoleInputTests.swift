import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import TestSupport
import Testing
import Topology
import Workers

/// Each role's events are declared once, by its input enum: the queue's bindings come from it
/// and the handler switches over it. These tests hold the pieces together where the compiler
/// cannot.
@Suite(.timeLimit(.minutes(10)))
struct RoleInputTests {
    /// A handler paired with another role's input would compile; its bindings would then bring
    /// it events it cannot handle. The handler of each role takes exactly the role's bindings.
    @Test func eachHandlerTakesExactlyTheEventsItsRoleIsBoundTo() {
        #expect(IntakeHandler.Input.routes.eventTypes == WorkerRole.intake.consumes)
        #expect(SchedulingHandler.Input.routes.eventTypes == WorkerRole.scheduling.consumes)
        #expect(GradingHandler.Input.routes.eventTypes == WorkerRole.grading.consumes)
        #expect(CertificateHandler.Input.routes.eventTypes == WorkerRole.certificates.consumes)
        #expect(NotificationHandler.Input.routes.eventTypes == WorkerRole.notifications.consumes)
    }

    /// Every route is a registered contract at the newest version the registry upcasts to (a
    /// route to an older version would compile, bind the queue, and turn every event into an
    /// `unexpected-type` dead letter), and no type is declared twice.
    @Test func everyRouteIsTheNewestVersionOfARegisteredContractDeclaredOnce() {
        let newest = ContractRegistry.pipeline.contracts.compactMapValues { $0.max() }
        let inputs: [(String, [String], [String: Int], [String])] = [
            ("intake", IntakeInput.routes.eventTypes, IntakeInput.routes.versions, IntakeInput.routes.duplicates),
            (
                "scheduling", SchedulingInput.routes.eventTypes, SchedulingInput.routes.versions,
                SchedulingInput.routes.duplicates
            ),
            ("grading", GradingInput.routes.eventTypes, GradingInput.routes.versions, GradingInput.routes.duplicates),
            (
                "certificates", CertificatesInput.routes.eventTypes, CertificatesInput.routes.versions,
                CertificatesInput.routes.duplicates
            ),
            (
                "notifications", NotificationsInput.routes.eventTypes, NotificationsInput.routes.versions,
                NotificationsInput.routes.duplicates
            ),
            ("console", ConsoleInput.routes.eventTypes, ConsoleInput.routes.versions, ConsoleInput.routes.duplicates),
        ]
        for (role, types, versions, duplicates) in inputs {
            #expect(duplicates.isEmpty, "\(role) declares \(duplicates) twice")
            for type in types {
                #expect(newest[type] != nil, "\(role) binds \(type), which no contract has")
                #expect(versions[type] == newest[type], "\(role) routes \(type) as an older version than the newest")
            }
        }
    }

    /// A routing table that declares one type twice keeps the first declaration and says so;
    /// one that routes an old version records it (the test above then fails on it).
    @Test func aTypeDeclaredTwiceOrAnOldVersionIsRecorded() {
        enum Twice: RoleInput {
            case first(ClassOpenedV1)
            case second(ClassOpenedV1)
            case old(RegistrationSubmittedV1)
            static let routes = InputRoutes<Self>().on(ClassOpenedV1.self, Self.first).on(ClassOpenedV1.self, Self.second)
                .on(RegistrationSubmittedV1.self, Self.old)
        }
        #expect(Twice.routes.eventTypes == [ClassOpenedV1.eventType, RegistrationSubmittedV1.eventType])
        #expect(Twice.routes.duplicates == [ClassOpenedV1.eventType])
        #expect(Twice.routes.versions[RegistrationSubmittedV1.eventType] == 1)
        #expect(ContractRegistry.pipeline.contracts[RegistrationSubmittedV1.eventType]?.max() == 3)
    }

    /// A worker given another role's handler refuses to start (its bindings would bring events
    /// the handler cannot take).
    @Test func aWorkerWhoseHandlerIsNotItsRolesRefusesToStart() async throws {
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let broker = InMemoryTransport.Broker()
        let transport = InMemoryTransport(broker: broker, username: "kaltim-intake")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let worker = Worker(
            topology: RoleTopology(role: .intake, prefix: "mismatch."), registry: .pipeline,
            handler: SchedulingHandler(catalogue: catalogue), store: try SQLiteStore(path: path), consuming: transport,
            publishing: transport, instance: "intake@test")
        await #expect(throws: TopologyError.self) { try await worker.run() }
        await #expect(throws: (any Error).self, "nothing was declared") {
            try await transport.queueState("mismatch.kaltim.intake")
        }
    }

    /// An event the role does not take (a binding added by hand on the broker) is a permanent
    /// failure, dead-lettered with its code, and changes nothing in the role's store.
    @Test func anEventTheRoleDoesNotTakeIsAPermanentFailureThatWritesNothing() async throws {
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let kit = try await HandlerTestKit(handler: SchedulingHandler(catalogue: catalogue), registry: .pipeline)
        let revoked = CertificateRevokedV1(certificateID: "CERT-1", participantID: "P1", reasonCode: "TEST")
        do {
            _ = try await kit.deliver(EventEnvelope(source: "/test", data: revoked))
            Issue.record("the scheduling handler accepted a certificate.revoked")
        } catch let failure as Failure {
            #expect(failure.kind == .permanent)
            #expect(failure.code == .unexpectedType)
            #expect(failure.message.contains(CertificateRevokedV1.eventType))
        }
        #expect(try await kit.query("SELECT COUNT(*) AS n FROM sched_applicants").first?["n"]?.integer == 0)
    }
}

/// The NIK key is never the public one by accident: intake and the imports refuse to start
/// without `--nik-key-file` or `--development-key`, and refuse both at once.
@Suite(.timeLimit(.minutes(10)))
struct NIKKeyOptionTests {
    @Test func intakeAndTheImportsRefuseToStartWithoutAKeyOrWithBoth() async throws {
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nik-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("nik.key").path
        try Data(repeating: 0x41, count: 32).write(to: URL(fileURLWithPath: keyFile))
        let database = directory.appendingPathComponent("intake.sqlite").path
        let commands: [[String]] = [
            ["intake", "--database", database, "--no-http", "--broker-url", "amqp://guest:guest@127.0.0.1:1/"],
            ["import-registry", "--csv", keyFile, "--database", database],
            ["import-history", "--csv", keyFile, "--database", database],
        ]
        for command in commands {
            for keyArguments in [[], ["--nik-key-file", keyFile, "--development-key"]] {
                let child = try ChildProcess(binary, command + keyArguments)
                defer { unlink(child.outputPath) }
                let status = try await child.waitForExit(timeout: .seconds(120))
                #expect(status != 0, "\(command[0]) \(keyArguments) started")
                let why =
                    keyArguments.isEmpty
                    ? "give --nik-key-file (the intake worker's key), or --development-key for a local run"
                    : "--nik-key-file and --development-key exclude each other"
                #expect(child.output.contains(why), "\(command[0]) \(keyArguments) says why: \(child.output)")
                #expect(!FileManager.default.fileExists(atPath: database), "nothing was written")
            }
        }
    }
}
