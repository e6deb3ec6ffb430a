import Foundation

/// What kind of store answered, for evidence manifests.
public struct StoreDescriptor: Sendable, Hashable, Codable {
    /// `memory`, `sqlite`, `postgres`, ...
    public var kind: String
    public var schemaVersion: Int
    /// Index parameters worth recording (empty for exact scans).
    public var indexParameters: [String: String]

    public init(kind: String, schemaVersion: Int, indexParameters: [String: String] = [:]) {
        self.kind = kind
        self.schemaVersion = schemaVersion
        self.indexParameters = indexParameters
    }
}

/// Stores collections, documents and chunks, and searches them.
///
/// Every operation names its collection by ``CollectionRef`` (tenant + name); a store never returns or
/// touches rows of another tenant. Writes are atomic per call: a document is replaced whole or not at all.
/// All implementations follow the in-memory reference (``InMemoryVectorStore``) and pass the conformance
/// suite in `EngramTesting`.
public protocol VectorStore: Sendable {
    var descriptor: StoreDescriptor { get }

    /// Creates a collection. Creating one that exists with the same identity returns it; with another
    /// identity it throws `collection_exists`.
    func createCollection(_ ref: CollectionRef, identity: EmbeddingIdentity) async throws -> CollectionInfo
    func collection(_ ref: CollectionRef) async throws -> CollectionInfo?
    func collections(tenant: String) async throws -> [CollectionInfo]
    /// Deletes a collection with all its documents and chunks. Returns false when it did not exist.
    func deleteCollection(_ ref: CollectionRef) async throws -> Bool

    /// Inserts or replaces a document and all its chunks atomically. `identity` names what produced the
    /// chunks' embeddings (nil when no chunk has one).
    /// - Throws: `collection_not_found`, `embedding_mismatch`, `invalid_input`, `empty_document`; the
    ///   store is unchanged when it throws.
    func upsert(document: DocumentRecord, chunks: [ChunkRecord], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> UpsertOutcome
    /// Upserts several documents, each atomically and independently: a refused document (its error is
    /// its result) does not stop the others. Stores write the batch in as few round trips as they can.
    /// - Throws: only for failures of the whole batch (`collection_not_found`, `storage_failure`).
    func upsert(batch: [DocumentUpsert], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> [Result<UpsertOutcome, EngramError>]
    /// A batch upsert that is part of a bulk load: stores that keep an approximate index may defer
    /// building it until ``buildIndexes(_:)``. Searches stay correct meanwhile (they rank exactly).
    func upsert(batch: [DocumentUpsert], identity: EmbeddingIdentity?, in ref: CollectionRef, deferIndexing: Bool) async throws -> [Result<UpsertOutcome, EngramError>]
    /// Builds the search structures a bulk load deferred. Idempotent; stores without any do nothing.
    func buildIndexes(_ ref: CollectionRef) async throws
    /// How many batch upserts of one bulk load the store runs at once (``upsert(batches:identity:in:deferIndexing:)``):
    /// a server with connections to spare writes several batches side by side; an embedded store has one
    /// writer (1, the default).
    var bulkWriters: Int { get }
    /// Deletes a document and its chunks. Returns false when it did not exist.
    func deleteDocument(id: String, in ref: CollectionRef) async throws -> Bool
    /// Summaries of all documents of a collection, ordered by source URI.
    func documents(in ref: CollectionRef) async throws -> [DocumentInfo]
    /// A document's summary and normalized text.
    func document(id: String, in ref: CollectionRef) async throws -> (info: DocumentInfo, text: String)?
    /// Chunks by id, in the order of `ids`; ids that do not exist (in this collection) are left out.
    func chunks(ids: [String], in ref: CollectionRef) async throws -> [StoredChunk]
    func search(_ request: SearchRequest, in ref: CollectionRef) async throws -> SearchResponse
    func stats(_ ref: CollectionRef) async throws -> CollectionStats
}

/// One document of a batch upsert.
public struct DocumentUpsert: Sendable {
    public var document: DocumentRecord
    public var chunks: [ChunkRecord]

    public init(document: DocumentRecord, chunks: [ChunkRecord]) {
        self.document = document
        self.chunks = chunks
    }
}

extension VectorStore {
    /// Upserts one document after another (stores override this with a single transaction).
    public func upsert(batch: [DocumentUpsert], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> [Result<UpsertOutcome, EngramError>] {
        var results: [Result<UpsertOutcome, EngramError>] = []
        for item in batch {
            do {
                results.append(.success(try await upsert(document: item.document, chunks: item.chunks, identity: identity, in: ref)))
            } catch let e as EngramError where e.code != .storageFailure && e.code != .collectionNotFound {
                results.append(.failure(e))
            }
        }
        return results
    }

    public func upsert(batch: [DocumentUpsert], identity: EmbeddingIdentity?, in ref: CollectionRef, deferIndexing: Bool) async throws -> [Result<UpsertOutcome, EngramError>] {
        try await upsert(batch: batch, identity: identity, in: ref)
    }

    public func buildIndexes(_ ref: CollectionRef) async throws {}

    public var bulkWriters: Int { 1 }

    /// Upserts the batches of a bulk load, up to ``bulkWriters`` of them at once (``DocumentBatchWindow``),
    /// each as ``upsert(batch:identity:in:deferIndexing:)`` writes it (its documents atomically, in its own
    /// transaction). Returns each batch's results, in order.
    /// - Throws: the first failure of a whole batch; batches written before it stay written.
    public func upsert(batches: [[DocumentUpsert]], identity: EmbeddingIdentity?, in ref: CollectionRef, deferIndexing: Bool) async throws -> [[Result<UpsertOutcome, EngramError>]] {
        var results = [[Result<UpsertOutcome, EngramError>]](repeating: [], count: batches.count)
        try await withThrowingTaskGroup(of: (Int, [Result<UpsertOutcome, EngramError>]).self) { group in
            var window = DocumentBatchWindow(width: bulkWriters)
            for batch in batches {
                try await window.launch(documents: Set(batch.map(\.document.id)), in: &group, finished: { results[$0] = $1 }) {
                    try await self.upsert(batch: batch, identity: identity, in: ref, deferIndexing: deferIndexing)
                }
            }
            while let (n, result) = try await group.next() { results[n] = result }
        }
        return results
    }

    /// The collection, or `collection_not_found`.
    public func requireCollection(_ ref: CollectionRef) async throws -> CollectionInfo {
        guard let c = try await collection(ref) else {
            throw EngramError.collectionNotFound(ref)
        }
        return c
    }

    /// Finds a document by source URI.
    public func document(sourceURI: String, in ref: CollectionRef) async throws -> (info: DocumentInfo, text: String)? {
        try await document(id: DocumentRecord.makeID(ref: ref, sourceURI: sourceURI), in: ref)
    }
}

/// Checks an upsert before any store writes anything. Every backend calls it first, so bad input is
/// refused the same way everywhere.
public enum UpsertValidation {
    public static func validate(document: DocumentRecord, chunks: [ChunkRecord], identity: EmbeddingIdentity?, collection: CollectionInfo) throws {
        let ref = collection.ref
        let source = document.sourceURI
        guard !source.isEmpty, source.utf8.count <= 4096 else {
            throw EngramError(.invalidInput, "document source URI must be 1 to 4096 bytes")
        }
        guard document.id == DocumentRecord.makeID(ref: ref, sourceURI: source) else {
            throw EngramError(.invalidInput, "\(source): document id \(document.id) does not belong to this source in \(ref)")
        }
        guard !chunks.isEmpty else {
            throw EngramError(.emptyDocument, "\(source): the document yields no chunk")
        }
        guard SHA256Hex.hash(document.text) == document.sha256 else {
            throw EngramError(.invalidInput, "\(source): document sha256 does not match its text")
        }
        try validateMetadata(document.metadata, context: source)
        let text = ScalarText(document.text)
        var hasEmbedding = false
        for (i, c) in chunks.enumerated() {
            let where_ = "\(source) chunk \(i)"
            guard c.ordinal == i else { throw EngramError(.invalidInput, "\(where_): ordinal \(c.ordinal), expected \(i)") }
            guard c.id == ChunkRecord.makeID(documentID: document.id, ordinal: i) else {
                throw EngramError(.invalidInput, "\(where_): chunk id does not match document and ordinal")
            }
            guard c.charStart >= 0, c.charStart < c.charEnd, c.charEnd <= text.count else {
                throw EngramError(.invalidInput, "\(where_): character range \(c.charStart)..<\(c.charEnd) is outside the document (\(text.count) characters)")
            }
            let range = text.bytes(c.charStart, c.charEnd)
            guard range.elementsEqual(c.text.utf8) else {
                throw EngramError(.invalidInput, "\(where_): text differs from the document's characters \(c.charStart)..<\(c.charEnd)")
            }
            guard SHA256Hex.hash(utf8: range) == c.sha256 else {
                throw EngramError(.invalidInput, "\(where_): sha256 does not match its text")
            }
            try validateMetadata(c.metadata, context: where_)
            if let e = c.embedding {
                hasEmbedding = true
                try collection.identity.validate(vector: e, context: where_)
            }
        }
        if hasEmbedding {
            guard let identity else {
                throw EngramError(.embeddingMismatch, "\(source): embeddings given without the identity that produced them")
            }
            try collection.identity.requireCompatible(identity, context: source)
        }
    }

    public static func validateMetadata(_ metadata: Metadata, context: String) throws {
        for (k, v) in metadata {
            do { try Filter.validateKey(k) } catch let e as EngramError {
                throw EngramError(.invalidInput, "\(context): \(e.message)")
            }
            try validateValue(v, key: k, context: context, nested: false)
        }
    }

    static func validateValue(_ v: MetadataValue, key: String, context: String, nested: Bool) throws {
        switch v {
        case .double(let d) where !d.isFinite:
            throw EngramError(.invalidInput, "\(context): metadata '\(key)' is not a finite number")
        case .array(let items):
            if nested { throw EngramError(.invalidInput, "\(context): metadata '\(key)': arrays may not nest") }
            for i in items { try validateValue(i, key: key, context: context, nested: true) }
        default: break
        }
    }

    /// Splits a batch into the documents refused (by their position) and the valid ones, for stores that
    /// validate a whole batch before writing it.
    public static func partition(_ batch: [DocumentUpsert], identity: EmbeddingIdentity?, collection: CollectionInfo) -> (refused: [Int: EngramError], valid: [(index: Int, item: DocumentUpsert)]) {
        var refused: [Int: EngramError] = [:]
        var valid: [(index: Int, item: DocumentUpsert)] = []
        for (i, item) in batch.enumerated() {
            do {
                try validate(document: item.document, chunks: item.chunks, identity: identity, collection: collection)
                valid.append((i, item))
            } catch let e as EngramError {
                refused[i] = e
            } catch {
                refused[i] = EngramError(.invalidInput, "\(item.document.sourceURI): \(error)")
            }
        }
        return (refused, valid)
    }

    /// The per-document results of a batch in batch order, from its refused and written documents.
    public static func results(count: Int, refused: [Int: EngramError], written: [(index: Int, outcome: UpsertOutcome)]) -> [Result<UpsertOutcome, EngramError>] {
        var out = [Result<UpsertOutcome, EngramError>](repeating: .success(.unchanged), count: count)
        for (i, e) in refused { out[i] = .failure(e) }
        for w in written { out[w.index] = .success(w.outcome) }
        return out
    }

    /// Document metadata merged with chunk metadata (chunk keys win).
    public static func mergedMetadata(document: Metadata, chunk: Metadata) -> Metadata {
        document.merging(chunk) { _, c in c }
    }
}

/// Starts the batches of a bulk load in a task group, numbered in order: at most `width` run at once, and a
/// batch sharing a document id with a batch still running waits for it, so a later batch replaces what an
/// earlier one wrote. Used by ``VectorStore/upsert(batches:identity:in:deferIndexing:)`` and the ingest
/// pipeline.
public struct DocumentBatchWindow: Sendable {
    public let width: Int
    var running: [Int: Set<String>] = [:]
    var launched = 0

    public init(width: Int) {
        self.width = max(1, width)
    }

    /// Waits until batch `documents` may start (passing each batch that finishes meanwhile, by number, to
    /// `finished`), then adds `work` to `group` as the next batch. The caller collects what is left in
    /// `group` at the end.
    public mutating func launch<Output: Sendable>(documents ids: Set<String>, in group: inout ThrowingTaskGroup<(Int, Output), any Error>,
                                                  finished: (Int, Output) -> Void, _ work: @escaping @Sendable () async throws -> Output) async throws {
        while running.count >= width || running.values.contains(where: { !$0.isDisjoint(with: ids) }) {
            guard let (n, output) = try await group.next() else { break }
            running[n] = nil
            finished(n, output)
        }
        let n = launched
        launched += 1
        running[n] = ids
        group.addTask { (n, try await work()) }
    }
}

extension UpsertValidation {
    /// What an upsert compares to leave a stored document alone. A backend fills it in whatever form it
    /// holds the values (canonical JSON or parsed metadata, a blob or floats), the same form for the stored
    /// side and the new one.
    public struct DocumentFacts<Meta: Equatable>: Equatable {
        public var sha256: String
        public var fingerprint: String
        public var metadata: Meta

        public init(sha256: String, fingerprint: String, metadata: Meta) {
            self.sha256 = sha256
            self.fingerprint = fingerprint
            self.metadata = metadata
        }
    }

    /// A chunk's part of the comparison: its metadata is the merged one (document and chunk).
    public struct ChunkFacts<Meta: Equatable, Vector: Equatable>: Equatable {
        public var id: String
        public var sha256: String
        public var metadata: Meta
        public var embedding: Vector

        public init(id: String, sha256: String, metadata: Meta, embedding: Vector) {
            self.id = id
            self.sha256 = sha256
            self.metadata = metadata
            self.embedding = embedding
        }
    }

    /// The rule, for every backend: a document is unchanged when its text hash, fingerprint and metadata
    /// are equal and its chunks are the same in number and order, each with the same id, text hash, merged
    /// metadata and vector. An unchanged document is not written (its version and times stay). The chunks
    /// are only asked for when the document's own facts are equal.
    public static func isUnchanged<Meta, ChunkMeta, Vector>(stored: DocumentFacts<Meta>, new: DocumentFacts<Meta>,
                                                          storedChunks: () throws -> [ChunkFacts<ChunkMeta, Vector>],
                                                          newChunks: () throws -> [ChunkFacts<ChunkMeta, Vector>]) rethrows -> Bool {
        guard stored == new else { return false }
        return try storedChunks() == newChunks()
    }
}
