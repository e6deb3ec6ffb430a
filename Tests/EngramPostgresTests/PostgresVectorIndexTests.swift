import EngramCore
import EngramPostgres
import EngramTesting
import PostgresNIO
import Testing

@Suite("PostgreSQL vector index paths", .enabled(if: PostgresTestEnvironment.available))
struct PostgresVectorIndexTests {
    static let ref = CollectionRef(tenant: "t", name: "vectors")
    static let identity = EmbeddingIdentity.external(dimension: 32)

    /// 2,000 random vectors; every 200th chunk is in group "rare" (10 chunks, 0.5%), every 13th of the
    /// others in group "medium" (about 150 chunks).
    static func load(_ store: PostgresVectorStore) async throws -> [String: [Float]] {
        _ = try await store.createCollection(ref, identity: identity)
        var rng = SplitMix64(seed: 11)
        var vectors: [String: [Float]] = [:]
        var batch: [DocumentUpsert] = []
        for i in 0..<2000 {
            let v = (0..<32).map { _ in Float(rng.nextDouble() * 2 - 1) }
            let source = "mem://\(i)", text = "vector \(i)"
            let id = DocumentRecord.makeID(ref: ref, sourceURI: source)
            let doc = DocumentRecord(id: id, sourceURI: source, sha256: SHA256Hex.hash(text), fingerprint: "f", mime: "text/plain", size: 0, metadata: ["group": .string(i % 200 == 0 ? "rare" : (i % 13 == 0 ? "medium" : "common"))], text: text)
            let chunk = ChunkRecord(id: ChunkRecord.makeID(documentID: id, ordinal: 0), ordinal: 0, text: text, charStart: 0, charEnd: text.unicodeScalars.count, section: [], tokenCount: 2, sha256: SHA256Hex.hash(text), embedding: v)
            batch.append(DocumentUpsert(document: doc, chunks: [chunk]))
            vectors[chunk.id] = v
        }
        let results = try await store.upsert(batch: batch, identity: identity, in: ref)
        #expect(results.allSatisfy { (try? $0.get()) == .added })
        return vectors
    }

    @Test func largeCollectionsUseTheIndexAndSelectiveFiltersFallBackToExact() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            var options = PostgresVectorStore.Options()
            options.exactThreshold = 5
            options.maxScanTuples = 40
            options.hnswEfSearch = 10
            let store = try PostgresVectorStore(client: client, schema: config.schema, options: options)
            let vectors = try await Self.load(store)
            var rng = SplitMix64(seed: 99)
            let q = (0..<32).map { _ in Float(rng.nextDouble() * 2 - 1) }
            func cosine(_ v: [Float]) -> Double {
                let dot = zip(q, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let nq = q.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot(), nv = v.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
                return dot / (nq * nv)
            }

            // Unfiltered: the HNSW index answers, approximately; recall against the exact top 10 is high.
            let approximate = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, k: 10), in: Self.ref)
            #expect(approximate.path == "hnsw")
            #expect(!approximate.exhaustive)
            #expect(approximate.hits.count == 10)
            let exactTop = Set(vectors.sorted { cosine($0.value) > cosine($1.value) }.prefix(10).map(\.key))
            let recall = Double(Set(approximate.hits.map(\.chunk.id)).intersection(exactTop).count) / 10
            #expect(recall >= 0.8, "recall@10 \(recall)")

            // A 0.5% filter: the index walk gives up after about 40 tuples with too few matches (plain HNSW
            // would return none here), so the matching rows are ranked exactly instead.
            let rare = try Filter.parse(#"group == "rare""#)
            let filtered = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, filter: rare, k: 10), in: Self.ref)
            #expect(filtered.path == "hnsw+exact-fallback")
            #expect(filtered.exhaustive)
            #expect(filtered.matched == 10)
            let rareIDs = (0..<2000).filter { $0 % 200 == 0 }.map { ChunkRecord.makeID(documentID: DocumentRecord.makeID(ref: Self.ref, sourceURI: "mem://\($0)"), ordinal: 0) }
            let expected = rareIDs.sorted { cosine(vectors[$0]!) > cosine(vectors[$1]!) }
            #expect(filtered.hits.map(\.chunk.id) == expected, "all ten matching chunks, in exact order")

            // With the default threshold, ten matching rows are ranked exactly at once.
            let defaults = try PostgresVectorStore(client: client, schema: config.schema)
            let direct = try await defaults.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, filter: rare, k: 10), in: Self.ref)
            #expect(direct.path == "exact-scan" && direct.exhaustive)
            #expect(direct.hits.map(\.chunk.id) == expected)
        }
    }

    @Test func theIndexExistsPerCollectionGeneration() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let store = try PostgresVectorStore(client: client, schema: config.schema)
            _ = try await store.createCollection(Self.ref, identity: Self.identity)
            let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT indexdef FROM pg_indexes WHERE schemaname = '\(config.schema)' AND indexname LIKE 'chunks_hnsw_%'"))
            var definitions: [String] = []
            for try await d in rows.decode(String.self) { definitions.append(d) }
            #expect(definitions.count == 1)
            #expect(definitions.first?.contains("hnsw") == true && definitions.first?.contains("vector(32)") == true && definitions.first?.contains("vector_cosine_ops") == true)
        }
    }
}
