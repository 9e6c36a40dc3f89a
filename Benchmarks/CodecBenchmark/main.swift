// The contract codec, in process and without a broker, for scripts/bench.sh: microseconds per
// message to decode a registration (the registry, strict) and to encode an acceptance (the
// envelope and its payload), with the document codec and with Foundation's JSONDecoder and
// JSONEncoder in the same run.
import ContractKit
import Contracts
import Foundation

let iterations = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 20_000
guard iterations > 0 else {
    FileHandle.standardError.write(Data("usage: codec-bench [ITERATIONS (20000)]\n".utf8))
    exit(64)
}

let registration = RegistrationSubmittedV2(
    registrationID: "REG-2025-000202", nik: "6474011203980002", familyCardNumber: "6474010101150007", fullName: "Andi Saputra",
    birthPlace: "Bontang", birthDate: "1998-03-12", sex: .male, phone: "+6281350002002", whatsApp: "+6281350002002",
    email: "andi@example.org", domicile: Domicile(regionCode: "6474011001", address: String(repeating: "Jl. Contoh ", count: 20)),
    education: .sma, employmentStatus: .unemployed, jobSeekerCardNumber: "AK1-6474-2025-000202", preferredCentre: .bontang,
    programme: "TATA_GRAHA", secondChoiceProgramme: "KONSTRUKSI_BATU", apprenticeshipInterest: false,
    declaredTrainings: [DeclaredTraining(programme: "LAS_LISTRIK", year: 2023, outcome: .failed)],
    consent: Consent(given: true, givenAt: "2025-03-04T02:29:41Z", textVersion: "pdp-2025-01"))
let body = try ContractJSON.encode(EventEnvelope(source: "/bench", subject: "REG-2025-000202", data: registration))
let accepted = EventEnvelope(
    source: "/kaltim/workers/intake", correlationID: EventID.random(), causationID: EventID.random(),
    data: RegistrationAcceptedV1(
        registrationID: "REG-2025-000202", participantID: "P-REG-2025-000202", centre: .bontang, programme: "TATA_GRAHA",
        priorityTier: .neverTrained, priorityReasons: [], apprenticeshipInterest: false))

/// Microseconds per call of `body`, the best of three runs.
func microseconds(_ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<3 {
        let start = ContinuousClock.now
        for _ in 0..<iterations { try body() }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        best = min(best, seconds * 1e6 / Double(iterations))
    }
    return best
}

var fast = ContractRegistry.pipeline
var reference = ContractRegistry.pipeline
reference.engine = .foundation
guard try fast.decode(body).header == reference.decode(body).header else { fatalError("the decoders disagree") }
let decodeFast = try microseconds { _ = try fast.decode(body) }
let decodeReference = try microseconds { _ = try reference.decode(body) }
let encodeFast = try microseconds { _ = try ContractJSON.encode(accepted) }
let encodeReference = try microseconds { _ = try ContractJSON.encoder().encode(accepted) }
print(
    String(
        format: "codec decode registration (%d bytes): document %.1f us, foundation %.1f us, ratio %.2f", body.count,
        decodeFast, decodeReference, decodeReference / decodeFast))
print(
    String(
        format: "codec encode acceptance: document %.1f us, foundation %.1f us, ratio %.2f", encodeFast, encodeReference,
        encodeReference / encodeFast))
