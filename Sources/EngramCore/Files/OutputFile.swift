#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file a command was told to write (a backup archive, an export, an evidence manifest).
///
/// The destination is checked before any work and again right before it is put in place: a folder, a
/// device, a FIFO or a socket is refused, and so is any file of the open store (``protecting``), however
/// it is named (another path, a hard link, a symbolic link). An existing file is replaced only when
/// ``replace`` says so. The content is written under a temporary name in a private folder beside the
/// destination and moved into place in one step, so a reader never sees half a file and a failure leaves
/// the old file as it was. Nothing but the temporary folder this type made is ever deleted.
public struct OutputFile: Sendable {
    /// The path as the caller gave it (used in messages).
    public let path: String
    /// The absolute path written.
    public let absolutePath: String
    public let replace: Bool
    /// Files that must never be written (the store's own files), absolute.
    public let protecting: [String]
    /// Permissions of the written file; nil leaves what the process's umask gives.
    public let permissions: mode_t?

    /// Checks the destination at once, so that a command refuses before doing its work.
    /// - Parameters:
    ///   - replace: whether an existing regular file may be replaced (the CLI's `--force`).
    ///   - protecting: paths of files that must never be replaced (for SQLite: the database, `-wal`,
    ///     `-shm` and `-journal`, existing or not).
    ///   - permissions: for example `0o600` for archives and exports that hold a tenant's data.
    /// - Throws: `invalid_input` for a folder, a device, a store file or a missing folder; `conflict` for
    ///   an existing file without `replace`.
    public init(path: String, replace: Bool, protecting: [String] = [], permissions: mode_t? = nil) throws {
        guard !path.isEmpty else { throw EngramError(.invalidInput, "the output path is empty") }
        self.path = path
        absolutePath = FilePaths.absolute(path)
        self.replace = replace
        self.protecting = protecting.map(FilePaths.absolute)
        self.permissions = permissions
        try check()
    }

    /// The checks of ``init(path:replace:protecting:permissions:)``, run again before the move.
    public func check() throws {
        if path.hasSuffix("/") {
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) names a folder; name a file to write")
        }
        let canonical = FilePaths.canonical(absolutePath)
        for p in protecting where FilePaths.canonical(p) == canonical {
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) is a file of the open store; write somewhere else")
        }
        var link = stat()
        guard lstat(absolutePath, &link) == 0 else {
            let error = errno
            guard error == ENOENT else { throw FilePaths.error(error, path, doing: "check") }
            let parent = (absolutePath as NSString).deletingLastPathComponent
            var folder = stat()
            guard stat(parent, &folder) == 0, FilePaths.kind(folder.st_mode) == .directory else {
                throw EngramError(.invalidInput, "cannot write \(FilePaths.display(path)): the folder \(FilePaths.display(parent)) does not exist")
            }
            return
        }
        var target = link
        if FilePaths.kind(link.st_mode) == .symbolicLink, stat(absolutePath, &target) != 0 {
            // A dangling link: replacing it replaces the link only.
            target = link
        }
        switch FilePaths.kind(target.st_mode) {
        case .directory:
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) is a folder; name a file to write (for example \(FilePaths.display((path as NSString).appendingPathComponent("out"))))")
        case .regular, .symbolicLink:
            break
        case let other:
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) is \(other.article), not a regular file; name a file to write")
        }
        for p in protecting {
            var s = stat()
            if stat(p, &s) == 0, s.st_dev == target.st_dev, s.st_ino == target.st_ino {
                throw EngramError(.invalidInput, "\(FilePaths.display(path)) is a file of the open store; write somewhere else")
            }
        }
        guard replace else {
            throw EngramError(.conflict, "\(FilePaths.display(path)) exists; pass --force to replace it")
        }
    }

    /// Writes `data` to the destination.
    public func write(_ data: Data) throws {
        try write { url in
            guard FileManager.default.createFile(atPath: url.path, contents: data) else {
                throw EngramError(.storageFailure, "cannot write \(FilePaths.display(path))")
            }
        }
    }

    /// Lets `body` write the content at a temporary URL beside the destination (the file does not exist
    /// yet), then moves it into place. On any error the temporary folder is removed and the destination is
    /// left as it was.
    public func write(_ body: (URL) throws -> Void) throws {
        let parent = (absolutePath as NSString).deletingLastPathComponent
        let work = try FilePaths.privateFolder(in: parent, prefix: ".engram-write-")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let temporary = (work as NSString).appendingPathComponent((absolutePath as NSString).lastPathComponent)
        do {
            try body(URL(fileURLWithPath: temporary))
        } catch let e as EngramError {
            throw e
        } catch {
            throw EngramError(.storageFailure, "cannot write \(FilePaths.display(path)): \(error.localizedDescription)", underlying: error)
        }
        if let permissions, chmod(temporary, permissions) != 0 { throw FilePaths.error(errno, path, doing: "set the permissions of") }
        try FilePaths.sync(temporary)
        try check()
        if replace {
            guard rename(temporary, absolutePath) == 0 else { throw FilePaths.error(errno, path, doing: "write") }
        } else if link(temporary, absolutePath) != 0 {
            // A link fails if the name was taken meanwhile, so nothing is replaced by a race.
            let error = errno
            if error == EEXIST { throw EngramError(.conflict, "\(FilePaths.display(path)) exists; pass --force to replace it") }
            guard [EPERM, EXDEV, ENOTSUP, EOPNOTSUPP, EMLINK].contains(error) else { throw FilePaths.error(error, path, doing: "write") }
            // A file system without hard links: the check above is the guard.
            guard rename(temporary, absolutePath) == 0 else { throw FilePaths.error(errno, path, doing: "write") }
        }
        try? FilePaths.sync(parent)
    }
}
