import AMQP
import ArgumentParser
import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Topology

/// What the main job publishes in the place of the portal, the office and the LSPs, and what
/// it reads back from the dead letters.
extension ProgrammeRun {
    /// 1. The registration portal publishes (a fifth as contract version 1), plus a few
    /// messages no contract accepts: they belong in the dead letters, nowhere else.
    func publishRegistrations(
        _ registrations: [Cohort.Registration], malformed: Bool, rate: Double? = nil, tally: Tally? = nil
    ) async throws {
        if let rate {
            // Open loop: every 10 ms, what is due by then. Registration k is stamped with its
            // due time (start + k/R), not with when it went out, so that a publisher falling
            // behind shows in the latencies instead of hiding in them; only these are measured.
            let started = ContinuousClock.now
            let wallStart = Date()
            var sent = 0
            var first = true
            while sent < registrations.count {
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let due = min(registrations.count, Int(seconds * rate) + 1)
                if due > sent {
                    let stamps = (sent..<due).map { wallStart.addingTimeInterval(Double($0) / rate) }
                    try await publishRegistrations(
                        Array(registrations[sent..<due]), malformed: malformed && first, stamps: stamps, tally: tally)
                    first = false
                    sent = due
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            let took = Date().timeIntervalSince(wallStart)
            let behind = took - Double(registrations.count - 1) / rate
            print(
                String(
                    format: "  open loop: %d registrations published in %.1f s (%.1f/s asked %.0f/s; the last %.2f s behind)",
                    registrations.count, took, Double(registrations.count) / max(took, 0.001), rate, max(0, behind)))
            return
        }
        try await publishRegistrations(registrations, malformed: malformed, stamps: nil, tally: tally)
    }

    /// Publishes `registrations` at once, each stamped with its entry of `stamps` (now when
    /// nil), and tells the `tally` when each was submitted; with `stamps` (the open loop) the
    /// tally measures the latencies of these only.
    private func publishRegistrations(
        _ registrations: [Cohort.Registration], malformed: Bool, stamps: [Date]?, tally: Tally?
    ) async throws {
        var messages: [AMQPOutgoingMessage] = []
        var published: [String: Date] = [:]
        for (index, item) in registrations.enumerated() {
            let time = stamps?[index] ?? Date()
            let id = EventID.random()
            published[id] = time
            let event: OutgoingEvent
            if item.asVersion1 {
                let r = item.registration
                let v1 = RegistrationSubmittedV1(
                    registrationID: r.registrationID, nik: r.nik, fullName: r.fullName, birthPlace: r.birthPlace,
                    birthDate: r.birthDate, sex: r.sex, phone: r.phone, email: r.email, domicile: r.domicile,
                    education: r.education,
                    jobSeekerCardNumber: nil, preferredCentre: r.preferredCentre, programme: r.programme,
                    apprenticeshipInterest: r.apprenticeshipInterest, declaredTrainings: [], consent: r.consent)
                event = try OutgoingEvent(
                    EventEnvelope(id: id, source: "/kaltim/registration-portal", time: time, data: v1), exchange: exchange)
            } else {
                event = try OutgoingEvent(
                    EventEnvelope(id: id, source: "/kaltim/registration-portal", time: time, data: item.registration),
                    exchange: exchange)
            }
            messages.append(event.amqpMessage)
        }
        let bodies = ["{", "{\"specversion\":\"1.0\",\"type\":\"registration.submitted\"}", "[1,2,3]"]
        for (index, body) in bodies.enumerated() where malformed {
            messages.append(
                AMQPOutgoingMessage(
                    body: Data(body.utf8), exchange: exchange, routingKey: RegistrationSubmittedV3.eventType,
                    properties: AMQPProperties(deliveryMode: .persistent, messageID: "\(prefix)malformed-\(index + 1)")))
        }
        await tally?.submitted(published, onlyThese: stamps != nil)
        try await publishAll(messages)
    }

    /// 3. The BLKI's training result and one assessment per seated participant, on the last day
    /// of the class (the attendance the BLKI records is the one the LSP is told). Each outcome is
    /// drawn from the seed and the person's registration number, never from the participant id
    /// (intake replicas number participants in no fixed order), so a seed gives the same results.
    func makeAssessments(seats: [ClassScheduledV2], registrations: [String: String]) throws -> (
        trainingResults: [AMQPOutgoingMessage], assessments: [AMQPOutgoingMessage], passRates: [String: Double]
    ) {
        let seed = options.seed
        var random = SeededRandom(seed: seed &+ 1)
        var passRates: [String: Double] = [:]
        for code in Set(catalogue.centres.flatMap { $0.programmes.map(\.code) }).sorted() {
            passRates[code] = Double.random(in: 0.75...0.94, using: &random)
        }
        var assessments: [AMQPOutgoingMessage] = []
        var trainingResults: [AMQPOutgoingMessage] = []
        func key(_ seat: ClassScheduledV2) -> String { registrations[seat.participantID] ?? seat.participantID }
        for seat in seats.sorted(by: { key($0) < key($1) }) {
            guard let programme = catalogue.programme(seat.programme, at: seat.centre) else { continue }
            // FNV-1a of the registration number, mixed with the seed.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in key(seat).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            var draw = SeededRandom(seed: seed ^ hash)
            let competent = Double.random(in: 0..<1, using: &draw) < (passRates[seat.programme] ?? 0.8)
            let failedUnit = programme.scheme.units.randomElement(using: &draw) ?? ""
            let serial = assessments.count + 1
            let attendance = Double(Int.random(in: 72...100, using: &draw))
            let result = TrainingCompletedV1(
                participantID: seat.participantID, classID: seat.classID, attendancePercent: attendance,
                result: attendance >= 80 ? .passed : .failed, recordedBy: "Instruktur BLKI (simulasi)")
            trainingResults.append(
                try OutgoingEvent(
                    EventEnvelope(
                        id: "\(prefix)training-\(seat.participantID)", source: "/kaltim/blki/pelatihan",
                        subject: seat.participantID, data: result),
                    exchange: exchange
                ).amqpMessage)
            var units: [AssessmentSubmittedV1.Unit] = []
            for code in programme.scheme.units {
                units.append(
                    AssessmentSubmittedV1.Unit(
                        code: code, result: competent || code != failedUnit ? .competent : .notYetCompetent))
            }
            let submitted = AssessmentSubmittedV2(
                assessmentID: String(format: "LSP-ASM-2025-%05d", serial), participantID: seat.participantID,
                lspLicence: "BNSP-LSP-0123-ID", scheme: programme.scheme.code, assessorRegistration: "MET.000.001234 2019",
                testSite: seat.centre == .balikpapan ? "TUK BLKI Balikpapan" : "TUK BLKI Bontang", assessedOn: seat.endDate,
                units: units, attendancePercent: attendance,
                certificateNumber: competent ? String(format: "No. 85223 7233 3 %07d 2025", serial) : nil,
                registrationNumber: competent ? String(format: "No. Reg. LSP 0123 %05d 2025", serial) : nil)
            assessments.append(
                try OutgoingEvent(EventEnvelope(source: "/kaltim/lsp", data: submitted), exchange: exchange).amqpMessage)
        }
        return (trainingResults, assessments, passRates)
    }

    /// 3b. The licences issued outside the programme: for everyone who passed the training of a
    /// programme whose plan names a licence, the office records it three weeks after the class
    /// with the issuer's (synthetic) numbers: a Kemnaker Lisensi K3 for the operators, an SKK
    /// Konstruksi from LPJK for the construction schemes. Numbered in registration order, so a
    /// seed gives the same numbers.
    func makeLicences(seats: [ClassScheduledV2], passed: Set<String>, registrations: [String: String]) throws
        -> [AMQPOutgoingMessage]
    {
        func key(_ seat: ClassScheduledV2) -> String { registrations[seat.participantID] ?? seat.participantID }
        // The name on the licence: the one the person registered under.
        let names = Dictionary(
            cohort.registrations.map { ($0.registration.registrationID, $0.registration.fullName) },
            uniquingKeysWith: { a, _ in a })
        var messages: [AMQPOutgoingMessage] = []
        for seat in seats.sorted(by: { key($0) < key($1) }) where passed.contains(seat.participantID) {
            guard let programme = catalogue.programme(seat.programme, at: seat.centre),
                let kind = programme.licences?.first, let end = ProgrammeCatalogue.day(seat.endDate),
                let name = registrations[seat.participantID].flatMap({ names[$0] })
            else { continue }
            let serial = messages.count + 1
            let issued = end.addingTimeInterval(21 * 86_400)
            let licence = LicenceRecordedV1(
                participantID: seat.participantID, holderName: name, kind: kind,
                certificateNumber: kind == .safetyLicence
                    ? String(format: "KEP.%05d/AS.03.02/2025", serial) : String(format: "SKK-LPJK-2025-%06d", serial),
                registrationNumber: nil,
                qualification: kind == .safetyLicence ? "\(programme.name) Kelas II" : "\(programme.name) Jenjang 2",
                issuedOn: ProgrammeCatalogue.format(issued),
                validUntil: ProgrammeCatalogue.format(issued.addingTimeInterval(5 * 365 * 86_400)),
                recordedBy: "Petugas Disnakertrans (simulasi)")
            messages.append(
                try OutgoingEvent(
                    EventEnvelope(
                        id: "\(prefix)licence-\(seat.participantID)", source: "/kaltim/office/lisensi",
                        subject: seat.participantID, data: licence),
                    exchange: exchange
                ).amqpMessage)
        }
        return messages
    }

    /// Appeals (banding): a tenth of the BELUM KOMPETEN candidates appeal a few days after the
    /// assessment (drawn from the seed and the registration number); the LSP decides a week
    /// later, upholding every other appeal (the BK units become K, with the BNSP numbers).
    func makeAppeals(after results: [AssessmentGradedV3], registrations: [String: String]) throws -> (
        filed: [AMQPOutgoingMessage], decided: [AMQPOutgoingMessage], upheld: Int
    ) {
        var filed: [AMQPOutgoingMessage] = []
        var decided: [AMQPOutgoingMessage] = []
        var upheld = 0
        func key(_ result: AssessmentGradedV3) -> String { registrations[result.participantID] ?? result.participantID }
        for previous in results.sorted(by: { key($0) < key($1) }) {
            guard let lastDate = previous.assessedOn.flatMap(ProgrammeCatalogue.day) else { continue }
            var draw = SeededRandom(seed: options.seed ^ Self.stableHash("\(key(previous)) banding"))
            guard Double.random(in: 0..<1, using: &draw) < 0.1 else { continue }
            let grant = filed.count % 2 == 0
            if grant { upheld += 1 }
            let serial = 60_000 + filed.count + 1
            func step(_ status: AppealStatus, days: Double) throws -> AMQPOutgoingMessage {
                let appeal = AssessmentAppealedV1(
                    assessmentID: previous.assessmentID, participantID: previous.participantID,
                    lspLicence: previous.lspLicence ?? "BNSP-LSP-0123-ID", scheme: previous.scheme, status: status,
                    on: ProgrammeCatalogue.format(lastDate.addingTimeInterval(days * 86_400)),
                    revisedUnits: status == .upheld ? previous.notYetCompetentUnits : [],
                    certificateNumber: status == .upheld ? String(format: "No. 85223 7233 3 %07d 2025", serial) : nil,
                    registrationNumber: status == .upheld ? String(format: "No. Reg. LSP 0123 %05d 2025", serial) : nil)
                return try OutgoingEvent(EventEnvelope(source: "/kaltim/lsp", data: appeal), exchange: exchange).amqpMessage
            }
            filed.append(try step(.filed, days: 3))
            decided.append(try step(grant ? .upheld : .dismissed, days: 10))
        }
        return (filed, decided, upheld)
    }

    /// The LSPs' uji ulang of round `round` (1 or 2): each BELUM KOMPETEN candidate is
    /// re-assessed on their BK units two weeks after the last assessment, and passes each unit
    /// with a chance of 60 %, drawn from the seed, the round and the registration number.
    func makeRetakes(after results: [AssessmentGradedV3], round: Int, registrations: [String: String]) throws
        -> [AMQPOutgoingMessage]
    {
        var messages: [AMQPOutgoingMessage] = []
        func key(_ result: AssessmentGradedV3) -> String { registrations[result.participantID] ?? result.participantID }
        for (index, previous) in results.sorted(by: { key($0) < key($1) }).enumerated() {
            guard let lastDate = previous.assessedOn.flatMap(ProgrammeCatalogue.day) else { continue }
            var draw = SeededRandom(seed: options.seed ^ Self.stableHash("\(key(previous)) uji ulang \(round)"))
            let units = previous.notYetCompetentUnits.map { code in
                AssessmentSubmittedV1.Unit(
                    code: code, result: Double.random(in: 0..<1, using: &draw) < 0.6 ? .competent : .notYetCompetent)
            }
            let competent = units.allSatisfy { $0.result == .competent }
            let serial = 20_000 * round + index + 1
            let retake = AssessmentSubmittedV3(
                assessmentID: String(format: "LSP-ASM-2025-U%d-%05d", round, index + 1), participantID: previous.participantID,
                lspLicence: previous.lspLicence ?? "BNSP-LSP-0123-ID", scheme: previous.scheme,
                assessorRegistration: "MET.000.001234 2019", testSite: "TUK BLKI (uji ulang)",
                assessedOn: ProgrammeCatalogue.format(lastDate.addingTimeInterval(14 * 86_400)), units: units,
                attendancePercent: previous.attendancePercent ?? 100,
                certificateNumber: competent ? String(format: "No. 85223 7233 3 %07d 2025", serial) : nil,
                registrationNumber: competent ? String(format: "No. Reg. LSP 0123 %05d 2025", serial) : nil,
                retakeOf: previous.assessmentID)
            messages.append(
                try OutgoingEvent(EventEnvelope(source: "/kaltim/lsp", data: retake), exchange: exchange).amqpMessage)
        }
        return messages
    }

    /// Publishes with confirms; what the broker did not confirm (it may be restarting) is
    /// published again, up to 10 times. A copy that arrives twice has one message id, and the
    /// workers' inboxes take it once.
    func publishAll(_ messages: [AMQPOutgoingMessage]) async throws {
        var pending = messages
        for attempt in 1...10 {
            let results = await connection.publish(pending, window: 200)
            pending = zip(pending, results).compactMap { message, result in
                if case .failure = result { message } else { nil }
            }
            if pending.isEmpty { return }
            try await Task.sleep(for: .seconds(Double(attempt)))
        }
        throw ValidationError("\(pending.count) messages were not confirmed by the broker after 10 attempts")
    }

    /// The run's dead letters, distinct messages counted per role and failure code. `keep`:
    /// leave them in place (for the console that stays after the run) rather than take them.
    func deadLetters(keep: Bool) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for role in WorkerRole.all {
            let queue = RoleTopology(role: role, prefix: prefix).deadLetterQueue
            // Distinct messages: a malformed message the portal published again after a lost
            // confirm is one message.
            var seen = Set<String>()
            var held: [AMQPDelivery] = []
            while let dead = try await connection.get(queue: queue) {
                let code = dead.properties.headers?[FailureRouter.Header.code]?.stringValue ?? "unknown"
                if seen.insert(dead.properties.messageID ?? UUID().uuidString).inserted {
                    counts["\(role.name): \(code)", default: 0] += 1
                }
                // Held unacknowledged until the queue is read to its end, so a get never
                // returns one given back.
                if keep { held.append(dead) } else { try await dead.ack() }
            }
            for dead in held { try await dead.nack(requeue: true) }
        }
        return counts
    }
}

extension RoleTopology {
    /// Deletes what ``declare(on:)`` made (the demo's run-scoped topology).
    func deleteAll(on connection: AMQPConnection) async {
        for name in [queue, deadLetterQueue] + retryQueues.map(\.name) { _ = try? await connection.deleteQueue(name) }
        try? await connection.deleteExchange(exchange)
        try? await connection.deleteExchange(failureExchange)
    }
}
