import EngramCore
import EngramPipeline
import EngramTesting
import Foundation
import Synchronization
import Testing

/// Wraps the hash embedder and counts the texts it embeds.
final class CountingEmbedder: Embedder {
    let inner = HashEmbedder(dimension: 64)
    let count = Mutex(0)
    var identity: EmbeddingIdentity { inner.identity }
    var preferredBatchSize: Int { 16 }
    func embed(_ texts: [String]) async throws -> [[Float]] {
        count.withLock { $0 += texts.count }
        return try await inner.embed(texts)
    }
    var embedded: Int { count.withLock { $0 } }
}

struct Workspace {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("engram-ingest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func write(_ path: String, _ text: String) throws {
        try write(path, bytes: Array(text.utf8))
    }

    func write(_ path: String, bytes: [UInt8]) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func remove(_ path: String) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent(path))
    }

    func uri(_ path: String) -> String { URL(fileURLWithPath: root.appendingPathComponent(path).path).absoluteString }
}

@Suite("Incremental ingestion")
struct IngestorTests {
    let ref = CollectionRef(tenant: "t", name: "c")

    func makeIngestor(_ store: any VectorStore, _ embedder: CountingEmbedder, prune: Bool = false, include: [String] = [], exclude: [String] = [], maxBytes: Int = 1 << 20) async throws -> Ingestor {
        _ = try await store.createCollection(ref, identity: embedder.identity)
        var options = Ingestor.Options()
        options.prune = prune
        options.include = include.map(Glob.init)
        options.exclude = exclude.map(Glob.init)
        options.maxBytes = maxBytes
        options.batchSize = 8
        options.chunker = StructuredChunker(maxTokens: 20, overlapTokens: 3)
        return Ingestor(store: store, embedder: embedder, collection: ref, options: options)
    }

    @Test func unchangedDocumentsAreSkippedWithoutEmbedding() async throws {
        let ws = try Workspace()
        for i in 0..<20 {
            try ws.write("docs/file\(i).md", "# File \(i)\n\nSome text about topic \(i). " + String(repeating: "More words here. ", count: i))
        }
        let store = InMemoryVectorStore()
        let embedder = CountingEmbedder()
        let ingestor = try await makeIngestor(store, embedder)
        let first = try await ingestor.ingest(paths: [ws.root.path])
        #expect(first.added == 20 && first.failed.isEmpty && first.unchanged == 0)
        let embeddedFirst = embedder.embedded
        #expect(embeddedFirst == first.chunksEmbedded && embeddedFirst >= 20)

        let second = try await ingestor.ingest(paths: [ws.root.path])
        #expect(second.unchanged == 20 && second.added == 0 && second.updated == 0)
        #expect(embedder.embedded == embeddedFirst, "nothing is re-embedded")

        try ws.write("docs/file3.md", "# File 3\n\nCompletely new content about zebras.")
        let third = try await ingestor.ingest(paths: [ws.root.path])
        #expect(third.updated == 1 && third.unchanged == 19)
        let hits = try await store.search(SearchRequest(mode: .keyword, text: "topic 3", filter: .compare("filename", .eq, .string("file3.md")), k: 5), in: ref)
        #expect(hits.hits.allSatisfy { !$0.chunk.text.contains("topic") }, "the old text of a changed document is gone")
        let zebra = try await store.search(SearchRequest(mode: .keyword, text: "zebras", k: 5), in: ref)
        #expect(zebra.hits.map(\.chunk.sourceURI) == [ws.uri("docs/file3.md")])
        let doc = try #require(try await store.document(sourceURI: ws.uri("docs/file3.md"), in: ref))
        #expect(doc.info.version == 2)
    }

    @Test func pruneRemovesDocumentsWhoseSourceIsGone() async throws {
        let ws = try Workspace()
        try ws.write("a/one.txt", "one")
        try ws.write("a/two.txt", "two")
        try ws.write("b/three.txt", "three")
        let store = InMemoryVectorStore()
        let embedder = CountingEmbedder()
        let plain = try await makeIngestor(store, embedder)
        _ = try await plain.ingest(paths: [ws.root.appendingPathComponent("a").path, ws.root.appendingPathComponent("b").path])
        try ws.remove("a/two.txt")
        try ws.remove("b/three.txt")
        let kept = try await plain.ingest(paths: [ws.root.appendingPathComponent("a").path])
        #expect(kept.deleted == 0)
        #expect(try await store.documents(in: ref).count == 3, "without --prune nothing is deleted")
        let pruning = try await makeIngestor(store, embedder, prune: true)
        let pruned = try await pruning.ingest(paths: [ws.root.appendingPathComponent("a").path])
        #expect(pruned.deleted == 1 && pruned.unchanged == 1)
        #expect(try await store.documents(in: ref).map(\.sourceURI) == [ws.uri("a/one.txt"), ws.uri("b/three.txt")], "only documents under the given path are pruned")
    }

    @Test func badFilesAreReportedAndLeaveTheStoreAsItWas() async throws {
        let ws = try Workspace()
        try ws.write("good.md", "# Good\n\nfine text")
        let store = InMemoryVectorStore()
        let embedder = CountingEmbedder()
        let ingestor = try await makeIngestor(store, embedder, maxBytes: 1000)
        _ = try await ingestor.ingest(paths: [ws.root.path])
        let before = try await store.documents(in: ref)

        try ws.write("empty.txt", "")
        try ws.write("binary.txt", bytes: [0x41, 0x00, 0x42])
        try ws.write("latin1.txt", bytes: [0x63, 0x61, 0x66, 0xE9])
        try ws.write("big.txt", String(repeating: "x ", count: 600))
        try ws.write("blank.md", "   \n\n  \n")
        try ws.write("script-only.html", "<script>only()</script>")
        let report = try await ingestor.ingest(paths: [ws.root.path, ws.root.appendingPathComponent("missing.txt").path])
        let reasons = Dictionary(report.failed.map { (URL(fileURLWithPath: $0.source.replacingOccurrences(of: "file://", with: "")).lastPathComponent, $0.reason) }, uniquingKeysWith: { a, _ in a })
        #expect(reasons["empty.txt"]?.contains("file is empty") == true)
        #expect(reasons["binary.txt"]?.contains("binary file") == true)
        #expect(reasons["latin1.txt"]?.contains("not valid UTF-8") == true)
        #expect(reasons["big.txt"]?.contains("over the limit of 1000") == true)
        #expect(reasons["blank.md"]?.contains("yields no chunk") == true)
        #expect(reasons["script-only.html"]?.contains("yields no chunk") == true)
        #expect(reasons["missing.txt"]?.contains("no such file or folder") == true)
        #expect(report.failed.count == 7 && report.unchanged == 1 && report.added == 0)
        #expect(try await store.documents(in: ref) == before)
    }

    @Test func aFileThatDisappearsMidRunIsReportedAndTheRunGoesOn() async throws {
        let ws = try Workspace()
        for name in ["a.txt", "b.txt", "c.txt"] { try ws.write(name, "text of \(name)") }
        let store = InMemoryVectorStore()
        let ingestor = try await makeIngestor(store, CountingEmbedder())
        let victim = ws.root.appendingPathComponent("b.txt").path
        let report = try await ingestor.ingest(paths: [ws.root.path]) { progress in
            // Progress is reported just before a file is read: remove b.txt at that moment.
            if progress.currentPath == victim { try? FileManager.default.removeItem(atPath: victim) }
        }
        #expect(report.added == 2)
        #expect(report.failed.map(\.source) == [victim])
        #expect(try await store.documents(in: ref).map(\.sourceURI) == [ws.uri("a.txt"), ws.uri("c.txt")])
    }

    @Test func includeAndExcludeGlobs() async throws {
        let ws = try Workspace()
        try ws.write("keep/a.md", "a")
        try ws.write("keep/b.txt", "b")
        try ws.write("skip/c.md", "c")
        try ws.write("keep/.hidden.md", "h")
        let store = InMemoryVectorStore()
        let ingestor = try await makeIngestor(store, CountingEmbedder(), include: ["*.md"], exclude: ["skip"])
        let report = try await ingestor.ingest(paths: [ws.root.path])
        #expect(report.added == 1)
        #expect(try await store.documents(in: ref).map(\.sourceURI) == [ws.uri("keep/a.md")])
    }

    @Test func chunksAreExactRangesOfTheStoredText() async throws {
        let ws = try Workspace()
        try ws.write("doc.md", "# Tïtle\r\n\r\nCafé au lait. 🎉 Emoji and 日本語のテキスト.\r\n\r\n## Part\r\n\r\n" + String(repeating: "word ", count: 80))
        let store = InMemoryVectorStore()
        let ingestor = try await makeIngestor(store, CountingEmbedder())
        _ = try await ingestor.ingest(paths: [ws.root.path])
        let (info, text) = try #require(try await store.document(sourceURI: ws.uri("doc.md"), in: ref))
        #expect(!text.contains("\r"))
        let chunks = try await store.chunks(ids: (0..<info.chunkCount).map { ChunkRecord.makeID(documentID: info.id, ordinal: $0) }, in: ref)
        #expect(chunks.count == info.chunkCount && chunks.count > 2)
        for c in chunks {
            #expect(slice(text, c.charStart, c.charEnd) == c.text)
            #expect(SHA256Hex.hash(c.text) == c.sha256)
        }
        #expect(chunks.last?.section == ["Tïtle", "Part"])
        #expect(chunks.last?.metadata["section"] == .string("Tïtle > Part"))
    }

    @Test func bringYourOwnVectors() async throws {
        let ws = try Workspace()
        try ws.write("vectors.jsonl", """
            {"id": "x", "text": "first", "embedding": [1, 0, 0], "kind": "a"}
            {"id": "y", "text": "second", "embedding": [0, 1, 0], "kind": "b"}
            {"id": "z", "text": "third", "embedding": [0, 1]}
            {"id": "w", "text": "no vector"}
            """)
        let store = InMemoryVectorStore()
        let identity = EmbeddingIdentity.external(dimension: 3)
        _ = try await store.createCollection(ref, identity: identity)
        let ingestor = Ingestor(store: store, embedder: ExternalEmbedder(identity: identity), collection: ref)
        let report = try await ingestor.ingest(paths: [ws.root.path])
        #expect(report.added == 2)
        #expect(report.chunksEmbedded == 0)
        #expect(report.failed.map(\.source) == [ws.uri("vectors.jsonl") + "#z", ws.uri("vectors.jsonl") + "#w"])
        #expect(report.failed[0].reason.contains("dimension 2, the collection expects 3"))
        let retriever = Retriever(store: store, embedder: nil)
        let result = try await retriever.search(text: nil, vector: [0.1, 0.9, 0], mode: .vector, filter: nil, k: 1, in: ref)
        #expect(result.response.hits.map(\.chunk.text) == ["second"])
        #expect(result.manifest.request.queryVectorSHA256 != nil)
        await #expect(throws: EngramError.self) {
            try await retriever.search(text: "second", mode: .vector, filter: nil, k: 1, in: ref)
        }

        // A collection that embeds text itself refuses records that carry vectors.
        let hashRef = CollectionRef(tenant: "t", name: "hash")
        let hash = HashEmbedder(dimension: 3)
        _ = try await store.createCollection(hashRef, identity: hash.identity)
        let mixed = try await Ingestor(store: store, embedder: hash, collection: hashRef).ingest(paths: [ws.root.path])
        #expect(mixed.added == 1, "only the record without a vector is embedded")
        #expect(mixed.failed.contains { $0.reason.contains("create the collection with --embedder external:3") })
    }
}
