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

    /// Flushes everything written to the file system that holds `path` (Linux's `syncfs`): one
    /// call for many new files instead of an `fsync` each. It returns when the data is on disk,
    /// and fails when writing some of it back failed. Where the C library has no `syncfs`, all
    /// file systems are flushed (`sync`), which is slower and reports no failure.
    /// - Throws: ``Failure``.
    public static func flushFileSystem(containing path: String) throws(Failure) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        guard syncFileSystem(descriptor) == 0 else {
            throw Failure(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// glibc's `syncfs`, looked up once: Swift's Glibc module does not declare it.
    private static let syncFileSystem: @convention(c) (Int32) -> Int32 = {
        if let library = dlopen(nil, RTLD_NOW), let symbol = dlsym(library, "syncfs") {
            return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
        }
        return { _ in
            sync()
            return 0
        }
    }()
}
