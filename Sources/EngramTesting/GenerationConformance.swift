import EngramCore
import Foundation

/// The generation steps a reindex is made of (``GenerationalStore``), run against every backend like
/// ``VectorStoreConformance``.
public enum GenerationConformance {
    public static let cases: [ConformanceCase] = [
        ConformanceCase(name: "generations: the old one serves until the switch", body: switchOver),
        ConformanceCase(name: "generations: writers during a reindex are caught up", body: writersCaughtUp),
        ConformanceCase(name: "generations: bad steps change nothing", body: badSteps),
        ConformanceCase(name: "generations: abandon", body: abandon),
        ConformanceCase(name: "generations: one reindex lock per collection", body: lock),
    ]

    static let fx = Fixtures()
    /// The embedder a test reindexes to: another dimension, so a mixed-up vector cannot go unnoticed.
    static let next = HashEmbedder(dimension: 24)

    static func generational(_ store: any VectorStore) throws -> any GenerationalStore {
        guard let g = store as? any GenerationalStore else { throw ConformanceFailure(message: "\(type(of: store)) is not a GenerationalStore", location: #fileID) }
        return g
    }

    static let corpus: [(String, String, Metadata)] = [
        ("mem://a", "solar panels convert light\n\nwind turbines turn slowly\n\nbatteries store the surplus", ["topic": .string("energy")]),
        ("mem://b", "the fox jumps over the dog\n\nthe dog sleeps", ["topic": .string("animals")]),
        ("mem://c", "rivers flow to the sea\n\nclouds bring rain back\n\nthe sea is salty\n\nsnow melts in spring", ["topic": .string("water")]),
    ]

    /// Every active chunk without a copy, page by page.
    static func allToEmbed(_ store: any GenerationalStore, _ ref: CollectionRef, _ generation: Int, page: Int = 3) async throws -> [ChunkToEmbed] {
        var out: [ChunkToEmbed] = []
        var after: String?
        while true {
            let batch = try await store.chunksToEmbed(ref, generation: generation, after: after, limit: page)
            out += batch
            guard let last = batch.last, batch.count == page else { return out }
            after = last.id
        }
    }

    static func vectors(_ chunks: [ChunkToEmbed]) -> [GenerationVector] {
        chunks.map { GenerationVector(chunkID: $0.id, sha256: $0.sha256, embedding: next.vector(for: $0.text)) }
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        return dot / (Double(VectorMath.norm(a)) * Double(VectorMath.norm(b)))
    }

    static func switchOver(_ store: any VectorStore) async throws {
        let g = try generational(store)
        let ref = fx.ref
        try await fx.load(store, corpus)
        let before = try await VectorStoreConformance.snapshot(store, ref)
        let query = "wind and solar energy"
        let oldVector = try await store.search(SearchRequest(mode: .vector, vector: fx.query(query), vectorIdentity: fx.identity, k: 4), in: ref)
        let oldKeyword = try await store.search(SearchRequest(mode: .keyword, text: "the sea", k: 10), in: ref)

        try expect(try await g.pendingGeneration(ref) == nil, "nothing pending before a reindex")
        let pending = try await g.beginGeneration(ref, identity: next.identity)
        try expectEqual(pending, PendingGeneration(generation: 2, identity: next.identity))
        try expectEqual(try await g.beginGeneration(ref, identity: next.identity), pending, "beginning again resumes the pending generation")
        try expectEqual(try await g.pendingGeneration(ref), pending)

        let todo = try await allToEmbed(g, ref, 2)
        let stats = try await store.stats(ref)
        try expectEqual(todo.count, stats.chunks, "every active chunk is to embed, once")
        try expectEqual(todo.map(\.id), todo.map(\.id).sorted(), "in id order")
        try expectEqual(Set(todo.map(\.id)).count, todo.count, "no chunk twice across pages")
        try expectEqual(try await g.generationProgress(ref, generation: 2), GenerationProgress(chunks: stats.chunks, copied: 0))

        let half = todo.count / 2
        try expectEqual(try await g.writeGeneration(ref, generation: 2, vectors: vectors(Array(todo[..<half]))), half)
        try expectEqual(try await g.writeGeneration(ref, generation: 2, vectors: vectors(Array(todo[..<half]))), half, "writing a copy again is idempotent")
        try expectEqual(try await g.generationProgress(ref, generation: 2), GenerationProgress(chunks: stats.chunks, copied: half))
        try expectEqual(try await allToEmbed(g, ref, 2).map(\.id), todo[half...].map(\.id), "copied chunks are not returned again")
        // Half-built: searches, reads and stats see the active generation only.
        try expectEqual(try await VectorStoreConformance.snapshot(store, ref), before, "a pending generation is invisible to reads")
        try expectEqual(try await store.search(SearchRequest(mode: .vector, vector: fx.query(query), vectorIdentity: fx.identity, k: 4), in: ref).hits.map(\.chunk.id),
                        oldVector.hits.map(\.chunk.id), "vector search still answers from the active generation")
        try expectEqual(try await store.search(SearchRequest(mode: .keyword, text: "the sea", k: 10), in: ref).hits.map(\.chunk.id), oldKeyword.hits.map(\.chunk.id))
        try expect(!(try await g.activateGeneration(ref, generation: 2)), "a generation missing chunks is not activated")
        try expectEqual(try await store.collection(ref)?.identity, fx.identity)

        try expectEqual(try await g.writeGeneration(ref, generation: 2, vectors: vectors(Array(todo[half...]))), todo.count - half)
        try expect(try await g.activateGeneration(ref, generation: 2), "a complete generation is activated")
        let info = try await store.collection(ref)
        try expectEqual(info?.identity, next.identity, "the collection has the new identity")
        try expectEqual(info?.generation, 2)
        try expect(try await g.pendingGeneration(ref) == nil, "nothing pending after the switch")
        try expectEqual(try await VectorStoreConformance.snapshot(store, ref), before, "the same documents and chunks after the switch")
        let chunks = try await store.chunks(ids: todo.map(\.id), in: ref)
        try expectEqual(Set(chunks.map(\.generation)), [2], "chunks are read from the new generation")

        // The new generation answers with the new vectors: its ranking equals an exact ranking by them.
        let newVector = try await store.search(SearchRequest(mode: .vector, vector: next.vector(for: query), vectorIdentity: next.identity, k: 4), in: ref)
        let expected = todo.map { ($0.id, cosine(next.vector(for: query), next.vector(for: $0.text))) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(4).map(\.0)
        try expectEqual(newVector.hits.map(\.chunk.id), Array(expected), "the new generation's vectors rank")
        try await expectError(.embeddingMismatch, "a query of the old identity is refused") {
            try await store.search(SearchRequest(mode: .vector, vector: fx.query(query), vectorIdentity: fx.identity, k: 4), in: ref)
        }
        // Documents written after the switch carry the new identity.
        let (d, c) = Fixtures(dimension: 24).document("mem://d", "a new document after the switch", in: ref)
        try expectEqual(try await store.upsert(document: d, chunks: c, identity: next.identity, in: ref), .added)
        _ = try await g.dropInactiveGenerations(ref)
        try expectEqual(try await g.dropInactiveGenerations(ref), 0, "dropping twice drops nothing more")
        try expectEqual(try await store.search(SearchRequest(mode: .keyword, text: "the sea", filter: .exists("topic", true), k: 10), in: ref).hits.map(\.chunk.id),
                        oldKeyword.hits.map(\.chunk.id), "keyword search answers from the new generation, the old one dropped")
        try expectEqual(try await store.search(SearchRequest(mode: .keyword, text: "switch", k: 10), in: ref).hits.map(\.chunk.id), c.map(\.id),
                        "a document written after the switch is found by keyword")
        try expectEqual(try await store.search(SearchRequest(mode: .keyword, text: "the sea", filter: .compare("topic", .eq, .string("water")), k: 10), in: ref).hits.map(\.chunk.id),
                        oldKeyword.hits.filter { $0.chunk.metadata["topic"] == .string("water") }.map(\.chunk.id), "filtered keyword search too")
        try expectEqual(try await store.stats(ref).chunks, stats.chunks + c.count)
        try await expectError(.invalidInput, "reindexing to the active identity") { try await g.beginGeneration(ref, identity: next.identity) }
    }

    static func writersCaughtUp(_ store: any VectorStore) async throws {
        let g = try generational(store)
        let ref = fx.ref
        try await fx.load(store, corpus)
        _ = try await g.beginGeneration(ref, identity: next.identity)
        let todo = try await allToEmbed(g, ref, 2)
        // A writer replaces one document and deletes another after their chunks were read for embedding.
        let (changed, changedChunks) = fx.document("mem://a", "solar panels convert light\n\ntidal power is steady", metadata: ["topic": .string("energy")])
        try expectEqual(try await store.upsert(document: changed, chunks: changedChunks, identity: fx.identity, in: ref), .updated)
        try expect(try await store.deleteDocument(id: DocumentRecord.makeID(ref: ref, sourceURI: "mem://b"), in: ref), "deleted")
        let written = try await g.writeGeneration(ref, generation: 2, vectors: vectors(todo))
        // c's 4 chunks and a's first one (same id, same text); a's changed and removed chunks and b's are skipped.
        try expectEqual(written, 5, "copies of deleted or changed chunks are skipped")
        try expect(!(try await g.activateGeneration(ref, generation: 2)), "the replaced document's new chunk has no copy yet")
        let rest = try await allToEmbed(g, ref, 2)
        try expectEqual(rest.map(\.text), ["tidal power is steady"], "only the writer's new chunk is left")
        _ = try await g.writeGeneration(ref, generation: 2, vectors: vectors(rest))
        try expect(try await g.activateGeneration(ref, generation: 2), "activated after the catch-up")
        let hits = try await store.search(SearchRequest(mode: .vector, vector: next.vector(for: "tidal power"), vectorIdentity: next.identity, k: 10), in: ref)
        try expectEqual(hits.hits.count, 6, "a's 2 chunks and c's 4, all in the new generation")
        try expectEqual(hits.hits.first?.chunk.text, "tidal power is steady", "the writer's chunk is searched with its new vector")
    }

    static func badSteps(_ store: any VectorStore) async throws {
        let g = try generational(store)
        let ref = fx.ref
        try await fx.load(store, corpus)
        try await expectError(.invalidInput, "reindexing to the identity the collection has") { try await g.beginGeneration(ref, identity: fx.identity) }
        try await expectError(.collectionNotFound, "a collection that does not exist") {
            try await g.beginGeneration(CollectionRef(tenant: "t1", name: "missing"), identity: next.identity)
        }
        try await expectError(.collectionNotFound, "another tenant's collection") {
            try await g.beginGeneration(CollectionRef(tenant: "t2", name: fx.ref.name), identity: next.identity)
        }
        try await expectError(.notFound, "writing to a generation that is not pending") {
            try await g.writeGeneration(ref, generation: 2, vectors: [])
        }
        _ = try await g.beginGeneration(ref, identity: next.identity)
        try await expectError(.conflict, "another identity while one is pending") {
            try await g.beginGeneration(ref, identity: HashEmbedder(dimension: 40).identity)
        }
        let todo = try await allToEmbed(g, ref, 2)
        var bad = vectors(todo)
        bad[bad.count - 1].embedding = [Float](repeating: 0.5, count: 7)
        try await expectError(.embeddingMismatch, "a vector of the wrong dimension") { try await g.writeGeneration(ref, generation: 2, vectors: bad) }
        bad = vectors(todo)
        bad[0].embedding[3] = .nan
        try await expectError(.invalidInput, "NaN in a vector") { try await g.writeGeneration(ref, generation: 2, vectors: bad) }
        try expectEqual(try await g.generationProgress(ref, generation: 2).copied, 0, "a refused write copies nothing")
        var stale = vectors(todo)
        stale[0].sha256 = String(repeating: "0", count: 64)
        try expectEqual(try await g.writeGeneration(ref, generation: 2, vectors: Array(stale[..<1])), 0, "a vector of another text is skipped")
        try await expectError(.notFound, "another generation number") { try await g.activateGeneration(ref, generation: 3) }
        try expectEqual(try await store.collection(ref)?.identity, fx.identity, "still the old identity")
    }

    static func abandon(_ store: any VectorStore) async throws {
        let g = try generational(store)
        let ref = fx.ref
        try await fx.load(store, corpus)
        let before = try await VectorStoreConformance.snapshot(store, ref)
        try expect(!(try await g.abandonGeneration(ref)), "nothing to abandon")
        _ = try await g.beginGeneration(ref, identity: next.identity)
        _ = try await g.writeGeneration(ref, generation: 2, vectors: vectors(try await allToEmbed(g, ref, 2)))
        try expect(try await g.abandonGeneration(ref), "abandoned")
        try expect(try await g.pendingGeneration(ref) == nil, "nothing pending")
        try expectEqual(try await VectorStoreConformance.snapshot(store, ref), before)
        let other = HashEmbedder(dimension: 40)
        let pending = try await g.beginGeneration(ref, identity: other.identity)
        try expectEqual(pending.identity, other.identity, "another reindex may start")
        try expectEqual(try await g.generationProgress(ref, generation: pending.generation).copied, 0, "the abandoned copies are gone")
    }

    static func lock(_ store: any VectorStore) async throws {
        let g = try generational(store)
        let ref = fx.ref
        try await fx.load(store, corpus)
        let other = CollectionRef(tenant: ref.tenant, name: "other")
        _ = try await store.createCollection(other, identity: fx.identity)
        let inside = try await g.withReindexLock(ref) {
            try await expectError(.conflict, "a second holder of the same collection's lock") {
                try await g.withReindexLock(ref) { 1 }
            }
            return try await g.withReindexLock(other) { 2 }
        }
        try expectEqual(inside, 2, "another collection's lock is separate")
        try expectEqual(try await g.withReindexLock(ref) { 3 }, 3, "released after the holder returned")
        struct Boom: Error {}
        do {
            _ = try await g.withReindexLock(ref) { () async throws -> Int in throw Boom() }
        } catch is Boom {}
        try expectEqual(try await g.withReindexLock(ref) { 4 }, 4, "released after the holder threw")
        try await expectError(.collectionNotFound, "lock of a collection that does not exist") {
            try await g.withReindexLock(CollectionRef(tenant: "t1", name: "missing")) { 5 }
        }
    }
}
