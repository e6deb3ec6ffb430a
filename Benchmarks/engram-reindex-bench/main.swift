// Reindex benchmark (issue: operations), run through scripts/bench-reindex.sh. On the linux-doc collection
// of scripts/bench.sh (117,048 chunks embedded by the 384-d hash embedder):
//
//   1. SQLite: reindex to the 256-d hash embedder. Side by side in the same run: the embedder alone on the
//      same texts (what the reindex cannot beat), and the reindex's own throughput; search latency (k = 10,
//      vector) before the reindex and while it runs, from a concurrent task;
//   2. PostgreSQL (when ENGRAM_POSTGRES_URL is set): the same collection loaded with upsert(batches:), then
//      the same reindex (its HNSW index built before the switch) and the same latency figures;
//   3. MiniLM: a reindex to the native MiniLM of the first ENGRAM_REINDEX_MINILM_CHUNKS chunks (default
//      2,000) on SQLite, beside MiniLM alone on the same texts.
//
// Usage: engram-reindex-bench SOURCE_SQLITE WORK_DIR
import EngramCore
import EngramEmbeddings
import EngramKit
import EngramPipeline
import EngramPostgres
import EngramTesting
import Foundation
import GRDB
import PostgresNIO
import Synchronization


let env = ProcessInfo.processInfo.environment
guard CommandLine.arguments.count >= 3 else { fail("usage: engram-reindex-bench SOURCE_SQLITE WORK_DIR") }
let sourcePath = CommandLine.arguments[1], work = CommandLine.arguments[2]
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
let ref = CollectionRef(tenant: "bench", name: "linux-doc")
let oldEmbedder = HashEmbedder(dimension: 384)
let newEmbedder = HashEmbedder(dimension: 256)
let miniLMChunks = Int(env["ENGRAM_REINDEX_MINILM_CHUNKS"] ?? "") ?? 2_000

/// A document of the source with its text and chunks (embedded with `oldEmbedder` when loaded elsewhere).
struct SourceDocument: Sendable {
    var record: DocumentRecord
    var chunks: [ChunkRecord]
}

// The source, migrated to this build's schema, read whole, then copied whole for SQLite.
let documents: [SourceDocument] = try await Engram.withStores("sqlite:" + sourcePath, access: .create) { stores in
    let source = stores.vectors
    guard try await source.collection(ref)?.identity == oldEmbedder.identity else { fail("\(sourcePath) has no \(ref) collection of \(oldEmbedder.identity)") }
    var documents: [SourceDocument] = []
    for d in try await source.documents(in: ref) {
        guard let full = try await source.document(id: d.id, in: ref) else { continue }
        let stored = try await source.chunks(ids: (0..<d.chunkCount).map { ChunkRecord.makeID(documentID: d.id, ordinal: $0) }, in: ref)
        let record = DocumentRecord(id: d.id, sourceURI: d.sourceURI, sha256: d.sha256, fingerprint: d.fingerprint, mime: d.mime, size: d.size, metadata: d.metadata, text: full.text)
        documents.append(SourceDocument(record: record, chunks: stored.map { c in
            ChunkRecord(id: c.id, ordinal: c.ordinal, text: c.text, charStart: c.charStart, charEnd: c.charEnd, section: c.section, tokenCount: c.tokenCount,
                        sha256: c.sha256, metadata: [:], embedding: oldEmbedder.vector(for: c.text))
        }))
    }
    return documents
}
let sqlitePath = work + "/reindex.sqlite"
for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) }
try await DatabaseQueue(path: sourcePath).writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [sqlitePath]) }

// Queries: texts of 200 chunks spread over the collection.
var queryTexts: [String] = []
for (i, d) in documents.enumerated() where i % max(1, documents.count / 200) == 0 && queryTexts.count < 200 {
    if let c = d.chunks.first { queryTexts.append(String(c.text.prefix(200))) }
}

final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Vector searches with `embedder`'s vectors, run one after the other until `stop` (or once each when
/// `stop` is nil); their latencies in ms.
func searches(_ store: any VectorStore, _ embedder: any Embedder, until stop: Flag? = nil) async throws -> [Double] {
    var times: [Double] = []
    let vectors = try await embedder.embed(queryTexts)
    repeat {
        for q in vectors {
            if let stop, stop.isSet { return times }
            let start = now()
            _ = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: embedder.identity, k: 10), in: ref)
            times.append(seconds(since: start) * 1000)
        }
    } while stop != nil
    return times
}

struct Phases: Sendable {
    var embedding = 0.0, switching = 0.0, dropping = 0.0
}

/// Reindexes with searches running beside it until the switch; returns the report, the phase times and
/// the latencies measured during the reindex.
func reindexWhileSearching(_ store: any GenerationalStore, to embedder: any Embedder) async throws -> (ReindexReport, Phases, Double, [Double]) {
    let stop = Flag()
    let marks = Mutex<[(ReindexProgress.Phase, UInt64)]>([])
    let searching = Task { try await searches(store, oldEmbedder, until: stop) }
    let start = now()
    let report: ReindexReport
    do {
        report = try await Reindexer(store: store, embedder: embedder, batchSize: 512).run(ref) { p in
            marks.withLock { m in
                if m.last?.0 != p.phase { m.append((p.phase, now())) }
            }
            // Searches of the old identity stop at the switch.
            if p.phase != .embedding { stop.set() }
        }
    } catch {
        stop.set()
        _ = try? await searching.value
        throw error
    }
    let total = seconds(since: start)
    stop.set()
    let during = try await searching.value
    let m = marks.withLock { $0 } + [(ReindexProgress.Phase.dropping, now())]
    var phases = Phases()
    for (i, (phase, t)) in m.dropLast().enumerated() {
        let d = Double(m[i + 1].1 - t) / 1e9
        switch phase {
        case .embedding: phases.embedding += d
        case .switching: phases.switching += d
        case .dropping: phases.dropping += d
        }
    }
    return (report, phases, total, during)
}

func report(_ name: String, _ store: any GenerationalStore, chunks: Int, embedOnly: Double) async throws {
    let before = try await searches(store, oldEmbedder)
    let (r, phases, total, during) = try await reindexWhileSearching(store, to: newEmbedder)
    guard r.switched, r.embedded == chunks, try await store.collection(ref)?.identity == newEmbedder.identity else {
        fail("\(name): the reindex did not embed \(chunks) chunks and switch (\(r))")
    }
    let after = try await searches(store, newEmbedder)
    say("\(name): reindex of \(chunks) chunks, hash 384-d → hash 256-d: \(fmt(total, 2)) s, \(Int(Double(chunks) / total)) chunks/s")
    say("  phases: embed and copy \(fmt(phases.embedding, 2)) s (\(Int(Double(chunks) / phases.embedding)) chunks/s), index and switch \(fmt(phases.switching, 2)) s, drop old generation \(fmt(phases.dropping, 2)) s")
    say("  the embedder alone on the same texts: \(fmt(embedOnly, 2)) s (\(Int(Double(chunks) / embedOnly)) chunks/s) -> reindex = \(fmt(embedOnly / total, 2)) x the embedder's speed")
    say("  vector search k=10: before p50 \(fmt(percentile(before, 50), 2)) ms p95 \(fmt(percentile(before, 95), 2)) ms; during (\(during.count) searches) p50 \(fmt(percentile(during, 50), 2)) ms p95 \(fmt(percentile(during, 95), 2)) ms -> \(fmt(percentile(during, 50) / percentile(before, 50), 2)) x; after p50 \(fmt(percentile(after, 50), 2)) ms")
}

// All chunk texts, for the embedder-alone figure.
let texts: [String] = try await DatabaseQueue(path: sqlitePath).read { db in
    try String.fetchAll(db, sql: "SELECT text FROM chunks ORDER BY id")
}
var start = now()
for i in stride(from: 0, to: texts.count, by: 512) { _ = try await newEmbedder.embed(Array(texts[i..<min(texts.count, i + 512)])) }
let hashAlone = seconds(since: start)
say("Engram reindex benchmark — \(documents.count) documents, \(texts.count) chunks (linux-doc, hash embedder)")
say()

/// Runs a test-data statement the stores do not offer (dropping a schema, VACUUM) on the server at `url`.
nonisolated func admin(_ url: String, _ sql: String) async throws {
    try await PostgresStoreConfiguration(url: url).withClient { client in _ = try await client.query(PostgresQuery(unsafeSQL: sql)) }
}

// Both stores are opened the way the CLI opens them.
try await Engram.withStores("sqlite:" + sqlitePath, access: .existing) { stores in
    try await report("SQLite", try stores.require(\.generations, "be reindexed"), chunks: texts.count, embedOnly: hashAlone)
}

// PostgreSQL: the same documents and chunks loaded the way an ingest writes them.
if let url = env["ENGRAM_POSTGRES_URL"] {
    let schema = "engram_reindex_bench"
    try await admin(url, "DROP SCHEMA IF EXISTS \(schema) CASCADE")
    try await Engram.withStores(url + (url.contains("?") ? "&" : "?") + "schema=\(schema)", access: .create) { stores in
        let pg = stores.vectors
        _ = try await pg.createCollection(ref, identity: oldEmbedder.identity)
        var batches: [[DocumentUpsert]] = [], batch: [DocumentUpsert] = [], size = 0
        for d in documents {
            batch.append(DocumentUpsert(document: d.record, chunks: d.chunks))
            size += d.chunks.count
            if size >= 2000 { batches.append(batch); batch = []; size = 0 }
        }
        if !batch.isEmpty { batches.append(batch) }
        let loadStart = now()
        _ = try await pg.upsert(batches: batches, identity: oldEmbedder.identity, in: ref, deferIndexing: true)
        try await pg.buildIndexes(ref)
        say("PostgreSQL: loaded \(texts.count) chunks in \(fmt(seconds(since: loadStart), 1)) s (HNSW index included)")
        try await admin(url, "VACUUM ANALYZE \(schema).chunks")
        try await report("PostgreSQL", try stores.require(\.generations, "be reindexed"), chunks: texts.count, embedOnly: hashAlone)
    }
    try await admin(url, "DROP SCHEMA \(schema) CASCADE")
}

// MiniLM on a slice: a store holding the first documents up to ENGRAM_REINDEX_MINILM_CHUNKS chunks.
if miniLMChunks > 0, let miniLM = try? MiniLMEmbedder() {
    let slicePath = work + "/minilm.sqlite"
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: slicePath + suffix) }
    let (sliceTexts, alone, total, r) = try await Engram.withStores("sqlite:" + slicePath, access: .create) { stores in
        let slice = try stores.require(\.generations, "be reindexed")
        _ = try await slice.createCollection(ref, identity: oldEmbedder.identity)
        var sliceTexts: [String] = []
        for d in documents where sliceTexts.count < miniLMChunks {
            _ = try await slice.upsert(document: d.record, chunks: d.chunks, identity: oldEmbedder.identity, in: ref)
            sliceTexts += d.chunks.map(\.text)
        }
        let embedStart = now()
        for i in stride(from: 0, to: sliceTexts.count, by: miniLM.preferredBatchSize) {
            _ = try await miniLM.embed(Array(sliceTexts[i..<min(sliceTexts.count, i + miniLM.preferredBatchSize)]))
        }
        let alone = seconds(since: embedStart)
        let reindexStart = now()
        let r = try await Reindexer(store: slice, embedder: miniLM).run(ref)
        return (sliceTexts, alone, seconds(since: reindexStart), r)
    }
    guard r.switched, r.embedded == sliceTexts.count else { fail("MiniLM reindex did not embed \(sliceTexts.count) chunks (\(r))") }
    say()
    say("SQLite, MiniLM: reindex of \(sliceTexts.count) chunks: \(fmt(total, 1)) s, \(fmt(Double(sliceTexts.count) / total, 1)) chunks/s; MiniLM alone on the same texts \(fmt(alone, 1)) s (\(fmt(Double(sliceTexts.count) / alone, 1)) chunks/s) -> reindex = \(fmt(alone / total, 2)) x the embedder's speed")
} else if miniLMChunks > 0 {
    say("MiniLM is not installed (scripts/install-model.sh): its reindex was not measured")
}
