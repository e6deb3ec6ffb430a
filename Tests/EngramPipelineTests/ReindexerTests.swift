import EngramCore
import EngramPipeline
import EngramTesting
import Foundation
import Synchronization
import Testing

/// An embedder of another dimension that counts what it embeds, can fail after some calls, and can run a
/// hook (a concurrent writer, a second reindex) during a call.
final class ScriptedEmbedder: Embedder {
    let inner: HashEmbedder
    let calls = Mutex(0)
    let texts = Mutex(0)
    let failAfterCalls: Int?
    let hook: (@Sendable (Int) async throws -> Void)?

    init(dimension: Int = 24, failAfterCalls: Int? = nil, hook: (@Sendable (Int) async throws -> Void)? = nil) {
        inner = HashEmbedder(dimension: dimension)
        self.failAfterCalls = failAfterCalls
        self.hook = hook
    }

    var identity: EmbeddingIdentity { inner.identity }
    var preferredBatchSize: Int { 4 }
    var embedded: Int { texts.withLock { $0 } }

    struct Interrupted: Error {}

    func embed(_ batch: [String]) async throws -> [[Float]] {
        let call = calls.withLock { $0 += 1; return $0 }
        if let failAfterCalls, call > failAfterCalls { throw Interrupted() }
        try await hook?(call)
        texts.withLock { $0 += batch.count }
        return try await inner.embed(batch)
    }
}

@Suite("Reindexer")
struct ReindexerTests {
    let fx = Fixtures()

    /// 10 documents of 3 chunks each.
    func loaded() async throws -> InMemoryVectorStore {
        let store = InMemoryVectorStore()
        try await fx.load(store, (0..<10).map { i in ("mem://\(i)", "document \(i) opens\n\nits middle part \(i)\n\nand its end \(i)", [:]) })
        return store
    }

    @Test func movesTheCollectionToTheNewEmbedder() async throws {
        let store = try await loaded()
        let embedder = ScriptedEmbedder()
        let seen = Mutex<[ReindexProgress.Phase]>([])
        let report = try await Reindexer(store: store, embedder: embedder).run(fx.ref) { p in seen.withLock { $0.append(p.phase) } }
        #expect(report.switched && !report.resumed && report.embedded == 30 && report.alreadyCopied == 0 && report.catchUpPasses == 0)
        #expect(report.from == fx.identity && report.to == embedder.identity && report.generation == 2)
        #expect(embedder.embedded == 30)
        #expect(seen.withLock { $0 }.first == .embedding && seen.withLock { $0 }.last == .dropping)
        #expect(await store.collection(fx.ref)?.identity == embedder.identity)
        let hits = try await store.search(SearchRequest(mode: .vector, vector: embedder.inner.vector(for: "its middle part 7"), vectorIdentity: embedder.identity, k: 1), in: fx.ref)
        #expect(hits.hits.first?.chunk.text == "its middle part 7")
        // A query embedded by the old model is refused, saying how to move to it.
        do {
            _ = try await store.search(SearchRequest(mode: .vector, vector: fx.query("its middle part 7"), vectorIdentity: fx.identity, k: 1), in: fx.ref)
            Issue.record("a query of the old identity was answered")
        } catch let e as EngramError {
            #expect(e.code == .embeddingMismatch && e.message.contains("engram reindex"), "\(e.message)")
        }
        // Again with the same embedder: nothing to do.
        let again = try await Reindexer(store: store, embedder: embedder).run(fx.ref)
        #expect(!again.switched && again.embedded == 0 && embedder.embedded == 30)
    }

    @Test func anInterruptedRunIsFinishedWithoutEmbeddingDoneChunksAgain() async throws {
        let store = try await loaded()
        await #expect(throws: ScriptedEmbedder.Interrupted.self) {
            try await Reindexer(store: store, embedder: ScriptedEmbedder(failAfterCalls: 3)).run(fx.ref)
        }
        #expect(await store.collection(fx.ref)?.identity == fx.identity, "the old generation still serves")
        let pending = try #require(try await store.pendingGeneration(fx.ref))
        #expect(try await store.generationProgress(fx.ref, generation: pending.generation).copied == 12, "three batches of 4 were kept")
        let embedder = ScriptedEmbedder()
        let report = try await Reindexer(store: store, embedder: embedder).run(fx.ref)
        #expect(report.resumed && report.alreadyCopied == 12 && report.embedded == 18 && embedder.embedded == 18)
        #expect(await store.collection(fx.ref)?.identity == embedder.identity)
    }

    @Test func documentsWrittenDuringTheRunAreEmbeddedBeforeTheSwitch() async throws {
        let store = try await loaded()
        let fx = self.fx
        // During the last embedding call of the pass (8 batches of 4 for 30 chunks), after every chunk was
        // read, a writer replaces document 0 and adds document 10, with the old embedder.
        let embedder = ScriptedEmbedder(hook: { call in
            guard call == 8 else { return }
            for (source, text) in [("mem://0", "document 0 was rewritten"), ("mem://10", "a late document")] {
                let (d, c) = fx.document(source, text)
                _ = try await store.upsert(document: d, chunks: c, identity: fx.identity, in: fx.ref)
            }
        })
        let report = try await Reindexer(store: store, embedder: embedder).run(fx.ref)
        #expect(report.switched && report.catchUpPasses == 1, "one more pass for the two new chunks")
        #expect(report.embedded == 32 && embedder.embedded == 32)
        #expect(try await store.stats(fx.ref).chunks == 30 - 3 + 1 + 1)
        for text in ["document 0 was rewritten", "a late document"] {
            let hits = try await store.search(SearchRequest(mode: .vector, vector: embedder.inner.vector(for: text), vectorIdentity: embedder.identity, k: 1), in: fx.ref)
            #expect(hits.hits.first?.chunk.text == text, "\(text) is in the new generation")
        }
    }

    @Test func aSecondRunOfTheSameCollectionIsRefused() async throws {
        let store = try await loaded()
        let fx = self.fx
        let second = Mutex<(any Error)?>(nil)
        let embedder = ScriptedEmbedder(hook: { call in
            guard call == 1 else { return }
            do {
                _ = try await Reindexer(store: store, embedder: ScriptedEmbedder(dimension: 40)).run(fx.ref)
            } catch {
                second.withLock { $0 = error }
            }
        })
        _ = try await Reindexer(store: store, embedder: embedder).run(fx.ref)
        let error = try #require(second.withLock { $0 } as? EngramError)
        #expect(error.code == .conflict && error.message.contains("already running"))
        #expect(await store.collection(fx.ref)?.identity == embedder.identity, "the first run finished")
    }

    @Test func badRequestsAreRefusedWithoutChanges() async throws {
        let store = try await loaded()
        await #expect(throws: EngramError.self) {
            try await Reindexer(store: store, embedder: ScriptedEmbedder()).run(CollectionRef(tenant: "t1", name: "missing"))
        }
        do {
            _ = try await Reindexer(store: store, embedder: ExternalEmbedder(identity: .external(dimension: 8))).run(fx.ref)
            Issue.record("an external embedder cannot reindex")
        } catch let e as EngramError {
            #expect(e.code == .unsupported)
        }
        try await store.withReindexLock(fx.ref) {
            _ = try await store.beginGeneration(fx.ref, identity: ScriptedEmbedder(dimension: 40).identity)
        }
        do {
            _ = try await Reindexer(store: store, embedder: ScriptedEmbedder()).run(fx.ref)
            Issue.record("another identity is pending")
        } catch let e as EngramError {
            #expect(e.code == .conflict && e.message.contains("--abandon"))
        }
        #expect(await store.collection(fx.ref)?.identity == fx.identity)
    }
}
