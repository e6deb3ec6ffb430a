import EngramCore
import EngramPipeline
import EngramSQLite
import EngramTesting
import Foundation
import GRDB
import Testing

@Suite("SQLite store")
struct SQLiteStoreTests {
    let fx = Fixtures()

    /// A document's chunks are read through the document index, never by scanning the generation (the
    /// planner chose the (collection, generation) index, which made re-ingestion quadratic).
    @Test func perDocumentChunkQueriesUseTheDocumentIndex() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteVectorStore(path: path)
        try await fx.load(store, [("mem://a", "text", [:])])
        let plans = try await DatabaseQueue(path: path).read { db in
            try [SQLiteVectorStore.documentChunks(1, "doc", 1), SQLiteVectorStore.documentChunkRows(1, "doc", 1), SQLiteVectorStore.documentChunkFacts(1, "doc", 1)].map { sql in
                try Row.fetchAll(db, SQLRequest<Row>(literal: "EXPLAIN QUERY PLAN \(sql)")).map { $0["detail"] as String }.joined(separator: "; ")
            }
        }
        for plan in plans { #expect(plan.contains("chunks_by_document") && !plan.contains("chunks_by_generation"), "\(plan)") }
    }

    @Test func migrationsAreRecordedAndReopeningIsIdempotent() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteVectorStore(path: path)
        #expect(try await store.appliedMigrations() == ["v1_documents_chunks", "v2_memories", "v3_chunk_generations", "v4_memories_in_tenant_order", "v5_pending_erasure", "v6_memory_event_origin", "v7_runs", "v8_api_keys"])
        try await fx.load(store, [("mem://a", "text", [:])])
        let reopened = try SQLiteVectorStore(path: path)
        #expect(try await reopened.appliedMigrations() == ["v1_documents_chunks", "v2_memories", "v3_chunk_generations", "v4_memories_in_tenant_order", "v5_pending_erasure", "v6_memory_event_origin", "v7_runs", "v8_api_keys"])
        #expect(try await reopened.stats(fx.ref).documents == 1)
        #expect(reopened.descriptor.schemaVersion == 8, "the schema version is the number of migrations")
        let journal = try await DatabaseQueue(path: path).read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
    }

    @Test func anotherConnectionSeesWritesImmediately() async throws {
        let path = temporaryStorePath()
        let writer = try SQLiteVectorStore(path: path)
        let reader = try SQLiteVectorStore(path: path)
        try await fx.load(writer, [("mem://a", "apples and pears", [:])])
        let first = try await reader.search(SearchRequest(mode: .vector, vector: fx.query("bananas"), k: 5), in: fx.ref)
        #expect(first.hits.count == 1)
        let (d, c) = fx.document("mem://b", "bananas")
        _ = try await writer.upsert(document: d, chunks: c, identity: fx.identity, in: fx.ref)
        let second = try await reader.search(SearchRequest(mode: .vector, vector: fx.query("bananas"), k: 5), in: fx.ref)
        #expect(second.hits.first?.chunk.sourceURI == "mem://b", "the reader's vector cache is refreshed")
        _ = try await writer.deleteDocument(id: d.id, in: fx.ref)
        let third = try await reader.search(SearchRequest(mode: .vector, vector: fx.query("bananas"), k: 5), in: fx.ref)
        #expect(third.hits.map(\.chunk.sourceURI) == ["mem://a"])
    }

    @Test func concurrentReadersDuringWrites() async throws {
        let store = try SQLiteVectorStore(path: temporaryStorePath())
        try await fx.load(store, (0..<50).map { ("mem://\($0)", "document number \($0) about things", ["n": .int(Int64($0))]) })
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for i in 50..<100 {
                    let (d, c) = fx.document("mem://\(i)", "document number \(i) about things", metadata: ["n": .int(Int64(i))])
                    _ = try await store.upsert(document: d, chunks: c, identity: fx.identity, in: fx.ref)
                }
                return 0
            }
            for r in 0..<6 {
                group.addTask {
                    var seen = 0
                    for _ in 0..<30 {
                        let res = try await store.search(SearchRequest(mode: r % 2 == 0 ? .vector : .hybrid, text: "document things", vector: fx.query("document things"), filter: .compare("n", .lt, .int(50)), k: 10), in: fx.ref)
                        #expect(res.hits.count == 10)
                        #expect(res.hits.allSatisfy { if case .int(let n) = $0.chunk.metadata["n"] { n < 50 } else { false } })
                        seen += res.hits.count
                    }
                    return seen
                }
            }
            for try await _ in group {}
        }
        #expect(try await store.stats(fx.ref).documents == 100)
    }

    @Test func searchCacheRefreshesIncrementallyAndMatchesAColdLoad() async throws {
        let path = temporaryStorePath()
        let warm = try SQLiteVectorStore(path: path)
        try await fx.load(warm, (0..<40).map { ("mem://\($0)", "note \($0) about topic \($0 % 7)\n\nsecond paragraph \($0)", ["n": .int(Int64($0))]) })
        let queries = ["topic 3", "second paragraph", "note about"].map(fx.query)
        _ = try await warm.search(SearchRequest(mode: .vector, vector: queries[0], k: 5), in: fx.ref)
        // Changes after the cache was loaded: replace, delete the newest document (its rowids are the
        // largest, which plain rowids would reuse), add new ones.
        let (r, rc) = fx.document("mem://5", "replaced text on topic 3", metadata: ["n": .int(500)])
        _ = try await warm.upsert(document: r, chunks: rc, identity: fx.identity, in: fx.ref)
        _ = try await warm.deleteDocument(id: DocumentRecord.makeID(ref: fx.ref, sourceURI: "mem://5"), in: fx.ref)
        _ = try await warm.upsert(document: r, chunks: rc, identity: fx.identity, in: fx.ref)
        _ = try await warm.deleteDocument(id: DocumentRecord.makeID(ref: fx.ref, sourceURI: "mem://5"), in: fx.ref)
        for i in 40..<44 {
            let (d, c) = fx.document("mem://\(i)", "fresh note \(i) on topic 3", metadata: ["n": .int(Int64(i))])
            _ = try await warm.upsert(document: d, chunks: c, identity: fx.identity, in: fx.ref)
        }
        let cold = try SQLiteVectorStore(path: path)
        for q in queries {
            for filter in [nil, Filter.compare("n", .gte, .int(30))] {
                let request = SearchRequest(mode: .hybrid, text: "topic note", vector: q, filter: filter, k: 12)
                let a = try await warm.search(request, in: fx.ref)
                let b = try await cold.search(request, in: fx.ref)
                #expect(a.hits.map(\.chunk.id) == b.hits.map(\.chunk.id))
                #expect(a.hits.map(\.chunk.text) == b.hits.map(\.chunk.text))
                #expect(a.matched == b.matched)
            }
        }
        let all = try await warm.search(SearchRequest(mode: .vector, vector: queries[0], k: 100), in: fx.ref)
        let chunkCount = try await warm.stats(fx.ref).chunks
        #expect(all.hits.count == chunkCount)
        #expect(!all.hits.contains { $0.chunk.sourceURI == "mem://5" })
    }

    @Test func deletedTextLeavesTheFullTextIndex() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteVectorStore(path: path)
        try await fx.load(store, [("mem://a", "uniqueword appears here", [:]), ("mem://b", "other text", [:])])
        _ = try await store.deleteDocument(id: DocumentRecord.makeID(ref: fx.ref, sourceURI: "mem://a"), in: fx.ref)
        let counts = try await DatabaseQueue(path: path).read { db -> (Int, Int) in
            let fts = try String.fetchOne(db, sql: "SELECT name FROM sqlite_master WHERE name LIKE 'fts_%' AND type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")!
            let hits = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(fts) WHERE \(fts) MATCH 'uniqueword'")!
            let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM chunks WHERE text LIKE '%uniqueword%'")!
            return (hits, rows)
        }
        #expect(counts.0 == 0 && counts.1 == 0)
        #expect(try await store.deleteCollection(fx.ref))
        let tables = try await DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE name LIKE 'fts_%'") }
        #expect(tables.isEmpty, "dropping the collection drops its full-text index")
    }
}

@Suite("SQLite filter compiled to SQL")
struct SQLiteFilterSQLTests {
    /// A fresh store has no cache, so keyword searches take the SQL path; each filter expectation of the
    /// conformance suite runs on its own fresh store to keep it that way.
    @Test func everyFilterExpectationHoldsThroughTheSQLPath() async throws {
        let fx = Fixtures()
        let path = temporaryStorePath()
        try await fx.load(try SQLiteVectorStore(path: path), VectorStoreConformance.filterCorpus)
        for (text, expected) in VectorStoreConformance.filterExpectations {
            let cold = try SQLiteVectorStore(path: path)
            let result = try await cold.search(SearchRequest(mode: .keyword, text: "document", filter: try Filter.parseAny(text), k: 50), in: fx.ref)
            #expect(Set(result.hits.map(\.chunk.sourceURI)) == expected, "\(text)")
            #expect(result.matched == expected.count, "\(text)")
        }
    }
}
