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
            var item = item(i, v)
            item.document.metadata = ["group": .string(i % 200 == 0 ? "rare" : (i % 13 == 0 ? "medium" : "common"))]
            batch.append(item)
            vectors[item.chunks[0].id] = v
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
            // Planner statistics as autovacuum would leave them, so the plans do not depend on its timing.
            try await client.query(PostgresQuery(unsafeSQL: "ANALYZE \(config.schema).chunks"))
            var rng = SplitMix64(seed: 99)
            let q = (0..<32).map { _ in Float(rng.nextDouble() * 2 - 1) }
            func cosine(_ v: [Float]) -> Double {
                let dot = zip(q, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let nq = q.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot(), nv = v.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
                return dot / (nq * nv)
            }

            // Unfiltered: the HNSW index answers, approximately; recall against the exact top 10 is high.
            let approximate = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, k: 10), in: Self.ref)
            #expect(approximate.path == .index("hnsw"))
            #expect(!approximate.exhaustive)
            #expect(approximate.hits.count == 10)
            let exactTop = Set(vectors.sorted { cosine($0.value) > cosine($1.value) }.prefix(10).map(\.key))
            let recall = Double(Set(approximate.hits.map(\.chunk.id)).intersection(exactTop).count) / 10
            #expect(recall >= 0.8, "recall@10 \(recall)")
            // The index walk returns its chunks in the same statement: they equal a separate fetch.
            let fetched = try await store.chunks(ids: approximate.hits.map(\.chunk.id), in: Self.ref)
            #expect(approximate.hits.map(\.chunk) == fetched)
            #expect(approximate.hits.map(\.chunk.sourceURI).allSatisfy { $0.hasPrefix("mem://") })

            // A 0.5% filter: the index walk gives up after about 40 tuples with too few matches (plain HNSW
            // would return none here), so the matching rows are ranked exactly instead.
            let rare = try Filter.parse(#"group == "rare""#)
            let filtered = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, filter: rare, k: 10), in: Self.ref)
            #expect(filtered.path == .indexThenExact("hnsw"))
            #expect(filtered.exhaustive)
            #expect(filtered.matched == 10)
            let rareIDs = (0..<2000).filter { $0 % 200 == 0 }.map { ChunkRecord.makeID(documentID: DocumentRecord.makeID(ref: Self.ref, sourceURI: "mem://\($0)"), ordinal: 0) }
            let expected = rareIDs.sorted { cosine(vectors[$0]!) > cosine(vectors[$1]!) }
            #expect(filtered.hits.map(\.chunk.id) == expected, "all ten matching chunks, in exact order")

            // With the default threshold, ten matching rows are ranked exactly at once.
            let defaults = try PostgresVectorStore(client: client, schema: config.schema)
            let direct = try await defaults.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, filter: rare, k: 10), in: Self.ref)
            #expect(direct.path == .exactScan && direct.exhaustive)
            #expect(direct.hits.map(\.chunk.id) == expected)

            // About 150 matching rows: collected and ranked in the same scan, the exact top 10 in order.
            let medium = try Filter.parse(#"group == "medium""#)
            let mediumIDs = (0..<2000).filter { $0 % 200 != 0 && $0 % 13 == 0 }.map { ChunkRecord.makeID(documentID: DocumentRecord.makeID(ref: Self.ref, sourceURI: "mem://\($0)"), ordinal: 0) }
            let mediumResult = try await defaults.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, filter: medium, k: 10), in: Self.ref)
            #expect(mediumResult.path == .exactScan && mediumResult.exhaustive && mediumResult.matched == mediumIDs.count)
            #expect(mediumResult.hits.map(\.chunk.id) == Array(mediumIDs.sorted { cosine(vectors[$0]!) > cosine(vectors[$1]!) }.prefix(10)))

            // A filter nothing matches: an exhaustive empty answer.
            let none = try await defaults.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, filter: try Filter.parse(#"group == "absent""#), k: 10), in: Self.ref)
            #expect(none.hits.isEmpty && none.matched == 0 && none.path == .exactScan && none.exhaustive)
        }
    }

    static func indexDefinitions(_ client: PostgresClient, _ schema: String) async throws -> [String] {
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT indexdef FROM pg_indexes WHERE schemaname = '\(schema)' AND (indexname LIKE 'chunks_hnsw_%' OR indexname LIKE 'chunks_ivfflat_%')"))
        var definitions: [String] = []
        for try await d in rows.decode(String.self) { definitions.append(d) }
        return definitions
    }

    @Test func aBulkLoadBuildsTheIndexOnceAtTheEnd() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            var options = PostgresVectorStore.Options()
            options.exactThreshold = 100
            let store = try PostgresVectorStore(client: client, schema: config.schema, options: options)
            _ = try await store.createCollection(Self.ref, identity: Self.identity)
            #expect(try await Self.indexDefinitions(client, config.schema).isEmpty, "no index for an empty collection")

            // Deferred: the rows are written, no index yet, and searches rank exactly meanwhile.
            var rng = SplitMix64(seed: 5)
            let batch = (0..<500).map { i in Self.item(i, (0..<32).map { _ in Float(rng.nextDouble() * 2 - 1) }) }
            _ = try await store.upsert(batch: batch, identity: Self.identity, in: Self.ref, deferIndexing: true)
            #expect(try await Self.indexDefinitions(client, config.schema).isEmpty)
            let q = batch[7].chunks[0].embedding!
            let before = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, k: 5), in: Self.ref)
            #expect(before.path == .exactScan && before.exhaustive && before.hits.first?.chunk.id == batch[7].chunks[0].id)

            try await store.buildIndexes(Self.ref)
            let definitions = try await Self.indexDefinitions(client, config.schema)
            #expect(definitions.count == 1)
            #expect(definitions.first?.contains("USING hnsw") == true && definitions.first?.contains("vector(32)") == true && definitions.first?.contains("vector_cosine_ops") == true)
            #expect(definitions.first?.contains("m='16'") == true && definitions.first?.contains("ef_construction='64'") == true)
            let after = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, k: 5), in: Self.ref)
            #expect(after.path == .index("hnsw") && after.hits.first?.chunk.id == batch[7].chunks[0].id)
            try await store.buildIndexes(Self.ref)
            #expect(try await Self.indexDefinitions(client, config.schema).count == 1, "building again is a no-op")

            // Without deferral, a collection gets its index as soon as it reaches the threshold.
            let other = CollectionRef(tenant: "t", name: "grows")
            _ = try await store.createCollection(other, identity: Self.identity)
            _ = try await store.upsert(batch: Array(batch.prefix(60)).map { Self.item(in: other, $0) }, identity: Self.identity, in: other)
            #expect(try await Self.indexDefinitions(client, config.schema).count == 1, "60 rows: below the threshold")
            _ = try await store.upsert(batch: Array(batch.suffix(60)).map { Self.item(in: other, $0) }, identity: Self.identity, in: other)
            #expect(try await Self.indexDefinitions(client, config.schema).count == 2, "120 rows: indexed")
        }
    }

    @Test func ivfflatIsAnOption() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            var options = PostgresVectorStore.Options()
            options.exactThreshold = 100
            options.indexType = .ivfflat
            options.ivfflatProbes = 2
            let store = try PostgresVectorStore(client: client, schema: config.schema, options: options)
            #expect(store.descriptor.indexParameters["index"] == "ivfflat" && store.descriptor.indexParameters["probes"] == "2")
            let vectors = try await Self.load(store)
            let definitions = try await Self.indexDefinitions(client, config.schema)
            #expect(definitions.count == 1)
            #expect(definitions.first?.contains("USING ivfflat") == true && definitions.first?.contains("lists='2'") == true, "2,000 rows: 2 lists")
            let (id, q) = vectors.first!
            let r = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, k: 10), in: Self.ref)
            #expect(r.path == .index("ivfflat") && !r.exhaustive && r.hits.count == 10)
            #expect(r.hits.first?.chunk.id == id, "a stored vector finds itself")
            // A filter matching 10 rows (at most the threshold) is ranked exactly.
            let rare = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: Self.identity, filter: try Filter.parse(#"group == "rare""#), k: 10), in: Self.ref)
            #expect(rare.path == .exactScan && rare.hits.count == 10)
        }
    }

    @Test func theTextSearchConfigurationIsConfigurable() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            var english = PostgresVectorStore.Options()
            english.textSearchConfig = "english"
            let stemmed = try PostgresVectorStore(client: client, schema: config.schema, options: english)
            let plain = try PostgresVectorStore(client: client, schema: config.schema)
            let text = "The crawler runs nightly over the archives."
            for (store, name) in [(stemmed, "stemmed"), (plain, "plain")] {
                let ref = CollectionRef(tenant: "t", name: name)
                _ = try await store.createCollection(ref, identity: Self.identity)
                let item = Self.item(in: ref, Self.item(0, [Float](repeating: 0.5, count: 32), text: text))
                _ = try await store.upsert(batch: [item], identity: Self.identity, in: ref)
            }
            let query = SearchRequest(mode: .keyword, text: "running archive", k: 5)
            #expect(try await stemmed.search(query, in: CollectionRef(tenant: "t", name: "stemmed")).hits.count == 1, "english stems running/runs and archive/archives")
            #expect(try await plain.search(query, in: CollectionRef(tenant: "t", name: "plain")).hits.isEmpty, "simple does not")
            var unknown = PostgresVectorStore.Options()
            unknown.textSearchConfig = "klingon"
            let bad = try PostgresVectorStore(client: client, schema: config.schema, options: unknown)
            await #expect(throws: EngramError.self) { _ = try await bad.createCollection(CollectionRef(tenant: "t", name: "bad"), identity: Self.identity) }
        }
    }

    /// A store remembers the collection rows it searched, and runs its next search of one without waiting
    /// for the row first. Another process (here: another store with its own memory) can delete, recreate
    /// or index the collection meanwhile; every answer must still come from the collection as it is now.
    @Test func aRememberedCollectionRowNeverOutlivesTheCollection() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            var options = PostgresVectorStore.Options()
            options.exactThreshold = 100
            let a = try PostgresVectorStore(client: client, schema: config.schema, options: options)
            let b = try PostgresVectorStore(client: client, schema: config.schema, options: options)
            let wide = EmbeddingIdentity.external(dimension: 32), narrow = EmbeddingIdentity.external(dimension: 8)
            let oldVector = [Float](repeating: 0.25, count: 32), newVector = [Float](repeating: 0.5, count: 8)
            _ = try await a.createCollection(Self.ref, identity: wide)
            _ = try await a.upsert(batch: [Self.item(0, oldVector, text: "old")], identity: wide, in: Self.ref)
            let first = try await a.search(SearchRequest(mode: .vector, vector: oldVector, vectorIdentity: wide, k: 3), in: Self.ref)
            #expect(first.hits.map(\.chunk.text) == ["old"])

            // Recreated elsewhere with another dimension and other content.
            #expect(try await b.deleteCollection(Self.ref))
            _ = try await b.createCollection(Self.ref, identity: narrow)
            _ = try await b.upsert(batch: [Self.item(1, newVector, text: "new")], identity: narrow, in: Self.ref)
            let second = try await a.search(SearchRequest(mode: .vector, vector: newVector, vectorIdentity: narrow, k: 3), in: Self.ref)
            #expect(second.hits.map(\.chunk.text) == ["new"])
            let keyword = try await a.search(SearchRequest(mode: .keyword, text: "old", k: 3), in: Self.ref)
            #expect(keyword.hits.isEmpty, "the deleted collection's text is not found")
            do {
                _ = try await a.search(SearchRequest(mode: .vector, vector: oldVector, vectorIdentity: wide, k: 3), in: Self.ref)
                Issue.record("a 32-d query against the recreated 8-d collection must fail")
            } catch let e as EngramError {
                #expect(e.code != .collectionNotFound && e.message.contains("8"), "\(e)")
            }

            // Indexed elsewhere: the next search walks the index.
            var rng = SplitMix64(seed: 3)
            let many = (2..<202).map { i in Self.item(i, (0..<8).map { _ in Float(rng.nextDouble() * 2 - 1) }, text: "vector \(i)") }
            _ = try await b.upsert(batch: many, identity: narrow, in: Self.ref, deferIndexing: true)
            let exact = try await a.search(SearchRequest(mode: .vector, vector: newVector, vectorIdentity: narrow, k: 3), in: Self.ref)
            #expect(exact.path == .exactScan && exact.hits.first?.chunk.text == "new")
            try await b.buildIndexes(Self.ref)
            let indexed = try await a.search(SearchRequest(mode: .vector, vector: newVector, vectorIdentity: narrow, k: 3), in: Self.ref)
            #expect(indexed.path == .index("hnsw") && indexed.hits.first?.chunk.text == "new")

            // Many searches at once through one pool: each gets the same answer.
            let answers = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<40 {
                    group.addTask { try await a.search(SearchRequest(mode: .vector, vector: newVector, vectorIdentity: narrow, k: 3), in: Self.ref).hits.map(\.chunk.id) }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(answers.count == 40 && Set(answers).count == 1)

            // Deleted elsewhere: not found, not the remembered row.
            #expect(try await b.deleteCollection(Self.ref))
            await #expect(throws: EngramError.self) {
                do { _ = try await a.search(SearchRequest(mode: .vector, vector: newVector, vectorIdentity: narrow, k: 3), in: Self.ref) }
                catch let e as EngramError { #expect(e.code == .collectionNotFound); throw e }
            }
        }
    }

    @Test func doctorReportsPendingMigrationsMissingIndexesAndDamagedChunks() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            _ = try await PostgresMigrator(schema: config.schema, migrations: Array(PostgresSchema.migrations.prefix(1))).migrate(client)
            var options = PostgresVectorStore.Options()
            options.exactThreshold = 100
            let store = try PostgresVectorStore(client: client, schema: config.schema, options: options)
            let pending = try await store.diagnose(tenants: ["t"])
            #expect(pending.findings.map(\.check) == ["schema"] && pending.pendingMigrations.count == PostgresSchema.migrations.count - 1)
            _ = try await PostgresMigrator(schema: config.schema).migrate(client)

            _ = try await store.createCollection(Self.ref, identity: Self.identity)
            var rng = SplitMix64(seed: 8)
            let batch = (0..<150).map { i in Self.item(i, (0..<32).map { _ in Float(rng.nextDouble() * 2 - 1) }) }
            _ = try await store.upsert(batch: batch, identity: Self.identity, in: Self.ref, deferIndexing: true)
            let unindexed = try await store.diagnose(tenants: ["t"])
            #expect(unindexed.findings.map(\.check) == ["index", "index"] && unindexed.documents == 150 && unindexed.chunks == 150)
            #expect(unindexed.findings.map(\.problem).joined().contains("vector index") && unindexed.findings.map(\.problem).joined().contains("keyword index"))
            try await store.buildIndexes(Self.ref)
            #expect(try await store.diagnose(tenants: ["t"]).healthy)

            try await client.withTransaction(logger: .init(label: "test")) { c in
                try await c.query("SELECT set_config('engram.tenant_id', 't', true)", logger: .init(label: "test"))
                try await c.query(PostgresQuery(unsafeSQL: "UPDATE \(config.schema).chunks SET text = 'tampered' WHERE ordinal = 0 AND document_id = '\(batch[3].document.id)'"), logger: .init(label: "test"))
            }
            let damaged = try await store.diagnose(tenants: ["t"])
            #expect(damaged.findings.map(\.check) == ["chunk_text"])
            #expect(damaged.findings.first?.subject.contains("mem://3") == true && damaged.findings.first?.fix.contains("re-ingest") == true)
            #expect(try await store.diagnose(tenants: ["nobody"]).collections == 0, "another tenant sees none of it")
        }
    }

    static func item(_ i: Int, _ v: [Float], text: String? = nil) -> DocumentUpsert {
        item(in: ref, i, v, text: text ?? "vector \(i)")
    }

    static func item(in ref: CollectionRef, _ i: Int, _ v: [Float], text: String) -> DocumentUpsert {
        let source = "mem://\(i)"
        let id = DocumentRecord.makeID(ref: ref, sourceURI: source)
        let doc = DocumentRecord(id: id, sourceURI: source, sha256: SHA256Hex.hash(text), fingerprint: "f", mime: "text/plain", size: 0, metadata: [:], text: text)
        let chunk = ChunkRecord(id: ChunkRecord.makeID(documentID: id, ordinal: 0), ordinal: 0, text: text, charStart: 0, charEnd: text.unicodeScalars.count, section: [], tokenCount: 2, sha256: SHA256Hex.hash(text), embedding: v)
        return DocumentUpsert(document: doc, chunks: [chunk])
    }

    /// The same document and vector, in another collection.
    static func item(in ref: CollectionRef, _ u: DocumentUpsert) -> DocumentUpsert {
        item(in: ref, Int(u.document.sourceURI.dropFirst("mem://".count))!, u.chunks[0].embedding!, text: u.document.text)
    }
}
