import EngramCore
import Foundation
import Logging
import PostgresNIO

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
        /// are ranked exactly instead of through the index.
        public var exactThreshold = 10_000

        public init() {}
    }

    let client: PostgresClient
    public let schema: String
    public let options: Options
    let logger: Logger

    /// - Parameters:
    ///   - client: a client whose `run()` the application schedules.
    ///   - schema: the migrated schema (see ``PostgresMigrator``).
    public init(client: PostgresClient, schema: String = "engram", options: Options = Options(), logger: Logger = Logger(label: "engram.postgres", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        try PostgresStoreConfiguration.validateIdentifier(schema, what: "schema")
        self.client = client
        self.schema = schema
        self.options = options
        self.logger = logger
    }

    public var descriptor: StoreDescriptor {
        StoreDescriptor(kind: "postgres", schemaVersion: PostgresSchema.migrations.count, indexParameters: [
            "index": "hnsw", "m": "\(options.hnswM)", "ef_construction": "\(options.hnswEfConstruction)",
            "ef_search": "\(options.hnswEfSearch)", "max_scan_tuples": "\(options.maxScanTuples)",
            "exact_threshold": "\(options.exactThreshold)",
        ])
    }

    /// pgvector indexes `vector` up to 2,000 dimensions; larger collections are always ranked exactly.
    static let maxIndexedDimension = 2000

    static func operatorClass(_ d: Distance) -> (opclass: String, op: String) {
        switch d {
        case .cosine: ("vector_cosine_ops", "<=>")
        case .l2: ("vector_l2_ops", "<->")
        case .innerProduct: ("vector_ip_ops", "<#>")
        }
    }

    /// The partial HNSW index of one collection generation, over `embedding::vector(DIM)`; queries use the
    /// same expression and predicate so the planner can pick it. Only integers from the database and
    /// validated names are spliced.
    func createIndex(_ connection: PostgresConnection, collectionID: Int64, generation: Int, identity: EmbeddingIdentity) async throws {
        guard identity.dimension <= PostgresVectorStore.maxIndexedDimension else { return }
        let (opclass, _) = PostgresVectorStore.operatorClass(identity.distance)
        let name = "chunks_hnsw_c\(collectionID)_g\(generation)"
        // The application role may not own the table: then the collection works without an index (exact
        // ranking) instead of failing.
        _ = try await rows(connection, "SAVEPOINT engram_index")
        do {
            _ = try await rows(connection, """
                CREATE INDEX IF NOT EXISTS \(name) ON \(schema).chunks
                USING hnsw ((embedding::vector(\(identity.dimension))) \(opclass)) WITH (m = \(options.hnswM), ef_construction = \(options.hnswEfConstruction))
                WHERE collection_id = \(collectionID) AND generation = \(generation)
                """)
            _ = try await rows(connection, "RELEASE SAVEPOINT engram_index")
        } catch {
            logger.warning("cannot create the vector index; searches rank exactly", metadata: ["error": "\(PostgresStoreConfiguration.describe(error))"])
            _ = try await rows(connection, "ROLLBACK TO SAVEPOINT engram_index")
        }
    }

    // MARK: Plumbing

    /// Runs `body` in a transaction scoped to `tenant`.
    func inTenant<T: Sendable>(_ tenant: String, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.execute("SELECT set_config('engram.tenant_id', \(tenant), true)", logger: self.logger)
                return try await body(connection)
            }
        } catch {
            throw PostgresStoreConfiguration.describe(error)
        }
    }

    func rows(_ connection: PostgresConnection, _ sql: String, _ bound: BoundSQL = BoundSQL()) async throws -> [PostgresRandomAccessRow] {
        let sequence = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bound.bindings), logger: logger)
        var out: [PostgresRandomAccessRow] = []
        for try await row in sequence { out.append(row.makeRandomAccess()) }
        return out
    }

    struct CollectionRow: Sendable {
        var id: Int64
        var info: CollectionInfo
        var textSearchConfig: String
    }

    var collectionColumns: String {
        """
        SELECT id, tenant_id, name, model, revision, dimension, distance, normalized, text_search_config::text AS config,
               active_generation, created_at
        FROM \(schema).collections
        """
    }

    func collectionRow(_ connection: PostgresConnection, _ ref: CollectionRef) async throws -> CollectionRow? {
        var b = BoundSQL()
        let sql = "\(collectionColumns) WHERE tenant_id = \(b.bind(ref.tenant)) AND name = \(b.bind(ref.name))"
        return try await rows(connection, sql, b).first.map(Self.collectionRow)
    }

    static func collectionRow(_ r: PostgresRandomAccessRow) throws -> CollectionRow {
        let ref = CollectionRef(tenant: try r["tenant_id"].decode(String.self), name: try r["name"].decode(String.self))
        guard let distance = Distance(rawValue: try r["distance"].decode(String.self)) else {
            throw EngramError(.storageFailure, "collection \(ref) has an unknown distance")
        }
        let identity = EmbeddingIdentity(model: try r["model"].decode(String.self), revision: try r["revision"].decode(String.self), dimension: try r["dimension"].decode(Int.self), distance: distance, normalized: try r["normalized"].decode(Bool.self))
        return CollectionRow(
            id: try r["id"].decode(Int64.self),
            info: CollectionInfo(ref: ref, identity: identity, generation: try r["active_generation"].decode(Int.self), createdAt: try r["created_at"].decode(Date.self)),
            textSearchConfig: try r["config"].decode(String.self))
    }

    func requireCollection(_ connection: PostgresConnection, _ ref: CollectionRef) async throws -> CollectionRow {
        guard let c = try await collectionRow(connection, ref) else {
            throw EngramError.collectionNotFound(ref)
        }
        return c
    }

    // Vectors travel as binary float4[] parameters and results (pgvector casts real[] to and from vector),
    // so the server never parses or prints float text.

    // MARK: Collections

    public func createCollection(_ ref: CollectionRef, identity: EmbeddingIdentity) async throws -> CollectionInfo {
        try ref.validateNew(identity: identity)
        return try await inTenant(ref.tenant) { connection in
            var b = BoundSQL()
            let sql = """
                INSERT INTO \(schema).collections (tenant_id, name, model, revision, dimension, distance, normalized)
                VALUES (\(b.bind(ref.tenant)), \(b.bind(ref.name)), \(b.bind(identity.model)), \(b.bind(identity.revision)),
                        \(b.bind(identity.dimension)), \(b.bind(identity.distance.rawValue)), \(b.bind(identity.normalized)))
                ON CONFLICT (tenant_id, name) DO NOTHING
                RETURNING id
                """
            let inserted = try await self.rows(connection, sql, b)
            let c = try await self.requireCollection(connection, ref)
            guard c.info.identity == identity else {
                throw EngramError.collectionExists(ref, existing: c.info.identity, requested: identity)
            }
            if !inserted.isEmpty {
                try await self.createIndex(connection, collectionID: c.id, generation: c.info.generation, identity: identity)
            }
            return c.info
        }
    }

    public func collection(_ ref: CollectionRef) async throws -> CollectionInfo? {
        try await inTenant(ref.tenant) { try await self.collectionRow($0, ref)?.info }
    }

    public func collections(tenant: String) async throws -> [CollectionInfo] {
        try await inTenant(tenant) { connection in
            var b = BoundSQL()
            let sql = "\(self.collectionColumns) WHERE tenant_id = \(b.bind(tenant)) ORDER BY name COLLATE \"C\""
            return try await self.rows(connection, sql, b).map { try Self.collectionRow($0).info }
        }
    }

    public func deleteCollection(_ ref: CollectionRef) async throws -> Bool {
        try await inTenant(ref.tenant) { connection in
            var b = BoundSQL()
            let deleted = try await self.rows(connection, "DELETE FROM \(self.schema).collections WHERE tenant_id = \(b.bind(ref.tenant)) AND name = \(b.bind(ref.name)) RETURNING id", b)
            return !deleted.isEmpty
        }
    }

    // MARK: Documents

    public func upsert(document: DocumentRecord, chunks: [ChunkRecord], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> UpsertOutcome {
        try await upsert(batch: [DocumentUpsert(document: document, chunks: chunks)], identity: identity, in: ref)[0].get()
    }

    public func upsert(batch: [DocumentUpsert], identity: EmbeddingIdentity?, in ref: CollectionRef) async throws -> [Result<UpsertOutcome, EngramError>] {
        guard let info = try await collection(ref) else {
            throw EngramError.collectionNotFound(ref)
        }
        let (refused, valid) = UpsertValidation.partition(batch, identity: identity, collection: info)
        var written: [(index: Int, outcome: UpsertOutcome)] = []
        if !valid.isEmpty {
            let items = valid
            let outcomes = try await inTenant(ref.tenant) { connection in
                let c = try await self.requireCollection(connection, ref)
                guard c.info.identity == info.identity else {
                    throw EngramError(.embeddingMismatch, "collection \(ref) changed its embedding identity during the upsert")
                }
                var outcomes: [UpsertOutcome] = []
                for v in items { outcomes.append(try await self.write(connection, c, v.item)) }
                return outcomes
            }
            written = zip(valid, outcomes).map { ($0.index, $1) }
        }
        return UpsertValidation.results(count: batch.count, refused: refused, written: written)
    }

    func write(_ connection: PostgresConnection, _ c: CollectionRow, _ item: DocumentUpsert) async throws -> UpsertOutcome {
        let document = item.document, chunks = item.chunks
        let documentMetadata = document.metadata.canonicalJSON
        let chunkMetadata = chunks.map { UpsertValidation.mergedMetadata(document: document.metadata, chunk: $0.metadata).canonicalJSON }
        var b = BoundSQL()
        let old = try await rows(connection, """
            SELECT sha256, fingerprint, metadata::text AS metadata FROM \(schema).documents
            WHERE collection_id = \(b.bind(c.id)) AND id = \(b.bind(document.id)) FOR UPDATE
            """, b).first
        if let old {
            b = BoundSQL()
            let oldChunks = try await rows(connection, """
                SELECT id, sha256, metadata::text AS metadata, embedding::real[] AS embedding FROM \(schema).chunks
                WHERE collection_id = \(b.bind(c.id)) AND document_id = \(b.bind(document.id)) ORDER BY ordinal
                """, b)
            var same = try old["sha256"].decode(String.self) == document.sha256 && old["fingerprint"].decode(String.self) == document.fingerprint
                && Metadata.parse(json: old["metadata"].decode(String.self)) == document.metadata && oldChunks.count == chunks.count
            if same {
                for (row, (i, chunk)) in zip(oldChunks, chunks.enumerated()) {
                    let embedding = try row["embedding"].decode([Float]?.self)
                    if try row["id"].decode(String.self) != chunk.id || row["sha256"].decode(String.self) != chunk.sha256
                        || Metadata.parse(json: row["metadata"].decode(String.self)) != (try Metadata.parse(json: chunkMetadata[i])) || embedding != chunk.embedding {
                        same = false
                        break
                    }
                }
            }
            if same { return .unchanged }
            b = BoundSQL()
            _ = try await rows(connection, "DELETE FROM \(schema).chunks WHERE collection_id = \(b.bind(c.id)) AND document_id = \(b.bind(document.id))", b)
        }
        b = BoundSQL()
        _ = try await rows(connection, """
            INSERT INTO \(schema).documents (collection_id, id, tenant_id, source_uri, sha256, fingerprint, version, mime, size, chunk_count, metadata, text, created_at, updated_at)
            VALUES (\(b.bind(c.id)), \(b.bind(document.id)), \(b.bind(c.info.ref.tenant)), \(b.bind(document.sourceURI)), \(b.bind(document.sha256)),
                    \(b.bind(document.fingerprint)), 1, \(b.bind(document.mime)), \(b.bind(document.size)), \(b.bind(chunks.count)),
                    \(b.bind(documentMetadata))::jsonb, \(b.bind(document.text)), now(), now())
            ON CONFLICT (collection_id, id) DO UPDATE SET
                sha256 = excluded.sha256, fingerprint = excluded.fingerprint, version = \(schema).documents.version + 1,
                mime = excluded.mime, size = excluded.size, chunk_count = excluded.chunk_count, metadata = excluded.metadata,
                text = excluded.text, updated_at = now()
            """, b)
        b = BoundSQL()
        let ids = b.bind(chunks.map(\.id))
        let ordinals = b.bind(chunks.map(\.ordinal))
        let starts = b.bind(chunks.map(\.charStart))
        let ends = b.bind(chunks.map(\.charEnd))
        let tokens = b.bind(chunks.map(\.tokenCount))
        let shas = b.bind(chunks.map(\.sha256))
        let sections = b.bind(chunks.map { JSONValue.array($0.section.map { .string($0) }).serialized() })
        let metadata = b.bind(chunkMetadata)
        let texts = b.bind(chunks.map(\.text))
        let searchTexts = b.bind(chunks.map { KeywordTokenizer.tokens($0.text).joined(separator: " ") })
        // All vectors of the document in one binary float4[]; each row takes its slice (offset -1: none).
        var flat: [Float] = []
        var offsets: [Int] = []
        for chunk in chunks {
            if let e = chunk.embedding {
                offsets.append(flat.count)
                flat.append(contentsOf: e)
            } else {
                offsets.append(-1)
            }
        }
        let vectorOffsets = b.bind(offsets)
        let vectors = b.bind(flat)
        let dim = c.info.identity.dimension
        _ = try await rows(connection, """
            INSERT INTO \(schema).chunks (collection_id, id, tenant_id, document_id, generation, ordinal, char_start, char_end, token_count,
                                          sha256, section, metadata, text_search_config, text, search_text, embedding)
            SELECT \(b.bind(c.id)), u.id, \(b.bind(c.info.ref.tenant)), \(b.bind(document.id)), \(b.bind(c.info.generation)), u.ordinal,
                   u.char_start, u.char_end, u.token_count, u.sha256, u.section::jsonb, u.metadata::jsonb,
                   \(b.bind(c.textSearchConfig))::regconfig, u.text, u.search_text,
                   CASE WHEN u.vector_offset < 0 THEN NULL ELSE (\(vectors)::float4[])[u.vector_offset + 1 : u.vector_offset + \(dim)]::vector END
            FROM UNNEST(\(ids)::text[], \(ordinals)::int8[], \(starts)::int8[], \(ends)::int8[], \(tokens)::int8[], \(shas)::text[],
                        \(sections)::text[], \(metadata)::text[], \(texts)::text[], \(searchTexts)::text[], \(vectorOffsets)::int8[])
                 AS u(id, ordinal, char_start, char_end, token_count, sha256, section, metadata, text, search_text, vector_offset)
            """, b)
        return old == nil ? .added : .updated
    }

    public func deleteDocument(id: String, in ref: CollectionRef) async throws -> Bool {
        try await inTenant(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            var b = BoundSQL()
            return !(try await self.rows(connection, "DELETE FROM \(self.schema).documents WHERE collection_id = \(b.bind(c.id)) AND id = \(b.bind(id)) RETURNING id", b)).isEmpty
        }
    }

    static let documentColumns = "id, source_uri, sha256, fingerprint, version, mime, size, chunk_count, metadata::text AS metadata, created_at, updated_at"

    static func documentInfo(_ r: PostgresRandomAccessRow) throws -> DocumentInfo {
        DocumentInfo(
            id: try r["id"].decode(String.self), sourceURI: try r["source_uri"].decode(String.self), sha256: try r["sha256"].decode(String.self),
            fingerprint: try r["fingerprint"].decode(String.self), version: try r["version"].decode(Int.self), mime: try r["mime"].decode(String.self),
            size: try r["size"].decode(Int.self), chunkCount: try r["chunk_count"].decode(Int.self),
            metadata: try Metadata.parse(json: r["metadata"].decode(String.self)),
            createdAt: try r["created_at"].decode(Date.self), updatedAt: try r["updated_at"].decode(Date.self))
    }

    public func documents(in ref: CollectionRef) async throws -> [DocumentInfo] {
        try await inTenant(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            var b = BoundSQL()
            return try await self.rows(connection, "SELECT \(Self.documentColumns) FROM \(self.schema).documents WHERE collection_id = \(b.bind(c.id)) ORDER BY source_uri COLLATE \"C\"", b).map(Self.documentInfo)
        }
    }

    public func document(id: String, in ref: CollectionRef) async throws -> (info: DocumentInfo, text: String)? {
        try await inTenant(ref.tenant) { connection -> (info: DocumentInfo, text: String)? in
            let c = try await self.requireCollection(connection, ref)
            var b = BoundSQL()
            guard let r = try await self.rows(connection, "SELECT \(Self.documentColumns), text FROM \(self.schema).documents WHERE collection_id = \(b.bind(c.id)) AND id = \(b.bind(id))", b).first else {
                return nil
            }
            return (try Self.documentInfo(r), try r["text"].decode(String.self))
        }
    }

    func fetchChunks(_ connection: PostgresConnection, collectionID: Int64, ids: [String]) async throws -> [StoredChunk] {
        guard !ids.isEmpty else { return [] }
        var b = BoundSQL()
        let rows = try await rows(connection, """
            SELECT c.id, c.document_id, d.source_uri, d.sha256 AS document_sha256, c.ordinal, c.text, c.char_start, c.char_end,
                   c.section::text AS section, c.token_count, c.sha256, c.metadata::text AS metadata, c.generation
            FROM \(schema).chunks c JOIN \(schema).documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
            WHERE c.collection_id = \(b.bind(collectionID)) AND c.id = ANY(\(b.bind(ids))::text[])
            """, b)
        var byID: [String: StoredChunk] = [:]
        for r in rows {
            var section: [String] = []
            if case .array(let items) = try JSONValue.parse(r["section"].decode(String.self)) {
                section = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
            let chunk = StoredChunk(
                id: try r["id"].decode(String.self), documentID: try r["document_id"].decode(String.self), sourceURI: try r["source_uri"].decode(String.self),
                documentSHA256: try r["document_sha256"].decode(String.self), ordinal: try r["ordinal"].decode(Int.self), text: try r["text"].decode(String.self),
                charStart: try r["char_start"].decode(Int.self), charEnd: try r["char_end"].decode(Int.self), section: section,
                tokenCount: try r["token_count"].decode(Int.self), sha256: try r["sha256"].decode(String.self),
                metadata: try Metadata.parse(json: r["metadata"].decode(String.self)), generation: try r["generation"].decode(Int.self))
            byID[chunk.id] = chunk
        }
        return ids.compactMap { byID[$0] }
    }

    public func chunks(ids: [String], in ref: CollectionRef) async throws -> [StoredChunk] {
        try await inTenant(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            return try await self.fetchChunks(connection, collectionID: c.id, ids: ids)
        }
    }

    public func stats(_ ref: CollectionRef) async throws -> CollectionStats {
        try await inTenant(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            var b = BoundSQL()
            let id = b.bind(c.id)
            let r = try await self.rows(connection, """
                SELECT (SELECT count(*) FROM \(self.schema).documents WHERE collection_id = \(id)) AS documents,
                       count(*) AS chunks, count(embedding) AS embedded, coalesce(sum(octet_length(text)), 0) AS bytes
                FROM \(self.schema).chunks WHERE collection_id = \(id)
                """, b)[0]
            return CollectionStats(documents: try r["documents"].decode(Int.self), chunks: try r["chunks"].decode(Int.self),
                                   embeddedChunks: try r["embedded"].decode(Int.self), textBytes: try r["bytes"].decode(Int.self))
        }
    }

    // MARK: Search

    /// The vector ranking, by the cheapest path that is still complete.
    ///
    /// When at most ``Options/exactThreshold`` chunks can match, they are ranked exactly (`exact-scan`).
    /// Otherwise the HNSW index is walked with pgvector's iterative scan (`hnsw`, approximate); if that
    /// returns fewer than `depth` rows while more match (a selective filter the graph walk ran out on),
    /// the rows are ranked exactly instead (`hnsw+exact-fallback`), so a filter never silently shortens
    /// the result.
    func vectorRanking(_ connection: PostgresConnection, _ c: CollectionRow, query q: [Float], filter: Filter?, depth: Int) async throws -> (ranking: [ScoredID], matched: Int, path: String, exhaustive: Bool) {
        let dim = c.info.identity.dimension
        let (_, op) = PostgresVectorStore.operatorClass(c.info.identity.distance)
        var b = BoundSQL()
        let vector = b.bind(q)
        let distance = "(c.embedding::vector(\(dim)) \(op) \(vector)::float4[]::vector(\(dim)))"
        let score: String
        switch c.info.identity.distance {
        case .cosine: score = "1 - \(distance)"
        case .l2, .innerProduct: score = "-\(distance)"
        }
        let filterSQL = try filter.map { try PostgresFilterCompiler(column: "c.metadata").compile($0, into: &b) } ?? "true"
        // Integers from the database, inlined so the partial index predicate visibly matches.
        let from = "FROM \(schema).chunks c WHERE c.collection_id = \(c.id) AND c.generation = \(c.info.generation) AND c.embedding IS NOT NULL AND \(filterSQL)"
        let threshold = options.exactThreshold
        let capped = try await rows(connection, "SELECT count(*) AS n FROM (SELECT 1 \(from) LIMIT \(threshold + 1)) s", b)[0]["n"].decode(Int.self)
        func exact() async throws -> [ScoredID] {
            _ = try await rows(connection, "SET LOCAL enable_indexscan = off")
            let ranked = try await rows(connection, "SELECT c.id, (\(score))::float8 AS score \(from) ORDER BY \(distance), c.id COLLATE \"C\" LIMIT \(depth)", b)
            _ = try await rows(connection, "SET LOCAL enable_indexscan = on")
            return try ranked.map { ScoredID(id: try $0["id"].decode(String.self), score: try $0["score"].decode(Double.self)) }
        }
        let indexed = dim <= PostgresVectorStore.maxIndexedDimension
        if capped <= threshold || !indexed {
            let matched = capped <= threshold ? capped : try await rows(connection, "SELECT count(*) AS n \(from)", b)[0]["n"].decode(Int.self)
            return (try await exact().sorted(by: ScoredID.ranksBefore), matched, "exact-scan", true)
        }
        _ = try await rows(connection, "SET LOCAL hnsw.iterative_scan = relaxed_order")
        _ = try await rows(connection, "SET LOCAL hnsw.ef_search = \(min(1000, max(options.hnswEfSearch, 2 * depth)))")
        _ = try await rows(connection, "SET LOCAL hnsw.max_scan_tuples = \(options.maxScanTuples)")
        let approximate = try await rows(connection, "SELECT c.id, (\(score))::float8 AS score \(from) ORDER BY \(distance) LIMIT \(depth)", b)
        var ranking = try approximate.map { ScoredID(id: try $0["id"].decode(String.self), score: try $0["score"].decode(Double.self)) }
        // relaxed_order may return rows slightly out of order: sort what came back.
        ranking.sort(by: ScoredID.ranksBefore)
        let matched = try await rows(connection, "SELECT count(*) AS n \(from)", b)[0]["n"].decode(Int.self)
        if ranking.count < min(depth, matched) {
            return (try await exact().sorted(by: ScoredID.ranksBefore), matched, "hnsw+exact-fallback", true)
        }
        return (ranking, matched, "hnsw", false)
    }

    public func search(_ request: SearchRequest, in ref: CollectionRef) async throws -> SearchResponse {
        try await inTenant(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            try request.validate(against: c.info.identity)
            let depth = request.mode == .hybrid ? request.effectiveHybridDepth : request.k
            var vectorRanking: [ScoredID]?
            var keywordRanking: [ScoredID]?
            var matched = 0
            var vectorPath = "exact-scan"
            var exhaustive = true
            if request.mode != .keyword, let q = request.vector {
                let result = try await self.vectorRanking(connection, c, query: q, filter: request.filter, depth: depth)
                vectorRanking = result.ranking
                matched = result.matched
                vectorPath = result.path
                exhaustive = result.exhaustive
            }
            if request.mode != .vector, let text = request.text {
                var b = BoundSQL()
                let terms = KeywordTokenizer.queryTerms(text).joined(separator: " | ")
                let query = "to_tsquery(\(b.bind(c.textSearchConfig))::regconfig, \(b.bind(terms)))"
                let filter = try request.filter.map { try PostgresFilterCompiler(column: "c.metadata").compile($0, into: &b) } ?? "true"
                let from = "FROM \(self.schema).chunks c WHERE c.collection_id = \(b.bind(c.id)) AND c.generation = \(b.bind(c.info.generation)) AND c.text_search @@ \(query) AND \(filter)"
                let rows = try await self.rows(connection, "SELECT c.id, ts_rank_cd(c.text_search, \(query))::float8 AS score \(from) ORDER BY score DESC, c.id COLLATE \"C\" LIMIT \(depth)", b)
                keywordRanking = try rows.map { ScoredID(id: try $0["id"].decode(String.self), score: try $0["score"].decode(Double.self)) }
                if request.mode == .keyword {
                    matched = try await self.rows(connection, "SELECT count(*) AS n \(from)", b)[0]["n"].decode(Int.self)
                }
            }
            let ranked = SearchAssembly.rank(mode: request.mode, vector: vectorRanking, keyword: keywordRanking, k: request.k, fusionK: request.fusionK)
            let chunks = try await self.fetchChunks(connection, collectionID: c.id, ids: ranked.map(\.id))
            return SearchResponse(
                hits: SearchAssembly.hits(ranked, chunks: chunks),
                path: SearchAssembly.path(mode: request.mode, vectorPath: vectorPath, keywordPath: "ts_rank_cd"),
                exhaustive: exhaustive, matched: matched)
        }
    }
}
