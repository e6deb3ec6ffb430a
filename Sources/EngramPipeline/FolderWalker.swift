#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EngramCore
import Foundation

/// Finds the files to ingest under the paths a user named.
///
/// Every entry the walk meets is either returned or reported as skipped with its reason, except hidden
/// entries (names starting with `.`) and entries the exclude patterns leave out. Each file is returned
/// once, however many names lead to it. Symbolic links found inside a folder are not followed unless
/// ``followLinks`` (then each folder is entered once, by device and inode, so a link loop ends); paths
/// named by the caller are followed, as a shell would. Names are read as bytes: a name that is not UTF-8
/// is reported, not dropped.
public struct FolderWalker: Sendable {
    public var include: [Glob]
    public var exclude: [Glob]
    public var followLinks: Bool

    public init(include: [Glob] = [], exclude: [Glob] = [], followLinks: Bool = false) {
        self.include = include
        self.exclude = exclude
        self.followLinks = followLinks
    }

    /// A file to ingest.
    public struct File: Sendable, Hashable {
        /// Absolute path (through the links that led to it).
        public var path: String
        public var uri: String
    }

    /// An entry that was not ingested, and why.
    public struct Skipped: Sendable, Hashable, Codable {
        public enum Reason: String, Sendable, Codable {
            /// A symbolic link inside a folder (see ``FolderWalker/followLinks``).
            case symbolicLink = "symbolic_link"
            /// A link that leads to a folder already walked (a loop) or to a file already found.
            case alreadyVisited = "already_visited"
            /// A link whose target does not exist.
            case brokenLink = "broken_link"
            /// The name is not valid UTF-8.
            case invalidName = "invalid_name"
            /// A FIFO, socket or device.
            case specialFile = "special_file"
            /// A file type no loader reads (without include patterns).
            case unsupportedType = "unsupported_type"
            /// The folder cannot be listed.
            case unreadable
        }

        /// The entry's path, printable (bytes that are not UTF-8 as `\xNN`).
        public var path: String
        public var reason: Reason
        public var detail: String
    }

    struct FileID: Hashable {
        var device: UInt64
        var inode: UInt64
        init(_ s: stat) {
            device = UInt64(s.st_dev)
            inode = UInt64(s.st_ino)
        }
    }

    /// The state of one walk over several roots.
    public struct Walk: Sendable {
        public internal(set) var files: [File] = []
        public internal(set) var skipped: [Skipped] = []
        var seenFiles = Set<FileID>()
        var seenFolders = Set<FileID>()
    }

    /// Adds `root` (a folder, already resolved to an absolute path) to the walk.
    public func walk(folder root: String, into walk: inout Walk) {
        var s = stat()
        guard stat(root, &s) == 0 else { return }
        walk.seenFolders.insert(FileID(s))
        visit(root: root, relative: "", into: &walk)
    }

    /// Adds a file named by the caller; returns false when the same file was already found.
    public func add(file path: String, into walk: inout Walk) -> Bool {
        var s = stat()
        if stat(path, &s) == 0, !walk.seenFiles.insert(FileID(s)).inserted { return false }
        walk.files.append(File(path: path, uri: URL(fileURLWithPath: path).absoluteString))
        return true
    }

    func visit(root: String, relative: String, into walk: inout Walk) {
        let folder = relative.isEmpty ? root : root + "/" + relative
        guard let names = FolderWalker.entries(of: folder) else {
            walk.skipped.append(Skipped(path: FilePaths.display(folder), reason: .unreadable, detail: String(cString: strerror(errno))))
            return
        }
        for raw in names where raw.first != UInt8(ascii: ".") {
            guard let name = String(validating: raw, as: UTF8.self) else {
                walk.skipped.append(Skipped(path: FolderWalker.printable(Array((folder + "/").utf8) + raw), reason: .invalidName,
                                            detail: "the name is not valid UTF-8; rename the file to ingest it"))
                continue
            }
            let rel = relative.isEmpty ? name : relative + "/" + name
            if exclude.contains(where: { $0.matches(relativePath: rel) }) { continue }
            let full = root + "/" + rel
            var entry = stat()
            guard lstat(full, &entry) == 0 else { continue }
            var kind = FilePaths.kind(entry.st_mode)
            if kind == .symbolicLink {
                guard followLinks else {
                    walk.skipped.append(Skipped(path: FilePaths.display(full), reason: .symbolicLink,
                                                detail: "a symbolic link, not followed (--follow-links follows links)"))
                    continue
                }
                guard stat(full, &entry) == 0 else {
                    walk.skipped.append(Skipped(path: FilePaths.display(full), reason: .brokenLink, detail: "a symbolic link to nothing"))
                    continue
                }
                kind = FilePaths.kind(entry.st_mode)
            }
            switch kind {
            case .directory:
                guard walk.seenFolders.insert(FileID(entry)).inserted else {
                    walk.skipped.append(Skipped(path: FilePaths.display(full), reason: .alreadyVisited, detail: "a folder already walked (a link loop)"))
                    continue
                }
                visit(root: root, relative: rel, into: &walk)
            case .regular:
                let wanted = include.isEmpty ? SourceLoader.isSupported(extension: (name as NSString).pathExtension)
                    : include.contains(where: { $0.matches(relativePath: rel) })
                guard wanted else {
                    if include.isEmpty {
                        walk.skipped.append(Skipped(path: FilePaths.display(full), reason: .unsupportedType, detail: "no loader reads this file type"))
                    }
                    continue
                }
                guard walk.seenFiles.insert(FileID(entry)).inserted else {
                    walk.skipped.append(Skipped(path: FilePaths.display(full), reason: .alreadyVisited, detail: "the same file as another path of this run"))
                    continue
                }
                walk.files.append(File(path: full, uri: URL(fileURLWithPath: full).absoluteString))
            default:
                walk.skipped.append(Skipped(path: FilePaths.display(full), reason: .specialFile, detail: "\(kind.article), not a regular file"))
            }
        }
    }

    /// The entry names of a folder as bytes, sorted; nil when it cannot be listed.
    static func entries(of folder: String) -> [[UInt8]]? {
        guard let dir = opendir(folder) else { return nil }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix(while: { $0 != 0 }))
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Bytes of a path for a report: UTF-8 as text, other bytes as `\xNN`, control characters escaped.
    static func printable(_ bytes: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            var decoded = false
            for length in [1, 2, 3, 4] where i + length <= bytes.count {
                if let s = String(validating: bytes[i..<i + length], as: UTF8.self) {
                    out += FilePaths.display(s)
                    i += length
                    decoded = true
                    break
                }
            }
            if !decoded {
                out += "\\x" + String(bytes[i], radix: 16, uppercase: true).leftPadded(to: 2)
                i += 1
            }
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
