import Foundation
import Jobs
import Testing

/// The flushes the certificate files, the audit log and the key files rely on.
struct DiskFlushTests {
    @Test func aFolderAndItsFileSystemAreFlushed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flush-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("written".utf8).write(to: folder.appendingPathComponent("file"))
        try DiskFlush.flush(folder.appendingPathComponent("file").path)
        try FileSystemFlush(folder.path).flush()
        try FileSystemFlush(folder.appendingPathComponent("file").path).flush()
        // Opened before the file is written, flushed after: what the certificate files do.
        let flush = try FileSystemFlush(folder.path)
        try Data("written later".utf8).write(to: folder.appendingPathComponent("later"))
        try flush.flush()
        // glibc's syncfs is found, not the sync that flushes everything and reports nothing.
        #expect(DiskFlush.hasSyncfs)
    }

    /// A path that is not there is an error that names it, not a flush that silently did nothing.
    @Test func aMissingPathIsAnError() {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("flush-\(UUID().uuidString)").path
        let expected = "cannot flush \(missing) to disk: No such file or directory"
        #expect {
            try DiskFlush.flush(missing)
        } throws: { error in
            (error as? DiskFlush.Failure)?.description == expected
        }
        #expect {
            try FileSystemFlush(missing).flush()
        } throws: { error in
            (error as? DiskFlush.Failure)?.description == expected
        }
    }
}
