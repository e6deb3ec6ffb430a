#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file a command was told to read (an archive, a manifest, a query vector, a document).
///
/// Only a regular file is read: a folder, a FIFO, a socket or a device is refused at once instead of
/// blocking or reading forever, and the size is bounded before anything is read.
public enum InputFile {
    /// Checks that `path` is a regular file (following symbolic links) and returns its size.
    /// - Throws: `not_found` when it does not exist; `invalid_input` for a folder or a special file.
    @discardableResult
    public static func requireRegular(_ path: String, what: String) throws -> Int {
        var s = stat()
        guard stat(path, &s) == 0 else {
            let e = errno
            if e == ENOENT || e == ENOTDIR { throw EngramError(.notFound, "no \(what) at \(FilePaths.display(path))") }
            throw FilePaths.error(e, path, doing: "read")
        }
        let kind = FilePaths.kind(s.st_mode)
        guard kind == .regular else {
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) is \(kind.article), not a \(what) file")
        }
        return Int(s.st_size)
    }

    /// Reads the whole regular file at `path`, refusing it when it is larger than `limit` bytes.
    ///
    /// The file is opened without blocking and checked on the open descriptor, so a FIFO put in its place
    /// after a check cannot make the read wait forever.
    public static func read(_ path: String, limit: Int, what: String) throws -> Data {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT || e == ENOTDIR { throw EngramError(.notFound, "no \(what) at \(FilePaths.display(path))") }
            if e == EISDIR { throw EngramError(.invalidInput, "\(FilePaths.display(path)) is a folder, not a \(what) file") }
            throw FilePaths.error(e, path, doing: "read")
        }
        defer { close(fd) }
        var s = stat()
        guard fstat(fd, &s) == 0 else { throw FilePaths.error(errno, path, doing: "read") }
        let kind = FilePaths.kind(s.st_mode)
        guard kind == .regular else {
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) is \(kind.article), not a \(what) file")
        }
        guard Int(s.st_size) <= limit else {
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) is \(s.st_size) bytes; a \(what) file may have at most \(limit)")
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var data = Data(count: Int(s.st_size))
        var filled = 0
        // Read until the end: the file may have grown since fstat, but never past the limit.
        while true {
            if filled == data.count {
                guard data.count < limit + 1 else { break }
                data.count = min(limit + 1, max(data.count * 2, 1 << 16))
            }
            let n = data.withUnsafeMutableBytes { raw in
                systemRead(fd, raw.baseAddress! + filled, raw.count - filled)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FilePaths.error(errno, path, doing: "read")
            }
            if n == 0 { break }
            filled += n
        }
        guard filled <= limit else {
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) grew over \(limit) bytes while it was read; a \(what) file may have at most \(limit)")
        }
        data.count = filled
        return data
    }
}

#if canImport(Glibc)
private let systemRead = Glibc.read
#elseif canImport(Darwin)
private let systemRead = Darwin.read
#endif
