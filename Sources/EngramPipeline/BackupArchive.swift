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
    public var collections: Int
    public var documents: Int
    public var chunks: Int
    /// Chunks embedded again because the archive holds no vectors.
    public var embedded: Int
    public var memories = 0
    public var memoryEvents = 0
}

/// Backups as one zip file: `manifest.json` and one JSON-lines file per table (`collections.jsonl`,
/// `documents.jsonl`, `chunks.jsonl`), each with its row count, size and SHA-256 in the manifest.
///
/// A backup reads one consistent snapshot of the store (``BackupSource``). A restore checks every file
/// against the manifest before it writes anything, and writes through the store's ordinary API, so an
/// archive of any backend restores into any other.
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
    /// store, their long-term memories and audit events, to a zip file at `url`, written beside it under
    /// a temporary name and moved into place when complete. Everything comes from one snapshot when the
    /// memory tables live in the store's database (SQLite, PostgreSQL); from the memory store otherwise.
    public static func write(from store: any BackupSource, memories: (any MemoryStore)? = nil, tenants: [String]?, vectors: Bool = true,
                             to url: URL, now: Date = Date()) async throws -> BackupManifest {
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
        let partial = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(UUID().uuidString.prefix(8))")
        do {
            let archive = try Archive(url: partial, accessMode: .create)
            try archive.addEntry(with: "manifest.json", fileURL: manifestURL, compressionMethod: .deflate)
            for part in parts {
                try archive.addEntry(with: part.file, fileURL: work.appendingPathComponent(part.file), compressionMethod: .deflate)
            }
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: partial, to: url)
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw (error as? EngramError) ?? EngramError(.storageFailure, "cannot write the backup to \(url.path): \(error)", underlying: error)
        }
        return manifest
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("engram-backup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    // MARK: Verify

    /// An archive whose every part matched the manifest, extracted to a temporary directory.
    public struct Verified: Sendable {
        public let manifest: BackupManifest
        let directory: URL

        public func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    /// Reads the archive and checks every part against the manifest (present, its CRC, row count, size
    /// and SHA-256), extracting the parts to a temporary directory. Nothing is written to any store.
    /// - Throws: `invalid_input` naming the damaged or missing part; `unsupported` for a newer format.
    public static func verify(_ url: URL) throws -> Verified {
        guard FileManager.default.fileExists(atPath: url.path) else { throw EngramError(.notFound, "no backup at \(url.path)") }
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw EngramError(.invalidInput, "\(url.lastPathComponent) is not a readable backup archive (truncated or damaged: \(error))", underlying: error)
        }
        guard let manifestEntry = archive["manifest.json"] else {
            throw EngramError(.invalidInput, "\(url.lastPathComponent): manifest.json is missing (truncated or not an Engram backup)")
        }
        var manifestData = Data()
        let manifestCRC: CRC32
        do {
            manifestCRC = try archive.extract(manifestEntry) { manifestData.append($0) }
        } catch {
            throw EngramError(.invalidInput, "\(url.lastPathComponent): manifest.json is damaged (\(error))", underlying: error)
        }
        guard manifestCRC == manifestEntry.checksum else { throw EngramError(.invalidInput, "\(url.lastPathComponent): manifest.json is damaged (checksum)") }
        let manifest = try BackupManifest.parse(manifestData)
        guard Set(manifest.parts.map(\.file)) == Set(BackupManifest.parts.map { "\($0).jsonl" }) else {
            throw EngramError(.invalidInput, "\(url.lastPathComponent): the manifest lists \(manifest.parts.map(\.file)), not the files of a backup")
        }
        let directory = try temporaryDirectory()
        do {
            for part in manifest.parts {
                guard let entry = archive[part.file] else {
                    throw EngramError(.invalidInput, "\(url.lastPathComponent): \(part.file) is missing")
                }
                let out = directory.appendingPathComponent(part.file)
                guard FileManager.default.createFile(atPath: out.path, contents: nil) else { throw EngramError(.storageFailure, "cannot write \(out.path)") }
                let handle = try FileHandle(forWritingTo: out)
                var hash = SHA256Hex.Stream()
                var bytes = 0, rows = 0
                let crc: CRC32
                do {
                    crc = try archive.extract(entry) { data in
                        hash.update(data)
                        bytes += data.count
                        rows += data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                        try handle.write(contentsOf: data)
                    }
                } catch {
                    try? handle.close()
                    throw EngramError(.invalidInput, "\(url.lastPathComponent): \(part.file) is damaged (\(error))", underlying: error)
                }
                try handle.close()
                guard crc == entry.checksum, bytes == part.bytes, rows == part.rows, hash.finalize() == part.sha256 else {
                    throw EngramError(.invalidInput, "\(url.lastPathComponent): \(part.file) does not match the manifest (damaged: its checksum, size or row count differs)")
                }
            }
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        return Verified(manifest: manifest, directory: directory)
    }

    // MARK: Restore

    public enum RestoreMode: String, Sendable {
        /// The archive's tenants have no collection in the target (the default).
        case emptyOnly = "empty"
        /// Collections that exist must have the archive's embedding identity; the archive's documents
        /// replace documents of the same id, and the target's other documents stay.
        case merge
    }

    /// Verifies the archive, checks the target, then restores every collection, document and chunk.
    /// Without vectors in the archive, chunks are embedded again by `embedder(identity)`.
    /// - Throws: before writing anything: a damaged archive (`invalid_input`), a newer format
    ///   (`unsupported`), a target that is not empty (`conflict`) or whose collection has another
    ///   embedding identity (`embedding_mismatch`), a missing embedder.
    public static func restore(_ url: URL, into store: any VectorStore, memories memoryStore: (any MemoryStore)? = nil, mode: RestoreMode = .emptyOnly,
                               embedder: @Sendable (EmbeddingIdentity) async throws -> any Embedder,
                               batchChunks: Int = 2_000) async throws -> RestoreReport {
        let verified = try verify(url)
        defer { verified.remove() }
        let manifest = verified.manifest
        // Every check before the first write.
        if manifest.sourceKind == store.descriptor.kind, manifest.sourceSchemaVersion > store.descriptor.schemaVersion {
            throw EngramError(.unsupported, "the backup was taken from a \(manifest.sourceKind) store at schema version \(manifest.sourceSchemaVersion), newer than this build's (\(store.descriptor.schemaVersion)): restore it with a newer Engram")
        }
        let memoryRows = manifest.parts.filter { ["memories.jsonl", "memory_events.jsonl"].contains($0.file) }.reduce(0) { $0 + $1.rows }
        var memoryEmbedders: [EmbeddingIdentity: any Embedder] = [:]
        if memoryRows > 0 {
            guard let memoryStore else { throw EngramError(.invalidInput, "the backup holds long-term memories: restore it with a memory store") }
            if !manifest.includesVectors {
                // Memories that had vectors are embedded again: every embedder they need must be there first.
                var lines = try LineReader(verified.directory.appendingPathComponent("memories.jsonl"))
                while let line = try lines.next() {
                    if case .memory(let m) = try BackupRow.parse(line: line, part: "memories"), let identity = m.embeddingIdentity, memoryEmbedders[identity] == nil {
                        memoryEmbedders[identity] = try await embedder(identity)
                    }
                }
            }
            for tenant in manifest.memoryTenants where mode == .emptyOnly {
                let held = try await memoryStore.list(MemoryListRequest(tenant: tenant, limit: 1)).memories.count
                let events = try await memoryStore.events(tenant: tenant, memoryID: nil).count
                if held > 0 || events > 0 {
                    throw EngramError(.conflict, "the target store is not empty: tenant '\(tenant)' has long-term memories; restore into an empty store, or choose --mode merge")
                }
            }
        }
        var embedders: [CollectionRef: any Embedder] = [:]
        for tenant in manifest.tenants where mode == .emptyOnly {
            if let existing = try await store.collections(tenant: tenant).first {
                throw EngramError(.conflict, "the target store is not empty: tenant '\(tenant)' has collection '\(existing.ref.name)'; restore into an empty store, or choose --mode merge")
            }
        }
        for c in manifest.collections {
            if let existing = try await store.collection(c.ref), existing.identity != c.identity {
                throw EngramError(.embeddingMismatch, "collection '\(c.ref.name)' of tenant '\(c.ref.tenant)' exists with embedding \(existing.identity); the backup's is \(c.identity)")
            }
            if !manifest.includesVectors && c.chunks > 0 {
                guard !c.identity.isExternal else {
                    throw EngramError(.unsupported, "collection '\(c.ref.name)' has external vectors and the backup holds none: back it up with vectors")
                }
                embedders[c.ref] = try await embedder(c.identity)
            }
        }
        var report = RestoreReport(collections: 0, documents: 0, chunks: 0, embedded: 0)
        var chunks = try LineReader(verified.directory.appendingPathComponent("chunks.jsonl"))
        var pendingChunk = try chunks.next().map { try BackupRow.parse(line: $0, part: "chunks") }
        var documents = try LineReader(verified.directory.appendingPathComponent("documents.jsonl"))
        var pendingDocument = try documents.next().map { try BackupRow.parse(line: $0, part: "documents") }
        var collections = try LineReader(verified.directory.appendingPathComponent("collections.jsonl"))
        while let line = try collections.next() {
            guard case .collection(let c) = try BackupRow.parse(line: line, part: "collections") else { throw EngramError(.invalidInput, "collections.jsonl holds another row") }
            _ = try await store.createCollection(c.ref, identity: c.identity)
            report.collections += 1
            var batches: [[DocumentUpsert]] = [], batch: [DocumentUpsert] = [], size = 0
            func flush(all: Bool) async throws {
                if !batch.isEmpty && (all || size >= batchChunks) {
                    if let e = embedders[c.ref] {
                        let texts = batch.flatMap { $0.chunks.map(\.text) }
                        var vectors: [[Float]] = []
                        for i in stride(from: 0, to: texts.count, by: e.preferredBatchSize) {
                            vectors += try await e.embed(Array(texts[i..<min(texts.count, i + e.preferredBatchSize)]))
                        }
                        var k = 0
                        for d in batch.indices {
                            for j in batch[d].chunks.indices { batch[d].chunks[j].embedding = vectors[k]; k += 1 }
                        }
                        report.embedded += texts.count
                    }
                    batches.append(batch)
                    batch = []
                    size = 0
                }
                if !batches.isEmpty && (all || batches.count >= 2 * store.bulkWriters) {
                    let results = try await store.upsert(batches: batches, identity: c.identity, in: c.ref, deferIndexing: true)
                    for case .failure(let e) in results.joined() {
                        throw EngramError(e.code, "restoring collection '\(c.ref.name)': \(e.message)", underlying: e)
                    }
                    batches = []
                }
            }
            while case .document(let d)? = pendingDocument, d.collection == c.ref {
                var own: [ChunkRecord] = []
                while case .chunk(let k)? = pendingChunk, k.collection == c.ref, k.chunk.documentID == d.info.id {
                    let s = k.chunk
                    own.append(ChunkRecord(id: s.id, ordinal: s.ordinal, text: s.text, charStart: s.charStart, charEnd: s.charEnd, section: s.section,
                                           tokenCount: s.tokenCount, sha256: s.sha256, metadata: s.metadata, embedding: k.embedding))
                    pendingChunk = try chunks.next().map { try BackupRow.parse(line: $0, part: "chunks") }
                }
                let i = d.info
                batch.append(DocumentUpsert(document: DocumentRecord(id: i.id, sourceURI: i.sourceURI, sha256: i.sha256, fingerprint: i.fingerprint, mime: i.mime,
                                                                     size: i.size, metadata: i.metadata, text: d.text), chunks: own))
                size += own.count
                report.documents += 1
                report.chunks += own.count
                pendingDocument = try documents.next().map { try BackupRow.parse(line: $0, part: "documents") }
                try await flush(all: false)
            }
            try await flush(all: true)
            try await store.buildIndexes(c.ref)
        }
        guard pendingDocument == nil, pendingChunk == nil else {
            throw EngramError(.invalidInput, "the backup's documents or chunks are not grouped by collection and document as its collections are listed")
        }
        if let memoryStore, memoryRows > 0 {
            var batch: [Memory] = []
            var lines = try LineReader(verified.directory.appendingPathComponent("memories.jsonl"))
            while let line = try lines.next() {
                guard case .memory(var m) = try BackupRow.parse(line: line, part: "memories") else { continue }
                if m.embedding == nil, let identity = m.embeddingIdentity, let e = memoryEmbedders[identity] {
                    m.embedding = try await e.embed(m.content)
                    report.embedded += 1
                }
                batch.append(m)
                if batch.count >= 1_000 {
                    try await memoryStore.restore(memories: batch, events: [])
                    report.memories += batch.count
                    batch = []
                }
            }
            try await memoryStore.restore(memories: batch, events: [])
            report.memories += batch.count
            var events: [MemoryEvent] = []
            lines = try LineReader(verified.directory.appendingPathComponent("memory_events.jsonl"))
            while let line = try lines.next() {
                guard case .memoryEvent(let e) = try BackupRow.parse(line: line, part: "memory_events") else { continue }
                events.append(e)
                if events.count >= 5_000 {
                    try await memoryStore.restore(memories: [], events: events)
                    report.memoryEvents += events.count
                    events = []
                }
            }
            try await memoryStore.restore(memories: [], events: events)
            report.memoryEvents += events.count
        }
        return report
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
