public import AMQP
import ContractKit
import Contracts
public import Foundation
import Jobs

/// One dead-lettered message as an admin sees it: its failure record (written by the worker's
/// failure router, or derived from the broker's `x-death` when the broker dead-lettered it
/// itself: a crash loop past the delivery limit, a rejection) and its body, byte for byte.
public struct DeadLetter: Sendable {
    public let messageID: String
    /// The dead-letter queue it sits in.
    public let queue: String
    /// The role whose worker gave up on it.
    public let role: String
    /// Stable failure code, e.g. `malformed-json`, `broker:delivery_limit`.
    public let code: String
    /// `permanent`, `transient-exhausted` or `broker`.
    public let kind: String
    public let fingerprint: String
    public let contractType: String?
    public let contractVersion: Int?
    public let firstFailure: Date?
    public let lastFailure: Date?
    public let attempts: Int
    /// The failure text (NIKs already masked by the worker).
    public let failureMessage: String
    /// Where it was consumed from: replay sends it back there.
    public let originalQueue: String?
    public let originalExchange: String?
    public let originalRoutingKey: String?
    /// How many times it was replayed before.
    public let replayCount: Int
    public let replayID: String?
    public let delivery: AMQPDelivery

    /// Reads the record of `delivery`, taken from `queue`.
    public init(_ delivery: AMQPDelivery, queue: String) {
        let headers = delivery.properties.headers ?? [:]
        typealias H = FailureRouter.Header
        func string(_ key: String) -> String? { headers[key]?.stringValue ?? headers[key]?.bytesText }
        let death = headers["x-death"]?.arrayValue?.first?.tableValue ?? [:]
        let brokerReason = string("x-first-death-reason") ?? death["reason"]?.stringValue
        self.delivery = delivery
        self.queue = queue
        messageID = delivery.properties.messageID ?? "(no message id)"
        let originalQueue = string(H.originalQueue) ?? string("x-first-death-queue") ?? death["queue"]?.stringValue
        self.originalQueue = originalQueue
        role = string(H.role) ?? originalQueue.map { Self.role(ofQueue: $0) } ?? "unknown"
        if let code = string(H.code) {
            self.code = code
            kind = string(H.kind) ?? "permanent"
        } else {
            code = "broker:" + (brokerReason ?? "unknown")
            kind = "broker"
        }
        fingerprint = string(H.fingerprint) ?? code
        contractType = string(H.contractType) ?? delivery.properties.type
        contractVersion = (headers[H.contractVersion]?.intValue ?? headers["x-contract-version"]?.intValue).map { Int($0) }
        firstFailure = headers[H.firstFailureAt]?.dateValue ?? death["time"]?.dateValue
        lastFailure = headers[H.lastFailureAt]?.dateValue ?? death["time"]?.dateValue ?? firstFailure
        attempts = Int(min(max(headers[H.attempts]?.intValue ?? death["count"]?.intValue ?? 1, 0), 1_000_000))
        failureMessage = string(H.message) ?? brokerReason.map { "dead-lettered by the broker: \($0)" } ?? ""
        originalExchange = string(H.originalExchange) ?? string("x-first-death-exchange") ?? death["exchange"]?.stringValue
        originalRoutingKey =
            string(H.originalRoutingKey) ?? death["routing-keys"]?.arrayValue?.first?.stringValue ?? delivery.routingKey
        // Headers may come from a publisher whose message the broker dead-lettered: clamped.
        replayCount = Int(min(max(headers[ReplayHeader.count]?.intValue ?? 0, 0), 1_000_000))
        replayID = string(ReplayHeader.id)
    }

    /// `kaltim.intake` → `intake` (a prefix before it is kept out).
    static func role(ofQueue queue: String) -> String {
        let parts = queue.split(separator: ".")
        guard let index = parts.lastIndex(of: "kaltim"), index + 1 < parts.count else { return queue }
        return String(parts[index + 1])
    }

    /// The failure text for people: personal data masked unless `reveal` (the worker masks it
    /// already; a record written by something else may not have).
    public func failureText(reveal: Bool) -> String {
        reveal ? failureMessage : PersonalData.mask(failureMessage)
    }

    /// The body for people: unless `reveal`, every field a contract marks as personal is masked
    /// by its kind, whatever its spelling, and NIK- or phone-shaped numbers anywhere
    /// (`PersonalDataMasker`); a malformed body is masked as well as a valid one.
    public func bodyText(reveal: Bool) -> String {
        reveal ? String(decoding: delivery.body, as: UTF8.self) : PersonalDataMasker.contracts.mask(body: delivery.body)
    }
}

/// Provenance headers a replay adds.
public enum ReplayHeader {
    public static let id = "x-replay-id"
    public static let count = "x-replay-count"
    public static let by = "x-replayed-by"
    public static let at = "x-replayed-at"
    /// Marks the end of a sweep's snapshot (see ``DeadLetterAdmin/sweep(_:)``); never a dead letter.
    public static let sweepMarker = "x-kaltim-sweep-marker"
}

extension AMQPFieldValue {
    var bytesText: String? { if case .bytes(let bytes) = self { String(decoding: bytes, as: UTF8.self) } else { nil } }
    var arrayValue: [AMQPFieldValue]? { if case .array(let values) = self { values } else { nil } }
    var tableValue: AMQPTable? { if case .table(let table) = self { table } else { nil } }
    var dateValue: Date? {
        switch self {
        case .timestamp(let date): date
        case .int64(let seconds): Date(timeIntervalSince1970: Double(seconds))
        default: nil
        }
    }
}
