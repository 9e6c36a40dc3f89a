// The fuzz entry point. Built by scripts/fuzz.sh with `-sanitize=fuzzer -D FUZZING`, libFuzzer
// calls `LLVMFuzzerTestOneInput` with generated inputs. In a normal build the same code runs
// over the files named on the command line, so a crasher saved under Tests/FuzzCorpus becomes a
// regression test of the ordinary test suite.
import AMQP
import ContractKit
import Contracts
import Foundation
import IntakeRules
import Jobs
import Topology

/// The decoders every message meets, built once.
let registry = ContractRegistry.pipeline
/// The reference decoder (StrictJSON, then Foundation's `JSONDecoder`) the default one is
/// compared against.
let reference = {
    var registry = ContractRegistry.pipeline
    registry.engine = .foundation
    return registry
}()

/// Traps when the document decoder and the reference disagree: it may accept only what the
/// reference accepts, as the same value, and may refuse what the reference accepts only as
/// malformed JSON (the reference skips malformed values in fields no contract reads).
func compareDecoders(_ data: Data) {
    let fast = Result { () throws(ContractError) in try registry.decode(data) }
    let slow = Result { () throws(ContractError) in try reference.decode(data) }
    switch (fast, slow) {
    case (.success(let a), .success(let b)):
        precondition(a == b, "the decoders read different values")
    case (.success, .failure(let error)):
        preconditionFailure("the document decoder accepted a body the reference refuses (\(error.reason))")
    case (.failure(let error), .success):
        precondition(error.reason == "malformed-json", "the document decoder refused a good body: \(error)")
    case (.failure, .failure):
        break
    }
}

/// Runs one input through every fuzzed parser: the AMQP property list with its header table
/// (``fuzzProperties(_:)``), the envelope and contract decoders (both engines, compared; and with
/// message properties), the NIK rules N1–N8 (the input as the
/// NIK and as the declared birth date), the name, phone and e-mail rules, and the personal-data
/// masker. Bad input must end in a thrown error or
/// a finding; a trap, a crash or a hang is a bug.
func fuzzOne(_ data: Data) {
    fuzzProperties(data)
    compareDecoders(data)
    _ = try? registry.decode(data, contentType: "application/json; charset=utf-8", contentEncoding: nil)
    let text = String(decoding: data.prefix(4096), as: UTF8.self)
    _ = NIKCheck.check(
        text, declaredBirthDate: "1999-08-17", declaredSex: .female, ageWindow: 17...35, referenceDate: "2025-07-01",
        regions: .kemendagri2025)
    _ = NIKCheck.check(
        "6474015708999901", declaredBirthDate: text, declaredSex: .male, ageWindow: 17...35, referenceDate: "2025-07-01",
        regions: .kemendagri2025)
    _ = PersonName.matches(PersonName.normalise(text), "Siti Rahmawati")
    _ = PhoneNumber.normalise(text)
    _ = EmailAddress.isValid(text)
    // The masker reads every dead-letter body and log line, and its own output again.
    let masked = PersonalDataMasker.contracts.mask(body: data.prefix(16_384))
    _ = PersonalDataMasker.contracts.mask(masked)
}

/// An event to check provenance against, and a policy that enforces the contracts' publishers.
let sampleEvent = try? registry.decode(
    Data(
        #"{"specversion":"1.0","id":"e-1","source":"/kaltim/office","type":"notification.requested","dataversion":1,"time":"2025-01-01T00:00:00Z","datacontenttype":"application/json","correlationid":"e-1","data":{"notificationID":"n-1","participantID":null,"registrationID":null,"channel":"SMS","recipient":"+6281250001001","template":"t","parameters":{}}}"#
            .utf8))
let enforcing = PublisherPolicy.enforcing(ContractPublishers.allowedUsers(), parties: ContractPublishers.partyRules())

/// Runs the input as the property list of a basic content header (flags, then the properties
/// present, headers of every AMQP field type included): librabbitmq's decoder and our
/// conversion, what the worker reads from a delivery's properties on both paths into a role
/// queue (its provenance, the type and publisher checks, the inbox key), and the encoder that
/// writes them back. A trap, a crash or a hang is a bug.
func fuzzProperties(_ data: Data) {
    guard let properties = try? AMQPProperties(wireEncoded: data) else { return }
    let headers = properties.headers ?? [:]
    for (exchange, key) in [("kaltim.events", "registration.submitted"), ("", "kaltim.intake")] {
        let provenance = DeliveryProvenance(
            exchange: exchange, routingKey: key, userID: properties.userID, headers: headers, roleQueue: "kaltim.intake")
        precondition((0...DeliveryProvenance.attemptCeiling).contains(provenance.previousAttempts), "attempts out of range")
        _ = provenance.inboxKey(messageID: properties.messageID ?? "")
        if let sampleEvent {
            _ = provenance.check(sampleEvent, typeProperty: properties.type, policy: enforcing)
            _ = provenance.check(sampleEvent, typeProperty: properties.type, policy: .anyPublisher)
        }
    }
    _ = try? registry.decode(data, contentType: properties.contentType, contentEncoding: properties.contentEncoding)
    if let encoded = try? properties.wireEncoded() { _ = try? AMQPProperties(wireEncoded: encoded) }
}

#if FUZZING
    /// libFuzzer's entry point.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
        fuzzOne(bytes.map { Data(bytes: $0, count: count) } ?? Data())
        return 0
    }

    /// libFuzzer's driver, called from our own `main` (SwiftPM links an executable's entry
    /// under a name of its own, so libFuzzer's `main` is not used).
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @main
    struct Fuzz {
        static func main() {
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv) { bytes, count in fuzzerTestOneInput(bytes, count) })
        }
    }
#else
    /// `kaltim-fuzz FILE|FOLDER…`: runs every file (folders: every file inside) through
    /// ``fuzzOne(_:)`` and prints how many; a crasher crashes it.
    @main
    struct ReplayFuzzInputs {
        static func main() throws {
            let paths = CommandLine.arguments.dropFirst()
            guard !paths.isEmpty else {
                FileHandle.standardError.write(Data("usage: kaltim-fuzz FILE|FOLDER...\n".utf8))
                exit(64)
            }
            var count = 0
            for path in paths {
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                    FileHandle.standardError.write(Data("kaltim-fuzz: no such file: \(path)\n".utf8))
                    exit(66)
                }
                let files =
                    isFolder.boolValue
                    ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
                for file in files {
                    fuzzOne(try Data(contentsOf: URL(fileURLWithPath: file)))
                    count += 1
                }
            }
            print("kaltim-fuzz: \(count) inputs, no crash")
        }
    }
#endif
