#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What commands need to know about paths they were given: whether a path is a regular file, a folder or
/// something else, its canonical form, and how to print it safely.
public enum FilePaths {
    public enum Kind: Sendable, Equatable {
        case regular, directory, symbolicLink, characterDevice, blockDevice, fifo, socket, unknown

        /// "a FIFO", "a device", … for messages.
        public var article: String {
            switch self {
            case .regular: "a file"
            case .directory: "a folder"
            case .symbolicLink: "a symbolic link"
            case .characterDevice, .blockDevice: "a device"
            case .fifo: "a FIFO"
            case .socket: "a socket"
            case .unknown: "a special file"
            }
        }
    }

    public static func kind(_ mode: mode_t) -> Kind {
        switch mode & S_IFMT {
        case S_IFREG: .regular
        case S_IFDIR: .directory
        case S_IFLNK: .symbolicLink
        case S_IFCHR: .characterDevice
        case S_IFBLK: .blockDevice
        case S_IFIFO: .fifo
        case S_IFSOCK: .socket
        default: .unknown
        }
    }

    /// `path` made absolute against the current folder, with `.` and `..` removed textually.
    public static func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let absolute = expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        return URL(fileURLWithPath: absolute).standardizedFileURL.path
    }

    /// The absolute path with its folder's symbolic links resolved (the last component is kept as it is,
    /// so two names of one not-yet-existing file compare equal).
    public static func canonical(_ path: String) -> String {
        let a = absolute(path)
        let parent = (a as NSString).deletingLastPathComponent, name = (a as NSString).lastPathComponent
        guard let resolved = realpath(parent, nil) else { return a }
        defer { free(resolved) }
        return (String(cString: resolved) as NSString).appendingPathComponent(name)
    }

    /// A path or name as it may be printed on one line of a terminal or a report: control characters
    /// (newlines, escape sequences, C1 controls) and the replacement character are shown as `\u{…}`
    /// escapes, so a file name cannot forge lines or move the cursor.
    public static func display(_ text: String) -> String {
        TerminalText.escaped(text)
    }

    static func error(_ code: Int32, _ path: String, doing verb: String) -> EngramError {
        let reason = String(cString: strerror(code))
        let kind: EngramError.Code = code == ENOENT ? .notFound : (code == EACCES || code == EPERM || code == EROFS || code == ENOSPC) ? .storageFailure : .invalidInput
        return EngramError(kind, "cannot \(verb) \(display(path)): \(reason)")
    }

    /// Creates a folder only this user can enter, named `prefix` + random letters, inside `parent`.
    public static func privateFolder(in parent: String, prefix: String) throws -> String {
        var template = Array((parent as NSString).appendingPathComponent(prefix + "XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw error(errno, parent, doing: "create a temporary folder in") }
        return String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    /// A private folder in the system's temporary folder (`TMPDIR`).
    public static func privateTemporaryFolder(prefix: String) throws -> String {
        try privateFolder(in: FileManager.default.temporaryDirectory.path, prefix: prefix)
    }

    /// Flushes a file or folder to disk.
    static func sync(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw error(errno, path, doing: "open") }
        defer { close(fd) }
        _ = fsync(fd)
    }
}

/// Text shown on a terminal or in a one-line report.
public enum TerminalText {
    /// Escapes what would change the terminal or the report's layout: C0 and C1 control characters
    /// (newline, carriage return, ESC …), DEL, bidirectional overrides and U+FFFD (which stands for bytes
    /// that were not UTF-8). With `keepNewlines`, newlines and tabs stay (text printed over many lines).
    public static func escaped(_ text: String, keepNewlines: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepNewlines: keepNewlines) }) else { return text }
        var out = ""
        for s in text.unicodeScalars {
            if needsEscape(s, keepNewlines: keepNewlines) {
                out += "\\u{" + String(s.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(s)
            }
        }
        return out
    }

    static func needsEscape(_ s: Unicode.Scalar, keepNewlines: Bool) -> Bool {
        if keepNewlines, s == "\n" || s == "\t" { return false }
        switch s.value {
        case 0..<0x20, 0x7F..<0xA0: return true
        case 0x202A...0x202E, 0x2066...0x2069, 0xFFFD: return true
        default: return false
        }
    }
}
