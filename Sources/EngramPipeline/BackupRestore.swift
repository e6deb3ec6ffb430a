import EngramCore
import Foundation

extension BackupArchive {
    public enum RestoreMode: String, Sendable, CaseIterable {
        /// The archive's tenants have no collection and no memories in the target (the default).
        case emptyOnly = "empty"
        /// Collections that exist must have the archive's embedding identity; the archive's documents
        /// replace documents of the same id, and the target's other documents stay. Memories replace the
        /// target's memories of the same id, except those under legal hold.
        case merge
    }

    /// Restores an archive into a store, whole or not at all.
    ///
    /// In order, before anything is written: the archive is checked against its manifest
    /// (``verify(_:)``); the tenants to restore are settled (every row must belong to a tenant the
    /// manifest declares, and only `tenants` are written); the target is checked (`mode`, embedding
    /// identities, embedders); then every row is read and checked as an upsert or a remember would check
    /// it (ids derived from their tenant, hashes, character ranges, vectors, memory fields), and chunks
    /// and memories without vectors are embedded again. Then the rows are written: in one transaction
    /// when the store is a ``RestoreTarget`` holding the memory store's tables (SQLite, PostgreSQL), so a
    /// failure or a killed process leaves the target as it was; through the store's API otherwise.
    ///
    /// Memories keep their ids, times, access counts, expiry and holds. A memory of the target with the
    /// same id (in the same tenant) is replaced unless it is under legal hold; one whose content the
    /// target holds under another id is left out; each written memory gets a `restored` audit event, and
    /// the archive's events are appended marked with the archive as their origin.
    /// - Parameters:
    ///   - tenants: the tenants to restore (each must be in the archive); nil for all of them.
    ///   - actor: who restores, recorded in the `restored` events.
    ///   - embedder: the embedder of an identity, for an archive without vectors.
    /// - Throws: before writing anything: a damaged or forged archive (`invalid_input`), a newer format
    ///   (`unsupported`), a tenant the archive does not hold (`not_found`), a target that is not empty
    ///   (`conflict`) or whose collection has another identity (`embedding_mismatch`), a missing embedder.
    public static func restore(_ url: URL, into store: any VectorStore, memories memoryStore: (any MemoryStore)? = nil, mode: RestoreMode = .emptyOnly,
                               tenants: Set<String>? = nil, actor: String = "restore",
                               embedder: @Sendable (EmbeddingIdentity) async throws -> any Embedder,
                               batchChunks: Int = 2_000, now: Date = Date()) async throws -> RestoreReport {
        try await restore(url, store: store, target: nil, memories: memoryStore, mode: mode, tenants: tenants, actor: actor, embedder: embedder,
                          batchChunks: batchChunks, now: now)
    }

    /// Restores into a store that writes a whole restore in one transaction (with its own memory store,
    /// when `memories` is that store's); otherwise as the form for any `VectorStore`, through the stores' operations.
    public static func restore(_ url: URL, into store: some RestoreTarget, memories memoryStore: (any MemoryStore)? = nil, mode: RestoreMode = .emptyOnly,
                               tenants: Set<String>? = nil, actor: String = "restore",
                               embedder: @Sendable (EmbeddingIdentity) async throws -> any Embedder,
                               batchChunks: Int = 2_000, now: Date = Date()) async throws -> RestoreReport {
        try await restore(url, store: store, target: store, memories: memoryStore, mode: mode, tenants: tenants, actor: actor, embedder: embedder,
                          batchChunks: batchChunks, now: now)
    }

    /// Restores into the stores a URL opened (``Stores``): in one transaction where the backend has a
    /// ``Stores/restoreTarget``.
    public static func restore(_ url: URL, into stores: Stores, mode: RestoreMode = .emptyOnly, tenants: Set<String>? = nil, actor: String = "restore",
                               embedder: @Sendable (EmbeddingIdentity) async throws -> any Embedder,
                               batchChunks: Int = 2_000, now: Date = Date()) async throws -> RestoreReport {
        try await restore(url, store: stores.vectors, target: stores.restoreTarget, memories: stores.memories, mode: mode, tenants: tenants, actor: actor,
                          embedder: embedder, batchChunks: batchChunks, now: now)
    }

    static func restore(_ url: URL, store: any VectorStore, target: (any RestoreTarget)?, memories memoryStore: (any MemoryStore)?, mode: RestoreMode,
                        tenants: Set<String>?, actor: String, embedder: @Sendable (EmbeddingIdentity) async throws -> any Embedder,
                        batchChunks: Int, now: Date) async throws -> RestoreReport {
        try MemoryRules.validateLabel(actor, what: "actor")
        let verified = try verify(url)
        defer { verified.remove() }
        let manifest = verified.manifest
        if manifest.sourceKind == store.descriptor.kind, manifest.sourceSchemaVersion > store.descriptor.schemaVersion {
            throw EngramError(.unsupported, "the backup was taken from a \(manifest.sourceKind) store at schema version \(manifest.sourceSchemaVersion), newer than this build's (\(store.descriptor.schemaVersion)): restore it with a newer Engram")
        }
        let declared = Set(manifest.tenants).union(manifest.memoryTenants)
        for t in declared { try MemoryRules.validateTenant(t) }
        let allowed = tenants ?? declared
        for t in allowed.sorted() where !declared.contains(t) {
            throw EngramError(.notFound, "the archive holds no tenant '\(t)' (it holds: \(declared.sorted().joined(separator: ", ")))")
        }
        let memoryTenants = Set(manifest.memoryTenants).intersection(allowed)
        let memoryRows = manifest.parts.filter { ["memories.jsonl", "memory_events.jsonl"].contains($0.file) }.reduce(0) { $0 + $1.rows }
        if memoryRows > 0, !memoryTenants.isEmpty, memoryStore == nil {
            throw EngramError(.invalidInput, "the backup holds long-term memories: restore it with a memory store")
        }
        if mode == .emptyOnly {
            for tenant in allowed.sorted() {
                if let existing = try await store.collections(tenant: tenant).first {
                    throw EngramError(.conflict, "the target store is not empty: tenant '\(tenant)' has collection '\(existing.ref.name)'; restore into an empty store, or choose --mode merge")
                }
            }
            if let memoryStore {
                for tenant in memoryTenants.sorted() {
                    let held = try await memoryStore.list(MemoryListRequest(tenant: tenant, limit: 1)).memories.count
                    let events = try await memoryStore.events(tenant: tenant, memoryID: nil).count
                    if held > 0 || events > 0 {
                        throw EngramError(.conflict, "the target store is not empty: tenant '\(tenant)' has long-term memories; restore into an empty store, or choose --mode merge")
                    }
                }
            }
        }
        var embedders: [CollectionRef: any Embedder] = [:]
        for c in manifest.collections where allowed.contains(c.ref.tenant) {
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
        let plan = RestorePlan(actor: actor, origin: "backup \(verified.id.prefix(16)) taken \(MetadataValue.canonicalDateString(manifest.createdAt))", at: now)
        let configuration = ArchiveSteps.Configuration(manifest: manifest, allowed: allowed, embedded: Set(embedders.keys),
                                                       embedMemories: !manifest.includesVectors, batchChunks: batchChunks)

        // Every row is read and checked, and what has no vector is embedded into a spool file, before the
        // first write.
        var report = RestoreReport()
        report.tenants = allowed.sorted()
        let spoolURL = verified.directory.appendingPathComponent("vectors.f32")
        do {
            let steps = try ArchiveSteps(directory: verified.directory, configuration, spool: nil)
            let spool = try VectorSpool.Writer(spoolURL)
            var memoryEmbedders: [EmbeddingIdentity: any Embedder] = [:]
            while let step = try steps.next() {
                switch step {
                case .collection:
                    report.collections += 1
                case .documents(let batch, let ref, _):
                    report.documents += batch.count
                    report.chunks += batch.reduce(0) { $0 + $1.chunks.count }
                    guard let e = embedders[ref] else { continue }
                    let texts = batch.flatMap { $0.chunks.map(\.text) }
                    for start in stride(from: 0, to: texts.count, by: max(1, e.preferredBatchSize)) {
                        let part = Array(texts[start..<min(texts.count, start + max(1, e.preferredBatchSize))])
                        let vectors = try await e.embed(part)
                        guard vectors.count == part.count else { throw EngramError(.storageFailure, "the embedder returned \(vectors.count) vectors for \(part.count) texts") }
                        for v in vectors {
                            try e.identity.validate(vector: v, context: "collection '\(ref.name)'")
                            try spool.append(v)
                        }
                    }
                    report.embedded += texts.count
                case .memories(let batch, _):
                    for m in batch where configuration.needsEmbedding(m) {
                        let identity = m.embeddingIdentity!
                        if memoryEmbedders[identity] == nil { memoryEmbedders[identity] = try await embedder(identity) }
                        let v = try await memoryEmbedders[identity]!.embed(m.content)
                        try identity.validate(vector: v, context: "memory \(m.id)")
                        try spool.append(v)
                        report.embedded += 1
                    }
                case .events:
                    break
                }
            }
            try steps.finish()
            try spool.close()
        }

        let steps = try ArchiveSteps(directory: verified.directory, configuration, spool: try VectorSpool.Reader(spoolURL))
        let outcome: MemoryRestoreOutcome
        if let target, memoryStore.map(target.holdsMemories(of:)) ?? true {
            outcome = try await target.restore(steps, plan: plan, memories: memoryStore != nil)
            report.atomic = true
        } else {
            outcome = try await applyThroughAPI(steps, store: store, memories: memoryStore, plan: plan)
        }
        try steps.finish()
        report.memories = outcome.written.count
        report.memoryEvents = outcome.importedEvents
        report.keptHeld = outcome.keptHeld
        report.keptDuplicate = outcome.keptDuplicate
        return report
    }

    /// Writes checked steps through the stores' public operations (stores without one transaction for a
    /// whole restore, such as the in-memory ones). Every row was checked before, so only a failure of the
    /// store itself can stop it midway.
    static func applyThroughAPI(_ steps: ArchiveSteps, store: any VectorStore, memories memoryStore: (any MemoryStore)?, plan: RestorePlan) async throws -> MemoryRestoreOutcome {
        var outcome = MemoryRestoreOutcome()
        var restored: [CollectionRef] = []
        while let step = try steps.next() {
            switch step {
            case .collection(let c):
                _ = try await store.createCollection(c.ref, identity: c.identity)
                restored.append(c.ref)
            case .documents(let batch, let ref, let identity):
                for case .failure(let e) in try await store.upsert(batch: batch, identity: identity, in: ref, deferIndexing: true) {
                    throw EngramError(e.code, "restoring collection '\(ref.name)': \(e.message)", underlying: e)
                }
            case .memories(let batch, let tenant):
                if let memoryStore { outcome.merge(try await memoryStore.restore(memories: batch, tenant: tenant, plan: plan)) }
            case .events(let batch, let tenant):
                if let memoryStore { outcome.importedEvents += try await memoryStore.importEvents(batch, tenant: tenant, plan: plan) }
            }
        }
        for ref in restored { try await store.buildIndexes(ref) }
        return outcome
    }
}

/// The rows of a verified archive as checked restore steps: collections, each followed by its documents
/// (in batches), then memories and audit events (in batches of one tenant).
///
/// Reading is checking: a row of a tenant the manifest does not declare, a document whose id does not
/// derive from its tenant, collection and source, a chunk whose text, range or hash does not match its
/// document, a vector that is not finite, a memory whose content hash differs, an id twice, rows out of
/// order or counts that differ from the manifest are refused, naming the file and line. Rows of declared
/// tenants that are not restored are checked and skipped. One task reads it at a time (the restore hands
/// it to one transaction), hence `@unchecked Sendable`.
final class ArchiveSteps: RestoreSteps, @unchecked Sendable {
    struct Configuration: Sendable {
        var manifest: BackupManifest
        var allowed: Set<String>
        /// Collections whose chunks are embedded again (the archive has no vectors).
        var embedded: Set<CollectionRef>
        /// Whether memories with an embedding identity are embedded again.
        var embedMemories: Bool
        var batchChunks: Int

        func needsEmbedding(_ m: Memory) -> Bool { embedMemories && m.embedding == nil && m.embeddingIdentity != nil }
    }

    let configuration: Configuration
    let spool: VectorSpool.Reader?
    var collections, documents, chunks, memories, events: NumberedLines
    var stage = 0
    var current: (ref: CollectionRef, identity: EmbeddingIdentity, restored: Bool)?
    var pendingDocument: (row: BackupDocument, line: Int)?
    var pendingChunk: (row: BackupChunk, line: Int)?
    var pendingMemory: (row: Memory, line: Int)?
    var pendingEvent: (row: MemoryEvent, line: Int)?
    var seenCollections = Set<CollectionRef>()
    var seenDocuments = Set<String>()
    var seenMemories = Set<String>()
    var counts: [CollectionRef: (documents: Int, chunks: Int)] = [:]

    init(directory: URL, _ configuration: Configuration, spool: VectorSpool.Reader?) throws {
        self.configuration = configuration
        self.spool = spool
        func lines(_ part: String) throws -> NumberedLines { NumberedLines(part: part, reader: try LineReader(directory.appendingPathComponent("\(part).jsonl"))) }
        collections = try lines("collections")
        documents = try lines("documents")
        chunks = try lines("chunks")
        memories = try lines("memories")
        events = try lines("memory_events")
        pendingDocument = try documents.next().map { (try Self.document($0.data, $0.line), $0.line) }
        pendingChunk = try chunks.next().map { (try Self.chunk($0.data, $0.line), $0.line) }
    }

    static func bad(_ part: String, _ line: Int, _ what: String) -> EngramError {
        EngramError(.invalidInput, "backup \(part).jsonl line \(line): \(what)")
    }

    static func document(_ data: Data, _ line: Int) throws -> BackupDocument {
        guard case .document(let d) = try parse(data, "documents", line) else { throw bad("documents", line, "not a document") }
        return d
    }

    static func chunk(_ data: Data, _ line: Int) throws -> BackupChunk {
        guard case .chunk(let c) = try parse(data, "chunks", line) else { throw bad("chunks", line, "not a chunk") }
        return c
    }

    static func parse(_ data: Data, _ part: String, _ line: Int) throws -> BackupRow {
        do {
            return try BackupRow.parse(line: data, part: part)
        } catch let e as EngramError {
            throw bad(part, line, e.message)
        }
    }

    /// A tenant of a row: declared by the manifest, or the archive is refused; restored or not.
    func restores(tenant: String, _ part: String, _ line: Int, declared: [String]) throws -> Bool {
        guard declared.contains(tenant) else {
            throw Self.bad(part, line, "the row belongs to tenant '\(TerminalText.escaped(tenant))', which the manifest does not declare (tampered with)")
        }
        return configuration.allowed.contains(tenant)
    }

    func next() throws -> RestoreStep? {
        while true {
            switch stage {
            case 0:
                if let c = current {
                    if let batch = try documentBatch(of: c) {
                        if c.restored { return .documents(batch, in: c.ref, identity: c.identity) }
                        continue
                    }
                    current = nil
                    continue
                }
                guard let (data, line) = try collections.next() else {
                    if let d = pendingDocument { throw Self.bad("documents", d.line, "document \(d.row.info.id) belongs to no collection listed before it") }
                    if let k = pendingChunk { throw Self.bad("chunks", k.line, "chunk \(k.row.chunk.id) belongs to no document listed before it") }
                    stage = 1
                    continue
                }
                guard case .collection(let c) = try Self.parse(data, "collections", line) else { throw Self.bad("collections", line, "not a collection") }
                let restored = try restores(tenant: c.ref.tenant, "collections", line, declared: configuration.manifest.tenants)
                do { try c.ref.validateNew(identity: c.identity) } catch let e as EngramError { throw Self.bad("collections", line, e.message) }
                guard configuration.manifest.collections.contains(where: { $0.ref == c.ref && $0.identity == c.identity }) else {
                    throw Self.bad("collections", line, "collection '\(c.ref.name)' of tenant '\(c.ref.tenant)' is not in the manifest with this identity")
                }
                guard seenCollections.insert(c.ref).inserted else { throw Self.bad("collections", line, "collection '\(c.ref.name)' appears twice") }
                current = (c.ref, c.identity, restored)
                seenDocuments = []
                counts[c.ref] = (0, 0)
                if restored { return .collection(c) }
            case 1:
                if let batch = try memoryBatch() { return .memories(batch.rows, tenant: batch.tenant) }
                stage = 2
            case 2:
                if let batch = try eventBatch() { return .events(batch.rows, tenant: batch.tenant) }
                stage = 3
            default:
                return nil
            }
        }
    }

    /// The next documents of collection `c` (up to ``Configuration/batchChunks`` chunks), checked; nil
    /// when the collection has no more.
    func documentBatch(of c: (ref: CollectionRef, identity: EmbeddingIdentity, restored: Bool)) throws -> [DocumentUpsert]? {
        var batch: [DocumentUpsert] = []
        var size = 0
        let info = CollectionInfo(ref: c.ref, identity: c.identity, createdAt: Date(timeIntervalSince1970: 0))
        while let (d, line) = pendingDocument, d.collection == c.ref {
            guard seenDocuments.insert(d.info.id).inserted else { throw Self.bad("documents", line, "document \(d.info.id) appears twice") }
            var own: [ChunkRecord] = []
            while let (k, chunkLine) = pendingChunk, k.collection == c.ref, k.chunk.documentID == d.info.id {
                let s = k.chunk
                var embedding = k.embedding
                if configuration.embedded.contains(c.ref) {
                    guard embedding == nil else { throw Self.bad("chunks", chunkLine, "a chunk has a vector in an archive without vectors") }
                    if let spool { embedding = try spool.next(dimension: c.identity.dimension) }
                } else if let embedding {
                    do { try c.identity.validate(vector: embedding, context: "chunk \(s.id)") } catch let e as EngramError { throw Self.bad("chunks", chunkLine, e.message) }
                }
                own.append(ChunkRecord(id: s.id, ordinal: s.ordinal, text: s.text, charStart: s.charStart, charEnd: s.charEnd, section: s.section,
                                       tokenCount: s.tokenCount, sha256: s.sha256, metadata: s.metadata, embedding: embedding))
                pendingChunk = try chunks.next().map { (try Self.chunk($0.data, $0.line), $0.line) }
            }
            let i = d.info
            let record = DocumentRecord(id: i.id, sourceURI: i.sourceURI, sha256: i.sha256, fingerprint: i.fingerprint, mime: i.mime, size: i.size, metadata: i.metadata, text: d.text)
            let hasVectors = own.contains { $0.embedding != nil }
            do {
                try UpsertValidation.validate(document: record, chunks: own, identity: hasVectors ? c.identity : nil, collection: info)
            } catch let e as EngramError {
                throw Self.bad("documents", line, "document \(i.id): \(e.message)")
            }
            guard i.size >= 0, i.chunkCount == own.count else { throw Self.bad("documents", line, "document \(i.id) lists \(i.chunkCount) chunks; the archive holds \(own.count)") }
            counts[c.ref]!.documents += 1
            counts[c.ref]!.chunks += own.count
            pendingDocument = try documents.next().map { (try Self.document($0.data, $0.line), $0.line) }
            if c.restored {
                batch.append(DocumentUpsert(document: record, chunks: own))
                size += own.count
            }
            if size >= configuration.batchChunks { break }
        }
        if let (k, line) = pendingChunk, k.collection == c.ref, pendingDocument.map({ $0.row.collection != c.ref }) ?? true {
            throw Self.bad("chunks", line, "chunk \(k.chunk.id) belongs to no document listed before it")
        }
        if batch.isEmpty, pendingDocument.map({ $0.row.collection != c.ref }) ?? true { return nil }
        return batch
    }

    func memoryBatch() throws -> (rows: [Memory], tenant: String)? {
        var rows: [Memory] = []
        var tenant: String?
        while true {
            if pendingMemory == nil, let (data, line) = try memories.next() {
                guard case .memory(let m) = try Self.parse(data, "memories", line) else { throw Self.bad("memories", line, "not a memory") }
                do { try MemoryRules.validateRestored(m) } catch let e as EngramError { throw Self.bad("memories", line, e.message) }
                guard seenMemories.insert(m.id).inserted else { throw Self.bad("memories", line, "memory \(m.id) appears twice") }
                guard try restores(tenant: m.tenant, "memories", line, declared: configuration.manifest.memoryTenants) else { continue }
                pendingMemory = (m, line)
            }
            guard var (m, _) = pendingMemory else { break }
            if let tenant, m.tenant != tenant { break }
            if configuration.needsEmbedding(m), let spool { m.embedding = try spool.next(dimension: m.embeddingIdentity!.dimension) }
            tenant = m.tenant
            rows.append(m)
            pendingMemory = nil
            if rows.count >= 1_000 { break }
        }
        return tenant.map { (rows, $0) }
    }

    func eventBatch() throws -> (rows: [MemoryEvent], tenant: String)? {
        var rows: [MemoryEvent] = []
        var tenant: String?
        while true {
            if pendingEvent == nil, let (data, line) = try events.next() {
                guard case .memoryEvent(let e) = try Self.parse(data, "memory_events", line) else { throw Self.bad("memory_events", line, "not an event") }
                do { try MemoryRules.validateRestored(e) } catch let err as EngramError { throw Self.bad("memory_events", line, err.message) }
                guard try restores(tenant: e.tenant, "memory_events", line, declared: configuration.manifest.memoryTenants) else { continue }
                pendingEvent = (e, line)
            }
            guard let (e, _) = pendingEvent else { break }
            if let tenant, e.tenant != tenant { break }
            tenant = e.tenant
            rows.append(e)
            pendingEvent = nil
            if rows.count >= 5_000 { break }
        }
        return tenant.map { (rows, $0) }
    }

    /// Checks, once every step was read, that the archive held what its manifest counts.
    func finish() throws {
        guard stage == 3 else { return }
        for c in configuration.manifest.collections {
            guard let n = counts[c.ref] else { throw EngramError(.invalidInput, "backup collections.jsonl: collection '\(c.ref.name)' of the manifest is missing") }
            guard n.documents == c.documents, n.chunks == c.chunks else {
                throw EngramError(.invalidInput, "backup: collection '\(c.ref.name)' holds \(n.documents) documents and \(n.chunks) chunks; its manifest says \(c.documents) and \(c.chunks)")
            }
        }
        if let spool { try spool.finish() }
    }
}

/// Lines of one part of an archive, numbered from 1 for messages.
struct NumberedLines {
    let part: String
    var reader: LineReader
    var line = 0

    mutating func next() throws -> (data: Data, line: Int)? {
        guard let data = try reader.next() else { return nil }
        line += 1
        return (data, line)
    }
}

/// Vectors computed before a restore writes, kept in a file (float32, in the order the steps need them)
/// so that the write reads them without holding them all in memory.
enum VectorSpool {
    final class Writer {
        let handle: FileHandle
        var buffer = Data()

        init(_ url: URL) throws {
            guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw EngramError(.storageFailure, "cannot write \(url.path)")
            }
            handle = try FileHandle(forWritingTo: url)
        }

        func append(_ vector: [Float]) throws {
            vector.withUnsafeBufferPointer { buffer.append(Data(buffer: $0)) }
            if buffer.count >= 1 << 20 { try flush() }
        }

        func flush() throws {
            try handle.write(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
        }

        func close() throws {
            try flush()
            try handle.close()
        }
    }

    final class Reader {
        let handle: FileHandle

        init(_ url: URL) throws { handle = try FileHandle(forReadingFrom: url) }

        func next(dimension: Int) throws -> [Float] {
            guard let data = try handle.read(upToCount: dimension * 4), data.count == dimension * 4 else {
                throw EngramError(.storageFailure, "the vectors computed for the restore ended early")
            }
            var v = [Float](repeating: 0, count: dimension)
            _ = v.withUnsafeMutableBytes { data.copyBytes(to: $0) }
            return v
        }

        func finish() throws {
            guard (try handle.read(upToCount: 1) ?? Data()).isEmpty else {
                throw EngramError(.storageFailure, "the vectors computed for the restore were not all used")
            }
        }
    }
}
