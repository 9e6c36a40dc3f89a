// The worker runtime's full path, for scripts/bench.sh: one process runs a trivial handler
// (record the message, emit one event) through decode → inbox + state + outbox in one SQLite
// transaction → publish with confirm → ack, over COUNT messages already in the role queue.
import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import Topology

let usage = "usage: jobs-bench --url URL --count N [--concurrency C (512)] [--durability full|normal (full)]"
func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("jobs-bench: \(message)\n\(code == 64 ? usage + "\n" : "")".utf8))
    exit(code)
}

var options: [String: String] = [:]
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let key = arguments.removeFirst()
    guard ["--url", "--count", "--concurrency", "--durability"].contains(key), !arguments.isEmpty else {
        fail("bad argument '\(key)'", code: 64)
    }
    options[key] = arguments.removeFirst()
}
guard let url = options["--url"], let count = Int(options["--count"] ?? ""), count > 0 else {
    fail("--url and a positive --count are required", code: 64)
}
guard let concurrency = UInt16(options["--concurrency"] ?? "512"), concurrency > 0 else { fail("bad --concurrency", code: 64) }
guard let durability = SQLiteStore.Durability(rawValue: (options["--durability"] ?? "full").uppercased()) else {
    fail("--durability must be full or normal", code: 64)
}

/// User plus system CPU time of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Records the registration id and emits one `registration.accepted`.
struct TrivialHandler: MessageHandler {
    let exchange: String
    var migrations: [String] { ["CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY)"] }
    func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent] {
        guard let registration = event.payload as? RegistrationSubmittedV3 else {
            throw Failure.permanent(.unexpectedType, event.header.type)
        }
        try transaction.execute("INSERT INTO seen (id) VALUES (?)", [.text(registration.registrationID)])
        let accepted = RegistrationAcceptedV1(
            registrationID: registration.registrationID, participantID: "P-" + registration.registrationID,
            centre: registration.preferredCentre, programme: registration.programme, priorityTier: .neverTrained,
            priorityReasons: [],
            apprenticeshipInterest: false)
        return [
            try OutgoingEvent(
                EventEnvelope(
                    source: "/bench", correlationID: event.header.correlationID, causationID: event.header.id, data: accepted),
                exchange: exchange)
        ]
    }
}

do {
    let configuration = try AMQPConfiguration(url: url)
    let consuming = try await AMQPConnection.connect(configuration)
    let publishing = try await AMQPConnection.connect(configuration)
    let prefix = "bench-\(UUID().uuidString.prefix(8))."
    let topology = RoleTopology(role: .intake, prefix: prefix)
    try await topology.declare(on: publishing)
    let output = topology.queue + ".output"
    try await publishing.declareQueue(.quorum(output))
    try await publishing.bindQueue(output, exchange: topology.exchange, routingKey: RegistrationAcceptedV1.eventType)

    // Fill the role queue with COUNT distinct registrations (~1 KiB each).
    let template = RegistrationSubmittedV2(
        registrationID: "", nik: "6471054107990003", familyCardNumber: nil, fullName: "Siti Rahmawati", birthPlace: "Balikpapan",
        birthDate: "1999-07-01", sex: .female, phone: "+6281250001001", whatsApp: nil, email: "siti@example.org",
        domicile: Domicile(regionCode: "6471051001", address: String(repeating: "Jl. Contoh ", count: 20)), education: .smk,
        employmentStatus: .unemployed, jobSeekerCardNumber: nil, preferredCentre: .balikpapan, programme: "MEKANIK_SEPEDA_MOTOR",
        secondChoiceProgramme: nil, apprenticeshipInterest: true, declaredTrainings: [],
        consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
    let messages = try (0..<count).map { index -> AMQPOutgoingMessage in
        var registration = template
        registration.registrationID = "REG-\(index)"
        return try OutgoingEvent(EventEnvelope(source: "/bench", data: registration), exchange: topology.exchange).amqpMessage
    }
    let filled = await publishing.publish(messages, window: 100)
    guard filled.allSatisfy({ if case .success = $0 { true } else { false } }) else { fail("filling the queue failed", code: 1) }

    let storePath = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)sqlite").path
    defer {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: storePath + suffix) }
    }
    var workerOptions = WorkerOptions()
    workerOptions.concurrency = concurrency
    let worker = Worker(
        topology: topology, registry: .pipeline, handler: TrivialHandler(exchange: topology.exchange),
        store: try SQLiteStore(path: storePath, durability: durability),
        consuming: consuming, publishing: publishing, instance: "bench", options: workerOptions)
    let cpuBefore = processCPUSeconds()
    let started = ContinuousClock.now
    let running = Task { try await worker.run() }
    while worker.statistics.succeeded < count {
        try await Task.sleep(for: .milliseconds(5))
        if ContinuousClock.now - started > .seconds(600) { fail("timed out", code: 1) }
    }
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let cpuMicrosPerMessage = (processCPUSeconds() - cpuBefore) * 1e6 / Double(count)
    running.cancel()
    _ = try? await running.value
    let figures = String(
        format: "messages=%d seconds=%.3f rate=%.0f cpu_us_per_message=%.0f", count, seconds, Double(count) / seconds,
        cpuMicrosPerMessage)
    print("jobs-full-path durability=\(durability.rawValue.lowercased()) concurrency=\(concurrency) \(figures)")
    for name in [topology.queue, topology.deadLetterQueue, output] + topology.retryQueues.map(\.name) {
        _ = try? await publishing.deleteQueue(name)
    }
    try? await publishing.deleteExchange(topology.exchange)
    await consuming.close()
    await publishing.close()
} catch {
    fail("\(error)", code: 1)
}
