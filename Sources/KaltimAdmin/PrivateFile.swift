import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A file the admin tool writes personal data to (a subject's export, exported dead letters).
enum PrivateFile {
    /// Creates `path` as a new, empty file, readable by its owner only from the first byte. An
    /// existing file, or a link in its place, is refused: someone may hold it open, or have
    /// planted it where the export was expected. Create it before the action is audited, so
    /// that a refused path leaves no audit entry for an export that was never written.
    /// - Throws: `ValidationError` naming the path.
    static func create(_ path: String) throws -> FileHandle {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0, fchmod(descriptor, 0o600) == 0 else {
            if descriptor >= 0 { close(descriptor) }
            throw ValidationError("cannot create \(path) (it must not exist yet)")
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Writes `contents` to a file from ``create(_:)`` and closes it.
    static func write(_ contents: Data, to file: FileHandle) throws {
        try file.write(contentsOf: contents)
        try file.close()
    }
}
