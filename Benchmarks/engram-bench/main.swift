// Ingestion and search benchmark on a real corpus (Debian's linux-doc-6.1), SQLite store, hash embedder.
// Run through scripts/bench.sh, which fetches the corpus and builds in release mode.
//
// Usage: engram-bench CORPUS_DIR WORK_DIR [QUERIES]
import EngramCore
import EngramPipeline
import EngramKit
import EngramTesting
import Foundation

nonisolated(nonsending) func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}


func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Prints a line at once (unbuffered), so progress shows when output goes to a file.
func say(_ line: String = "") {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fmt(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: engram-bench CORPUS_DIR WORK_DIR [QUERIES]\n".utf8))
    exit(64)
}
let corpus = args[1]
let work = args[2]
let queryCount = args.count > 3 ? Int(args[3]) ?? 200 : 200
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
let storePath = work + "/bench.sqlite"
for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: storePath + suffix) }

// The store is opened the way the CLI opens it: through the entry point.
try await Engram.withStores("sqlite:" + storePath, access: .create) { stores in
    let store = stores.vectors
    let ref = CollectionRef(tenant: "bench", name: "linux-doc")
    let embedder = HashEmbedder(dimension: 384)
    _ = try await store.createCollection(ref, identity: embedder.identity)
    var options = Ingestor.Options()
    options.maxBytes = 4 * 1024 * 1024
    let ingestor = Ingestor(store: store, embedder: embedder, collection: ref, options: options)

    say("Engram benchmark — corpus \(corpus), SQLite store, hash embedder (dim 384), chunker \(options.chunker.fingerprint)")

    // 1. First ingest.
    var first = IngestReport()
    let firstTime = try await seconds { first = try await ingestor.ingest(paths: [corpus]) }
    let docs = first.added
    say("")
    say("ingest (first)      \(first.files) files, \(docs) documents, \(first.chunksWritten) chunks, \(first.failed.count) failed, \(fmt(firstTime, 2)) s")
    say("                    \(fmt(Double(docs) / firstTime)) documents/s, \(fmt(Double(first.chunksWritten) / firstTime)) chunks/s")

    // 2. Re-ingest of the unchanged corpus.
    var second = IngestReport()
    let secondTime = try await seconds { second = try await ingestor.ingest(paths: [corpus]) }
    say("ingest (unchanged)  \(second.unchanged) unchanged, \(second.added + second.updated) written, \(second.chunksEmbedded) chunks embedded, \(fmt(secondTime, 2)) s")
    say("                    \(fmt(firstTime / secondTime)) x faster than the first ingest")

    // 3. Search latency.
    let stats = try await store.stats(ref)
    let documents = try await store.documents(in: ref)
    // A ~1%-selective filter: the folder whose documents hold the share of chunks nearest to 1%.
    var chunksByFolder: [String: Int] = [:]
    let root = URL(fileURLWithPath: corpus).standardizedFileURL.absoluteString
    for d in documents {
        let rest = d.sourceURI.dropFirst(root.count).drop(while: { $0 == "/" })
        let parts = rest.split(separator: "/")
        guard parts.count > 1 else { continue }
        let folder = parts[0] == "_sources" && parts.count > 2 ? "_sources/" + parts[1] : String(parts[0])
        chunksByFolder[folder, default: 0] += d.chunkCount
    }
    let target = Double(stats.chunks) / 100
    let folder = chunksByFolder.min { abs(Double($0.value) - target) < abs(Double($1.value) - target) }!.key
    let corpusPath = URL(fileURLWithPath: corpus).standardizedFileURL.path
    let filter = Filter.contains("source_path", .string(corpusPath + "/" + folder + "/"))
    let selected = chunksByFolder[folder]!
    say("")
    say("search over \(stats.chunks) chunks, k = 10, \(queryCount) queries each")
    say("filter              \(filter)  (\(selected) chunks, \(fmt(100 * Double(selected) / Double(stats.chunks), 2))%)")

    var rng = SplitMix64(seed: 2024)
    // Queries: the first eight words of randomly chosen chunks (skipping chunks with fewer than three words).
    let sampleChunks = try await store.chunks(ids: (0..<(queryCount * 3)).map { _ in
        let d = documents[Int(rng.next() % UInt64(documents.count))]
        return ChunkRecord.makeID(documentID: d.id, ordinal: Int(rng.next() % UInt64(d.chunkCount)))
    }, in: ref)
    let queries = Array(sampleChunks.lazy
        .map { c in KeywordTokenizer.tokens(c.text).prefix(8).joined(separator: " ") }
        .filter { $0.split(separator: " ").count >= 3 }
        .prefix(queryCount))
    let vectors = queries.map(embedder.vector(for:))

    var cacheLoad = 0.0
    cacheLoad = try await seconds { _ = try await store.search(SearchRequest(mode: .vector, vector: vectors[0], k: 10), in: ref) }
    say("vector cache load   \(fmt(cacheLoad * 1000)) ms (first query after a write, once)")

    nonisolated(nonsending) func measure(_ name: String, _ make: (Int) -> SearchRequest) async throws -> [Double] {
        var times: [Double] = []
        var returned = 0
        for i in 0..<vectors.count {
            let request = make(i)
            var response: SearchResponse?
            times.append(try await seconds { response = try await store.search(request, in: ref) })
            returned += response!.hits.count
        }
        let ms = times.map { $0 * 1000 }
        say("\(name.padding(toLength: 20, withPad: " ", startingAt: 0))p50 \(fmt(percentile(ms, 50), 2)) ms   p95 \(fmt(percentile(ms, 95), 2)) ms   (avg hits \(fmt(Double(returned) / Double(vectors.count), 1)))")
        return ms
    }
    let vectorPlain = try await measure("vector", { SearchRequest(mode: .vector, vector: vectors[$0], k: 10) })
    _ = try await measure("vector + filter", { SearchRequest(mode: .vector, vector: vectors[$0], filter: filter, k: 10) })
    _ = try await measure("keyword", { SearchRequest(mode: .keyword, text: queries[$0], k: 10) })
    _ = try await measure("keyword + filter", { SearchRequest(mode: .keyword, text: queries[$0], filter: filter, k: 10) })
    _ = try await measure("hybrid", { SearchRequest(mode: .hybrid, text: queries[$0], vector: vectors[$0], k: 10) })
    _ = try await measure("hybrid + filter", { SearchRequest(mode: .hybrid, text: queries[$0], vector: vectors[$0], filter: filter, k: 10) })

    // Search right after a one-document write: the cache is refreshed with the changed rows only.
    do {
        let loaded = try await store.document(id: documents[0].id, in: ref)!
        var doc = DocumentRecord(id: loaded.info.id, sourceURI: loaded.info.sourceURI, sha256: "", fingerprint: "edited", mime: loaded.info.mime, size: loaded.info.size, metadata: loaded.info.metadata, text: loaded.text + "\n\nAn added paragraph.")
        doc.sha256 = SHA256Hex.hash(doc.text)
        let spans = StructuredChunker().chunk(text: doc.text, headings: [])
        let scalars = ScalarText(doc.text)
        let chunks = spans.enumerated().map { i, span in
            let text = scalars.slice(span.start, span.end)!
            return ChunkRecord(id: ChunkRecord.makeID(documentID: doc.id, ordinal: i), ordinal: i, text: text, charStart: span.start, charEnd: span.end, section: span.section, tokenCount: span.tokenCount, sha256: SHA256Hex.hash(text), embedding: embedder.vector(for: text))
        }
        var times: [Double] = []
        for round in 0..<5 {
            var d = doc
            d.fingerprint = "edited-\(round)"
            _ = try await store.upsert(document: d, chunks: chunks, identity: embedder.identity, in: ref)
            times.append(try await seconds { _ = try await store.search(SearchRequest(mode: .vector, vector: vectors[round], k: 10), in: ref) } * 1000)
        }
        say("after a write       p50 \(fmt(percentile(times, 50), 2)) ms (first vector search after upserting one document, 5 rounds)")
    }

    // 4. Exact search against numpy X @ q on the same vectors, in the same run.
    let matrixPath = work + "/vectors.f32", queryPath = work + "/queries.f32"
    do {
        let q = try DatabaseExport.vectors(storePath: storePath)
        try q.write(to: URL(fileURLWithPath: matrixPath))
        var qb = Data()
        for v in vectors { v.withUnsafeBufferPointer { qb.append(Data(buffer: $0)) } }
        try qb.write(to: URL(fileURLWithPath: queryPath))
    }
    let script = """
    import numpy as np, time, sys
    X = np.fromfile(sys.argv[1], dtype=np.float32).reshape(-1, 384)
    Q = np.fromfile(sys.argv[2], dtype=np.float32).reshape(-1, 384)
    for q in Q[:5]: X @ q
    ts = []
    for q in Q:
        t = time.perf_counter(); s = X @ q; ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    print(f"{ts[len(ts)//2]:.3f} {ts[int(0.95*(len(ts)-1))]:.3f} {X.shape[0]}")
    """
    let python = Process()
    python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    python.arguments = ["python3", "-c", script, matrixPath, queryPath]
    var env = ProcessInfo.processInfo.environment
    env["OPENBLAS_CORETYPE"] = nil
    env["OPENBLAS_L2_SIZE"] = nil
    python.environment = env
    let pipe = Pipe()
    python.standardOutput = pipe
    try python.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    python.waitUntilExit()
    let parts = output.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
    if parts.count == 3 {
        // Interleave one more round of our own unfiltered search right after numpy, for a fair side-by-side.
        let again = try await measure("vector (again)", { SearchRequest(mode: .vector, vector: vectors[$0], k: 10) })
        let ours = min(percentile(vectorPlain, 50), percentile(again, 50))
        say("")
        say("exact search vs numpy (same \(Int(parts[2])) x 384 float32 vectors, same queries)")
        say("numpy X @ q         p50 \(fmt(parts[0], 2)) ms   p95 \(fmt(parts[1], 2)) ms")
        say("engram vector k=10  p50 \(fmt(ours, 2)) ms (full store search: scan, top-k, chunk fetch)")
        say("ratio               \(fmt(ours / parts[0], 2)) x numpy")
    } else {
        say("numpy comparison failed: \(output)")
    }
    try? FileManager.default.removeItem(atPath: matrixPath)
    try? FileManager.default.removeItem(atPath: queryPath)
    say("")
    say("peak memory (max RSS) \(fmt(peakRSSMegabytes())) MB")
}
