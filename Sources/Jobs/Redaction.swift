import Synchronization

/// The process's redaction hook: what the application masks in text the runtime writes to a
/// log line or a dead letter's headers (a ``Failure``'s message). The runtime knows no
/// contract and so no personal field; the application installs its masking once at start,
/// as it bootstraps logging. Until then the text passes unchanged.
public enum Redaction {
    private static let hook = Mutex<@Sendable (String) -> String>({ $0 })

    /// Installs `redact` for the whole process (again: replaces the earlier one).
    public static func install(_ redact: @escaping @Sendable (String) -> String) {
        hook.withLock { $0 = redact }
    }

    /// `text` as the installed hook masks it.
    public static func apply(_ text: String) -> String {
        let redact = hook.withLock { $0 }
        return redact(text)
    }
}
