import EngramCore
@testable import EngramSQLite
import EngramTesting
import Foundation
import GRDB
import Testing

/// A store at the first shipped schema version, filled the way that version wrote its rows, then opened by
/// this build: it is upgraded to the head, and every document, chunk and search answer is as before. This
/// test stays as the schema grows.
@Suite("SQLite schema upgrades")
struct SQLiteUpgradeTests {
    @Test func aStoreAtTheFirstSchemaVersionUpgradesWithItsData() async throws {
        let path = temporaryStorePath()
        let fx = Fixtures()
        let docs = [("mem://a", "apples grow on trees\n\nthey are red or green"), ("mem://b", "bananas are yellow"), ("mem://c", "cherries are small and red")]
        do {
            let v1 = try DatabasePool(path: path)
            try SQLiteSchema.migrator.migrate(v1, upTo: "v1_documents_chunks")
            try await v1.write { db in
                try db.execute(sql: """
                    INSERT INTO collections (tenant_id, name, model, revision, dimension, distance, normalized, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, '2026-01-01T00:00:00.000Z')
                    """, arguments: [fx.ref.tenant, fx.ref.name, fx.identity.model, fx.identity.revision, fx.identity.dimension, fx.identity.distance.rawValue, fx.identity.normalized])
                let collection = db.lastInsertedRowID
                try SQLiteSchema.createFTS(db, collectionID: collection)
                for (source, text) in docs {
                    let (d, chunks) = fx.document(source, text)
                    try db.execute(sql: """
                        INSERT INTO documents (collection_id, id, tenant_id, source_uri, sha256, fingerprint, version, mime, size, chunk_count, metadata, text, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, '{}', ?, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')
                        """, arguments: [collection, d.id, fx.ref.tenant, d.sourceURI, d.sha256, d.fingerprint, d.mime, d.size, chunks.count, d.text])
                    for c in chunks {
                        try db.execute(sql: """
                            INSERT INTO chunks (collection_id, id, tenant_id, document_id, generation, ordinal, text, char_start, char_end, section, token_count, sha256, metadata, embedding)
                            VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, '[]', ?, ?, '{}', ?)
                            """, arguments: [collection, c.id, fx.ref.tenant, d.id, c.ordinal, c.text, c.charStart, c.charEnd, c.tokenCount, c.sha256,
                                             c.embedding!.withUnsafeBufferPointer { Data(buffer: $0) }])
                        try db.execute(literal: "INSERT INTO \(SQLiteSchema.ftsTable(collection)) (rowid, text) VALUES (\(db.lastInsertedRowID), \(c.text))")
                    }
                }
            }
            // A replaced document: the rowid sequence runs ahead of the rows left.
            try await v1.write { db in
                try db.execute(sql: "INSERT INTO chunks (collection_id, id, tenant_id, document_id, generation, ordinal, text, char_start, char_end, section, token_count, sha256, metadata) SELECT collection_id, 'chk_gone', tenant_id, document_id, 1, 99, 'x', 0, 1, '[]', 1, 'x', '{}' FROM chunks LIMIT 1")
                try db.execute(sql: "DELETE FROM chunks WHERE id = 'chk_gone'")
            }
            #expect(try await v1.read { db in try SQLiteSchema.migrator.appliedMigrations(db) } == ["v1_documents_chunks"])
        }
        let sequenceBefore = try await DatabaseQueue(path: path).read { db in try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'chunks'") } ?? 0
        #expect(sequenceBefore == 5, "four chunks and a deleted one")

        // This build opens it: upgraded to the head, nothing lost.
        let store = try SQLiteVectorStore(path: path)
        #expect(try await store.appliedMigrations() == SQLiteVectorStore.knownMigrations)
        let stats = try await store.stats(fx.ref)
        #expect(stats.documents == 3 && stats.chunks == 4 && stats.embeddedChunks == 4)
        for (source, text) in docs {
            #expect(try await store.document(sourceURI: source, in: fx.ref)?.text == text)
        }
        let vector = try await store.search(SearchRequest(mode: .vector, vector: fx.query("bananas are yellow"), vectorIdentity: fx.identity, k: 1), in: fx.ref)
        #expect(vector.hits.first?.chunk.sourceURI == "mem://b")
        let keyword = try await store.search(SearchRequest(mode: .keyword, text: "red", k: 5), in: fx.ref)
        #expect(Set(keyword.hits.map(\.chunk.sourceURI)) == ["mem://a", "mem://c"])
        // Writes and the tables added since work on the upgraded file; rowids are never handed out twice.
        try await fx.load(store, [("mem://d", "dates are sweet", [:])])
        #expect(try await store.stats(fx.ref).documents == 4)
        let newRowID = try await DatabaseQueue(path: path).read { db in try Int64.fetchOne(db, sql: "SELECT rowid FROM chunks WHERE text = 'dates are sweet'") }
        #expect(newRowID == sequenceBefore + 1)
        // A chunk id may now exist in two generations (a reindex).
        let next = HashEmbedder(dimension: 8)
        let pending = try await store.beginGeneration(fx.ref, identity: next.identity)
        var todo: [ChunkToEmbed] = []
        var after: String?
        repeat {
            let page = try await store.chunksToEmbed(fx.ref, generation: pending.generation, after: after, limit: 2)
            todo += page
            after = page.last?.id
        } while after != nil
        #expect(todo.count == 5)
        let written = try await store.writeGeneration(fx.ref, generation: pending.generation, vectors: todo.map { GenerationVector(chunkID: $0.id, sha256: $0.sha256, embedding: next.vector(for: $0.text)) })
        #expect(written == 5)
        #expect(try await store.activateGeneration(fx.ref, generation: pending.generation))
        #expect(try await store.search(SearchRequest(mode: .keyword, text: "red", k: 5), in: fx.ref).hits.count == 2)
        let memories = try SQLiteMemoryStore(path: path)
        _ = try await memories.remember(MemoryDraft(tenant: "t1", subject: "u", content: "likes cherries"), actor: "test")
        #expect(try await memories.export(tenant: "t1", subject: nil).map(\.content) == ["likes cherries"])
    }

    /// Memories written before v4_memories_in_tenant_order keep their rowids and are found as before; the
    /// tenant's next memories go to its slot.
    @Test func memoriesWrittenBeforeTenantSlotsStayAndNewOnesGoToTheSlot() async throws {
        let path = temporaryStorePath()
        do {
            let v3 = try DatabasePool(path: path)
            try SQLiteSchema.migrator.migrate(v3, upTo: "v3_chunk_generations")
            try await v3.write { db in
                for (i, content) in ["tea in the morning", "coffee after lunch"].enumerated() {
                    try db.execute(sql: """
                        INSERT INTO memories (id, tenant_id, subject, namespace, kind, content_sha256, importance, retention, legal_hold,
                            created_ms, updated_ms, access_count, provenance, metadata, content)
                        VALUES (?, 't', 'u', 'default', 'fact', ?, 0.5, 'forever', 0, ?, ?, 0, '{"chunkIDs":[]}', '{}', ?)
                        """, arguments: ["mem_00000000000000000000000\(i)", SHA256Hex.hash(content), 1_000 + i, 1_000 + i, content])
                }
            }
        }
        let store = try SQLiteMemoryStore(path: path)
        let fresh = try await store.remember(MemoryDraft(tenant: "t", subject: "u", content: "water all day"), actor: "a").memory
        let again = try await store.remember(MemoryDraft(tenant: "t", subject: "u", content: "tea in the morning"), actor: "a")
        #expect(again.memory.id == "mem_000000000000000000000000", "the memory written before is found and refreshed, not duplicated")
        let rowids = try await DatabaseQueue(path: path).read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT id, rowid FROM memories").map { ($0["id"] as String, $0["rowid"] as Int64) })
        }
        #expect(rowids["mem_000000000000000000000000"] == 1 && rowids["mem_000000000000000000000001"] == 2)
        #expect(rowids[fresh.id] == Int64(4_294_967_297), "slot 1 × 2^32 + 1: the tenant's first slot row")
        let recalled = try await store.recall(RecallQuery(tenant: "t", text: "coffee lunch", limit: 3))
        #expect(recalled.first?.memory.content == "coffee after lunch")
    }
}
