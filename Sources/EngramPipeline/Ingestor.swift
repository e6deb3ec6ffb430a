#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EngramCore
import Foundation
import Logging

/// Progress of an ingestion run.
public struct IngestProgress: Sendable {
    public var filesDone: Int
    public var filesTotal: Int
    public var currentPath: String
}

/// What an ingestion run did.
public struct IngestReport: Sendable, Codable, Hashable {
    public struct Failure: Sendable, Codable, Hashable {
        public var source: String
        public var code: String
        public var reason: String
    }

    public var added = 0
    public var updated = 0
    public var unchanged = 0
    public var deleted = 0
    public var failed: [Failure] = []
    /// Entries of the walked folders that were not ingested, with the reason (links, names that are not
    /// UTF-8, special files, unsupported types).
    public var skipped: [FolderWalker.Skipped] = []
    public var files = 0
    public var chunksWritten = 0
    public var chunksEmbedded = 0

    public init() {}

    /// Adds another report's counts and failures to this one.
    public mutating func merge(_ other: IngestReport) {
        added += other.added
        updated += other.updated
        unchanged += other.unchanged
        deleted += other.deleted
        failed += other.failed
        skipped += other.skipped
        files += other.files
        chunksWritten += other.chunksWritten
        chunksEmbedded += other.chunksEmbedded
    }
}

/// Walks files and folders and keeps a collection in step with them.
///
/// Each document carries a fingerprint of its source bytes and of the pipeline settings; a document
/// whose fingerprint is unchanged is skipped without being decoded, chunked or embedded. Changed
/// documents are re-chunked, embedded in batches and replaced atomically. A file that cannot be used is
/// reported with its reason and never stops the run.
public struct Ingestor: Sendable {
    public struct Options: Sendable {
        /// Patterns a walked file must match (default: every supported extension).
        public var include: [Glob] = []
        /// Patterns that exclude files and folders.
        public var exclude: [Glob] = []
        /// Files larger than this are refused.
        public var maxBytes: Int = 10 * 1024 * 1024
        /// Chunks per embedding batch.
        public var batchSize: Int = 512
        /// Delete documents under the given paths whose source is gone.
        public var prune = false
        /// Follow symbolic links found inside folders (each folder and file is still visited once).
        public var followLinks = false
        public var chunker = StructuredChunker()
        public var loader = SourceLoader()

        public init() {}
    }

    public let store: any VectorStore
    public let embedder: any Embedder
    public let collection: CollectionRef
    public let options: Options
    public let logger: Logger

    public init(store: any VectorStore, embedder: any Embedder, collection: CollectionRef, options: Options = Options(), logger: Logger = Logger(label: "engram.ingest", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.store = store
        self.embedder = embedder
        self.collection = collection
        self.options = options
        self.logger = logger
    }

    struct Pending {
        var record: DocumentRecord
        var chunks: [ChunkRecord]
    }

    /// What changes a document's fingerprint besides its bytes.
    var settingsFingerprint: String {
        let j = options.loader.json
        return "\(options.chunker.fingerprint)|\(embedder.identity)|json:\(j.textField),\(j.idField),\(j.embeddingField)"
    }

    func fingerprint(sourceBytesSHA256: String) -> String {
        SHA256Hex.hash("\(settingsFingerprint)\u{0}\(sourceBytesSHA256)")
    }

    /// Ingests files and folders.
    /// - Throws: only when the store itself fails or the collection is missing or has another embedding
    ///   identity; problems with single files are in the report.
    public func ingest(paths: [String], progress: (@Sendable (IngestProgress) -> Void)? = nil) async throws -> IngestReport {
        let info = try await store.requireCollection(collection)
        try info.identity.requireCompatible(embedder.identity, context: "ingest into \(collection)")
        var report = IngestReport()
        let existing = Dictionary(try await store.documents(in: collection).map { ($0.sourceURI, $0) }, uniquingKeysWith: { a, _ in a })

        // Collect files.
        var roots: [(uri: String, isDirectory: Bool)] = []
        let walker = FolderWalker(include: options.include, exclude: options.exclude, followLinks: options.followLinks)
        var walk = FolderWalker.Walk()
        for path in paths {
            let absolute = Ingestor.absolutePath(path)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDir) else {
                let hint = path.unicodeScalars.contains("\u{FFFD}") ? " (its name holds U+FFFD: a name that is not UTF-8 cannot be named here; ingest its folder)" : ""
                report.failed.append(.init(source: FilePaths.display(path), code: EngramError.Code.loadFailed.rawValue, reason: "\(FilePaths.display(path)): no such file or folder\(hint)"))
                continue
            }
            if isDir.boolValue {
                var uri = URL(fileURLWithPath: absolute, isDirectory: true).absoluteString
                if !uri.hasSuffix("/") { uri += "/" }
                roots.append((uri, true))
                walker.walk(folder: absolute, into: &walk)
            } else {
                roots.append((URL(fileURLWithPath: absolute).absoluteString, false))
                _ = walker.add(file: absolute, into: &walk)
            }
        }
        let files = walk.files
        report.skipped = walk.skipped
        var seen = Set<String>()
        var filesWithFailures = Set<String>()
        var pending: [Pending] = []
        var pendingChunks = 0

        // Batches embed and write while the next ones are read and chunked: as many at once as the store
        // writes side by side (one for embedded stores), the later version of a document winning.
        try await withThrowingTaskGroup(of: (Int, IngestReport).self) { group in
            var window = DocumentBatchWindow(width: store.bulkWriters)
            func launch(_ batch: [Pending], group: inout ThrowingTaskGroup<(Int, IngestReport), any Error>) async throws {
                try await window.launch(documents: Set(batch.map(\.record.id)), in: &group, finished: { report.merge($1) }) {
                    try await self.flush(batch)
                }
            }
            for (n, file) in files.enumerated() {
                progress?(IngestProgress(filesDone: n, filesTotal: files.count, currentPath: file.path))
                report.files += 1
                seen.insert(file.uri)
                let bytes: [UInt8]
                do {
                    let size = try InputFile.requireRegular(file.path, what: "document")
                    guard size <= options.maxBytes else {
                        throw EngramError(.loadFailed, "\(FilePaths.display(file.path)): file is \(size) bytes, over the limit of \(options.maxBytes) (--max-bytes)")
                    }
                    bytes = [UInt8](try InputFile.read(file.path, limit: options.maxBytes, what: "document"))
                } catch let e as EngramError {
                    filesWithFailures.insert(file.uri)
                    report.failed.append(.init(source: FilePaths.display(file.path), code: EngramError.Code.loadFailed.rawValue, reason: e.message))
                    continue
                }
                // Fast path: a single-document file whose bytes and settings are unchanged is skipped unread.
                if SourceLoader.isSingleDocument(path: file.path), let old = existing[file.uri],
                   old.fingerprint == fingerprint(sourceBytesSHA256: SHA256Hex.hash(bytes: bytes)) {
                    report.unchanged += 1
                    continue
                }
                let loaded: (documents: [LoadedDocument], failures: [(source: String, error: EngramError)])
                do {
                    loaded = try options.loader.load(bytes: bytes, path: file.path, sourceURI: file.uri)
                } catch {
                    filesWithFailures.insert(file.uri)
                    report.failed.append(Ingestor.failure(source: file.path, error))
                    continue
                }
                for f in loaded.failures {
                    seen.insert(f.source)
                    report.failed.append(.init(source: f.source, code: f.error.code.rawValue, reason: f.error.message))
                }
                for doc in loaded.documents {
                    seen.insert(doc.sourceURI)
                    let fp = fingerprint(sourceBytesSHA256: doc.sourceBytesSHA256)
                    if let old = existing[doc.sourceURI], old.fingerprint == fp {
                        report.unchanged += 1
                        continue
                    }
                    stage(doc, fingerprint: fp, identity: info.identity, into: &pending, chunks: &pendingChunks, report: &report)
                }
                if pendingChunks >= options.batchSize {
                    try await launch(pending, group: &group)
                    pending = []
                    pendingChunks = 0
                }
            }
            if !pending.isEmpty { try await launch(pending, group: &group) }
            for try await (_, done) in group { report.merge(done) }
        }
        progress?(IngestProgress(filesDone: files.count, filesTotal: files.count, currentPath: ""))

        if options.prune {
            for (uri, doc) in existing where !seen.contains(uri) {
                let filePart = String(uri.split(separator: "#", maxSplits: 1).first ?? Substring(uri))
                guard !filesWithFailures.contains(filePart) else { continue }
                let underRoot = roots.contains { root in root.isDirectory ? filePart.hasPrefix(root.uri) : filePart == root.uri }
                guard underRoot else { continue }
                // Only a document whose source is gone: its file no longer exists, or it was a record of a
                // file read in this run that no longer holds it. A file that still exists but was not read
                // (left out by --include or --exclude, hidden, a link) keeps its documents.
                let recordGone = uri.contains("#") && seen.contains(filePart)
                guard recordGone || !Ingestor.sourceExists(filePart) else { continue }
                if try await store.deleteDocument(id: doc.id, in: collection) { report.deleted += 1 }
            }
        }
        // Batches were written with indexing deferred: build the index once, over everything.
        try await store.buildIndexes(collection)
        return report
    }

    /// Ingests documents that were loaded elsewhere (for library users with their own sources).
    public func ingest(documents: [LoadedDocument]) async throws -> IngestReport {
        let info = try await store.requireCollection(collection)
        try info.identity.requireCompatible(embedder.identity, context: "ingest into \(collection)")
        var report = IngestReport()
        var pending: [Pending] = []
        var pendingChunks = 0
        for doc in documents {
            let fp = fingerprint(sourceBytesSHA256: doc.sourceBytesSHA256)
            let old = try await store.document(sourceURI: doc.sourceURI, in: collection)
            if let old, old.info.fingerprint == fp {
                report.unchanged += 1
                continue
            }
            stage(doc, fingerprint: fp, identity: info.identity, into: &pending, chunks: &pendingChunks, report: &report)
            if pendingChunks >= options.batchSize {
                report.merge(try await flush(pending))
                pending = []
                pendingChunks = 0
            }
        }
        report.merge(try await flush(pending))
        try await store.buildIndexes(collection)
        return report
    }

    /// Adds a loaded document's records to the pending batch, or its failure to the report.
    func stage(_ doc: LoadedDocument, fingerprint fp: String, identity: EmbeddingIdentity, into pending: inout [Pending], chunks pendingChunks: inout Int, report: inout IngestReport) {
        do {
            let (record, chunks) = try prepare(doc, fingerprint: fp, identity: identity)
            pending.append(Pending(record: record, chunks: chunks))
            pendingChunks += chunks.count
        } catch {
            report.failed.append(Ingestor.failure(source: doc.sourceURI, error))
        }
    }

    /// Chunks a loaded document into records (embeddings are added by `flush`).
    func prepare(_ doc: LoadedDocument, fingerprint: String, identity: EmbeddingIdentity) throws -> (DocumentRecord, [ChunkRecord]) {
        let id = DocumentRecord.makeID(ref: collection, sourceURI: doc.sourceURI)
        let record = DocumentRecord(id: id, sourceURI: doc.sourceURI, sha256: SHA256Hex.hash(doc.text), fingerprint: fingerprint, mime: doc.mime, size: doc.size, metadata: doc.metadata, text: doc.text)
        let scalarText = ScalarText(doc.text)
        func slice(_ a: Int, _ b: Int) -> String { scalarText.slice(a, b)! }
        if let embedding = doc.embedding {
            guard identity.isExternal else {
                throw EngramError(.embeddingMismatch, "\(doc.sourceURI): the record carries an embedding, but the collection embeds with \(identity); create the collection with --embedder external:\(embedding.count) to store your own vectors")
            }
            try identity.validate(vector: embedding, context: doc.sourceURI)
            // A precomputed vector stands for the whole text: one chunk, trimmed of outer whitespace.
            let scalars = Array(doc.text.unicodeScalars)
            guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
                  let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else {
                throw EngramError(.emptyDocument, "\(doc.sourceURI): the text is empty")
            }
            let text = slice(first, last + 1)
            let tokens = KeywordTokenizer.tokens(text).count
            return (record, [ChunkRecord(id: ChunkRecord.makeID(documentID: id, ordinal: 0), ordinal: 0, text: text, charStart: first, charEnd: last + 1, section: [], tokenCount: tokens, sha256: SHA256Hex.hash(text), embedding: embedding)])
        }
        if identity.isExternal {
            throw EngramError(.embeddingMismatch, "\(doc.sourceURI): the collection stores external vectors (\(identity)) and this document has no 'embedding' field")
        }
        let spans = options.chunker.chunk(text: doc.text, headings: doc.headings)
        guard !spans.isEmpty else {
            throw EngramError(.emptyDocument, "\(doc.sourceURI): the document yields no chunk (no visible text)")
        }
        let chunks = spans.enumerated().map { i, span in
            let text = slice(span.start, span.end)
            var metadata: Metadata = [:]
            if !span.section.isEmpty { metadata["section"] = .string(span.section.joined(separator: " > ")) }
            return ChunkRecord(id: ChunkRecord.makeID(documentID: id, ordinal: i), ordinal: i, text: text, charStart: span.start, charEnd: span.end, section: span.section, tokenCount: span.tokenCount, sha256: SHA256Hex.hash(utf8: scalarText.bytes(span.start, span.end)), metadata: metadata)
        }
        return (record, chunks)
    }

    /// Embeds a batch's chunks, then writes its documents (each atomically); returns what it did.
    func flush(_ batch: [Pending]) async throws -> IngestReport {
        var report = IngestReport()
        var pending = batch
        guard !pending.isEmpty else { return report }
        var texts: [String] = []
        var slots: [(Int, Int)] = []
        for (d, p) in pending.enumerated() {
            for (c, chunk) in p.chunks.enumerated() where chunk.embedding == nil {
                texts.append(chunk.text)
                slots.append((d, c))
            }
        }
        var failedDocuments = Set<Int>()
        if !texts.isEmpty {
            var start = 0
            let size = max(1, embedder.preferredBatchSize)
            while start < texts.count {
                let end = min(texts.count, start + size)
                do {
                    let vectors = try await embedder.embed(Array(texts[start..<end]))
                    guard vectors.count == end - start else {
                        throw EngramError(.storageFailure, "embedder returned \(vectors.count) vectors for \(end - start) texts")
                    }
                    for (i, v) in vectors.enumerated() {
                        let (d, c) = slots[start + i]
                        pending[d].chunks[c].embedding = v
                    }
                    report.chunksEmbedded += vectors.count
                } catch {
                    for i in start..<end { failedDocuments.insert(slots[i].0) }
                    logger.warning("embedding failed", metadata: ["error": "\(error)"])
                    for d in Set(slots[start..<end].map(\.0)) {
                        report.failed.append(Ingestor.failure(source: pending[d].record.sourceURI, error))
                    }
                }
                start = end
            }
        }
        let ready = pending.enumerated().filter { !failedDocuments.contains($0.offset) }.map(\.element)
        let results = try await store.upsert(batch: ready.map { DocumentUpsert(document: $0.record, chunks: $0.chunks) }, identity: embedder.identity, in: collection, deferIndexing: true)
        for (p, result) in zip(ready, results) {
            switch result {
            case .success(let outcome):
                switch outcome {
                case .added: report.added += 1
                case .updated: report.updated += 1
                case .unchanged: report.unchanged += 1
                }
                if outcome != .unchanged { report.chunksWritten += p.chunks.count }
            case .failure(let error):
                report.failed.append(Ingestor.failure(source: p.record.sourceURI, error))
            }
        }
        return report
    }

    static func failure(source: String, _ error: any Error) -> IngestReport.Failure {
        if let e = error as? EngramError {
            return .init(source: source, code: e.code.rawValue, reason: e.message)
        }
        return .init(source: source, code: EngramError.Code.loadFailed.rawValue, reason: "\(source): \(error)")
    }

    static func absolutePath(_ path: String) -> String {
        FilePaths.absolute(path)
    }

    /// Whether the file a `file://` source URI names still exists (as any kind of entry).
    static func sourceExists(_ uri: String) -> Bool {
        guard let url = URL(string: uri), url.isFileURL else { return true }
        var s = stat()
        return lstat(url.path, &s) == 0
    }
}
