import Foundation

/// Where a command finds its files when no option names them.
///
/// - In a **checkout** of this project (the working directory holds
///   `config/programme-2025.json`), the checkout's `config/…` and `var/…`, as the README's
///   commands use them.
/// - Anywhere else, the **installed** layout `deploy/` sets up: configuration in `/etc/kaltim`,
///   state (stores, the audit log) in `/var/lib/kaltim`. A command started from `/` (a systemd
///   unit, a container) therefore never writes a store into `/var` by accident.
/// - `KALTIM_CONFIG_DIR` and `KALTIM_STATE_DIR` (or systemd's `STATE_DIRECTORY`, which
///   `StateDirectory=` sets) name other folders, in either case.
public struct InstallLayout: Sendable, Equatable {
    /// The folder of the programme plan and the message templates.
    public let configDirectory: String
    /// The folder of the stores and the audit log.
    public let stateDirectory: String

    /// The file whose presence in the working directory makes it a checkout.
    public static let checkoutMarker = "config/programme-2025.json"

    /// - Parameters:
    ///   - environment: the variables (`KALTIM_CONFIG_DIR`, `KALTIM_STATE_DIR`, `STATE_DIRECTORY`).
    ///   - isCheckout: whether the working directory is a checkout of the project.
    public init(environment: DeploymentEnvironment, isCheckout: Bool) {
        configDirectory = environment["KALTIM_CONFIG_DIR"] ?? (isCheckout ? "config" : "/etc/kaltim")
        stateDirectory =
            environment["KALTIM_STATE_DIR"] ?? environment["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first }
            .map(String.init) ?? (isCheckout ? "var" : "/var/lib/kaltim")
    }

    /// The layout of this process: its environment and working directory.
    public static var current: InstallLayout { InstallLayout(environment: .current, isCheckout: isCheckout) }

    /// Whether the working directory is a checkout of the project.
    public static var isCheckout: Bool { FileManager.default.fileExists(atPath: checkoutMarker) }

    /// A file of the configuration folder (`programme-2025.json`, `notifications`).
    public func config(_ name: String) -> String { join(configDirectory, name) }

    /// A file of the state folder (`intake.sqlite`, `audit.jsonl`).
    public func state(_ name: String) -> String { join(stateDirectory, name) }

    private func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
