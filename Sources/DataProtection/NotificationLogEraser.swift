import Foundation
import Jobs

/// Removes a person's messages from a notification log (the file channel's JSON lines, one
/// message per line with its `recipient`): the local run's stand-in for a gateway, which holds
/// every text as sent.
public enum NotificationLogEraser {
    /// Rewrites `path` without the lines sent to one of `addresses` (a new file beside it,
    /// with the old one's permissions and, where this process may, its owner, renamed over it);
    /// says how many lines went. A line that is not a JSON object is kept. Only a regular file:
    /// a link is refused, since renaming over it would leave the real log untouched. Stop the
    /// notification worker first: it keeps the old file open and would go on writing there.
    public static func remove(addresses: Set<String>, from path: String) throws -> Int {
        guard !addresses.isEmpty else { return 0 }
        // Opened without following a link, and checked and read through that descriptor: a link
        // put at the path between a check by name and a read would be followed.
        let readDescriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard readDescriptor >= 0 else {
            throw CocoaError(
                .fileReadUnsupportedScheme,
                userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "\(path) is not a regular file we may read"])
        }
        let reader = FileHandle(fileDescriptor: readDescriptor, closeOnDealloc: true)
        var status = stat()
        guard fstat(readDescriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw CocoaError(
                .fileReadUnsupportedScheme,
                userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "\(path) is not a regular file"])
        }
        let data = try reader.readToEnd() ?? Data()
        try reader.close()
        let url = URL(fileURLWithPath: path)
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
        let permissions = Int(status.st_mode) & 0o777
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).erasing")
        try? FileManager.default.removeItem(at: temporary)
        // Written through the descriptor that created it (never a link: O_EXCL | O_NOFOLLOW), its
        // owner set on that descriptor: the folder may be writable by the notification worker's
        // user, who could put a link at this name between a create and a `chown` by path, and
        // have a root-run erasure hand any file to that user.
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(permissions))
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary.path])
        }
        let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            _ = fchmod(descriptor, mode_t(permissions))  // the umask may have taken bits off
            _ = fchown(descriptor, status.st_uid, status.st_gid)  // allowed to root only; otherwise the admin owns the copy
            try file.write(contentsOf: kept)
            // On disk before it takes the log's name, and the rename on disk before the stores
            // are changed: after a power loss the old log, with the person's lines, must not come
            // back once the erasure that would no longer find them by address has committed.
            try file.synchronize()
            try file.close()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        guard rename(temporary.path, path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        try DiskFlush.flush(url.deletingLastPathComponent().path)
        return removed
    }
}
