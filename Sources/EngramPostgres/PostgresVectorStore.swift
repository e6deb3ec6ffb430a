import EngramCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The production store: PostgreSQL + pgvector through a postgres-nio connection pool.
///
/// Every operation runs in a transaction that first sets `engram.tenant_id` (`set_config(…, true)`,
/// scoped to the transaction, so pooled connections never leak a tenant); row-level security, forced on
/// every table, then limits each statement to that tenant's rows. Filters compile to SQL over `jsonb` with
/// bound parameters only. Chunks of a batch are written with one `UNNEST` insert per document, never
/// row by row.
public final class PostgresVectorStore: VectorStore, Sendable {
    /// Vector index settings and the exact/approximate policy.
    public struct Options: Sendable, Hashable {
        /// HNSW graph degree.
        public var hnswM = 16
        /// HNSW candidate list size while building.
        public var hnswEfConstruction = 64
        /// HNSW candidate list size while searching (at least 2k is used).
        public var hnswEfSearch = 100
        /// Rows an iterative index scan may visit before giving up (`hnsw.max_scan_tuples`).
        public var maxScanTuples = 20_000
        /// When at most this many chunks can match (the collection, or the rows passing the filter), they
        /// are ranked exactly instead of through the index; a generation gets its index once it holds
        /// this many embedded chunks.
        public var exactThreshold = 2_000
        /// The approximate index: `hnsw` (default) or `ivfflat`.
        public var indexType: IndexType = .hnsw
        /// IVFFlat lists; nil: rows / 1000 (at least 1), computed when the index is built.
        public var ivfflatLists: Int?
        /// IVFFlat lists probed per query.
        public var ivfflatProbes = 10
        /// `maintenance_work_mem` for index builds, in MB. An HNSW graph that does not fit builds far
        /// slower.
        public var indexBuildMemoryMB = 512
        /// The PostgreSQL text search configuration of new collections (`simple`, `english`, ...). Engram
        /// folds case and diacritics itself before PostgreSQL sees the text.
        public var textSearchConfig = "simple"
        /// Batches of a bulk load written side by side, each on its own connection (at most the pool
        /// size). Two keep both cores of a small server busy: the backend's work per row (text search
        /// vector, GIN entries, TOAST) is what limits a load.
        public var bulkWriters = 2

        public init() {}
    }

    public enum IndexType: String, Sendable, Hashable, CaseIterable {
        case hnsw, ivfflat
    }

    /// The database's owner, shared with the ``PostgresMemoryStore`` of the same client and schema.
    public let database: PostgresDatabase
    public let options: Options
    var client: PostgresClient { database.client }
    public var schema: String { database.schema }
    /// The schema as SQL statements splice it.
    var schemaName: SQLIdentifier { database.schemaName }
    var logger: Logger { database.logger }

    /// The store of a database.
    public init(database: PostgresDatabase, options: Options = Options()) {
        self.database = database
        self.options = options
    }

    /// - Parameters:
    ///   - client: a client whose `run()` the application schedules.
    ///   - schema: the migrated schema (see ``PostgresMigrator``).
    public convenience init(client: PostgresClient, schema: String = "engram", options: Options = Options(), logger: Logger = Logger(label: "engram.postgres", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        self.init(database: try PostgresDatabase(client: client, schema: schema, logger: logger), options: options)
    }

    public var bulkWriters: Int { options.bulkWriters }

    public var descriptor: StoreDescriptor {
        var parameters = ["index": options.indexType.rawValue, "max_scan_tuples": "\(options.maxScanTuples)", "exact_threshold": "\(options.exactThreshold)"]
        switch options.indexType {
        case .hnsw:
            parameters["m"] = "\(options.hnswM)"
            parameters["ef_construction"] = "\(options.hnswEfConstruction)"
            parameters["ef_search"] = "\(options.hnswEfSearch)"
        case .ivfflat:
            parameters["lists"] = options.ivfflatLists.map { "\($0)" } ?? "rows/1000"
            parameters["probes"] = "\(options.ivfflatProbes)"
        }
        return StoreDescriptor(kind: "postgres", schemaVersion: PostgresSchema.migrations.count, indexParameters: parameters)
    }

    /// pgvector indexes `vector` up to 2,000 dimensions; larger collections are always ranked exactly.
    static let maxIndexedDimension = 2000

    /// The similarity of a distance as SQL, higher is closer, the same formula as ``VectorMath`` uses in
    /// Swift: `1 - cosine distance`, or the negated distance (L2, and pgvector's negative inner product).
    /// - Parameter distance: the SQL of `embedding <op> query` for ``operatorClass(_:)``'s operator.
    static func similaritySQL(_ d: Distance, distance: PostgresSQL) -> PostgresSQL {
        switch d {
        case .cosine: "1 - \(distance)"
        case .l2, .innerProduct: "-\(distance)"
        }
    }

    static func operatorClass(_ d: Distance) -> (opclass: String, op: String) {
        switch d {
        case .cosine: ("vector_cosine_ops", "<=>")
        case .l2: ("vector_l2_ops", "<->")
        case .innerProduct: ("vector_ip_ops", "<#>")
        }
    }

    /// The name of a generation's vector index: this prefix, the collection id, `_g`, the generation.
    var indexNamePrefix: String { "chunks_\(options.indexType.rawValue)_c" }

    func indexName(collectionID: Int64, generation: Int) -> String {
        "\(indexNamePrefix)\(collectionID)_g\(generation)"
    }

    /// The vector index of a generation: absent, valid, or left invalid by an interrupted concurrent build.
    enum IndexState: Sendable { case absent, valid, invalid }

    /// A scalar subquery: whether the index named by the SQL expression `name` is valid; NULL when it does
    /// not exist. (`to_regclass` is a cache lookup: joining the catalogs by name cost ten times as much to plan.)
    func indexValidity(named name: PostgresSQL) -> PostgresSQL {
        "(SELECT i.indisvalid FROM pg_catalog.pg_index i WHERE i.indexrelid = to_regclass(format('%I.%I', \(schema)::text, \(name))))"
    }

    func indexState(_ connection: PostgresConnection, collectionID: Int64, generation: Int) async throws -> IndexState {
        try await indexState(connection, name: indexName(collectionID: collectionID, generation: generation))
    }

    func indexState(_ connection: PostgresConnection, name indexName: String) async throws -> IndexState {
        let valid = try await rows(connection, "SELECT \(indexValidity(named: "\(indexName)")) AS valid")[0]["valid"].decode(Bool?.self)
        return valid.map { $0 ? .valid : .invalid } ?? .absent
    }

    /// Builds the vector and keyword indexes of the collection's active generation if it has none and
    /// holds at least ``Options/exactThreshold`` chunks (smaller ones are always ranked by a scan): the
    /// bulk-load step after ``upsert(batch:identity:in:deferIndexing:)`` with `deferIndexing`. Idempotent.
    public func buildIndexes(_ ref: CollectionRef) async throws {
        try await buildIndexes(ref, minimumRows: options.exactThreshold)
    }

    /// The name of a generation's keyword index: this prefix, the collection id, `_g`, the generation.
    static let keywordIndexPrefix = "chunks_tsv_c"

    func keywordIndexName(collectionID: Int64, generation: Int) -> String {
        "\(Self.keywordIndexPrefix)\(collectionID)_g\(generation)"
    }

    /// Builds the indexes once the generation holds at least `minimumRows` chunks (embedded ones for the
    /// vector index): smaller generations are scanned, and an index would only slow writes down. Each is
    /// partial, on one collection generation, so writes elsewhere never pay for it.
    ///
    /// The builds are `CREATE INDEX CONCURRENTLY`, so other tenants keep writing meanwhile; an index an
    /// interrupted build left invalid is dropped and built again. Returns without an index when the role
    /// may not create one (it does not own the table): searches then scan.
    func buildIndexes(_ ref: CollectionRef, minimumRows: Int, generation wanted: Int? = nil) async throws {
        let (c, generation, identity, counts, states) = try await reading(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            var generation = c.info.generation, identity = c.info.identity
            if let wanted, wanted != generation {
                guard let pending = c.pending, pending.generation == wanted else {
                    throw EngramError(.notFound, "collection '\(ref.name)' has no generation \(wanted) to index")
                }
                (generation, identity) = (pending.generation, pending.identity)
            }
            let r = try await rows(connection, """
                SELECT count(*) AS n, count(embedding) AS embedded FROM \(self.schemaName).chunks
                WHERE collection_id = \(c.id) AND generation = \(generation)
                """)[0]
            let counts = (rows: try r["n"].decode(Int.self), embedded: try r["embedded"].decode(Int.self))
            let states = (vector: try await self.indexState(connection, name: self.indexName(collectionID: c.id, generation: generation)),
                          keyword: try await self.indexState(connection, name: self.keywordIndexName(collectionID: c.id, generation: generation)))
            return (c, generation, identity, counts, states)
        }
        // Only integers from the database and validated names are spliced.
        let predicate = "WHERE collection_id = \(c.id) AND generation = \(generation)"
        if states.vector != .valid, counts.embedded >= max(1, minimumRows), identity.dimension <= PostgresVectorStore.maxIndexedDimension {
            let (opclass, _) = PostgresVectorStore.operatorClass(identity.distance)
            let method: String
            switch options.indexType {
            case .hnsw:
                method = "hnsw ((embedding::vector(\(identity.dimension))) \(opclass)) WITH (m = \(options.hnswM), ef_construction = \(options.hnswEfConstruction))"
            case .ivfflat:
                // pgvector's advice: rows / 1000 lists up to a million rows, sqrt(rows) beyond.
                let rows = counts.embedded
                let lists = options.ivfflatLists ?? max(1, rows <= 1_000_000 ? rows / 1000 : Int(Double(rows).squareRoot()))
                method = "ivfflat ((embedding::vector(\(identity.dimension))) \(opclass)) WITH (lists = \(lists))"
            }
            try await createIndex(indexName(collectionID: c.id, generation: generation), method: method, predicate: predicate, replacingInvalid: states.vector == .invalid)
        }
        if states.keyword != .valid, counts.rows >= max(1, minimumRows) {
            try await createIndex(keywordIndexName(collectionID: c.id, generation: generation), method: "gin (text_search)", predicate: predicate,
                                  replacingInvalid: states.keyword == .invalid)
        }
    }

    /// `CREATE INDEX CONCURRENTLY` with the build memory of ``Options/indexBuildMemoryMB``; a role that may
    /// not create it (not the table's owner) is told in the log, and searches scan.
    func createIndex(_ name: String, method: String, predicate: String, replacingInvalid: Bool) async throws {
        do {
            try await client.withConnection { connection in
                // A session setting on a pooled connection: reset on every way out.
                _ = try await rows(connection, "SET maintenance_work_mem = '\(self.options.indexBuildMemoryMB)MB'")
                do {
                    if replacingInvalid {
                        _ = try await rows(connection, "DROP INDEX CONCURRENTLY IF EXISTS \(self.schemaName).\(SQLIdentifier(trusted: name))")
                    }
                    _ = try await rows(connection, "CREATE INDEX CONCURRENTLY IF NOT EXISTS \(SQLIdentifier(trusted: name)) ON \(self.schemaName).chunks USING \(unsafeRaw: method) \(unsafeRaw: predicate)")
                } catch {
                    _ = try? await rows(connection, "RESET maintenance_work_mem")
                    throw error
                }
                _ = try await rows(connection, "RESET maintenance_work_mem")
            }
        } catch {
            let e = PostgresStoreConfiguration.describe(error)
            // insufficient_privilege: not the table's owner.
            if Self.sqlState(error) == "42501" {
                logger.warning("cannot create an index; searches scan", metadata: ["index": "\(name)", "error": "\(e.message)"])
                return
            }
            throw e
        }
    }

    struct CollectionRow: Sendable, Equatable {
        var id: Int64
        var info: CollectionInfo
        var textSearchConfig: String
        /// Whether the active generation's vector index is valid; nil when it does not exist (or was not asked).
        var indexValid: Bool? = nil
        /// The generation a reindex is filling.
        var pending: PendingGeneration? = nil
    }

    var collectionColumns: PostgresSQL {
        """
        SELECT id, tenant_id, name, model, revision, dimension, distance, normalized, text_search_config::text AS config,
               active_generation, created_at, pending_generation, pending_identity
        FROM \(schemaName).collections
        """
    }

    /// The collection's row; `lock` is a locking clause (`FOR SHARE`, `FOR UPDATE`) or empty.
    func collectionRow(_ connection: PostgresConnection, _ ref: CollectionRef, lock: String = "") async throws -> CollectionRow? {
        let sql: PostgresSQL = "\(collectionColumns) WHERE tenant_id = \(ref.tenant) AND name = \(ref.name) \(unsafeRaw: lock)"
        return try await rows(connection, sql).first.map(Self.collectionRow)
    }

    static func collectionRow(_ r: PostgresRandomAccessRow) throws -> CollectionRow {
        let ref = CollectionRef(tenant: try r["tenant_id"].decode(String.self), name: try r["name"].decode(String.self))
        guard let distance = Distance(rawValue: try r["distance"].decode(String.self)) else {
            throw EngramError(.storageFailure, "collection \(ref) has an unknown distance")
        }
        let identity = EmbeddingIdentity(model: try r["model"].decode(String.self), revision: try r["revision"].decode(String.self), dimension: try r["dimension"].decode(Int.self), distance: distance, normalized: try r["normalized"].decode(Bool.self))
        var pending: PendingGeneration?
        if let generation = try r["pending_generation"].decode(Int?.self), let json = try r["pending_identity"].decode(String?.self) {
            pending = PendingGeneration(generation: generation, identity: try MemoryRules.fromStoredJSON(EmbeddingIdentity.self, json))
        }
        return CollectionRow(
            id: try r["id"].decode(Int64.self),
            info: CollectionInfo(ref: ref, identity: identity, generation: try r["active_generation"].decode(Int.self), createdAt: try r["created_at"].decode(Date.self)),
            textSearchConfig: try r["config"].decode(String.self), pending: pending)
    }

    func requireCollection(_ connection: PostgresConnection, _ ref: CollectionRef, lock: String = "") async throws -> CollectionRow {
        guard let c = try await collectionRow(connection, ref, lock: lock) else {
            throw EngramError.collectionNotFound(ref)
        }
        return c
    }

    /// The statement reading the collection and, in the same round trip, the validity of its active
    /// generation's vector index.
    func collectionAndIndexQuery(_ ref: CollectionRef) -> PostgresQuery {
        let name: PostgresSQL = "\(indexNamePrefix) || c.id || '_g' || c.active_generation"
        let sql: PostgresSQL = """
            SELECT c.*, \(indexValidity(named: name)) AS index_valid
            FROM (\(collectionColumns) WHERE tenant_id = \(ref.tenant) AND name = \(ref.name)) c
            """
        return sql.query
    }

    static func collectionAndIndex(_ r: PostgresRandomAccessRow) throws -> CollectionRow {
        var c = try collectionRow(r)
        c.indexValid = try r["index_valid"].decode(Bool?.self)
        return c
    }

    /// The collection and the validity of its index (``collectionAndIndexQuery(_:)``), remembered for the
    /// next search of it (see ``speculating(_:_:_:_:)``).
    func requireCollectionAndIndex(_ connection: PostgresConnection, _ ref: CollectionRef) async throws -> CollectionRow {
        let result = try await connection.enqueue(collectionAndIndexQuery(ref), logger: logger).get()
        let row = try result.rows.first.map { try Self.collectionAndIndex($0.makeRandomAccess()) }
        remember(ref, row)
        guard let row else { throw EngramError.collectionNotFound(ref) }
        return row
    }

    /// Collection rows searched before, by tenant and name: a search of one of them runs its statements
    /// at once instead of first waiting for the collection row (see ``speculating(_:_:_:_:)``).
    let rememberedCollections = Mutex<[CollectionRef: CollectionRow]>([:])
    static let rememberedCollectionLimit = 10_000

    func remember(_ ref: CollectionRef, _ row: CollectionRow?) {
        rememberedCollections.withLock { known in
            if let row {
                if known.count >= Self.rememberedCollectionLimit, known[ref] == nil { known.removeAll(keepingCapacity: true) }
                known[ref] = row
            } else {
                known[ref] = nil
            }
        }
    }

    /// Runs `body` with the collection row remembered from an earlier search, and checks it against the
    /// current row, which the same transaction reads in a statement written just before `body`'s first
    /// one (so the check costs the caller no wait of its own). The answer stands only when the two rows
    /// are equal (same collection id, generation, embedding identity and index validity); otherwise the
    /// current row is remembered and nil is returned, and the caller runs again without guessing. A
    /// failure of `body` is reported only when the guess was right: a stale guess can fail for reasons
    /// of its own (a dimension that changed, a generation that is gone).
    ///
    /// Row-level security applies to both statements, so a wrong guess can never read another tenant's rows.
    func speculating<T: Sendable>(_ connection: PostgresConnection, _ ref: CollectionRef, _ guess: CollectionRow,
                                  _ body: (CollectionRow) async throws -> T) async throws -> T? {
        let current = connection.enqueueKept(collectionAndIndexQuery(ref), logger: logger)
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body(guess)) } catch { outcome = .failure(error) }
        // A failed lookup aborts the transaction and fails `body`'s statements: its error is the cause.
        let row = try await current.get().rows.first.map { try Self.collectionAndIndex($0.makeRandomAccess()) }
        guard row == guess else {
            remember(ref, row)
            return nil
        }
        return try outcome.get()
    }

    // Vectors travel as binary float4[] parameters and results (pgvector casts real[] to and from vector),
    // so the server never parses or prints float text.

    // MARK: Collections

    public func createCollection(_ ref: CollectionRef, identity: EmbeddingIdentity) async throws -> CollectionInfo {
        try ref.validateNew(identity: identity)
        return try await inTenant(ref.tenant) { connection in try await self.createCollection(connection, ref, identity: identity).info }
    }

    /// The collection, created when it does not exist, inside the caller's transaction (whose tenant is
    /// `ref.tenant`).
    /// - Throws: `collection_exists` when it exists with another identity.
    func createCollection(_ connection: PostgresConnection, _ ref: CollectionRef, identity: EmbeddingIdentity) async throws -> CollectionRow {
        let sql: PostgresSQL = """
            INSERT INTO \(schemaName).collections (tenant_id, name, model, revision, dimension, distance, normalized, text_search_config)
            VALUES (\(ref.tenant), \(ref.name), \(identity.model), \(identity.revision),
                    \(identity.dimension), \(identity.distance.rawValue), \(identity.normalized),
                    \(options.textSearchConfig)::regconfig)
            ON CONFLICT (tenant_id, name) DO NOTHING
            RETURNING id
            """
        _ = try await rows(connection, sql)
        let c = try await requireCollection(connection, ref)
        guard c.info.identity == identity else {
            throw EngramError.collectionExists(ref, existing: c.info.identity, requested: identity)
        }
        return c
    }

    public func collection(_ ref: CollectionRef) async throws -> CollectionInfo? {
        try await reading(ref.tenant) { try await self.collectionRow($0, ref)?.info }
    }

    public func collections(tenant: String) async throws -> [CollectionInfo] {
        try await reading(tenant) { connection in
            let sql: PostgresSQL = "\(self.collectionColumns) WHERE tenant_id = \(tenant) ORDER BY name COLLATE \"C\""
            return try await rows(connection, sql).map { try Self.collectionRow($0).info }
        }
    }

    public func deleteCollection(_ ref: CollectionRef) async throws -> Bool {
        try await inTenant(ref.tenant) { connection in
            let deleted = try await rows(connection, "DELETE FROM \(self.schemaName).collections WHERE tenant_id = \(ref.tenant) AND name = \(ref.name) RETURNING id")
            return !deleted.isEmpty
        }
    }

    // MARK: Documents

    public func upsert(document: DocumentRecord, chunks: [ChunkRecord], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> UpsertOutcome {
        try await upsert(batch: [DocumentUpsert(document: document, chunks: chunks)], identity: identity, in: ref)[0].get()
    }

    public func upsert(batch: [DocumentUpsert], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> [Result<UpsertOutcome, EngramError>] {
        try await upsert(batch: batch, identity: identity, in: ref, deferIndexing: false)
    }

    /// Writes the batch in one transaction with a fixed number of statements, whatever its size: the
    /// existing documents are read with one query, unchanged ones are left alone, and the others are
    /// replaced with one `UNNEST` insert of documents and one of all their chunks (vectors as one binary
    /// `vector[]` parameter).
    ///
    /// Unless `deferIndexing`, the generation's vector index is built (``buildIndexes(_:)``) once the
    /// collection holds ``Options/exactThreshold`` embedded chunks; a bulk load defers it and builds it once
    /// at the end, which is much faster than growing the graph row by row.
    public func upsert(batch: [DocumentUpsert], identity: EmbeddingIdentity?, in ref: CollectionRef, deferIndexing: Bool) async throws -> [Result<UpsertOutcome, EngramError>] {
        guard let info = try await collection(ref) else {
            throw EngramError.collectionNotFound(ref)
        }
        let (refused, valid) = UpsertValidation.partition(batch, identity: identity, collection: info)
        var written: [(index: Int, outcome: UpsertOutcome)] = []
        if !valid.isEmpty {
            let types = try await vectorTypes()
            let outcomes = try await retryingConflicts { try await self.inTenant(ref.tenant) { connection in
                // Shared lock: writers run side by side, and a reindex's switch (which locks the row for
                // update) waits for them; a writer after the switch reads the new identity.
                let c = try await self.requireCollection(connection, ref, lock: "FOR SHARE")
                guard c.info.identity == info.identity else {
                    throw EngramError(.embeddingMismatch, "collection \(ref) changed its embedding identity during the upsert")
                }
                // A document id twice in one batch: later items replace earlier ones, as if written in turn.
                var outcomes: [UpsertOutcome] = []
                var round: [DocumentUpsert] = []
                var seen = Set<String>()
                for v in valid {
                    if !seen.insert(v.item.document.id).inserted {
                        outcomes += try await self.write(connection, c, round, types: types)
                        round = []
                        seen = [v.item.document.id]
                    }
                    round.append(v.item)
                }
                outcomes += try await self.write(connection, c, round, types: types)
                return outcomes
            } }
            written = zip(valid, outcomes).map { ($0.index, $1) }
            if !deferIndexing && written.contains(where: { $0.outcome != .unchanged }) {
                try await buildIndexes(ref, minimumRows: options.exactThreshold)
            }
        }
        return UpsertValidation.results(count: batch.count, refused: refused, written: written)
    }


    /// Chunk rows per `INSERT`: bounds one message's size (384-d vectors: about 8 MB).
    static let chunkRowsPerStatement = 5_000

    /// Writes documents with distinct ids; returns each one's outcome.
    func write(_ connection: PostgresConnection, _ c: CollectionRow, _ items: [DocumentUpsert], types: PGVectorTypes) async throws -> [UpsertOutcome] {
        guard !items.isEmpty else { return [] }
        let existing = try await rows(connection, """
            SELECT id, sha256, fingerprint, metadata::text AS metadata FROM \(schemaName).documents
            WHERE collection_id = \(c.id) AND id = ANY(\(items.map(\.document.id))::text[]) FOR UPDATE
            """)
        var old: [String: UpsertValidation.DocumentFacts<Metadata>] = [:]
        for r in existing {
            old[try r["id"].decode(String.self)] = .init(sha256: try r["sha256"].decode(String.self), fingerprint: try r["fingerprint"].decode(String.self),
                                                        metadata: try Metadata.parse(json: r["metadata"].decode(String.self)))
        }
        func facts(_ d: DocumentRecord) -> UpsertValidation.DocumentFacts<Metadata> { .init(sha256: d.sha256, fingerprint: d.fingerprint, metadata: d.metadata) }
        let chunkMetadata = items.map { item in item.chunks.map { UpsertValidation.mergedMetadata(document: item.document.metadata, chunk: $0.metadata) } }
        // Documents whose own fields are unchanged may still have changed chunks: compare those.
        let candidates = items.indices.filter { old[items[$0].document.id] == facts(items[$0].document) }
        var unchanged = Set<Int>()
        if !candidates.isEmpty {
            let oldChunks = try await rows(connection, """
                SELECT document_id, id, sha256, metadata::text AS metadata, embedding::real[] AS embedding FROM \(schemaName).chunks
                WHERE collection_id = \(c.id) AND generation = \(c.info.generation)
                  AND document_id = ANY(\(candidates.map { items[$0].document.id })::text[])
                ORDER BY document_id, ordinal
                """)
            var byDocument: [String: [PostgresRandomAccessRow]] = [:]
            for r in oldChunks { byDocument[try r["document_id"].decode(String.self), default: []].append(r) }
            for i in candidates {
                let d = items[i].document, chunks = items[i].chunks
                let stored = byDocument[d.id] ?? []
                guard stored.count == chunks.count else { continue }
                let same = try UpsertValidation.isUnchanged(
                    stored: old[d.id]!, new: facts(d),
                    storedChunks: {
                        try stored.map { .init(id: try $0["id"].decode(String.self), sha256: try $0["sha256"].decode(String.self),
                                               metadata: try Metadata.parse(json: $0["metadata"].decode(String.self)), embedding: try $0["embedding"].decode([Float]?.self)) }
                    },
                    newChunks: { chunks.indices.map { .init(id: chunks[$0].id, sha256: chunks[$0].sha256, metadata: chunkMetadata[i][$0], embedding: chunks[$0].embedding) } })
                if same { unchanged.insert(i) }
            }
        }
        let changed = items.indices.filter { !unchanged.contains($0) }
        guard !changed.isEmpty else { return items.map { _ in .unchanged } }
        let replaced = changed.map { items[$0].document.id }.filter { old[$0] != nil }
        if !replaced.isEmpty {
            _ = try await rows(connection, "DELETE FROM \(schemaName).chunks WHERE collection_id = \(c.id) AND document_id = ANY(\(replaced)::text[])")
        }
        let documents = changed.map { items[$0].document }
        _ = try await rows(connection, """
            INSERT INTO \(schemaName).documents (collection_id, id, tenant_id, source_uri, sha256, fingerprint, version, mime, size, chunk_count, metadata, text, created_at, updated_at)
            SELECT \(c.id), u.id, \(c.info.ref.tenant), u.source_uri, u.sha256, u.fingerprint, 1, u.mime, u.size, u.chunk_count,
                   u.metadata::jsonb, u.text, now(), now()
            FROM UNNEST(\(documents.map(\.id))::text[], \(documents.map(\.sourceURI))::text[], \(documents.map(\.sha256))::text[],
                        \(documents.map(\.fingerprint))::text[], \(documents.map(\.mime))::text[], \(documents.map(\.size))::int8[],
                        \(changed.map { items[$0].chunks.count })::int8[], \(documents.map(\.metadata.canonicalJSON))::text[],
                        \(documents.map(\.text))::text[])
                 AS u(id, source_uri, sha256, fingerprint, mime, size, chunk_count, metadata, text)
            ON CONFLICT (collection_id, id) DO UPDATE SET
                source_uri = excluded.source_uri, sha256 = excluded.sha256, fingerprint = excluded.fingerprint,
                version = \(schemaName).documents.version + 1, mime = excluded.mime, size = excluded.size, chunk_count = excluded.chunk_count,
                metadata = excluded.metadata, text = excluded.text, updated_at = now()
            """)
        var rowsOfChunks: [(document: String, chunk: ChunkRecord, metadata: Metadata)] = []
        for i in changed {
            for (j, chunk) in items[i].chunks.enumerated() { rowsOfChunks.append((items[i].document.id, chunk, chunkMetadata[i][j])) }
        }
        var start = 0
        while start < rowsOfChunks.count {
            let part = rowsOfChunks[start..<min(rowsOfChunks.count, start + PostgresVectorStore.chunkRowsPerStatement)]
            try await insertChunks(connection, c, part, types: types)
            start += part.count
        }
        return items.indices.map { unchanged.contains($0) ? .unchanged : old[items[$0].document.id] == nil ? .added : .updated }
    }

    func insertChunks(_ connection: PostgresConnection, _ c: CollectionRow, _ part: ArraySlice<(document: String, chunk: ChunkRecord, metadata: Metadata)>, types: PGVectorTypes) async throws {
        let chunks = part.map(\.chunk)
        let vectors = SQLValue(PGVectorArray(chunks.map(\.embedding), types: types))
        let config: PostgresSQL = "\(c.textSearchConfig)::regconfig"
        _ = try await rows(connection, """
            INSERT INTO \(schemaName).chunks (collection_id, id, tenant_id, document_id, generation, ordinal, char_start, char_end, token_count,
                                          sha256, section, metadata, text_search_config, text, text_search, embedding)
            SELECT \(c.id), u.id, \(c.info.ref.tenant), u.document_id, \(c.info.generation), u.ordinal,
                   u.char_start, u.char_end, u.token_count, u.sha256, u.section::jsonb, u.metadata::jsonb,
                   \(config), u.text, to_tsvector(\(config), u.search_text), u.embedding
            FROM UNNEST(\(chunks.map(\.id))::text[], \(part.map(\.document))::text[], \(chunks.map(\.ordinal))::int8[],
                        \(chunks.map(\.charStart))::int8[], \(chunks.map(\.charEnd))::int8[], \(chunks.map(\.tokenCount))::int8[],
                        \(chunks.map(\.sha256))::text[], \(chunks.map { SectionJSON.encode($0.section) })::text[],
                        \(part.map(\.metadata.canonicalJSON))::text[], \(chunks.map(\.text))::text[],
                        \(chunks.map { KeywordTokenizer.tokens($0.text).joined(separator: " ") })::text[], \(vectors))
                 AS u(id, document_id, ordinal, char_start, char_end, token_count, sha256, section, metadata, text, search_text, embedding)
            """)
    }

    public func deleteDocument(id: String, in ref: CollectionRef) async throws -> Bool {
        try await inTenant(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            return !(try await rows(connection, "DELETE FROM \(self.schemaName).documents WHERE collection_id = \(c.id) AND id = \(id) RETURNING id")).isEmpty
        }
    }

    static let documentColumns: PostgresSQL = "id, source_uri, sha256, fingerprint, version, mime, size, chunk_count, metadata::text AS metadata, created_at, updated_at"

    static func documentInfo(_ r: PostgresRandomAccessRow) throws -> DocumentInfo {
        DocumentInfo(
            id: try r["id"].decode(String.self), sourceURI: try r["source_uri"].decode(String.self), sha256: try r["sha256"].decode(String.self),
            fingerprint: try r["fingerprint"].decode(String.self), version: try r["version"].decode(Int.self), mime: try r["mime"].decode(String.self),
            size: try r["size"].decode(Int.self), chunkCount: try r["chunk_count"].decode(Int.self),
            metadata: try Metadata.parse(json: r["metadata"].decode(String.self)),
            createdAt: try r["created_at"].decode(Date.self), updatedAt: try r["updated_at"].decode(Date.self))
    }

    public func documents(in ref: CollectionRef) async throws -> [DocumentInfo] {
        try await reading(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            return try await rows(connection, "SELECT \(Self.documentColumns) FROM \(self.schemaName).documents WHERE collection_id = \(c.id) ORDER BY source_uri COLLATE \"C\"").map(Self.documentInfo)
        }
    }

    public func document(id: String, in ref: CollectionRef) async throws -> (info: DocumentInfo, text: String)? {
        try await reading(ref.tenant) { connection -> (info: DocumentInfo, text: String)? in
            let c = try await self.requireCollection(connection, ref)
            guard let r = try await rows(connection, "SELECT \(Self.documentColumns), text FROM \(self.schemaName).documents WHERE collection_id = \(c.id) AND id = \(id)").first else {
                return nil
            }
            return (try Self.documentInfo(r), try r["text"].decode(String.self))
        }
    }

    /// The columns ``storedChunk(_:)`` reads, from `chunks c` joined with `documents d`.
    static let chunkColumns: PostgresSQL = """
        c.id, c.document_id, d.source_uri, d.sha256 AS document_sha256, c.ordinal, c.text, c.char_start, c.char_end,
        c.section::text AS section, c.token_count, c.sha256, c.metadata::text AS metadata, c.generation
        """

    static func storedChunk(_ r: PostgresRandomAccessRow) throws -> StoredChunk {
        let section = try SectionJSON.decode(r["section"].decode(String.self))
        return StoredChunk(
            id: try r["id"].decode(String.self), documentID: try r["document_id"].decode(String.self), sourceURI: try r["source_uri"].decode(String.self),
            documentSHA256: try r["document_sha256"].decode(String.self), ordinal: try r["ordinal"].decode(Int.self), text: try r["text"].decode(String.self),
            charStart: try r["char_start"].decode(Int.self), charEnd: try r["char_end"].decode(Int.self), section: section,
            tokenCount: try r["token_count"].decode(Int.self), sha256: try r["sha256"].decode(String.self),
            metadata: try Metadata.parse(json: r["metadata"].decode(String.self)), generation: try r["generation"].decode(Int.self))
    }

    func fetchChunks(_ connection: PostgresConnection, _ c: CollectionRow, ids: [String]) async throws -> [StoredChunk] {
        guard !ids.isEmpty else { return [] }
        let rows = try await rows(connection, """
            SELECT \(Self.chunkColumns)
            FROM \(schemaName).chunks c JOIN \(schemaName).documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
            WHERE c.collection_id = \(c.id) AND c.generation = \(c.info.generation) AND c.id = ANY(\(ids)::text[])
            """)
        var byID: [String: StoredChunk] = [:]
        for r in rows {
            let chunk = try Self.storedChunk(r)
            byID[chunk.id] = chunk
        }
        return ids.compactMap { byID[$0] }
    }

    public func chunks(ids: [String], in ref: CollectionRef) async throws -> [StoredChunk] {
        try await reading(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            return try await fetchChunks(connection, c, ids: ids)
        }
    }

    public func stats(_ ref: CollectionRef) async throws -> CollectionStats {
        try await reading(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            let id = SQLValue(c.id)
            let r = try await rows(connection, """
                SELECT (SELECT count(*) FROM \(self.schemaName).documents WHERE collection_id = \(id)) AS documents,
                       count(*) AS chunks, count(embedding) AS embedded, coalesce(sum(octet_length(text)), 0) AS bytes
                FROM \(self.schemaName).chunks WHERE collection_id = \(id) AND generation = \(c.info.generation)
                """)[0]
            return CollectionStats(documents: try r["documents"].decode(Int.self), chunks: try r["chunks"].decode(Int.self),
                                   embeddedChunks: try r["embedded"].decode(Int.self), textBytes: try r["bytes"].decode(Int.self))
        }
    }

    // MARK: Search

    /// Rows with `id` and `score` columns as scored ids, in row order.
    static func scored(_ rows: [PostgresRandomAccessRow]) throws -> [ScoredID] {
        try rows.map { ScoredID(id: try $0["id"].decode(String.self), score: try $0["score"].decode(Double.self)) }
    }

    /// Runs `body` with the planner setting `setting` switched off (transaction-local), then back on.
    /// On an error the transaction is rolled back, which restores the setting too.
    func withPlanner<T>(_ connection: PostgresConnection, off setting: String, when condition: Bool = true, _ body: () async throws -> T) async throws -> T {
        guard condition else { return try await body() }
        _ = try await rows(connection, "SELECT set_config(\(setting), 'off', true)")
        let result = try await body()
        _ = try await rows(connection, "SELECT set_config(\(setting), 'on', true)")
        return result
    }

    /// The vector ranking, by the cheapest path that is still complete.
    ///
    /// When at most ``Options/exactThreshold`` chunks can match, they are ranked exactly (`exact-scan`).
    /// Otherwise the HNSW index is walked with pgvector's iterative scan (`hnsw`, approximate); if that
    /// returns fewer than `depth` rows while more match (a selective filter the graph walk ran out on),
    /// the rows are ranked exactly instead (`hnsw+exact-fallback`), so a filter never silently shortens
    /// the result.
    /// With `prefetch`, an index walk that returns all `depth` rows also returns their chunks (the ranking
    /// query joins them), saving the separate fetch.
    func vectorRanking(_ connection: PostgresConnection, _ c: CollectionRow, query q: [Float], filter: Filter?, depth: Int, types: PGVectorTypes,
                       prefetch: Bool = false) async throws -> (ranking: [ScoredID], matched: Int, path: SearchPath, exhaustive: Bool, chunks: [StoredChunk]?) {
        let dim = c.info.identity.dimension
        let (_, op) = PostgresVectorStore.operatorClass(c.info.identity.distance)
        let vector = SQLValue(PGVector(values: q, types: types))
        func distance(_ alias: String) -> PostgresSQL { "(\(unsafeRaw: alias).embedding::vector(\(dim)) \(unsafeRaw: op) \(vector)::vector(\(dim)))" }
        func score(_ alias: String) -> PostgresSQL { Self.similaritySQL(c.info.identity.distance, distance: distance(alias)) }
        let filterSQL = try filter.map { try PostgresFilterCompiler(column: "c.metadata").compile($0) } ?? "true"
        // Integers from the database, inlined so the partial index predicate visibly matches.
        let from: PostgresSQL = "FROM \(schemaName).chunks c WHERE c.collection_id = \(c.id) AND c.generation = \(c.info.generation) AND c.embedding IS NOT NULL AND \(filterSQL)"
        let threshold = options.exactThreshold
        func exact() async throws -> [ScoredID] {
            let ranked = try await withPlanner(connection, off: "enable_indexscan") {
                try await rows(connection, "SELECT c.id, (\(score("c")))::float8 AS score \(from) ORDER BY \(distance("c")), c.id COLLATE \"C\" LIMIT \(depth)")
            }
            return try Self.scored(ranked).sorted(by: ScoredID.ranksBefore)
        }
        // Under a filter, one round trip and one scan collect the rows that can match, up to the threshold;
        // when they are all there, they are ranked exactly at once (an unfiltered generation with an index
        // is larger than the threshold). Whether the index is valid came with the collection row.
        var capped: Int?
        let indexed = (c.indexValid ?? false) && dim <= PostgresVectorStore.maxIndexedDimension
        if filter != nil {
            let first = try await rows(connection, """
                WITH m AS MATERIALIZED (SELECT c.id, c.embedding \(from) LIMIT \(threshold + 1)),
                     n AS (SELECT count(*) AS n FROM m)
                SELECT n.n, r.id, r.score
                FROM n LEFT JOIN LATERAL (
                    SELECT m.id, (\(score("m")))::float8 AS score FROM m
                    WHERE n.n <= \(threshold) ORDER BY \(distance("m")), m.id COLLATE "C" LIMIT \(depth)) r ON true
                """)
            capped = try first[0]["n"].decode(Int.self)
            if let n = capped, n <= threshold {
                let ranking = try first.compactMap { row -> ScoredID? in
                    guard let id = try row["id"].decode(String?.self) else { return nil }
                    return ScoredID(id: id, score: try row["score"].decode(Double.self))
                }
                return (ranking.sorted(by: ScoredID.ranksBefore), n, .exactScan, true, nil)
            }
        }
        func count() async throws -> Int {
            if let capped, capped <= threshold { return capped }
            return try await rows(connection, "SELECT count(*) AS n \(from)")[0]["n"].decode(Int.self)
        }
        if !indexed {
            return (try await exact(), try await count(), .exactScan, true, nil)
        }
        let walk: PostgresSQL = "SELECT c.id, (\(score("c")))::float8 AS score \(from) ORDER BY \(distance("c")) LIMIT \(depth)"
        // Under a filter the planner may judge a scan and sort cheaper than the walk (it cannot know that an
        // iterative scan stops early), which would make this path exact but labelled approximate: the walk is
        // Engram's decision here, so sorting is switched off for this one statement, which leaves the
        // vector index as the only way to produce the order.
        let approximate = try await withPlanner(connection, off: "enable_sort", when: filter != nil) {
            try await rows(connection, prefetch ? """
                SELECT r.score, \(Self.chunkColumns)
                FROM (\(walk)) r
                JOIN \(schemaName).chunks c ON c.collection_id = \(c.id) AND c.generation = \(c.info.generation) AND c.id = r.id
                JOIN \(schemaName).documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
                """ : walk)
        }
        var ranking = try Self.scored(approximate)
        let prefetched = prefetch ? try approximate.map(Self.storedChunk) : nil
        // relaxed_order may return rows slightly out of order: sort what came back.
        ranking.sort(by: ScoredID.ranksBefore)
        if ranking.count < depth {
            // The walk ran out before finding `depth` rows: rank exactly if more rows match.
            let matched = try await count()
            if ranking.count < min(depth, matched) {
                return (try await exact(), matched, .indexThenExact(options.indexType.rawValue), true, nil)
            }
            return (ranking, matched, .index(options.indexType.rawValue), false, nil)
        }
        // Approximate and full: matches are not counted past what is known (a lower bound).
        return (ranking, max(ranking.count, capped ?? 0), .index(options.indexType.rawValue), false, prefetched)
    }

    /// The index scan settings for a search of `depth` rows, set with the tenant in the first statement.
    func searchSettings(depth: Int) -> [(String, String)] {
        switch options.indexType {
        case .hnsw:
            return [("hnsw.iterative_scan", "relaxed_order"), ("hnsw.ef_search", "\(min(1000, max(options.hnswEfSearch, 2 * depth)))"),
                    ("hnsw.max_scan_tuples", "\(options.maxScanTuples)")]
        case .ivfflat:
            return [("ivfflat.iterative_scan", "relaxed_order"), ("ivfflat.probes", "\(options.ivfflatProbes)")]
        }
    }

    public func search(_ request: SearchRequest, in ref: CollectionRef) async throws -> SearchResponse {
        let types = try await vectorTypes()
        let depth = request.mode == .hybrid ? request.effectiveHybridDepth : request.k
        let settings = request.mode == .keyword ? [] : searchSettings(depth: depth)
        if let guess = rememberedCollections.withLock({ $0[ref] }) {
            let answer = try await reading(ref.tenant, settings: settings) { connection in
                try await self.speculating(connection, ref, guess) { c in try await self.search(request, connection, c, depth: depth, types: types) }
            }
            if let answer { return answer }
        }
        return try await reading(ref.tenant, settings: settings) { connection in
            let c = try await self.requireCollectionAndIndex(connection, ref)
            return try await self.search(request, connection, c, depth: depth, types: types)
        }
    }

    func search(_ request: SearchRequest, _ connection: PostgresConnection, _ c: CollectionRow, depth: Int, types: PGVectorTypes) async throws -> SearchResponse {
        try request.validate(against: c.info.identity)
        var vectorRanking: [ScoredID]?
        var keywordRanking: [ScoredID]?
        var prefetched: [StoredChunk]?
        var matched = 0
        var vectorPath = SearchPath.exactScan
        var exhaustive = true
        if request.mode != .keyword, let q = request.vector {
            let result = try await self.vectorRanking(connection, c, query: q, filter: request.filter, depth: depth, types: types, prefetch: request.mode == .vector)
            prefetched = result.chunks
            vectorRanking = result.ranking
            matched = result.matched
            vectorPath = result.path
            exhaustive = result.exhaustive
        }
        if request.mode != .vector, let text = request.text {
            let terms = KeywordTokenizer.queryTerms(text).joined(separator: " | ")
            let query: PostgresSQL = "to_tsquery(\(c.textSearchConfig)::regconfig, \(terms))"
            let filter = try request.filter.map { try PostgresFilterCompiler(column: "c.metadata").compile($0) } ?? "true"
            // Integers from the database, inlined so the generation's partial keyword index visibly matches.
            let from: PostgresSQL = "FROM \(self.schemaName).chunks c WHERE c.collection_id = \(c.id) AND c.generation = \(c.info.generation) AND c.text_search @@ \(query) AND \(filter)"
            let rows = try await self.rows(connection, "SELECT c.id, ts_rank_cd(c.text_search, \(query))::float8 AS score \(from) ORDER BY score DESC, c.id COLLATE \"C\" LIMIT \(depth)")
            keywordRanking = try Self.scored(rows)
            if request.mode == .keyword {
                matched = try await self.rows(connection, "SELECT count(*) AS n \(from)")[0]["n"].decode(Int.self)
            }
        }
        let ranked = SearchAssembly.rank(mode: request.mode, vector: vectorRanking, keyword: keywordRanking, k: request.k, fusionK: request.fusionK)
        let chunks: [StoredChunk]
        if let prefetched {
            let byID = Dictionary(prefetched.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            chunks = ranked.compactMap { byID[$0.id] }
        } else {
            chunks = try await fetchChunks(connection, c, ids: ranked.map(\.id))
        }
        return SearchResponse(
            hits: SearchAssembly.hits(ranked, chunks: chunks),
            path: .of(request.mode, vector: vectorPath, keyword: .tsRankCD),
            exhaustive: exhaustive, matched: matched)
    }
}
