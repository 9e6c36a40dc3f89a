#if canImport(Glibc)
    import Glibc
#endif

/// `fsync` of a file or a folder by its path: what was written to a file, or the names a folder
/// holds (a file created or renamed in it), reach the disk and survive a power loss; and
/// ``FileSystemFlush``, one `syncfs` for many new files. The one place the stores' neighbours
/// (the audit log, certificate files, erased logs, key files) flush through.
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

    /// Whether the C library has `syncfs`; without it ``FileSystemFlush`` flushes every file
    /// system (`sync`) and reports no failure.
    public static var hasSyncfs: Bool { syncfs != nil }

    /// glibc's `syncfs`, looked up once: Swift's Glibc module does not declare it.
    static let syncfs: (@convention(c) (Int32) -> Int32)? = {
        guard let library = dlopen(nil, RTLD_NOW), let symbol = dlsym(library, "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
    }()
}

/// One flush of a whole file system (Linux's `syncfs`) for many files written after it was
/// opened: open it before writing them, write them, then ``flush()``.
///
/// Linux (5.8 and later) reports a failed write-back to each open descriptor of the file system
/// that was open when it happened, so a flush opened before the files were written fails if any
/// of them could not be written back, even when another flush (another round, another process)
/// has already reported that failure; a descriptor opened later would not hear of it. Kernels
/// before 5.8 report no write-back failure to `syncfs` at all.
public final class FileSystemFlush: Sendable {
    private let descriptor: Int32
    private let path: String

    /// Opens the file system that holds `path` (a file or folder).
    /// - Throws: ``DiskFlush/Failure``.
    public init(_ path: String) throws(DiskFlush.Failure) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DiskFlush.Failure(path: path, reason: String(cString: strerror(errno))) }
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Returns when everything written to the file system is on disk.
    /// - Throws: ``DiskFlush/Failure`` when writing some of it back failed since this was opened.
    public func flush() throws(DiskFlush.Failure) {
        guard let syncfs = DiskFlush.syncfs else {
            sync()
            return
        }
        guard syncfs(descriptor) == 0 else {
            throw DiskFlush.Failure(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
