import Foundation

/// Removes a person's messages from a notification log (the file channel's JSON lines, one
/// message per line with its `recipient`): the local run's stand-in for a gateway, which holds
/// every text as sent.
public enum NotificationLogEraser {
    /// Rewrites `path` without the lines sent to one of `addresses`, keeping the file's
    /// permissions (a new file beside it, renamed over it); says how many lines went. A line that
    /// is not a JSON object is kept. Lines the notification worker appends while this runs may
    /// be lost: stop it first, or run this again.
    public static func remove(addresses: Set<String>, from path: String) throws -> Int {
        guard !addresses.isEmpty else { return 0 }
        let url = URL(fileURLWithPath: path)
        let data = try Data(contentsOf: url)
        var kept = Data()
        var removed = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                let recipient = object["recipient"] as? String, addresses.contains(recipient)
            {
                removed += 1
                continue
            }
            kept.append(contentsOf: line)
            kept.append(0x0A)
        }
        if !kept.isEmpty { kept.removeLast() }  // the split's last piece carried no newline
        guard removed > 0 else { return 0 }
        let permissions = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0o600
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).erasing")
        try? FileManager.default.removeItem(at: temporary)
        guard FileManager.default.createFile(atPath: temporary.path, contents: kept, attributes: [.posixPermissions: permissions])
        else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary.path])
        }
        guard rename(temporary.path, path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return removed
    }
}
