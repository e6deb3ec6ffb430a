import EngramCore
import Foundation
import PostgresNIO

extension PostgresVectorStore: GenerationalStore {
    /// The lock is a session advisory lock keyed by the schema and the collection id, held on a pooled
    /// connection of its own for as long as `body` runs (so a reindex needs a pool of at least two
    /// connections). The server drops it when that session ends, however the process ends.
    public func withReindexLock<T: Sendable>(_ ref: CollectionRef, _ body: @Sendable () async throws -> T) async throws -> T {
        let c = try await reading(ref.tenant) { try await self.requireCollection($0, ref) }
        let key: PostgresSQL = "hashtext(\(schema + ":reindex")), \(Int32(truncatingIfNeeded: c.id))"
        // The body's own errors pass unchanged; the lock's are described.
        let outcome: Result<T, any Error>
        do {
            outcome = try await client.withConnection { connection in
                let got = try await self.rows(connection, "SELECT pg_try_advisory_lock(\(key)) AS got")[0]["got"].decode(Bool.self)
                guard got else { throw EngramError.reindexRunning(ref) }
                let outcome: Result<T, any Error>
                do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
                _ = try await self.rows(connection, "SELECT pg_advisory_unlock(\(key))")
                return outcome
            }
        } catch {
            throw PostgresStoreConfiguration.describe(error)
        }
        return try outcome.get()
    }

    public func pendingGeneration(_ ref: CollectionRef) async throws -> PendingGeneration? {
        try await reading(ref.tenant) { try await self.requireCollection($0, ref).pending }
    }

    public func beginGeneration(_ ref: CollectionRef, identity: EmbeddingIdentity) async throws -> PendingGeneration {
        try await inTenant(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref, lock: "FOR UPDATE")
            if let pending = c.pending {
                guard pending.identity == identity else { throw EngramError.otherGenerationPending(ref, pending: pending.identity, requested: identity) }
                return pending
            }
            guard identity != c.info.identity else { throw EngramError.alreadyEmbedded(ref, identity: identity) }
            let pending = PendingGeneration(generation: c.info.generation + 1, identity: identity)
            _ = try await self.rows(connection, "DELETE FROM \(self.schemaName).chunks WHERE collection_id = \(c.id) AND generation = \(pending.generation)")
            _ = try await self.rows(connection, """
                UPDATE \(self.schemaName).collections SET pending_generation = \(pending.generation), pending_identity = \(try MemoryRules.storedJSON(identity))
                WHERE id = \(c.id)
                """)
            return pending
        }
    }

    func pendingCollection(_ connection: PostgresConnection, _ ref: CollectionRef, generation: Int, lock: String = "") async throws -> (CollectionRow, PendingGeneration) {
        let c = try await requireCollection(connection, ref, lock: lock)
        guard let pending = c.pending, pending.generation == generation else {
            throw EngramError(.notFound, "collection '\(ref.name)' has no pending generation \(generation)")
        }
        return (c, pending)
    }

    /// The condition that active chunk `a` has a copy in generation `generation` (same id, same text).
    func hasCopy(generation: Int) -> PostgresSQL {
        "EXISTS (SELECT 1 FROM \(schemaName).chunks p WHERE p.collection_id = a.collection_id AND p.generation = \(generation) AND p.id = a.id AND p.sha256 = a.sha256)"
    }

    public func chunksToEmbed(_ ref: CollectionRef, generation: Int, after: String?, limit: Int) async throws -> [ChunkToEmbed] {
        try await reading(ref.tenant) { connection in
            let (c, _) = try await self.pendingCollection(connection, ref, generation: generation)
            let cursor: PostgresSQL = after.map { "AND a.id > \($0)" } ?? ""
            // Ordered like the primary key, so each page continues a range scan of it.
            return try await self.rows(connection, """
                SELECT a.id, a.sha256, a.text FROM \(self.schemaName).chunks a
                WHERE a.collection_id = \(c.id) AND a.generation = \(c.info.generation) \(cursor)
                  AND NOT \(self.hasCopy(generation: generation))
                ORDER BY a.id LIMIT \(max(0, limit))
                """).map { ChunkToEmbed(id: try $0["id"].decode(String.self), sha256: try $0["sha256"].decode(String.self), text: try $0["text"].decode(String.self)) }
        }
    }

    public func writeGeneration(_ ref: CollectionRef, generation: Int, vectors: [GenerationVector]) async throws -> Int {
        let types = try await vectorTypes()
        return try await inTenant(ref.tenant) { connection in
            let (c, pending) = try await self.pendingCollection(connection, ref, generation: generation)
            for v in vectors { try pending.identity.validate(vector: v.embedding, context: "chunk \(v.chunkID)") }
            guard !vectors.isEmpty else { return 0 }
            // Copies of the active rows (text search vector included) with the new vectors, matched by id and text hash.
            return try await self.rows(connection, """
                INSERT INTO \(self.schemaName).chunks (collection_id, id, tenant_id, document_id, generation, ordinal, char_start, char_end, token_count,
                                                   sha256, section, metadata, text_search_config, text, text_search, embedding)
                SELECT a.collection_id, a.id, a.tenant_id, a.document_id, \(generation), a.ordinal, a.char_start, a.char_end, a.token_count,
                       a.sha256, a.section, a.metadata, a.text_search_config, a.text, a.text_search, u.embedding
                FROM UNNEST(\(vectors.map(\.chunkID))::text[], \(vectors.map(\.sha256))::text[],
                            \(PGVectorArray(vectors.map(\.embedding), types: types))) AS u(id, sha256, embedding)
                JOIN \(self.schemaName).chunks a ON a.collection_id = \(c.id) AND a.generation = \(c.info.generation) AND a.id = u.id AND a.sha256 = u.sha256
                ON CONFLICT (collection_id, generation, id) DO UPDATE SET sha256 = excluded.sha256, ordinal = excluded.ordinal,
                    char_start = excluded.char_start, char_end = excluded.char_end, token_count = excluded.token_count, section = excluded.section,
                    metadata = excluded.metadata, text = excluded.text, text_search = excluded.text_search, embedding = excluded.embedding
                RETURNING 1
                """).count
        }
    }

    public func generationProgress(_ ref: CollectionRef, generation: Int) async throws -> GenerationProgress {
        try await reading(ref.tenant) { connection in
            let (c, _) = try await self.pendingCollection(connection, ref, generation: generation)
            return try await self.progress(connection, c, generation: generation)
        }
    }

    /// Active chunks of `c`, and how many have a copy in `generation`.
    func progress(_ connection: PostgresConnection, _ c: CollectionRow, generation: Int) async throws -> GenerationProgress {
        let r = try await rows(connection, """
            SELECT count(*) AS n, count(*) FILTER (WHERE \(hasCopy(generation: generation))) AS copied
            FROM \(schemaName).chunks a WHERE a.collection_id = \(c.id) AND a.generation = \(c.info.generation)
            """)[0]
        return GenerationProgress(chunks: try r["n"].decode(Int.self), copied: try r["copied"].decode(Int.self))
    }

    /// Builds the generation's vector index first (concurrently, outside the switch), then switches in a
    /// transaction that locks the collection row: writers hold it shared while they write, so the switch
    /// waits for those running and those after it see the new identity.
    public func activateGeneration(_ ref: CollectionRef, generation: Int) async throws -> Bool {
        try await buildIndexes(ref, minimumRows: options.exactThreshold, generation: generation)
        let switched = try await inTenant(ref.tenant) { connection in
            let (c, pending) = try await self.pendingCollection(connection, ref, generation: generation, lock: "FOR UPDATE")
            let missing = try await self.rows(connection, """
                SELECT count(*) AS n FROM \(self.schemaName).chunks a
                WHERE a.collection_id = \(c.id) AND a.generation = \(c.info.generation) AND NOT \(self.hasCopy(generation: generation))
                """)[0]["n"].decode(Int.self)
            guard missing == 0 else { return false }
            let identity = pending.identity
            _ = try await self.rows(connection, """
                UPDATE \(self.schemaName).collections SET model = \(identity.model), revision = \(identity.revision),
                    dimension = \(identity.dimension), distance = \(identity.distance.rawValue), normalized = \(identity.normalized),
                    active_generation = \(generation), pending_generation = NULL, pending_identity = NULL
                WHERE id = \(c.id)
                """)
            return true
        }
        if switched { remember(ref, nil) }
        return switched
    }

    public func dropInactiveGenerations(_ ref: CollectionRef) async throws -> Int {
        let (c, deleted) = try await inTenant(ref.tenant) { connection in
            let c = try await self.requireCollection(connection, ref)
            let deleted = try await self.rows(connection, """
                WITH gone AS (DELETE FROM \(self.schemaName).chunks WHERE collection_id = \(c.id)
                              AND generation <> \(c.info.generation) AND generation <> \(c.pending?.generation ?? c.info.generation) RETURNING 1)
                SELECT count(*) AS n FROM gone
                """)[0]["n"].decode(Int.self)
            return (c, deleted)
        }
        try await dropIndexes(c, keeping: [c.info.generation] + (c.pending.map { [$0.generation] } ?? []))
        return deleted
    }

    /// Drops the vector indexes of the collection's other generations. A role that may not (it does not
    /// own the table) leaves them: they hold no rows any more.
    func dropIndexes(_ c: CollectionRow, keeping: [Int]) async throws {
        do {
            try await client.withConnection { connection in
                let keep = Set(keeping.flatMap { [self.indexName(collectionID: c.id, generation: $0), self.keywordIndexName(collectionID: c.id, generation: $0)] })
                for prefix in ["\(self.indexNamePrefix)\(c.id)_g", "\(Self.keywordIndexPrefix)\(c.id)_g"] {
                    let names = try await self.rows(connection, """
                        SELECT indexname FROM pg_catalog.pg_indexes WHERE schemaname = \(self.schema) AND tablename = 'chunks'
                          AND starts_with(indexname, \(prefix))
                        """).map { try $0["indexname"].decode(String.self) }
                    // Names come from the catalog and match Engram's own pattern (integers only).
                    for name in names where !keep.contains(name) && Int(name.dropFirst(prefix.count)) != nil {
                        _ = try await self.rows(connection, "DROP INDEX CONCURRENTLY IF EXISTS \(self.schemaName).\(SQLIdentifier(trusted: name))")
                    }
                }
            }
        } catch {
            if Self.sqlState(error) == "42501" {
                logger.warning("cannot drop an old generation's vector index", metadata: ["error": "\(PostgresStoreConfiguration.describe(error).message)"])
                return
            }
            throw PostgresStoreConfiguration.describe(error)
        }
    }

    public func abandonGeneration(_ ref: CollectionRef) async throws -> Bool {
        let c = try await inTenant(ref.tenant) { connection -> CollectionRow? in
            let c = try await self.requireCollection(connection, ref, lock: "FOR UPDATE")
            guard let pending = c.pending else { return nil }
            _ = try await self.rows(connection, "DELETE FROM \(self.schemaName).chunks WHERE collection_id = \(c.id) AND generation = \(pending.generation)")
            _ = try await self.rows(connection, "UPDATE \(self.schemaName).collections SET pending_generation = NULL, pending_identity = NULL WHERE id = \(c.id)")
            return c
        }
        guard let c else { return false }
        try await dropIndexes(c, keeping: [c.info.generation])
        return true
    }
}
