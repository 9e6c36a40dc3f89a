import AMQP
import ArgumentParser
import CommandOptions
import ContractKit
import Contracts
import Foundation
import Jobs
import Topology

/// Publishes one event as the connection's user (consumers check who may publish it) and waits
/// for the broker's confirm.
func publishConfirmed<M: ContractMessage>(_ envelope: EventEnvelope<M>, broker: BrokerOptions, topologyPrefix: String)
    async throws
{
    let connection = try await AMQPConnection.connect(try broker.configuration(connectionName: nil))
    let event = try OutgoingEvent(envelope, exchange: topologyPrefix + ContractDocuments.exchange)
    var message = event.amqpMessage
    message.properties.userID = connection.username
    let result = await connection.publish([message]).first
    await connection.close()
    guard case .success = result else { throw ValidationError("the broker did not confirm \(M.eventType)") }
}

/// `kaltim-worker reregister`: the BLKI records whether a selected participant came to daftar
/// ulang. Not coming loses the seat, which scheduling gives to the next on the waiting list.
struct ReRegister: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reregister",
        abstract: "Record daftar ulang for a participant (publishes enrolment.reregistered, as the BLKI office).")

    @OptionGroup var broker: BrokerOptions
    @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""
    @Option(help: "The participant (PST-…).") var participantID: String
    @Option(help: "The class the participant has a seat in.") var classID: String
    @Flag(help: "--attended: came within the window; --absent: did not (the seat goes to the next person).")
    var attendance: Attendance
    @Option(help: "Who recorded it (name or staff number).") var recordedBy: String

    enum Attendance: String, EnumerableFlag {
        case attended
        case absent
    }

    func validate() throws {
        guard participantID.wholeMatch(of: /[A-Z0-9-]{1,64}/) != nil, classID.wholeMatch(of: /[A-Za-z0-9_-]{1,128}/) != nil
        else { throw ValidationError("--participant-id and --class-id are ids such as PST-2025-… and BPN-2025-…-01") }
        guard !recordedBy.trimmingCharacters(in: .whitespaces).isEmpty, recordedBy.count <= 200 else {
            throw ValidationError("--recorded-by names who recorded it (1 to 200 characters)")
        }
    }

    func run() async throws {
        let record = EnrolmentReRegisteredV1(
            participantID: participantID, classID: classID, attended: attendance == .attended, recordedBy: recordedBy)
        try await publishConfirmed(
            EventEnvelope(
                // Its own id: a contradicting record reaches scheduling, which refuses it visibly.
                id: "reregistered-\(participantID)-\(UUID().uuidString)", source: "/kaltim/blki/daftar-ulang",
                subject: participantID, data: record),
            broker: broker, topologyPrefix: topologyPrefix)
        print("recorded daftar ulang of \(participantID): \(attendance.rawValue)")
    }
}

/// `kaltim-worker withdraw`: the programme office withdraws a participant from a class or the
/// waiting list. Scheduling gives the seat to the next person; the participant is told.
struct Withdraw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Withdraw a participant (publishes enrolment.withdrawal-requested, as the programme office or the BLKI; scheduling checks it and publishes enrolment.withdrawn)."
    )

    enum ReasonOption: String, ExpressibleByArgument, CaseIterable {
        case resigned
        case attendance
        case administrative
    }

    @OptionGroup var broker: BrokerOptions
    @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""
    @Option(help: "The participant (PST-…).") var participantID: String
    @Option(help: "The class they leave; leave out for the waiting list.") var classID: String?
    @Option(help: "resigned (mengundurkan diri), attendance (kehadiran < 80 %) or administrative.")
    var reason: ReasonOption
    @Option(
        help:
            "The day the participant left, YYYY-MM-DD (WITA); today by default. A class that has started by then is not refilled."
    )
    var on: String?
    @Option(help: "Who records the withdrawal (name or staff number).") var requestedBy: String

    func validate() throws {
        guard participantID.wholeMatch(of: /[A-Z0-9-]{1,64}/) != nil else {
            throw ValidationError("--participant-id is an id such as PST-2025-…")
        }
        if let classID, classID.wholeMatch(of: /[A-Za-z0-9_-]{1,128}/) == nil {
            throw ValidationError("--class-id is an id such as BPN-2025-…-01")
        }
        if reason == .attendance && classID == nil {
            throw ValidationError("--reason attendance concerns a class: give --class-id")
        }
        if let on, on.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) == nil {
            throw ValidationError("--on is a date YYYY-MM-DD")
        }
        let who = requestedBy.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !who.isEmpty, who.count <= 200 else {
            throw ValidationError("--requested-by names who records it (1–200 characters)")
        }
    }

    func run() async throws {
        let code: EnrolmentWithdrawnV1.Reason =
            switch reason {
            case .resigned: .participantResigned
            case .attendance: .attendanceTooLow
            case .administrative: .administrative
            }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600) ?? .gmt  // WITA
        let today = calendar.dateComponents([.year, .month, .day], from: Date())
        let day = on ?? String(format: "%04d-%02d-%02d", today.year ?? 0, today.month ?? 0, today.day ?? 0)
        try await publishConfirmed(
            EventEnvelope(
                id: "withdrawal-\(participantID)", source: "/kaltim/office/withdraw", subject: participantID,
                data: EnrolmentWithdrawalRequestedV1(
                    participantID: participantID, classID: classID, reason: code, on: day,
                    requestedBy: requestedBy.trimmingCharacters(in: .whitespacesAndNewlines))),
            broker: broker, topologyPrefix: topologyPrefix)
        print("asked scheduling to withdraw \(participantID) (\(code.rawValue), \(day))")
    }
}

/// `kaltim-worker training-result`: the BLKI records a participant's training result; the
/// training certificate follows it.
struct TrainingResult: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "training-result",
        abstract: "Record a participant's training result (publishes training.completed, as the BLKI office).")

    enum ResultOption: String, ExpressibleByArgument, CaseIterable {
        case lulus
        case tidakLulus = "tidak-lulus"
    }

    @OptionGroup var broker: BrokerOptions
    @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""
    @Option(help: "The participant (PST-…).") var participantID: String
    @Option(help: "Their class.") var classID: String
    @Option(help: "Share of the training hours attended, 0–100.") var attendance: Double
    @Option(help: "lulus (needs at least 80 % attendance) or tidak-lulus.") var result: ResultOption
    @Option(help: "Who recorded it (name or staff number).") var recordedBy: String

    func validate() throws {
        guard participantID.wholeMatch(of: /[A-Z0-9-]{1,64}/) != nil, classID.wholeMatch(of: /[A-Za-z0-9_-]{1,128}/) != nil
        else { throw ValidationError("--participant-id and --class-id are ids such as PST-2025-… and BPN-2025-…-01") }
        guard (0...100).contains(attendance) else { throw ValidationError("--attendance is 0–100") }
        if result == .lulus && attendance < 80 { throw ValidationError("LULUS needs at least 80 % attendance") }
        guard !recordedBy.trimmingCharacters(in: .whitespaces).isEmpty, recordedBy.count <= 200 else {
            throw ValidationError("--recorded-by names who recorded it (1 to 200 characters)")
        }
    }

    func run() async throws {
        try await publishConfirmed(
            EventEnvelope(
                // Its own id: a contradicting result reaches the roles, which refuse it visibly.
                id: "training-\(participantID)-\(UUID().uuidString)", source: "/kaltim/blki/pelatihan",
                subject: participantID,
                data: TrainingCompletedV1(
                    participantID: participantID, classID: classID, attendancePercent: attendance,
                    result: result == .lulus ? .passed : .failed, recordedBy: recordedBy)),
            broker: broker, topologyPrefix: topologyPrefix)
        print("recorded the training result of \(participantID): \(result.rawValue)")
    }
}
