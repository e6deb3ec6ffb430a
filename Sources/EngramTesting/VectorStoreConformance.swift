import EngramCore
import Foundation

/// One behavioural check that every ``VectorStore`` must pass.
public struct ConformanceCase: Sendable, CustomStringConvertible {
    public let name: String
    let body: @Sendable (any VectorStore) async throws -> Void

    public var description: String { name }

    /// Runs the check against a fresh store.
    public func run(on store: any VectorStore) async throws {
        try await body(store)
    }
}

/// The conformance suite: the reference semantics of Engram's vector stores, run against every backend
/// (`@Test(arguments: VectorStoreConformance.cases)` with a fresh store per case).
public enum VectorStoreConformance {
    public static let cases: [ConformanceCase] = [
        ConformanceCase(name: "collection lifecycle", body: collectionLifecycle),
        ConformanceCase(name: "upsert and read back", body: upsertAndRead),
        ConformanceCase(name: "re-upsert replaces atomically", body: reupsertReplaces),
        ConformanceCase(name: "bad upserts leave the store unchanged", body: badUpsertsChangeNothing),
        ConformanceCase(name: "batch upsert: each document on its own", body: batchUpsert),
        ConformanceCase(name: "delete document", body: deleteDocument),
        ConformanceCase(name: "filter operators, missing keys and mixed types", body: filterOperators),
        ConformanceCase(name: "exactly k under a selective filter", body: exactlyK),
        ConformanceCase(name: "exact nearest neighbours", body: exactNeighbours),
        ConformanceCase(name: "embedding identity and dimension errors", body: embeddingErrors),
        ConformanceCase(name: "keyword ranking", body: keywordRanking),
        ConformanceCase(name: "hybrid fusion order", body: hybridFusion),
        ConformanceCase(name: "tenant separation", body: tenantSeparation),
        ConformanceCase(name: "manifest contents and verification", body: manifestVerification),
        ConformanceCase(name: "unknown collection", body: unknownCollection),
        ConformanceCase(name: "wide and deep filters run to the limits and are refused beyond", body: filterLimits),
    ] + GenerationConformance.cases

    static let fx = Fixtures()

    static func snapshot(_ store: any VectorStore, _ ref: CollectionRef) async throws -> String {
        let docs = try await store.documents(in: ref)
        var parts: [String] = []
        for d in docs {
            let full = try await store.document(id: d.id, in: ref)
            let chunkIDs = (0..<d.chunkCount).map { ChunkRecord.makeID(documentID: d.id, ordinal: $0) }
            let chunks = try await store.chunks(ids: chunkIDs, in: ref)
            parts.append("\(d.sourceURI)|\(d.sha256)|\(d.version)|\(full?.text.count ?? -1)|" + chunks.map { "\($0.id):\($0.sha256)" }.joined(separator: ","))
        }
        let stats = try await store.stats(ref)
        return parts.joined(separator: "\n") + "\n\(stats)"
    }

    static func collectionLifecycle(_ store: any VectorStore) async throws {
        let a = CollectionRef(tenant: "t1", name: "a")
        let info = try await store.createCollection(a, identity: fx.identity)
        try expectEqual(info.ref, a)
        try expectEqual(info.identity, fx.identity)
        let again = try await store.createCollection(a, identity: fx.identity)
        try expectEqual(again.identity, fx.identity, "creating an existing collection with the same identity returns it")
        try await expectError(.collectionExists, "same name, other identity") {
            try await store.createCollection(a, identity: HashEmbedder(dimension: 32).identity)
        }
        _ = try await store.createCollection(CollectionRef(tenant: "t1", name: "b"), identity: .external(dimension: 3))
        _ = try await store.createCollection(CollectionRef(tenant: "t2", name: "a"), identity: fx.identity)
        try expectEqual(try await store.collections(tenant: "t1").map(\.ref.name), ["a", "b"])
        try expectEqual(try await store.collections(tenant: "t2").map(\.ref.name), ["a"])
        try await expectError(.invalidInput, "bad collection name") {
            try await store.createCollection(CollectionRef(tenant: "t1", name: "bad name; DROP"), identity: fx.identity)
        }
        try await expectError(.invalidInput, "overlong collection name") {
            try await store.createCollection(CollectionRef(tenant: "t1", name: String(repeating: "x", count: 129)), identity: fx.identity)
        }
        try expect(try await store.deleteCollection(a), "delete returns true")
        try expect(try await store.collection(a) == nil, "deleted collection is gone")
        try expect(try await !store.deleteCollection(a), "second delete returns false")
        try expect(try await store.collection(CollectionRef(tenant: "t2", name: "a")) != nil, "other tenant's collection of the same name stays")
    }

    static func upsertAndRead(_ store: any VectorStore) async throws {
        let ref = fx.ref
        _ = try await store.createCollection(ref, identity: fx.identity)
        let (doc, chunks) = fx.document("mem://one", "First paragraph about cats.\n\nSecond paragraph about dogs.", metadata: ["lang": .string("en")])
        try expectEqual(try await store.upsert(document: doc, chunks: chunks, identity: fx.identity, in: ref), .added)
        try expectEqual(try await store.upsert(document: doc, chunks: chunks, identity: fx.identity, in: ref), .unchanged)
        let docs = try await store.documents(in: ref)
        try expectEqual(docs.count, 1)
        try expectEqual(docs[0].sourceURI, "mem://one")
        try expectEqual(docs[0].chunkCount, 2)
        try expectEqual(docs[0].version, 1)
        try expectEqual(docs[0].metadata, ["lang": .string("en")])
        let full = try await store.document(id: doc.id, in: ref)
        try expectEqual(full?.text, doc.text)
        let read = try await store.chunks(ids: [chunks[1].id, "chk_missing", chunks[0].id], in: ref)
        try expectEqual(read.map(\.id), [chunks[1].id, chunks[0].id], "chunks come back in the order asked, missing ids left out")
        try expectEqual(read[0].text, "Second paragraph about dogs.")
        try expectEqual(read[0].documentID, doc.id)
        try expectEqual(read[0].documentSHA256, doc.sha256)
        try expectEqual(read[0].metadata["lang"], .string("en"), "document metadata is merged into chunks")
        let scalars = Array(doc.text.unicodeScalars)
        for c in read {
            var v = String.UnicodeScalarView()
            v.append(contentsOf: scalars[c.charStart..<c.charEnd])
            try expectEqual(String(v), c.text, "offsets are provenance")
            try expectEqual(SHA256Hex.hash(c.text), c.sha256)
        }
        let stats = try await store.stats(ref)
        try expectEqual(stats, CollectionStats(documents: 1, chunks: 2, embeddedChunks: 2, textBytes: chunks.reduce(0) { $0 + $1.text.utf8.count }))
    }

    static func reupsertReplaces(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [("mem://d", "alpha one\n\nbravo two\n\ncharlie three", [:])])
        let (d2, c2) = fx.document("mem://d", "alpha one changed\n\ndelta four", metadata: ["v": .int(2)])
        try expectEqual(try await store.upsert(document: d2, chunks: c2, identity: fx.identity, in: ref), .updated)
        let info = try await store.documents(in: ref)
        try expectEqual(info.map(\.version), [2])
        try expectEqual(info.map(\.chunkCount), [2])
        let third = ChunkRecord.makeID(documentID: d2.id, ordinal: 2)
        try expect(try await store.chunks(ids: [third], in: ref).isEmpty, "the old third chunk is gone")
        let kw = try await store.search(SearchRequest(mode: .keyword, text: "charlie bravo", k: 10), in: ref)
        try expect(kw.hits.isEmpty, "old text is no longer found by keyword search, got \(kw.hits.map(\.chunk.text))")
        let vec = try await store.search(SearchRequest(mode: .vector, vector: fx.query("charlie three"), k: 10), in: ref)
        try expectEqual(Set(vec.hits.map(\.chunk.text)), ["alpha one changed", "delta four"])
        try expectEqual(vec.hits.first?.chunk.metadata["v"], .int(2))
        try expectEqual(try await store.stats(ref).chunks, 2)
    }

    static func badUpsertsChangeNothing(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [("mem://keep", "kept text\n\nmore kept text", ["k": .int(1)])])
        let before = try await snapshot(store, ref)
        let (doc, chunks) = fx.document("mem://keep", "replacement text\n\nsecond part")

        var wrongDim = chunks
        wrongDim[1].embedding = [1, 2, 3]
        try await expectError(.embeddingMismatch, "wrong dimension") { try await store.upsert(document: doc, chunks: wrongDim, identity: fx.identity, in: ref) }
        var nan = chunks
        nan[0].embedding![3] = .nan
        try await expectError(.invalidInput, "NaN component") { try await store.upsert(document: doc, chunks: nan, identity: fx.identity, in: ref) }
        var inf = chunks
        inf[1].embedding![0] = .infinity
        try await expectError(.invalidInput, "infinite component") { try await store.upsert(document: doc, chunks: inf, identity: fx.identity, in: ref) }
        try await expectError(.embeddingMismatch, "other identity") {
            try await store.upsert(document: doc, chunks: chunks, identity: EmbeddingIdentity(model: "other", revision: "1", dimension: 64, normalized: true), in: ref)
        }
        var badRange = chunks
        badRange[1].charEnd += 1000
        try await expectError(.invalidInput, "range outside the document") { try await store.upsert(document: doc, chunks: badRange, identity: fx.identity, in: ref) }
        var badText = chunks
        badText[0].text = "not the document's text"
        try await expectError(.invalidInput, "text differs from range") { try await store.upsert(document: doc, chunks: badText, identity: fx.identity, in: ref) }
        try await expectError(.emptyDocument, "no chunks") { try await store.upsert(document: doc, chunks: [], identity: fx.identity, in: ref) }
        var badMeta = doc
        badMeta.metadata = ["bad\"key": .int(1)]
        try await expectError(.invalidInput, "metadata key with a quote") { try await store.upsert(document: badMeta, chunks: chunks, identity: fx.identity, in: ref) }
        var badNumber = doc
        badNumber.metadata = ["x": .double(.nan)]
        try await expectError(.invalidInput, "NaN metadata") { try await store.upsert(document: badNumber, chunks: chunks, identity: fx.identity, in: ref) }
        var foreign = doc
        foreign.id = DocumentRecord.makeID(ref: CollectionRef(tenant: "other", name: "docs"), sourceURI: "mem://keep")
        try await expectError(.invalidInput, "document id of another tenant") { try await store.upsert(document: foreign, chunks: chunks, identity: fx.identity, in: ref) }
        try expectEqual(try await snapshot(store, ref), before, "store is unchanged after refused upserts")
    }

    static func batchUpsert(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [("mem://old", "old text", [:])])
        let good = fx.document("mem://new", "new text\n\nsecond part")
        var bad = fx.document("mem://bad", "bad text")
        bad.1[0].embedding = [1]
        let replaced = fx.document("mem://old", "old text replaced")
        let same = fx.document("mem://new", "new text\n\nsecond part")
        let results = try await store.upsert(batch: [
            DocumentUpsert(document: good.0, chunks: good.1),
            DocumentUpsert(document: bad.0, chunks: bad.1),
            DocumentUpsert(document: replaced.0, chunks: replaced.1),
            DocumentUpsert(document: same.0, chunks: same.1),
        ], identity: fx.identity, in: ref)
        try expectEqual(results.count, 4)
        try expectEqual(try results[0].get(), .added)
        guard case .failure(let e) = results[1] else { throw ConformanceFailure(message: "bad document accepted", location: "batch") }
        try expectEqual(e.code, .embeddingMismatch)
        try expectEqual(try results[2].get(), .updated)
        try expectEqual(try results[3].get(), .unchanged)
        try expectEqual(try await store.documents(in: ref).map(\.sourceURI), ["mem://new", "mem://old"])
        try expect(try await store.search(SearchRequest(mode: .keyword, text: "bad", k: 5), in: ref).hits.isEmpty, "the refused document left nothing")
        try expectEqual(try await store.search(SearchRequest(mode: .keyword, text: "replaced", k: 5), in: ref).hits.map(\.chunk.sourceURI), ["mem://old"])
    }

    static func deleteDocument(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [("mem://a", "zebra crossing\n\nzebra stripes", [:]), ("mem://b", "lion pride", [:])])
        let a = DocumentRecord.makeID(ref: ref, sourceURI: "mem://a")
        try expect(try await store.deleteDocument(id: a, in: ref), "delete returns true")
        try expect(try await !store.deleteDocument(id: a, in: ref), "second delete returns false")
        try expect(try await store.document(id: a, in: ref) == nil, "document is gone")
        try expect(try await store.chunks(ids: [ChunkRecord.makeID(documentID: a, ordinal: 0)], in: ref).isEmpty, "chunks are gone")
        try expect(try await store.search(SearchRequest(mode: .keyword, text: "zebra", k: 5), in: ref).hits.isEmpty, "keyword index no longer has the text")
        let v = try await store.search(SearchRequest(mode: .vector, vector: fx.query("zebra crossing"), k: 5), in: ref)
        try expectEqual(v.hits.map(\.chunk.sourceURI), ["mem://b"])
        try expectEqual(try await store.stats(ref), CollectionStats(documents: 1, chunks: 1, embeddedChunks: 1, textBytes: 10))
    }

    /// Documents (source, text, metadata) covering every metadata type, for filter tests.
    public static let filterCorpus: [(String, String, Metadata)] = {
        let d = { (s: String) in MetadataValue.date(MetadataValue.parseDate(s)!) }
        return [
            ("d1", "first document", ["lang": .string("en"), "year": .int(2020), "score": .double(1.5), "draft": .bool(false), "tags": .array([.string("a"), .string("b")]), "published": d("2021-01-01"), "title": .string("Alpha guide"), "note": .null]),
            ("d2", "second document", ["lang": .string("de"), "year": .int(2019), "score": .int(2), "draft": .bool(true), "tags": .array([.string("b")]), "published": d("2019-06-01"), "title": .string("Beta notes")]),
            ("d3", "third document", ["lang": .string("en"), "year": .string("2021"), "tags": .string("a"), "title": .string("Gamma")]),
            ("d4", "fourth document", ["year": .double(2022), "draft": .bool(false), "tags": .array([]), "note": .string("x")]),
            ("d5", "fifth document", ["lang": .string("EN"), "year": .int(2018), "tags": .array([.string("c"), .int(1), .bool(true)]), "published": .string("2021-01-01"), "title": .string("Delta alpha")]),
        ]
    }()

    /// Filters with their expected matches, written out by hand: they pin the documented semantics.
    public static let filterExpectations: [(String, Set<String>)] = [
        (#"lang == "en""#, ["d1", "d3"]),
        (#"lang != "en""#, ["d2", "d4", "d5"]),
        (#"not (lang == "en")"#, ["d2", "d4", "d5"]),
        ("year >= 2020", ["d1", "d4"]),
        ("year < 2020", ["d2", "d5"]),
        ("year == 2022", ["d4"]),
        (#"year == "2021""#, ["d3"]),
        (#"year > "2000""#, ["d3"]),
        (#"lang < "en""#, ["d2", "d5"]),
        (#"tags in ["a"]"#, ["d1", "d3"]),
        (#"tags not in ["a"]"#, ["d2", "d4", "d5"]),
        (#"tags == "a""#, ["d3"]),
        (#"tags contains "b""#, ["d1", "d2"]),
        ("tags contains 1", ["d5"]),
        ("tags contains true", ["d5"]),
        (#"title contains "lpha""#, ["d1", "d5"]),
        ("draft == false", ["d1", "d4"]),
        ("note == null", ["d1"]),
        ("note exists", ["d1", "d4"]),
        ("note not exists", ["d2", "d3", "d5"]),
        ("lang not exists", ["d4"]),
        (#"published >= date("2020-01-01")"#, ["d1"]),
        (#"published < date("2020-01-01T00:00:00Z")"#, ["d2"]),
        (#"published == date("2021-01-01")"#, ["d1"]),
        (#"published in [date("2019-06-01"), "2021-01-01"]"#, ["d2", "d5"]),
        ("score > 1.6", ["d2"]),
        ("score <= 1.5", ["d1"]),
        (#"lang == "en" and (year >= 2020 or tags in ["b"])"#, ["d1"]),
        (#"lang in ["en", "de"] or draft == true"#, ["d1", "d2", "d3"]),
        ("missing == 1 or missing != 1", ["d1", "d2", "d3", "d4", "d5"]),
        ("tags in []", []),
        ("tags not in []", ["d1", "d2", "d3", "d4", "d5"]),
        (#"{"lang": "en", "year": {"$gte": 2020}}"#, ["d1"]),
        (#"{"$or": [{"draft": true}, {"note": {"$exists": true}}]}"#, ["d1", "d2", "d4"]),
        (#"{"$and": []}"#, ["d1", "d2", "d3", "d4", "d5"]),
        (#"{"$or": []}"#, []),
        (#"{"$not": {"tags": {"$contains": "a"}}}"#, ["d2", "d4", "d5"]),
        (#"{"published": {"$lt": {"$date": "2020-01-01"}}}"#, ["d2"]),
        (#"{"tags": {"$nin": ["b", "c"]}}"#, ["d3", "d4"]),
    ]

    static func filterOperators(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, filterCorpus)
        for (text, expected) in filterExpectations {
            let filter = try Filter.parseAny(text)
            // The reference evaluation must agree with the hand-written expectation...
            let reference = Set(filterCorpus.filter { filter.matches($0.2) }.map(\.0))
            try expectEqual(reference, expected, "reference semantics of \(text)")
            // ...and so must the store, in vector and keyword search.
            let vector = try await store.search(SearchRequest(mode: .vector, vector: fx.query("document"), filter: filter, k: 50), in: ref)
            try expectEqual(Set(vector.hits.map(\.chunk.sourceURI)), expected, "vector search with filter \(text)")
            try expectEqual(vector.matched, expected.count, "matched count for \(text)")
            let keyword = try await store.search(SearchRequest(mode: .keyword, text: "document", filter: filter, k: 50), in: ref)
            try expectEqual(Set(keyword.hits.map(\.chunk.sourceURI)), expected, "keyword search with filter \(text)")
            try expectEqual(keyword.matched, expected.count, "keyword matched count for \(text)")
            // Hybrid: both rankings see only matching chunks, so every fused hit ranks in both.
            let hybrid = try await store.search(SearchRequest(mode: .hybrid, text: "document", vector: fx.query("document"), filter: filter, k: 50), in: ref)
            try expectEqual(Set(hybrid.hits.map(\.chunk.sourceURI)), expected, "hybrid search with filter \(text)")
            try expect(hybrid.hits.allSatisfy { $0.vectorRank != nil && $0.keywordRank != nil }, "hybrid hits rank in both lists for \(text)")
        }
        try await expectError(.invalidFilter, "filter with a quote in a key built in code") {
            try await store.search(SearchRequest(mode: .vector, vector: fx.query("x"), filter: .compare("a\"; DROP TABLE chunks; --", .eq, .int(1)), k: 3), in: ref)
        }
        try await expectError(.invalidFilter, "ordering on a boolean") {
            try await store.search(SearchRequest(mode: .vector, vector: fx.query("x"), filter: .compare("draft", .lt, .bool(true)), k: 3), in: ref)
        }
        // Keys that look like SQL are data, never code.
        let odd = try await store.search(SearchRequest(mode: .vector, vector: fx.query("x"), filter: .compare("x'); DROP TABLE chunks; --", .eq, .string("'; DROP TABLE documents; --")), k: 3), in: ref)
        try expect(odd.hits.isEmpty, "odd key matches nothing")
        try expectEqual(try await store.stats(ref).documents, 5, "nothing was dropped")
    }

    static func exactlyK(_ store: any VectorStore) async throws {
        let ref = fx.ref
        var docs: [(String, String, Metadata)] = []
        for i in 0..<300 {
            docs.append(("mem://\(i)", "item number \(i) with some shared words", ["group": .int(Int64(i % 43 == 0 ? 1 : 0)), "i": .int(Int64(i))]))
        }
        try await fx.load(store, docs)
        let matching = docs.filter { $0.2["group"] == .int(1) }.count  // 7
        let five = try await store.search(SearchRequest(mode: .vector, vector: fx.query("shared words"), filter: .compare("group", .eq, .int(1)), k: 5), in: ref)
        try expectEqual(five.hits.count, 5, "k results when at least k match")
        try expect(five.exhaustive, "exact search is exhaustive")
        try expectEqual(five.matched, matching)
        let ten = try await store.search(SearchRequest(mode: .vector, vector: fx.query("shared words"), filter: .compare("group", .eq, .int(1)), k: 10), in: ref)
        try expectEqual(ten.hits.count, matching, "all matches when fewer than k match")
        try expect(ten.hits.allSatisfy { $0.chunk.metadata["group"] == .int(1) }, "every hit satisfies the filter")
        let hybrid = try await store.search(SearchRequest(mode: .hybrid, text: "shared words", vector: fx.query("shared words"), filter: .compare("group", .eq, .int(1)), k: 5), in: ref)
        try expectEqual(hybrid.hits.count, 5, "hybrid returns k under a selective filter")
        try expectEqual(hybrid.hits.map(\.rank), [1, 2, 3, 4, 5])
    }

    static func exactNeighbours(_ store: any VectorStore) async throws {
        let ref = CollectionRef(tenant: "t1", name: "vectors")
        for distance in Distance.allCases {
            let r = CollectionRef(tenant: ref.tenant, name: "v-\(distance.rawValue)")
            let identity = EmbeddingIdentity.external(dimension: 8, distance: distance)
            _ = try await store.createCollection(r, identity: identity)
            var rng = SplitMix64(seed: 42)
            var vectors: [String: [Float]] = [:]
            for i in 0..<200 {
                let v = (0..<8).map { _ in Float(rng.nextDouble() * 2 - 1) }
                let source = "mem://v\(i)"
                let id = DocumentRecord.makeID(ref: r, sourceURI: source)
                let text = "vector \(i)"
                let doc = DocumentRecord(id: id, sourceURI: source, sha256: SHA256Hex.hash(text), fingerprint: "f", mime: "text/plain", size: 0, metadata: [:], text: text)
                let chunk = ChunkRecord(id: ChunkRecord.makeID(documentID: id, ordinal: 0), ordinal: 0, text: text, charStart: 0, charEnd: text.unicodeScalars.count, section: [], tokenCount: 2, sha256: SHA256Hex.hash(text), embedding: v)
                _ = try await store.upsert(document: doc, chunks: [chunk], identity: identity, in: r)
                vectors[chunk.id] = v
            }
            let q: [Float] = (0..<8).map { _ in Float(rng.nextDouble() * 2 - 1) }
            func score(_ v: [Float]) -> Double {
                let dot = zip(q, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                switch distance {
                case .innerProduct: return dot
                case .l2: return -zip(q, v).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
                case .cosine:
                    let nq = q.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot(), nv = v.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
                    return dot / (nq * nv)
                }
            }
            let expected = vectors.sorted { score($0.value) > score($1.value) }.prefix(10).map(\.key)
            let result = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: identity, k: 10), in: r)
            try expectEqual(result.hits.map(\.chunk.id), Array(expected), "exact top-10 under \(distance)")
            for h in result.hits {
                try expect(abs(h.score - score(vectors[h.chunk.id]!)) < 1e-4, "score under \(distance) is the similarity")
            }
            try expect(zip(result.hits, result.hits.dropFirst()).allSatisfy { $0.score >= $1.score }, "scores descend")
        }
    }

    static func embeddingErrors(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [("mem://a", "some text", [:])])
        try await expectError(.embeddingMismatch, "query of wrong dimension") {
            try await store.search(SearchRequest(mode: .vector, vector: [1, 2, 3], k: 3), in: ref)
        }
        try await expectError(.embeddingMismatch, "query from another model") {
            try await store.search(SearchRequest(mode: .vector, vector: fx.query("x"), vectorIdentity: EmbeddingIdentity(model: "other", revision: "1", dimension: 64, normalized: true), k: 3), in: ref)
        }
        var nan = fx.query("x")
        nan[0] = .nan
        try await expectError(.invalidInput, "NaN in the query") {
            try await store.search(SearchRequest(mode: .vector, vector: nan, k: 3), in: ref)
        }
        try await expectError(.invalidInput, "k = 0") {
            try await store.search(SearchRequest(mode: .vector, vector: fx.query("x"), k: 0), in: ref)
        }
        try await expectError(.invalidInput, "keyword search without words") {
            try await store.search(SearchRequest(mode: .keyword, text: " ?! ", k: 3), in: ref)
        }
    }

    static func keywordRanking(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [
            ("mem://1", "the quick brown fox", [:]),
            ("mem://2", "fox fox fox jumps", [:]),
            ("mem://3", "a lazy dog sleeps all day long in the warm afternoon sun", [:]),
            ("mem://4", "Café crème brûlée", [:]),
        ])
        let r = try await store.search(SearchRequest(mode: .keyword, text: "fox", k: 10), in: ref)
        try expectEqual(r.hits.map(\.chunk.sourceURI), ["mem://2", "mem://1"], "more occurrences rank higher")
        try expect(r.hits[0].score > r.hits[1].score && r.hits[1].score > 0, "positive, descending BM25 scores")
        try expectEqual(r.matched, 2)
        let folded = try await store.search(SearchRequest(mode: .keyword, text: "CAFE creme", k: 10), in: ref)
        try expectEqual(folded.hits.map(\.chunk.sourceURI), ["mem://4"], "case and diacritics are folded")
        let none = try await store.search(SearchRequest(mode: .keyword, text: "\"unicorn\" OR NOT", k: 10), in: ref)
        try expect(none.hits.isEmpty, "query syntax characters are plain words")
    }

    static func hybridFusion(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [
            ("mem://both", "solar panel efficiency and solar cells", [:]),
            ("mem://vec", "panel efficiency measurements", [:]),
            ("mem://kw", "solar", [:]),
            ("mem://none", "unrelated gardening tips", [:]),
        ])
        let q = "solar panel efficiency"
        let vector = try await store.search(SearchRequest(mode: .vector, vector: fx.query(q), k: 10), in: ref)
        let keyword = try await store.search(SearchRequest(mode: .keyword, text: q, k: 10), in: ref)
        let hybrid = try await store.search(SearchRequest(mode: .hybrid, text: q, vector: fx.query(q), k: 3), in: ref)
        // Recompute the fusion from the store's own single-mode rankings.
        var fused: [String: Double] = [:]
        for h in vector.hits { fused[h.chunk.id, default: 0] += 1.0 / Double(60 + h.rank) }
        for h in keyword.hits { fused[h.chunk.id, default: 0] += 1.0 / Double(60 + h.rank) }
        let expected = fused.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3).map(\.key)
        try expectEqual(hybrid.hits.map(\.chunk.id), Array(expected), "hybrid order is reciprocal rank fusion (k = 60)")
        try expectEqual(hybrid.hits.first?.chunk.sourceURI, "mem://both", "a chunk strong in both rankings wins")
        let top = hybrid.hits[0]
        try expect(top.vectorRank != nil && top.keywordRank != nil, "hit shows both ranks")
        try expect(abs(top.score - (1.0 / Double(60 + top.vectorRank!) + 1.0 / Double(60 + top.keywordRank!))) < 1e-12, "fused score")
        try expectEqual(hybrid.path.description.hasPrefix("rrf("), true)
    }

    static func tenantSeparation(_ store: any VectorStore) async throws {
        let a = CollectionRef(tenant: "alice", name: "docs"), b = CollectionRef(tenant: "bob", name: "docs")
        try await fx.load(store, [("mem://secret", "alice private secret plans", ["owner": .string("alice")])], in: a)
        try await fx.load(store, [("mem://public", "bob public notes", ["owner": .string("bob")])], in: b)
        let aliceDoc = DocumentRecord.makeID(ref: a, sourceURI: "mem://secret")
        let aliceChunk = ChunkRecord.makeID(documentID: aliceDoc, ordinal: 0)
        try expect(try await store.chunks(ids: [aliceChunk], in: b).isEmpty, "bob cannot read alice's chunk by id")
        try expect(try await store.document(id: aliceDoc, in: b) == nil, "bob cannot read alice's document by id")
        try expect(try await !store.deleteDocument(id: aliceDoc, in: b), "bob cannot delete alice's document")
        for filter in [nil, Filter.compare("owner", .eq, .string("alice")), Filter.or([.exists("owner", true), .exists("owner", false)])] {
            let kw = try await store.search(SearchRequest(mode: .keyword, text: "secret plans alice", filter: filter, k: 10), in: b)
            try expect(kw.hits.isEmpty, "bob's keyword search never sees alice's text")
            let v = try await store.search(SearchRequest(mode: .vector, vector: fx.query("alice private secret plans"), filter: filter, k: 10), in: b)
            try expect(v.hits.allSatisfy { $0.chunk.sourceURI == "mem://public" }, "bob's vector search never sees alice's chunks")
        }
        // Bob writing the same source URI creates his own document; alice's is untouched.
        let (doc, chunks) = fx.document("mem://secret", "bob overwrites?", in: b)
        try expectEqual(try await store.upsert(document: doc, chunks: chunks, identity: fx.identity, in: b), .added)
        try expectEqual(try await store.chunks(ids: [aliceChunk], in: a).first?.text, "alice private secret plans")
        try expectEqual(try await store.stats(a).documents, 1)
        try expectEqual(try await store.stats(b).documents, 2)
    }

    static func manifestVerification(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [
            ("mem://x", "retrieval augmented generation\n\nevidence and provenance", ["lang": .string("en")]),
            ("mem://y", "provenance of every byte", ["lang": .string("en")]),
        ])
        let info = try await store.requireCollection(ref)
        let filter = try Filter.parse(#"lang == "en""#)
        let request = SearchRequest(mode: .hybrid, text: "provenance", vector: fx.query("provenance"), vectorIdentity: fx.identity, filter: filter, k: 3)
        let response = try await store.search(request, in: ref)
        let manifest = EvidenceManifest(request: request, collection: info, descriptor: store.descriptor, response: response)
        try expectEqual(manifest.request.query, "provenance")
        try expectEqual(manifest.request.filter, filter)
        try expectEqual(manifest.request.tenant, "t1")
        try expectEqual(manifest.embedding, fx.identity)
        try expectEqual(manifest.store.kind, store.descriptor.kind)
        try expectEqual(manifest.store.searchPath, response.path.description)
        try expectEqual(manifest.hits.count, response.hits.count)
        for (h, hit) in zip(manifest.hits, response.hits) {
            try expectEqual(h.chunkID, hit.chunk.id)
            try expectEqual(h.chunkSHA256, SHA256Hex.hash(hit.chunk.text))
            try expectEqual(h.documentSHA256, hit.chunk.documentSHA256)
            try expectEqual([h.charStart, h.charEnd], [hit.chunk.charStart, hit.chunk.charEnd])
        }
        // Round trip through canonical JSON keeps the id.
        let parsed: EvidenceManifest
        do { parsed = try EvidenceManifest.parse(manifest.canonicalJSON) } catch {
            throw ConformanceFailure(message: "\(error)\n\(manifest.canonicalJSON)", location: "manifest round trip")
        }
        try expectEqual(parsed.id, manifest.id)
        try expectEqual(parsed.canonicalJSON, manifest.canonicalJSON)
        try await expectError(.invalidManifest, "tampered manifest") {
            try EvidenceManifest.parse(manifest.canonicalJSON.replacingOccurrences(of: "provenance", with: "provenancE"))
        }
        let ok = try await ManifestVerifier.verify(manifest, against: store, tenant: manifest.request.tenant)
        try expect(ok.allVerified, "fresh manifest verifies: \(ok.results)")
        // Change mem://y, delete mem://x: the manifest reports both.
        let (y2, cy2) = fx.document("mem://y", "provenance of every byte, revised")
        _ = try await store.upsert(document: y2, chunks: cy2, identity: fx.identity, in: ref)
        _ = try await store.deleteDocument(id: DocumentRecord.makeID(ref: ref, sourceURI: "mem://x"), in: ref)
        let after = try await ManifestVerifier.verify(manifest, against: store, tenant: manifest.request.tenant)
        for r in after.results {
            try expectEqual(r.status, r.sourceURI == "mem://y" ? .changed : .missing, "status of \(r.sourceURI)")
        }
    }

    static func unknownCollection(_ store: any VectorStore) async throws {
        let ref = CollectionRef(tenant: "t1", name: "nope")
        try await expectError(.collectionNotFound, "search") { try await store.search(SearchRequest(mode: .keyword, text: "x", k: 1), in: ref) }
        let (d, c) = fx.document("mem://a", "text", in: ref)
        try await expectError(.collectionNotFound, "upsert") { try await store.upsert(document: d, chunks: c, identity: fx.identity, in: ref) }
        try await expectError(.collectionNotFound, "documents") { try await store.documents(in: ref) }
        try await expectError(.collectionNotFound, "stats") { try await store.stats(ref) }
    }
}

/// A small deterministic random generator for test data.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

extension VectorStoreConformance {
    /// 4,000 OR terms and a 4,000-value list run on every backend in every mode (SQLite's expression depth
    /// limit once failed them at 1,000); past ``Filter/maxTerms`` or ``Filter/maxDepth`` they are refused
    /// as bad filters, never as a storage failure.
    static func filterLimits(_ store: any VectorStore) async throws {
        let ref = fx.ref
        try await fx.load(store, [("mem://a", "rivers and lakes", ["lang": .string("en"), "n": .int(7)]), ("mem://b", "rivers and seas", ["lang": .string("de"), "n": .int(9)])])
        let wide = Filter.or((0..<3_999).map { .compare("lang", .eq, .string("x\($0)")) } + [.compare("lang", .eq, .string("en"))])
        let list = Filter.oneOf("n", (0..<3_999).map { .int(Int64(1_000 + $0)) } + [.int(7)])
        var deep = Filter.compare("n", .eq, .int(7))
        for _ in 0..<(Filter.maxDepth - 1) { deep = .not(.not(deep)) }
        deep = Filter.and([deep])
        for filter in [wide, list] {
            for mode in [SearchMode.vector, .keyword, .hybrid] {
                let r = try await store.search(SearchRequest(mode: mode, text: "rivers", vector: fx.embedder.vector(for: "rivers"), filter: filter, k: 5), in: ref)
                try expectEqual(r.hits.map(\.chunk.sourceURI), ["mem://a"], "\(mode)")
            }
        }
        for filter in [Filter.or((0..<(Filter.maxTerms + 1)).map { .compare("k", .eq, .int(Int64($0))) }), deep] {
            try await expectError(.invalidFilter, "beyond the limits") {
                try await store.search(SearchRequest(mode: .keyword, text: "rivers", filter: filter, k: 5), in: ref)
            }
        }
    }
}
