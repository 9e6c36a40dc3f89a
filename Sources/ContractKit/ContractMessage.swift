/// A message that crosses the broker: one (event type, version) of a contract.
///
/// Every version is its own Swift type and stays forever; older versions upcast to the newest
/// before a handler sees them (see ``ContractRegistry``).
public protocol ContractMessage: Codable, Sendable, Equatable {
    /// The CloudEvents `type` and the AMQP routing key, e.g. `registration.submitted`.
    static var eventType: String { get }
    /// The contract version of this type (1, 2, …); travels as `dataversion` and in the
    /// `x-contract-version` AMQP header.
    static var version: Int { get }
    /// The fields of this version that hold personal data. Every dead-letter view, export,
    /// failure message and log line masks them by name (``PersonalDataMasker``), whatever the
    /// value looks like. A test fails when a field whose name suggests personal data is not
    /// listed, or a listed path is not in the contract's schema.
    static var personalFields: [PersonalField] { get }
}

extension ContractMessage {
    /// Most contracts name people only by participant id: no personal fields.
    public static var personalFields: [PersonalField] { [] }

    /// `type` and version, as used in logs and dead-letter records: `registration.submitted/v2`.
    public static var contractName: String { "\(eventType)/v\(version)" }
}
