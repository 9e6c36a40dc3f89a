#if canImport(Glibc)
    import Glibc
#endif

/// `fsync` of a file or a folder by its path: what was written to a file, or the names a folder
/// holds (a file created or renamed in it), reach the disk and survive a power loss. The one
/// place the stores' neighbours (the audit log, certificate files, erased logs, key files) flush
/// through.
public enum DiskFlush {
    /// A path that could not be opened or flushed, with the system's reason.
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot flush \(path) to disk: \(reason)" }
    }

    /// Flushes the file or folder at `path`. A file its owner may not read (a copy that keeps a
    /// log's permissions) is opened for writing instead.
    /// - Throws: ``Failure``.
    public static func flush(_ path: String) throws(Failure) {
        var descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0, errno == EACCES { descriptor = open(path, O_WRONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw Failure(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw Failure(path: path, reason: String(cString: strerror(errno))) }
    }
}
