#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EngramCore
import Foundation
import GRDB
import Logging
import Synchronization

/// The embedded store: one SQLite file (WAL mode) through GRDB.
///
/// Documents and chunks live in tables; each collection has an FTS5 index for keyword search; vectors
/// are float32 blobs, searched exactly with SIMD over an in-memory copy that is reloaded when the
/// collection changes (any process's write bumps the collection's `data_version`). Filters compile to
/// SQL over the JSON metadata with bound arguments. Readers run concurrently with one writer.
public final class SQLiteVectorStore: VectorStore, Sendable {
    /// The file's owner, shared with the ``SQLiteMemoryStore`` of the same file.
    public let database: SQLiteDatabase
    let caches = Mutex<[CacheKey: SearchCache]>([:])
    var now: @Sendable () -> Date { database.now }

    public var path: String { database.path }
    /// Serves every read (see ``SQLiteDatabase``).
    var reader: any DatabaseReader { database.reader }
    /// True when the store lives on a read-only file system: it can be searched, not written.
    public var readOnlyMedium: Bool { database.readOnlyMedium }

    public var descriptor: StoreDescriptor {
        StoreDescriptor(kind: "sqlite", schemaVersion: SQLiteVectorStore.schemaVersion)
    }

    /// The number of migrations this build applies (derived from the list, so manifests, backups and the
    /// restore's version guard always name the schema the file really has).
    public static var schemaVersion: Int { SQLiteSchema.migrator.migrations.count }

    /// The store of an open database.
    public init(database: SQLiteDatabase) {
        self.database = database
    }

    /// Opens the store at `path`, creating and migrating it when `create` is true (the default); see
    /// ``SQLiteDatabase/init(path:access:now:logger:)``.
    public convenience init(path: String, create: Bool = true, now: @escaping @Sendable () -> Date = { Date() },
                            logger: Logger = Logger(label: "engram.sqlite", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        self.init(database: try SQLiteDatabase(path: path, access: create ? .create : .existing, now: now, logger: logger))
    }

    /// The read-write pool (see ``SQLiteDatabase/writer()``).
    func writer() throws -> DatabasePool { try database.writer() }

    /// Opens a store from a URL: `sqlite:PATH` or `sqlite://PATH`.
    public convenience init(url: String, create: Bool = true) throws {
        guard let path = SQLiteVectorStore.path(fromURL: url) else {
            throw EngramError(.invalidConfiguration, "not a SQLite store URL: \(url) (expected sqlite:PATH)")
        }
        try self.init(path: path, create: create)
    }

    /// The files SQLite keeps for the database at `path` (existing or not): the database, its
    /// write-ahead log and shared-memory index, and a rollback journal. A command must never write over
    /// any of them.
    public static func files(ofDatabaseAt path: String) -> [String] {
        [path, path + "-wal", path + "-shm", path + "-journal"]
    }

    public static func path(fromURL url: String) -> String? {
        if url.hasPrefix("sqlite://") { return String(url.dropFirst("sqlite://".count)) }
        if url.hasPrefix("sqlite:") { return String(url.dropFirst("sqlite:".count)) }
        return nil
    }

    /// Every migration this build knows, oldest first.
    public static var knownMigrations: [String] { SQLiteSchema.migrator.migrations }

    /// Applied migration identifiers, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try database.appliedMigrations()
    }

    func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw Self.engramError(error)
        }
    }

    /// An error of GRDB or SQLite as `storage_failure`; Engram's own errors pass unchanged. The message
    /// is SQLite's own, never the statement (GRDB's description quotes the SQL).
    static func engramError(_ error: any Error) -> EngramError {
        if let e = error as? EngramError { return e }
        guard let db = error as? DatabaseError else { return EngramError(.storageFailure, "SQLite: \(error)", underlying: error) }
        let message = db.message ?? "error \(db.resultCode.rawValue)"
        if message.contains("Expression tree is too large") || message.contains("too many SQL variables") || message.contains("parser stack overflow") {
            return EngramError(.invalidFilter, "the filter is too large for SQLite to evaluate (\(message)); split it or use fewer conditions", underlying: error)
        }
        if db.resultCode == .SQLITE_READONLY {
            return EngramError(.storageFailure, "SQLite: the store is read-only (\(message))", underlying: error)
        }
        return EngramError(.storageFailure, "SQLite error \(db.extendedResultCode.rawValue): \(message)", underlying: error)
    }

    // MARK: Collections

    struct CollectionRow: Sendable {
        var id: Int64
        var info: CollectionInfo
        var dataVersion: Int64
        /// The generation a reindex is filling.
        var pending: PendingGeneration?
    }

    static func collectionRow(_ db: Database, _ ref: CollectionRef) throws -> CollectionRow? {
        guard let row = try db.row("SELECT * FROM collections WHERE tenant_id = \(ref.tenant) AND name = \(ref.name)") else {
            return nil
        }
        return try collectionRow(row)
    }

    static func collectionRow(_ row: Row) throws -> CollectionRow {
        let distanceName: String = row["distance"]
        guard let distance = Distance(rawValue: distanceName) else {
            throw EngramError(.storageFailure, "collection has an unknown distance '\(distanceName)'")
        }
        let identity = EmbeddingIdentity(model: row["model"], revision: row["revision"], dimension: row["dimension"], distance: distance, normalized: row["normalized"])
        let ref = CollectionRef(tenant: row["tenant_id"], name: row["name"])
        let created = MetadataValue.parseDate(row["created_at"]) ?? Date(timeIntervalSince1970: 0)
        var pending: PendingGeneration?
        if let generation = row["pending_generation"] as Int?, let json = row["pending_identity"] as String? {
            pending = PendingGeneration(generation: generation, identity: try MemoryRules.fromStoredJSON(EmbeddingIdentity.self, json))
        }
        return CollectionRow(id: row["id"], info: CollectionInfo(ref: ref, identity: identity, generation: row["active_generation"], createdAt: created),
                             dataVersion: row["data_version"], pending: pending)
    }

    static let allCollectionsSQL: SQL = "SELECT * FROM collections ORDER BY tenant_id, name"

    static func requireCollection(_ db: Database, _ ref: CollectionRef) throws -> CollectionRow {
        guard let c = try collectionRow(db, ref) else {
            throw EngramError.collectionNotFound(ref)
        }
        return c
    }

    public func createCollection(_ ref: CollectionRef, identity: EmbeddingIdentity) async throws -> CollectionInfo {
        try ref.validateNew(identity: identity)
        let created = MetadataValue.canonicalDateString(now())
        // An existing collection is answered from the reader: asking again must not write.
        if let existing = try await collection(ref) {
            guard existing.identity == identity else {
                throw EngramError.collectionExists(ref, existing: existing.identity, requested: identity)
            }
            return existing
        }
        return try await wrap {
            try await writer().write { db in
                try Self.createCollection(db, ref, identity: identity, created: created).info
            }
        }
    }

    /// The collection, created (with its keyword index) when it does not exist, inside the caller's
    /// transaction.
    /// - Throws: `collection_exists` when it exists with another identity.
    static func createCollection(_ db: Database, _ ref: CollectionRef, identity: EmbeddingIdentity, created: String) throws -> CollectionRow {
        if let existing = try collectionRow(db, ref) {
            guard existing.info.identity == identity else {
                throw EngramError.collectionExists(ref, existing: existing.info.identity, requested: identity)
            }
            return existing
        }
        try db.execute(literal: """
            INSERT INTO collections (tenant_id, name, model, revision, dimension, distance, normalized, created_at)
            VALUES (\(ref.tenant), \(ref.name), \(identity.model), \(identity.revision), \(identity.dimension), \(identity.distance.rawValue), \(identity.normalized), \(created))
            """)
        try SQLiteSchema.createFTS(db, collectionID: db.lastInsertedRowID)
        return try requireCollection(db, ref)
    }

    public func collection(_ ref: CollectionRef) async throws -> CollectionInfo? {
        try await wrap { try await reader.read { db in try Self.collectionRow(db, ref)?.info } }
    }

    public func collections(tenant: String) async throws -> [CollectionInfo] {
        try await wrap {
            try await reader.read { db in
                try db.rows("SELECT * FROM collections WHERE tenant_id = \(tenant) ORDER BY name").map { try Self.collectionRow($0).info }
            }
        }
    }

    public func deleteCollection(_ ref: CollectionRef) async throws -> Bool {
        let deleted = try await wrap {
            try await writer().write { db -> Int64? in
                guard let c = try Self.collectionRow(db, ref) else { return nil }
                try db.execute(literal: "DROP TABLE IF EXISTS \(SQLiteSchema.ftsTable(c.id))")
                try db.execute(literal: "DELETE FROM chunks WHERE collection_id = \(c.id)")
                try db.execute(literal: "DELETE FROM documents WHERE collection_id = \(c.id)")
                try db.execute(literal: "DELETE FROM collections WHERE id = \(c.id)")
                return c.id
            }
        }
        guard let id = deleted else { return false }
        caches.withLock { $0 = $0.filter { $0.key.collectionID != id } }
        return true
    }

    // MARK: Documents

    /// A validated document with its columns encoded, ready to write.
    struct PreparedDocument: Sendable {
        var document: DocumentRecord
        var chunks: [ChunkRecord]
        var documentMetadata: String
        var chunkMetadata: [String]
        var sections: [String]

        init(_ document: DocumentRecord, _ chunks: [ChunkRecord]) {
            self.document = document
            self.chunks = chunks
            documentMetadata = document.metadata.canonicalJSON
            chunkMetadata = chunks.map { UpsertValidation.mergedMetadata(document: document.metadata, chunk: $0.metadata).canonicalJSON }
            sections = chunks.map { SectionJSON.encode($0.section) }
        }
    }

    public func upsert(document: DocumentRecord, chunks: [ChunkRecord], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> UpsertOutcome {
        try await upsert(batch: [DocumentUpsert(document: document, chunks: chunks)], identity: identity, in: ref)[0].get()
    }

    /// Validates every document first, then writes all valid ones in one transaction (each replaces its
    /// previous version whole).
    public func upsert(batch: [DocumentUpsert], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> [Result<UpsertOutcome, EngramError>] {
        guard let info = try await collection(ref) else {
            throw EngramError.collectionNotFound(ref)
        }
        let (refused, valid) = UpsertValidation.partition(batch, identity: identity, collection: info)
        let prepared = valid.map { (index: $0.index, document: PreparedDocument($0.item.document, $0.item.chunks)) }
        var written: [(index: Int, outcome: UpsertOutcome)] = []
        if !prepared.isEmpty {
            let time = MetadataValue.canonicalDateString(now())
            let toWrite = prepared
            let outcomes = try await wrap {
                try await writer().write { db in
                    let c = try Self.requireCollection(db, ref)
                    guard c.info.identity == info.identity else {
                        throw EngramError(.embeddingMismatch, "collection \(ref) changed its embedding identity during the upsert")
                    }
                    var outcomes: [UpsertOutcome] = []
                    for p in toWrite { outcomes.append(try Self.write(db, c, p.document, time: time)) }
                    if outcomes.contains(where: { $0 != .unchanged }) {
                        try Self.bumpDataVersion(db, c.id)
                    }
                    return outcomes
                }
            }
            written = zip(prepared, outcomes).map { ($0.index, $1) }
        }
        return UpsertValidation.results(count: batch.count, refused: refused, written: written)
    }

    // One document's chunks of one generation. `+generation` keeps SQLite on the document index: with the
    // (collection, generation) index as the other candidate for two equalities, it scanned every chunk of
    // the generation for each document (re-ingesting 3,000 changed documents took 7x a fresh load, doctor
    // 50 s on 216,000 chunks). SQLiteStoreTests checks the plans.
    package static func documentChunks(_ collectionID: Int64, _ documentID: String, _ generation: Int) -> SQL {
        "SELECT id, sha256, metadata, embedding FROM chunks WHERE collection_id = \(collectionID) AND document_id = \(documentID) AND +generation = \(generation) ORDER BY ordinal"
    }
    package static func documentChunkRows(_ collectionID: Int64, _ documentID: String, _ generation: Int) -> SQL {
        "SELECT rowid, text FROM chunks WHERE collection_id = \(collectionID) AND document_id = \(documentID) AND +generation = \(generation)"
    }
    package static func documentChunkFacts(_ collectionID: Int64, _ documentID: String, _ generation: Int) -> SQL {
        """
        SELECT id, ordinal, char_start, char_end, text, sha256, length(embedding) AS bytes FROM chunks
        WHERE collection_id = \(collectionID) AND document_id = \(documentID) AND +generation = \(generation) ORDER BY ordinal
        """
    }

    /// Marks the collection changed for every process's search cache.
    static func bumpDataVersion(_ db: Database, _ collectionID: Int64) throws {
        try db.execute(literal: "UPDATE collections SET data_version = data_version + 1 WHERE id = \(collectionID)")
    }

    static func write(_ db: Database, _ c: CollectionRow, _ p: PreparedDocument, time: String) throws -> UpsertOutcome {
        let document = p.document, chunks = p.chunks
        let fts = SQLiteSchema.ftsTable(c.id)
        let old = try db.row("SELECT sha256, fingerprint, metadata FROM documents WHERE collection_id = \(c.id) AND id = \(document.id)")
        if let old {
            // Compared as stored: canonical metadata JSON and vector blobs.
            let same = try UpsertValidation.isUnchanged(
                stored: .init(sha256: old["sha256"], fingerprint: old["fingerprint"], metadata: old["metadata"] as String),
                new: .init(sha256: document.sha256, fingerprint: document.fingerprint, metadata: p.documentMetadata),
                storedChunks: {
                    try db.rows(documentChunks(c.id, document.id, c.info.generation))
                        .map { .init(id: $0["id"], sha256: $0["sha256"], metadata: $0["metadata"] as String, embedding: $0["embedding"] as Data?) }
                },
                newChunks: { chunks.indices.map { .init(id: chunks[$0].id, sha256: chunks[$0].sha256, metadata: p.chunkMetadata[$0], embedding: chunks[$0].embedding.map(Self.blob)) } })
            if same { return .unchanged }
            try deleteChunks(db, c, documentID: document.id)
        }
        // Prepared once per connection and run per row with bound arguments.
        let upsertDocument = try db.cachedStatement(literal: """
            INSERT INTO documents (collection_id, id, tenant_id, source_uri, sha256, fingerprint, version, mime, size, chunk_count, metadata, text, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (collection_id, id) DO UPDATE SET
                sha256 = excluded.sha256, fingerprint = excluded.fingerprint, version = documents.version + 1,
                mime = excluded.mime, size = excluded.size, chunk_count = excluded.chunk_count,
                metadata = excluded.metadata, text = excluded.text, updated_at = excluded.updated_at
            """)
        try upsertDocument.execute(arguments: [c.id, document.id, c.info.ref.tenant, document.sourceURI, document.sha256, document.fingerprint, document.mime, document.size, chunks.count, p.documentMetadata, document.text, time, time])
        let insertChunk = try db.cachedStatement(literal: """
            INSERT INTO chunks (collection_id, id, tenant_id, document_id, generation, ordinal, text, char_start, char_end, section, token_count, sha256, metadata, embedding)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let insertFTS = try db.cachedStatement(literal: "INSERT INTO \(fts) (rowid, text) VALUES (?, ?)")
        for (i, chunk) in chunks.enumerated() {
            try insertChunk.execute(arguments: [c.id, chunk.id, c.info.ref.tenant, document.id, c.info.generation, chunk.ordinal, chunk.text, chunk.charStart, chunk.charEnd, p.sections[i], chunk.tokenCount, chunk.sha256, p.chunkMetadata[i], chunk.embedding.map(Self.blob)])
            try insertFTS.execute(arguments: [db.lastInsertedRowID, chunk.text])
        }
        return old == nil ? .added : .updated
    }

    /// Deletes a document's chunks of every generation (a reindex copies the new ones again). The keyword
    /// index holds the active generation's.
    static func deleteChunks(_ db: Database, _ c: CollectionRow, documentID: String) throws {
        let fts = SQLiteSchema.ftsTable(c.id)
        let removeFTS = try db.cachedStatement(literal: "INSERT INTO \(fts) (\(fts), rowid, text) VALUES ('delete', ?, ?)")
        let rows = try db.rows(documentChunkRows(c.id, documentID, c.info.generation))
        for row in rows {
            try removeFTS.execute(arguments: [row["rowid"] as Int64, row["text"] as String])
        }
        try db.execute(literal: "DELETE FROM chunks WHERE collection_id = \(c.id) AND document_id = \(documentID)")
    }

    public func deleteDocument(id: String, in ref: CollectionRef) async throws -> Bool {
        try await wrap {
            try await writer().write { db in
                let c = try Self.requireCollection(db, ref)
                guard try db.row("SELECT 1 FROM documents WHERE collection_id = \(c.id) AND id = \(id)") != nil else {
                    return false
                }
                try Self.deleteChunks(db, c, documentID: id)
                try db.execute(literal: "DELETE FROM documents WHERE collection_id = \(c.id) AND id = \(id)")
                try Self.bumpDataVersion(db, c.id)
                return true
            }
        }
    }

    static func documentInfo(_ row: Row) throws -> DocumentInfo {
        DocumentInfo(
            id: row["id"], sourceURI: row["source_uri"], sha256: row["sha256"], fingerprint: row["fingerprint"],
            version: row["version"], mime: row["mime"], size: row["size"], chunkCount: row["chunk_count"],
            metadata: try Metadata.parse(json: row["metadata"]),
            createdAt: MetadataValue.parseDate(row["created_at"]) ?? Date(timeIntervalSince1970: 0),
            updatedAt: MetadataValue.parseDate(row["updated_at"]) ?? Date(timeIntervalSince1970: 0))
    }

    public func documents(in ref: CollectionRef) async throws -> [DocumentInfo] {
        try await wrap {
            try await reader.read { db in
                let c = try Self.requireCollection(db, ref)
                return try db.rows("""
                    SELECT id, source_uri, sha256, fingerprint, version, mime, size, chunk_count, metadata, created_at, updated_at
                    FROM documents WHERE collection_id = \(c.id) ORDER BY source_uri
                    """).map(Self.documentInfo)
            }
        }
    }

    public func document(id: String, in ref: CollectionRef) async throws -> (info: DocumentInfo, text: String)? {
        try await wrap {
            try await reader.read { db -> (info: DocumentInfo, text: String)? in
                let c = try Self.requireCollection(db, ref)
                guard let row = try db.row("SELECT * FROM documents WHERE collection_id = \(c.id) AND id = \(id)") else {
                    return nil
                }
                return (try Self.documentInfo(row), row["text"])
            }
        }
    }

    static let chunkColumns: SQL = """
        c.id, c.document_id, d.source_uri, d.sha256 AS document_sha256, c.ordinal, c.text, c.char_start, c.char_end,
        c.section, c.token_count, c.sha256, c.metadata, c.generation
        """

    static func storedChunk(_ row: Row) throws -> StoredChunk {
        let section = try SectionJSON.decode(row["section"])
        return StoredChunk(
            id: row["id"], documentID: row["document_id"], sourceURI: row["source_uri"], documentSHA256: row["document_sha256"],
            ordinal: row["ordinal"], text: row["text"], charStart: row["char_start"], charEnd: row["char_end"], section: section,
            tokenCount: row["token_count"], sha256: row["sha256"], metadata: try Metadata.parse(json: row["metadata"]), generation: row["generation"])
    }

    static func fetchChunks(_ db: Database, _ c: CollectionRow, ids: [String]) throws -> [StoredChunk] {
        var out: [StoredChunk] = []
        // Stay well under SQLite's bound-parameter limit.
        for start in stride(from: 0, to: ids.count, by: 500) {
            let rows = try db.rows("""
                SELECT \(chunkColumns) FROM chunks c
                JOIN documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
                WHERE c.collection_id = \(c.id) AND c.generation = \(c.info.generation) AND c.id IN \(ids[start..<min(ids.count, start + 500)])
                """)
            out.append(contentsOf: try rows.map(storedChunk))
        }
        let byID = Dictionary(out.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return ids.compactMap { byID[$0] }
    }

    public func chunks(ids: [String], in ref: CollectionRef) async throws -> [StoredChunk] {
        try await wrap {
            try await reader.read { db in
                let c = try Self.requireCollection(db, ref)
                return try Self.fetchChunks(db, c, ids: ids)
            }
        }
    }

    public func stats(_ ref: CollectionRef) async throws -> CollectionStats {
        try await wrap {
            try await reader.read { db in
                let c = try Self.requireCollection(db, ref)
                let documents = try db.count("SELECT count(*) FROM documents WHERE collection_id = \(c.id)")
                let row = try db.row("""
                    SELECT count(*) AS n, count(embedding) AS e, coalesce(sum(length(CAST(text AS BLOB))), 0) AS bytes
                    FROM chunks WHERE collection_id = \(c.id) AND generation = \(c.info.generation)
                    """)!
                return CollectionStats(documents: documents, chunks: row["n"], embeddedChunks: row["e"], textBytes: row["bytes"])
            }
        }
    }

    static func blob(_ vector: [Float]) -> Data {
        vector.withUnsafeBufferPointer { Data(buffer: $0) }
    }
}
