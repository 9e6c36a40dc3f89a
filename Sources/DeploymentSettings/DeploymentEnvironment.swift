import Foundation
public import Jobs

/// The settings a deployment gives through environment variables, read in one place at the edge
/// of each executable and passed down as values: no library target reads the environment.
///
/// | variable | what | who reads it |
/// |---|---|---|
/// | `KALTIM_BROKER_URL` | the broker (a URL with a password stays out of `ps`) | every command |
/// | `KALTIM_ADMIN_URL` | the admin user's broker URL | `kaltim-admin`, `kaltim-console` |
/// | `KALTIM_MANAGEMENT_URL` | the management API | `kaltim-admin`, `kaltim-console` |
/// | `KALTIM_DATABASE_URL` | a worker's store (PostgreSQL URL with password) | `kaltim-worker` |
/// | `KALTIM_RETRY_QUEUE_TYPE` | `classic` or `quorum` retry tiers (all processes agree) | every command that declares |
/// | `KALTIM_AUDIT_LOG` | the audit log's path | `kaltim-admin`, `kaltim-console` |
/// | `KALTIM_GATEWAY_TOKEN`, `KALTIM_SMTP_PASSWORD` | notification channel secrets | `kaltim-worker notifications` |
/// | `KALTIM_CONFIG_DIR`, `KALTIM_STATE_DIR` | where default files are (``InstallLayout``) | every command |
/// | `KALTIM_VERIFICATION_URL` | the verification service's public address | `kaltim-worker certificates`, `notifications` |
public struct DeploymentEnvironment: Sendable {
    /// The broker a command uses when neither an option nor the environment names one.
    public static let localBrokerURL = "amqp://guest:guest@127.0.0.1:5672/"

    /// The variables, as the process received them (or as a test gives them).
    public let variables: [String: String]

    /// The process's environment.
    public static var current: DeploymentEnvironment { DeploymentEnvironment(ProcessInfo.processInfo.environment) }

    public init(_ variables: [String: String]) {
        self.variables = variables
    }

    /// A variable's value, `nil` when unset or empty.
    public subscript(_ name: String) -> String? {
        guard let value = variables[name], !value.isEmpty else { return nil }
        return value
    }

    /// The broker URL: the option's value, else `KALTIM_BROKER_URL`, else the local broker.
    public func brokerURL(option: String?) -> String {
        option ?? self["KALTIM_BROKER_URL"] ?? Self.localBrokerURL
    }

    /// The admin user's broker URL: the option's value, else `KALTIM_ADMIN_URL`, else
    /// `KALTIM_BROKER_URL`; `nil` when none is set.
    public func adminBrokerURL(option: String?) -> String? {
        option ?? self["KALTIM_ADMIN_URL"] ?? self["KALTIM_BROKER_URL"]
    }

    /// The management API's URL: the option's value, else `KALTIM_MANAGEMENT_URL`.
    public func managementURL(option: String?) -> String? {
        option ?? self["KALTIM_MANAGEMENT_URL"]
    }

    /// A store another process reads (the verification service's certificates store, the
    /// console's intake store): the variable `name` when set, else the option's value. A
    /// PostgreSQL URL carries a password, so a deployment gives it in the environment, not on
    /// the command line (where `ps` shows it); the variable wins so that it replaces the SQLite
    /// file a generated unit names.
    public func readerStore(option: String?, variable name: String) -> String? {
        self[name] ?? option
    }

    /// The audit log's path: the option's value, else `KALTIM_AUDIT_LOG`, else `audit.jsonl` in
    /// the state folder of `layout` (``InstallLayout``: `var/` in a checkout, else
    /// `/var/lib/kaltim`).
    public func auditLogPath(option: String?, layout: InstallLayout? = nil) -> String {
        option ?? self["KALTIM_AUDIT_LOG"]
            ?? (layout ?? InstallLayout(environment: self, isCheckout: InstallLayout.isCheckout))
            .state("audit.jsonl")
    }

    /// The address the public verification service answers at, as people reach it (no
    /// trailing slash): `KALTIM_VERIFICATION_URL`, else ``publicVerificationAddress``. The
    /// certificates' QR codes hold `<address>/v/<code>` and the holders' messages link
    /// `<address>/verifikasi/<code>`, so one setting keeps both on the service that answers.
    /// - Throws: ``DeploymentSettingError`` when the variable is not an http(s) address with a
    ///   host and no query or fragment, of at most 150 bytes.
    public func verificationAddress() throws(DeploymentSettingError) -> String {
        guard let value = self["KALTIM_VERIFICATION_URL"] else { return Self.publicVerificationAddress }
        var address = Substring(value)
        while address.hasSuffix("/") { address = address.dropLast() }
        guard Self.isWebAddress(String(address)), address.utf8.count <= 150 else {
            // The value is not repeated: it may hold a password or a token.
            throw DeploymentSettingError(
                setting: "KALTIM_VERIFICATION_URL", value: "(not shown)",
                expected: "an http(s) address with a host, no query, at most 150 bytes (https://sertifikat.example.go.id)")
        }
        return String(address)
    }

    /// Where the programme's verification service is published, when a deployment says nothing
    /// else: the address the certificates and messages give their readers.
    public static let publicVerificationAddress = "https://sertifikat.disnakertrans.kaltimprov.go.id"

    /// An absolute http(s) address with a host, without user, query or fragment.
    public static func isWebAddress(_ text: String) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty,
            components.user == nil, components.password == nil, components.query == nil, components.fragment == nil,
            isPrintableASCII(text)
        else { return false }
        return true
    }

    /// Whether `text` holds only printable ASCII (`!` to `~`), so that an address printed or sent
    /// is the address a QR code or a link carries: no space, no control or format character (a
    /// direction override, a zero-width space), nothing drawn as nothing (a variation selector,
    /// a Braille blank), no letters of another script that look like Latin ones. A host outside
    /// ASCII is written in punycode, any other character percent-encoded. Foundation's
    /// `URL(string:)` accepts all of these, percent-encoding them itself.
    public static func isPrintableASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// The retry tiers' queue type: the option's value, else `KALTIM_RETRY_QUEUE_TYPE`, else
    /// classic. Every process of one deployment (workers, console, admin tool, demo) must
    /// declare the same tiers, so each reads it here.
    /// - Throws: ``DeploymentSettingError`` naming the option or variable when the value is
    ///   neither `classic` nor `quorum` (no silent fallback).
    public func retryQueueType(option: String? = nil) throws(DeploymentSettingError) -> RoleTopology.RetryQueueType {
        if let option {
            guard let type = RoleTopology.RetryQueueType(setting: option) else {
                throw DeploymentSettingError(setting: "--retry-queue-type", value: option, expected: "classic or quorum")
            }
            return type
        }
        let value = self["KALTIM_RETRY_QUEUE_TYPE"]
        guard let type = RoleTopology.RetryQueueType(setting: value) else {
            throw DeploymentSettingError(setting: "KALTIM_RETRY_QUEUE_TYPE", value: value ?? "", expected: "classic or quorum")
        }
        return type
    }
}

/// A setting whose value the command cannot use.
public struct DeploymentSettingError: Error, CustomStringConvertible, Equatable {
    /// The option or variable, e.g. `KALTIM_RETRY_QUEUE_TYPE`.
    public let setting: String
    /// What it held (settings named here hold no secret).
    public let value: String
    /// What it may hold.
    public let expected: String

    public var description: String { "\(setting) must be \(expected), not '\(value)'" }
}
