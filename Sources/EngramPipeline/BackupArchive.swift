import EngramCore
import Foundation
import Synchronization
import ZIPFoundation

/// What a backup archive holds, written as its `manifest.json`.
public struct BackupManifest: Sendable, Hashable {
    /// The archive layout this build writes and reads; a newer one is refused.
    public static let currentFormatVersion = 1
    public static let parts = ["collections", "documents", "chunks", "memories", "memory_events"]

    public struct Collection: Sendable, Hashable {
        public var ref: CollectionRef
        public var identity: EmbeddingIdentity
        public var documents: Int
        public var chunks: Int
    }

    public struct Part: Sendable, Hashable {
        /// The file name in the archive (`chunks.jsonl`).
        public var file: String
        public var rows: Int
        public var bytes: Int
        public var sha256: String
    }

    public var formatVersion: Int
    public var createdAt: Date
    /// The store the backup was taken from, and its schema version.
    public var sourceKind: String
    public var sourceSchemaVersion: Int
    public var tenants: [String]
    /// Tenants whose long-term memories and audit events the archive holds.
    public var memoryTenants: [String]
    public var includesVectors: Bool
    public var collections: [Collection]
    public var parts: [Part]

    var json: JSONValue {
        .object([
            ("format", .string("engram-backup")), ("format_version", .int(Int64(formatVersion))),
            ("created_at", .string(MetadataValue.canonicalDateString(createdAt))),
            ("source", .object([("kind", .string(sourceKind)), ("schema_version", .int(Int64(sourceSchemaVersion)))])),
            ("tenants", .array(tenants.map { .string($0) })), ("memory_tenants", .array(memoryTenants.map { .string($0) })),
            ("vectors", .bool(includesVectors)),
            ("collections", .array(collections.map { c in
                .object([("tenant", .string(c.ref.tenant)), ("name", .string(c.ref.name)),
                         ("embedding", .object([("model", .string(c.identity.model)), ("revision", .string(c.identity.revision)),
                                                ("dimension", .int(Int64(c.identity.dimension))), ("distance", .string(c.identity.distance.rawValue)),
                                                ("normalized", .bool(c.identity.normalized))])),
                         ("documents", .int(Int64(c.documents))), ("chunks", .int(Int64(c.chunks)))])
            })),
            ("files", .array(parts.map { p in
                .object([("name", .string(p.file)), ("rows", .int(Int64(p.rows))), ("bytes", .int(Int64(p.bytes))), ("sha256", .string(p.sha256))])
            })),
        ])
    }

    static func parse(_ data: Data) throws -> BackupManifest {
        func bad(_ what: String) -> EngramError { EngramError(.invalidInput, "backup manifest.json: \(what)") }
        let v = try JSONValue.parse(data)
        guard v["format"] == .string("engram-backup") else { throw bad("not an Engram backup manifest") }
        guard case .int(let version)? = v["format_version"] else { throw bad("format_version is missing") }
        guard Int(version) <= currentFormatVersion else {
            throw EngramError(.unsupported, "the backup has format version \(version), newer than this build reads (\(currentFormatVersion)): restore it with a newer Engram")
        }
        func string(_ v: JSONValue?, _ what: String) throws -> String {
            guard case .string(let s)? = v else { throw bad("\(what) is missing") }
            return s
        }
        func int(_ v: JSONValue?, _ what: String) throws -> Int {
            guard case .int(let i)? = v else { throw bad("\(what) is missing") }
            return Int(i)
        }
        guard case .array(let collections)? = v["collections"], case .array(let files)? = v["files"], case .array(let tenants)? = v["tenants"],
              case .array(let memoryTenants)? = v["memory_tenants"], case .bool(let vectors)? = v["vectors"] else {
            throw bad("collections, files, tenants, memory_tenants or vectors is missing")
        }
        return BackupManifest(
            formatVersion: Int(version),
            createdAt: MetadataValue.parseDate(try string(v["created_at"], "created_at")) ?? Date(timeIntervalSince1970: 0),
            sourceKind: try string(v["source"]?["kind"], "source.kind"), sourceSchemaVersion: try int(v["source"]?["schema_version"], "source.schema_version"),
            tenants: try tenants.map { try string($0, "a tenant") }, memoryTenants: try memoryTenants.map { try string($0, "a memory tenant") }, includesVectors: vectors,
            collections: try collections.map { c in
                let e = c["embedding"]
                guard let distance = Distance(rawValue: try string(e?["distance"], "a collection's distance")), case .bool(let normalized)? = e?["normalized"] else {
                    throw bad("a collection's embedding is malformed")
                }
                return Collection(ref: CollectionRef(tenant: try string(c["tenant"], "a collection's tenant"), name: try string(c["name"], "a collection's name")),
                                  identity: EmbeddingIdentity(model: try string(e?["model"], "a collection's model"), revision: try string(e?["revision"], "a collection's revision"),
                                                              dimension: try int(e?["dimension"], "a collection's dimension"), distance: distance, normalized: normalized),
                                  documents: try int(c["documents"], "a collection's documents"), chunks: try int(c["chunks"], "a collection's chunks"))
            },
            parts: try files.map { f in
                Part(file: try string(f["name"], "a file's name"), rows: try int(f["rows"], "a file's rows"), bytes: try int(f["bytes"], "a file's bytes"),
                     sha256: try string(f["sha256"], "a file's sha256"))
            })
    }
}

/// What a restore wrote.
public struct RestoreReport: Sendable {
    public var collections = 0
    public var documents = 0
    public var chunks = 0
    /// Chunks and memories embedded again because the archive holds no vectors.
    public var embedded = 0
    /// Memories written, each with a `restored` audit event.
    public var memories = 0
    /// Audit events imported (marked with the archive as their origin).
    public var memoryEvents = 0
    /// Memories of the archive left out because the target holds the same id under legal hold.
    public var keptHeld: [String] = []
    /// Memories of the archive left out because the target holds their content under another id.
    public var keptDuplicate: [String] = []
    /// The tenants restored.
    public var tenants: [String] = []
    /// Whether the whole restore was one transaction (SQLite and PostgreSQL, with their own memory store).
    public var atomic = false

    public init() {}
}

/// Backups as one zip file: `manifest.json` and one JSON-lines file per table (`collections.jsonl`,
/// `documents.jsonl`, `chunks.jsonl`, `memories.jsonl`, `memory_events.jsonl`), each with its row count,
/// size and SHA-256 in the manifest.
///
/// A backup reads one consistent snapshot of the store (``BackupSource``). A restore checks every file
/// against the manifest and every row (tenants, ids, hashes, offsets, vectors) before it writes anything,
/// then writes in one transaction where the store can (``RestoreTarget``: SQLite, PostgreSQL), so an
/// archive of any backend restores into any other, whole or not at all.
public enum BackupArchive {
    // MARK: Backup

    /// Writes the parts as they are exported, counting and hashing them.
    final class PartWriter: BackupSink, @unchecked Sendable {
        struct Open {
            var handle: FileHandle
            var buffer = Data()
            var hash = SHA256Hex.Stream()
            var rows = 0
            var bytes = 0
        }
        let directory: URL
        private let lock = Mutex(())
        private var open: [String: Open] = [:]
        private(set) var collections: [BackupManifest.Collection] = []

        init(directory: URL) throws {
            self.directory = directory
            for part in BackupManifest.parts {
                let url = directory.appendingPathComponent("\(part).jsonl")
                guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                    throw EngramError(.storageFailure, "cannot write \(url.path)")
                }
                open[part] = Open(handle: try FileHandle(forWritingTo: url))
            }
        }

        func write(_ row: BackupRow) throws {
            try lock.withLock { _ in
                let part = row.part
                var line = Data(row.jsonLine.utf8)
                line.append(0x0A)
                open[part]!.hash.update(line)
                open[part]!.rows += 1
                open[part]!.bytes += line.count
                open[part]!.buffer.append(line)
                if open[part]!.buffer.count >= 1 << 20 {
                    try open[part]!.handle.write(contentsOf: open[part]!.buffer)
                    open[part]!.buffer.removeAll(keepingCapacity: true)
                }
                switch row {
                case .collection(let c): collections.append(.init(ref: c.ref, identity: c.identity, documents: 0, chunks: 0))
                case .document: collections[collections.count - 1].documents += 1
                case .chunk: collections[collections.count - 1].chunks += 1
                case .memory, .memoryEvent: break
                }
            }
        }

        func finish() throws -> [BackupManifest.Part] {
            try lock.withLock { _ in
                try BackupManifest.parts.map { part in
                    let o = open[part]!
                    try o.handle.write(contentsOf: o.buffer)
                    try o.handle.close()
                    return BackupManifest.Part(file: "\(part).jsonl", rows: o.rows, bytes: o.bytes, sha256: o.hash.finalize())
                }
            }
        }
    }

    /// Backs up the tenants' collections (nil: every tenant the store can list) and, with a memory
    /// store, their long-term memories and audit events, to the zip file `destination`, written beside it
    /// under a temporary name and moved into place when complete. Everything comes from one snapshot when
    /// the memory tables live in the store's database (SQLite, PostgreSQL); from the memory store otherwise.
    public static func write(from store: any BackupSource, memories: (any MemoryStore)? = nil, tenants: [String]?, vectors: Bool = true,
                             to destination: OutputFile, now: Date = Date()) async throws -> BackupManifest {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let writer = try PartWriter(directory: work)
        let inSnapshot = try await store.exportRows(tenants: tenants, vectors: vectors, memories: memories != nil, to: writer)
        var memoryTenants = inSnapshot ?? []
        if let memories, inSnapshot == nil {
            if let tenants { memoryTenants = tenants } else { memoryTenants = try await memories.memoryTenants() }
            for tenant in memoryTenants {
                for m in try await memories.export(tenant: tenant, subject: nil) {
                    var m = m
                    if !vectors { m.embedding = nil }
                    try writer.write(.memory(m))
                }
                for e in try await memories.events(tenant: tenant, memoryID: nil) { try writer.write(.memoryEvent(e)) }
            }
        }
        let parts = try writer.finish()
        let manifest = BackupManifest(
            formatVersion: BackupManifest.currentFormatVersion, createdAt: now, sourceKind: store.descriptor.kind,
            sourceSchemaVersion: store.descriptor.schemaVersion, tenants: tenants ?? Array(Set(writer.collections.map(\.ref.tenant))).sorted(),
            memoryTenants: memoryTenants, includesVectors: vectors, collections: writer.collections, parts: parts)
        let manifestURL = work.appendingPathComponent("manifest.json")
        try Data(manifest.json.serialized(sortedKeys: false).utf8).write(to: manifestURL)
        try destination.write { url in
            let archive = try Archive(url: url, accessMode: .create)
            try archive.addEntry(with: "manifest.json", fileURL: manifestURL, compressionMethod: .deflate)
            for part in parts {
                try archive.addEntry(with: part.file, fileURL: work.appendingPathComponent(part.file), compressionMethod: .deflate)
            }
        }
        return manifest
    }

    /// ``write(from:memories:tenants:vectors:to:now:)`` to a file URL, replacing a file that exists (but
    /// never a folder, a device or a special file).
    public static func write(from store: any BackupSource, memories: (any MemoryStore)? = nil, tenants: [String]?, vectors: Bool = true,
                             to url: URL, now: Date = Date()) async throws -> BackupManifest {
        try await write(from: store, memories: memories, tenants: tenants, vectors: vectors, to: try OutputFile(path: url.path, replace: true), now: now)
    }

    /// A folder only this user can enter, for the parts of an archive being written or checked.
    static func temporaryDirectory() throws -> URL {
        URL(fileURLWithPath: try FilePaths.privateTemporaryFolder(prefix: "engram-backup-"), isDirectory: true)
    }

    // MARK: Verify

    /// An archive whose every part matched the manifest, extracted to a temporary directory.
    public struct Verified: Sendable {
        public let manifest: BackupManifest
        /// SHA-256 of `manifest.json`, which names every part by its SHA-256: the archive's identity.
        public let id: String
        let directory: URL

        public func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    /// The largest `manifest.json` read (a manifest lists collections and five files).
    public static let maxManifestBytes = 16 << 20

    /// Reads the archive and checks every part against the manifest (present once, its CRC, row count,
    /// size and SHA-256), extracting the parts into a folder only this user can enter. Nothing is written
    /// to any store. A member is never inflated past the size its manifest entry declares, and the
    /// manifest is read only when its declared size is at most ``maxManifestBytes``, so an archive built to
    /// inflate to gigabytes is refused before it costs memory or disk.
    /// - Throws: `invalid_input` naming the damaged, missing, duplicated or unexpected part; `unsupported`
    ///   for a newer format; `not_found` when there is no file; `invalid_input` for a folder or special file.
    public static func verify(_ url: URL) throws -> Verified {
        try InputFile.requireRegular(url.path, what: "backup archive")
        let name = FilePaths.display(url.lastPathComponent)
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw EngramError(.invalidInput, "\(name) is not a readable backup archive (truncated or damaged: \(error))", underlying: error)
        }
        // Each name at most once, and only the names of a backup: a second entry of a name could say
        // something else than the one checked.
        let expected = Set(["manifest.json"] + BackupManifest.parts.map { "\($0).jsonl" })
        var entries: [String: Entry] = [:]
        for entry in archive {
            guard expected.contains(entry.path) else {
                throw EngramError(.invalidInput, "\(name): unexpected member '\(FilePaths.display(String(entry.path.prefix(200))))' (not an Engram backup, or tampered with)")
            }
            guard entries.updateValue(entry, forKey: entry.path) == nil else {
                throw EngramError(.invalidInput, "\(name): the member \(entry.path) appears twice (tampered with)")
            }
        }
        guard let manifestEntry = entries["manifest.json"] else {
            throw EngramError(.invalidInput, "\(name): manifest.json is missing (truncated or not an Engram backup)")
        }
        guard manifestEntry.uncompressedSize <= UInt64(maxManifestBytes) else {
            throw EngramError(.invalidInput, "\(name): manifest.json declares \(manifestEntry.uncompressedSize) bytes; a manifest has at most \(maxManifestBytes)")
        }
        var manifestData = Data()
        let manifestCRC: CRC32
        do {
            manifestCRC = try archive.extract(manifestEntry) { chunk in
                guard manifestData.count + chunk.count <= maxManifestBytes else { throw EngramError(.invalidInput, "\(name): manifest.json inflates past \(maxManifestBytes) bytes") }
                manifestData.append(chunk)
            }
        } catch let e as EngramError {
            throw e
        } catch {
            throw EngramError(.invalidInput, "\(name): manifest.json is damaged (\(error))", underlying: error)
        }
        guard manifestCRC == manifestEntry.checksum, manifestData.count == Int(manifestEntry.uncompressedSize) else {
            throw EngramError(.invalidInput, "\(name): manifest.json is damaged (checksum)")
        }
        let manifest = try BackupManifest.parse(manifestData)
        guard manifest.parts.count == BackupManifest.parts.count, Set(manifest.parts.map(\.file)) == Set(BackupManifest.parts.map { "\($0).jsonl" }) else {
            throw EngramError(.invalidInput, "\(name): the manifest lists \(manifest.parts.map(\.file)), not the files of a backup")
        }
        let directory = try temporaryDirectory()
        do {
            for part in manifest.parts {
                guard let entry = entries[part.file] else {
                    throw EngramError(.invalidInput, "\(name): \(part.file) is missing")
                }
                guard part.bytes >= 0, part.rows >= 0, entry.uncompressedSize == UInt64(part.bytes) else {
                    throw EngramError(.invalidInput, "\(name): \(part.file) does not match the manifest (its size differs)")
                }
                let out = directory.appendingPathComponent(part.file)
                guard FileManager.default.createFile(atPath: out.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                    throw EngramError(.storageFailure, "cannot write \(out.path)")
                }
                let handle = try FileHandle(forWritingTo: out)
                var hash = SHA256Hex.Stream()
                var bytes = 0, rows = 0
                let crc: CRC32
                do {
                    crc = try archive.extract(entry) { data in
                        bytes += data.count
                        guard bytes <= part.bytes else {
                            throw EngramError(.invalidInput, "\(name): \(part.file) inflates past the \(part.bytes) bytes its manifest declares (damaged or built to exhaust the disk)")
                        }
                        hash.update(data)
                        rows += data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                        try handle.write(contentsOf: data)
                    }
                } catch {
                    try? handle.close()
                    if let e = error as? EngramError, e.code == .invalidInput { throw e }
                    throw EngramError(.invalidInput, "\(name): \(part.file) is damaged (\(error))", underlying: error)
                }
                try handle.close()
                guard crc == entry.checksum, bytes == part.bytes, rows == part.rows, hash.finalize() == part.sha256 else {
                    throw EngramError(.invalidInput, "\(name): \(part.file) does not match the manifest (damaged: its checksum, size or row count differs)")
                }
            }
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        return Verified(manifest: manifest, id: SHA256Hex.hash(bytes: [UInt8](manifestData)), directory: directory)
    }
}

/// Reads a file line by line (lines end with LF), a megabyte at a time.
struct LineReader {
    let handle: FileHandle
    var buffer = Data()
    var start = 0
    var done = false

    init(_ url: URL) throws { handle = try FileHandle(forReadingFrom: url) }

    mutating func next() throws -> Data? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = buffer[start..<newline]
                start = newline + 1
                return Data(line)
            }
            if done {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                return Data(line)
            }
            buffer = Data(buffer[start...])
            start = 0
            if let more = try handle.read(upToCount: 1 << 20), !more.isEmpty { buffer.append(more) } else { done = true }
        }
    }
}
