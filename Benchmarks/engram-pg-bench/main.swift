// PostgreSQL benchmark, side by side in one run (run through scripts/bench-postgres.sh):
//
//   1. bulk load of 100,000 chunks with precomputed 384-d vectors (linux-doc, hash embedder): Engram's
//      batch upsert vs psql `\copy` of the same rows into tables of the same shape vs
//      langchain-postgres `PGVector.add_embeddings`;
//   2. k=10 latency, unfiltered and with a 0.5% filter: Engram's round trip vs the same SQL through
//      pgbench (Engram's own statements, captured from the server log; and the bare ranking statement
//      alone) vs langchain-postgres, with how many results each returned and whether they equal the
//      exact answer;
//   3. recall@10 of the HNSW path against the exact scan over the queries;
//   4. row-level security overhead: the same query through pgbench as the application role (policies
//      apply) and as a superuser (they do not).
//
// Usage: engram-pg-bench SQLITE_STORE WORK_DIR   (environment: ENGRAM_POSTGRES_URL, ENGRAM_POSTGRES_LOG, PSQL_BIN_DIR,
//        LANGCHAIN_PYTHON; ENGRAM_BENCH_CHUNKS, ENGRAM_BENCH_QUERIES)
import EngramCore
import EngramEmbeddings
import EngramKit
import EngramPostgres
import EngramTesting
import Foundation
import GRDB
import PostgresNIO

/// User + system CPU time of this process so far, in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { fail("\(executable) \(arguments.prefix(3).joined(separator: " ")) exited with \(p.terminationStatus)") }
    return String(decoding: data, as: UTF8.self)
}

let env = ProcessInfo.processInfo.environment
let args = CommandLine.arguments
guard args.count >= 3, let ownerURL = env["ENGRAM_POSTGRES_URL"], let psqlDir = env["PSQL_BIN_DIR"] else {
    fail("usage: engram-pg-bench SQLITE_STORE WORK_DIR (with ENGRAM_POSTGRES_URL and PSQL_BIN_DIR set)")
}
let sqlitePath = args[1], work = args[2]
let chunkTarget = Int(env["ENGRAM_BENCH_CHUNKS"] ?? "") ?? 100_000
let queryCount = Int(env["ENGRAM_BENCH_QUERIES"] ?? "") ?? 200
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
let ref = CollectionRef(tenant: "bench", name: "linux-doc")
// ENGRAM_BENCH_EMBEDDER=minilm re-embeds every chunk and query with the native MiniLM (texts truncated at
// 128 tokens, the length the model was trained at; two embedding tasks of one BLAS thread each), caching
// the vectors in WORK_DIR; the default keeps the store's hash vectors.
let useMiniLM = env["ENGRAM_BENCH_EMBEDDER"] == "minilm"
let miniLM: MiniLMEmbedder? = useMiniLM ? try MiniLMEmbedder(maxTokens: 128) : nil
let identity = miniLM?.identity ?? HashEmbedder(dimension: 384).identity
let schema = "engram_bench"

// MARK: The rows: whole documents of the SQLite benchmark store, in order, up to the chunk target.

struct Row { var document: DocumentRecord; var chunks: [ChunkRecord] }
var corpus: [Row] = []
var chunkTotal = 0
do {
    let db = try DatabaseQueue(path: sqlitePath, configuration: { var c = Configuration(); c.readonly = true; return c }())
    try await db.read { db in
        let docs = try GRDB.Row.fetchAll(db, sql: "SELECT id, source_uri, sha256, fingerprint, mime, size, metadata, text FROM documents ORDER BY source_uri")
        let cursor = try GRDB.Row.fetchCursor(db, sql: "SELECT document_id, id, ordinal, char_start, char_end, token_count, sha256, section, text, embedding FROM chunks ORDER BY document_id, ordinal")
        var byDocument: [String: [ChunkRecord]] = [:]
        while let r = try cursor.next() {
            let blob: Data = r["embedding"]
            let vector = blob.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            var section: [String] = []
            if case .array(let items) = try JSONValue.parse(r["section"] as String) {
                section = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
            byDocument[r["document_id"], default: []].append(ChunkRecord(
                id: r["id"], ordinal: r["ordinal"], text: r["text"], charStart: r["char_start"], charEnd: r["char_end"], section: section,
                tokenCount: r["token_count"], sha256: r["sha256"], embedding: vector))
        }
        for d in docs where chunkTotal < chunkTarget {
            var chunks = byDocument[d["id"]] ?? []
            guard !chunks.isEmpty else { continue }
            chunks = Array(chunks.prefix(chunkTarget - chunkTotal))
            // A 0.5%-selective key: every 200th chunk of the corpus is in bucket b7.
            for i in chunks.indices { chunks[i].metadata = ["bucket": .string("b\((chunkTotal + i) % 200)")] }
            chunkTotal += chunks.count
            let document = DocumentRecord(id: d["id"], sourceURI: d["source_uri"], sha256: d["sha256"], fingerprint: d["fingerprint"], mime: d["mime"], size: d["size"], metadata: try Metadata.parse(json: d["metadata"]), text: d["text"])
            corpus.append(Row(document: document, chunks: chunks))
        }
    }
}
guard chunkTotal == chunkTarget else { fail("the SQLite store has only \(chunkTotal) chunks") }
if let miniLM {
    // Vectors of every chunk, cached per corpus (chunk ids hashed into the file name).
    let ids = corpus.flatMap { $0.chunks.map(\.id) }.joined(separator: "\n")
    let cache = "\(work)/minilm-max128-\(chunkTotal)-\(String(HashEmbedder.fnv1a(Array(ids.utf8)), radix: 16)).f32"
    let dim = miniLM.identity.dimension
    var flat: [Float]
    if let data = FileManager.default.contents(atPath: cache), data.count == chunkTotal * dim * 4 {
        flat = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        say("MiniLM vectors read from \(cache)")
    } else {
        let texts = corpus.flatMap { $0.chunks.map(\.text) }
        let started = now()
        let slices = stride(from: 0, to: texts.count, by: 256).map { $0..<min($0 + 256, texts.count) }
        let parts = try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { group in
            var results: [Int: [[Float]]] = [:]
            var next = 0
            func add(_ group: inout ThrowingTaskGroup<(Int, [[Float]]), any Error>) {
                let i = next, range = slices[i]
                next += 1
                let batch = Array(texts[range])
                group.addTask { (i, miniLM.embedSynchronously(batch)) }
            }
            for _ in 0..<min(2, slices.count) { add(&group) }
            var done = 0
            while let (i, v) = try await group.next() {
                results[i] = v
                done += v.count
                FileHandle.standardError.write(Data("\rMiniLM: \(done)/\(texts.count) chunks, \(fmt(Double(done) / seconds(since: started), 0)) chunks/s   ".utf8))
                if next < slices.count { add(&group) }
            }
            return results
        }
        flat = []
        flat.reserveCapacity(chunkTotal * dim)
        for i in slices.indices { for v in parts[i]! { flat += v } }
        try flat.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: cache))
        FileHandle.standardError.write(Data("\n".utf8))
        say("MiniLM embedded \(chunkTotal) chunks in \(fmt(seconds(since: started), 1)) s (2 tasks × 1 BLAS thread)")
    }
    var offset = 0
    for r in corpus.indices {
        for c in corpus[r].chunks.indices {
            corpus[r].chunks[c].embedding = Array(flat[(offset * dim)..<((offset + 1) * dim)])
            offset += 1
        }
    }
}
say("Engram PostgreSQL benchmark — \(corpus.count) documents, \(chunkTotal) chunks with 384-d vectors (linux-doc, \(useMiniLM ? "MiniLM" : "hash") embedder)")
let ownerConfig = try { var c = try PostgresStoreConfiguration(url: ownerURL); c.schema = schema; return c }()
/// The benchmark's store: the owner's connection, in the benchmark's schema (opened through the library's
/// entry point like every command).
let storeURL = ownerURL + (ownerURL.contains("?") ? "&" : "?") + "schema=\(schema)"
let psql = psqlDir + "/psql"
let pgbench = psqlDir + "/pgbench"
let host = ownerConfig.host, port = "\(ownerConfig.port)", database = ownerConfig.database
/// psql's arguments to reach the benchmark database as `user`, stopping at the first error.
func psqlConnection(_ user: String = ownerConfig.username) -> [String] {
    ["-h", host, "-p", port, "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1"]
}
@discardableResult func psqlRun(_ sql: String, user: String = ownerConfig.username) throws -> String {
    try run(psql, psqlConnection(user) + ["-qtAc", sql])
}

// MARK: 1. Bulk load.

try psqlRun("DROP SCHEMA IF EXISTS \(schema) CASCADE; DROP SCHEMA IF EXISTS rawcopy CASCADE")
try psqlRun("DROP TABLE IF EXISTS public.langchain_pg_embedding, public.langchain_pg_collection CASCADE")
try await Engram.withMigrations(storeURL) { _ = try await $0.migrate(grantTo: "engram_app") }
// Tables of the same shape for psql's \copy, made before any vector index exists.
try psqlRun("""
    CREATE SCHEMA rawcopy;
    CREATE TABLE rawcopy.documents (LIKE \(schema).documents INCLUDING ALL);
    CREATE TABLE rawcopy.chunks (LIKE \(schema).chunks INCLUDING ALL);
    """)
var engramLoad = 0.0, engramIndex = 0.0, engramLoadCPU = 0.0
let batchChunks = 2_000
try await Engram.withStores(storeURL, access: .existing) { stores in
    let store = stores.vectors
    _ = try await store.createCollection(ref, identity: identity)
    var batches: [[DocumentUpsert]] = [[]]
    var inBatch = 0
    for row in corpus {
        if inBatch + row.chunks.count > batchChunks && inBatch > 0 {
            batches.append([])
            inBatch = 0
        }
        batches[batches.count - 1].append(DocumentUpsert(document: row.document, chunks: row.chunks))
        inBatch += row.chunks.count
    }
    let start = now(), cpuStart = processCPUSeconds()
    for results in try await store.upsert(batches: batches, identity: identity, in: ref, deferIndexing: true) {
        for case .failure(let e) in results { fail("upsert refused a document: \(e)") }
    }
    engramLoad = seconds(since: start)
    engramLoadCPU = processCPUSeconds() - cpuStart
    let indexStart = now()
    try await store.buildIndexes(ref)
    engramIndex = seconds(since: indexStart)
}

// The same rows through psql's \copy into tables of the same shape (columns, indexes; no row-level
// security, no foreign keys), in PostgreSQL's text format: the rows Engram stored, dumped with COPY TO,
// text search vectors included (so the server parses them instead of computing them).
let documentsFile = work + "/documents.tsv", chunksFile = work + "/chunks.tsv"
let chunkColumns = "collection_id, id, tenant_id, document_id, generation, ordinal, char_start, char_end, token_count, sha256, section, metadata, text_search_config, text, text_search, embedding"
try run(psql, psqlConnection() + ["-qc",
               "SELECT set_config('engram.tenant_id', 'bench', false)", "-c",
               "\\copy (SELECT * FROM \(schema).documents ORDER BY source_uri) TO '\(documentsFile)'", "-c",
               "\\copy (SELECT \(chunkColumns) FROM \(schema).chunks ORDER BY document_id, ordinal) TO '\(chunksFile)'"])
let copyStart = now()
try run(psql, psqlConnection() + ["-qc",
               "\\copy rawcopy.documents FROM '\(documentsFile)'", "-c",
               "\\copy rawcopy.chunks (\(chunkColumns)) FROM '\(chunksFile)'"])
let rawCopy = seconds(since: copyStart)
let copied = Int(try psqlRun("SELECT count(*) FROM rawcopy.chunks").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
guard copied == chunkTotal else { fail("psql copied \(copied) rows") }
// Again in as many streams as Engram's writers: the documents first, then the chunks split in parts
// copied side by side, each by its own psql.
let copyStreams = ownerConfig.storeOptions.bulkWriters
try psqlRun("TRUNCATE rawcopy.documents, rawcopy.chunks")
var streamFiles: [String] = []
do {
    let lines = try String(contentsOfFile: chunksFile, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
    let per = (lines.count + copyStreams - 1) / copyStreams
    for k in 0..<copyStreams {
        let file = work + "/chunks-\(k).tsv"
        try (lines[min(lines.count, k * per)..<min(lines.count, (k + 1) * per)].joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        streamFiles.append(file)
    }
}
let streamsStart = now()
try run(psql, psqlConnection() + ["-qc", "\\copy rawcopy.documents FROM '\(documentsFile)'"])
let streams = try streamFiles.map { file in
    let p = Process()
    p.executableURL = URL(fileURLWithPath: psql)
    p.arguments = psqlConnection() + ["-qc",
                   "\\copy rawcopy.chunks (\(chunkColumns)) FROM '\(file)'"]
    try p.run()
    return p
}
for p in streams {
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { fail("psql \\copy of a part exited with \(p.terminationStatus)") }
}
let rawCopyStreams = seconds(since: streamsStart)
for file in streamFiles { try? FileManager.default.removeItem(atPath: file) }
let copiedAgain = Int(try psqlRun("SELECT count(*) FROM rawcopy.chunks").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
guard copiedAgain == chunkTotal else { fail("psql copied \(copiedAgain) rows in \(copyStreams) streams") }

// MARK: Queries: 8-word prefixes of random chunks, embedded like the corpus.

let embedder = HashEmbedder(dimension: 384)
var rng = SplitMix64(seed: 2024)
let allChunks = corpus.flatMap(\.chunks)
var queryTexts: [String] = []
while queryTexts.count < queryCount {
    let c = allChunks[Int(rng.next() % UInt64(allChunks.count))]
    let words = KeywordTokenizer.tokens(c.text).prefix(8)
    if words.count >= 3 { queryTexts.append(words.joined(separator: " ")) }
}
let queries = miniLM?.embedSynchronously(queryTexts) ?? queryTexts.map(embedder.vector(for:))
let filter = Filter.compare("bucket", .eq, .string("b7"))
let filterRows = allChunks.filter { $0.metadata["bucket"] == .string("b7") }.count

struct Measured { var p50: Double; var p95: Double; var ids: [[String]]; var path: String }
@MainActor func measure(_ store: any VectorStore, filter: Filter?) async throws -> Measured {
    try await timedSearches(store, queries: queries, identity: identity, ref: ref, filter: filter)
}
/// The timed loop runs off the main actor, where a server's request handlers run: on the main thread each
/// search would pay two more thread switches (main thread to the concurrency pool and back).
func timedSearches(_ store: any VectorStore, queries: [[Float]], identity: EmbeddingIdentity, ref: CollectionRef, filter: Filter?) async throws -> Measured {
    var times: [Double] = []
    var ids: [[String]] = []
    var path = ""
    for q in queries {
        let start = now()
        let r = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: identity, filter: filter, k: 10), in: ref)
        times.append(seconds(since: start) * 1000)
        ids.append(r.hits.map(\.chunk.id))
        path = r.path.description
    }
    return Measured(p50: percentile(times, 50), p95: percentile(times, 95), ids: ids, path: path)
}

var approximate = Measured(p50: 0, p95: 0, ids: [], path: ""), filtered = approximate
var searchCPU = 0.0
var collectionID = 0
try await Engram.withStores(storeURL, access: .existing) { stores in
    let store = stores.vectors
    try psqlRun("VACUUM ANALYZE \(schema).chunks")
    _ = try await measure(store, filter: nil)  // warm-up: caches and buffers
    let cpuStart = processCPUSeconds()
    approximate = try await measure(store, filter: nil)
    searchCPU = (processCPUSeconds() - cpuStart) / Double(queries.count) * 1000
    filtered = try await measure(store, filter: filter)
}
// Row-level security is forced even for the owner, so the id is read as the superuser.
collectionID = Int(try psqlRun("SELECT id FROM \(schema).collections", user: "postgres")
    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0

// The exact answers, computed here by brute force over the same vectors (float64 cosine). Duplicate texts
// tie, so a returned chunk counts as correct when its similarity reaches the exact 10th best.
func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in a.indices { dot += Double(a[i]) * Double(b[i]); na += Double(a[i]) * Double(a[i]); nb += Double(b[i]) * Double(b[i]) }
    return na == 0 || nb == 0 ? 0 : dot / (na.squareRoot() * nb.squareRoot())
}
let vectorsByID = Dictionary(uniqueKeysWithValues: allChunks.map { ($0.id, $0.embedding!) })
let inFilter = allChunks.filter { $0.metadata["bucket"] == .string("b7") }
func correct(_ returned: [String], query q: [Float], among candidates: [ChunkRecord]) -> (correct: Int, expected: Int) {
    var scores = candidates.map { cosine(q, $0.embedding!) }
    scores.sort(by: >)
    let expected = min(10, scores.count)
    guard expected > 0 else { return (0, 0) }
    let tenth = scores[expected - 1]
    return (returned.filter { cosine(q, vectorsByID[$0]!) >= tenth - 1e-6 }.count, expected)
}
var recallSum = 0.0
var filteredEqual = 0
for (i, q) in queries.enumerated() {
    let r = correct(approximate.ids[i], query: q, among: allChunks)
    recallSum += Double(r.correct) / Double(r.expected)
    let f = correct(filtered.ids[i], query: q, among: inFilter)
    if f.correct == f.expected && filtered.ids[i].count == f.expected { filteredEqual += 1 }
}
let recall = recallSum / Double(queries.count)
let filteredFull = filtered.ids.filter { $0.count == 10 }.count

// MARK: The same SQL through pgbench, one script per query (pgbench takes at most 128 scripts: the first 128
// queries, each run about three times).

@MainActor func pgbenchRun(_ name: String, user: String, scripts: [String]) throws -> (p50: Double, p95: Double) {
    let dir = work + "/pgbench-\(name)-\(user)"
    try? FileManager.default.removeItem(atPath: dir)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var arguments: [String] = []
    for (i, script) in scripts.prefix(128).enumerated() {
        let path = dir + "/q\(i).sql"
        try script.write(toFile: path, atomically: false, encoding: .utf8)
        arguments += ["-f", path]
    }
    // The scripts must return real rows for that role (a tenant setting lost between statements would
    // make row-level security hide everything, and an empty answer is fast): check the first one.
    let check = try run(psql, psqlConnection(user) + ["-qtA", "-f", dir + "/q0.sql"])
    let returned = check.split(separator: "\n").filter { $0.hasPrefix("chk_") || $0.contains("|chk_") }.count
    guard returned >= 10 else { fail("pgbench script \(name) for \(user) returns \(returned) chunk rows, fewer than 10:\n\(check.prefix(500))") }
    try run(pgbench, ["-h", host, "-p", port, "-U", user, "-n", "-c", "1", "-t", "\(min(scripts.count, 128) * 3)", "-l", "--log-prefix=\(dir)/log"] + arguments + [database])
    var latencies: [Double] = []
    for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasPrefix("log") {
        for line in try String(contentsOfFile: dir + "/" + file, encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 3, let us = Double(fields[2]) { latencies.append(us / 1000) }
        }
    }
    return (percentile(latencies, 50), percentile(latencies, 95))
}

// The bare ranking statement of each query, with the transaction and settings around it, written here.
func vectorLiteral(_ v: [Float]) -> String { "'[" + v.map { "\($0)" }.joined(separator: ",") + "]'::vector(384)" }
@MainActor func bareScripts(filtered: Bool) -> [String] {
    queries.prefix(128).map { q in
        let distance = "(c.embedding::vector(384) <=> \(vectorLiteral(q)))"
        let from = "FROM \(schema).chunks c WHERE c.collection_id = \(collectionID) AND c.generation = 1 AND c.embedding IS NOT NULL"
        let body: String
        if filtered {
            body = """
                SELECT set_config('engram.tenant_id', 'bench', true), set_config('enable_indexscan', 'off', true);
                SELECT c.id, (1 - \(distance))::float8 AS score \(from) AND (COALESCE((jsonb_typeof(c.metadata -> 'bucket') = 'string' AND (c.metadata ->> 'bucket') = 'b7'), false) AND c.metadata @> jsonb_build_object('bucket'::text, 'b7'::text)) ORDER BY \(distance), c.id COLLATE "C" LIMIT 10;
                """
        } else {
            body = """
                SELECT set_config('engram.tenant_id', 'bench', true), set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', '100', true), set_config('hnsw.max_scan_tuples', '20000', true);
                SELECT c.id, (1 - \(distance))::float8 AS score \(from) ORDER BY \(distance) LIMIT 10;
                """
        }
        return "BEGIN;\n" + body + "\nCOMMIT;\n"
    }
}

// Engram's own statements: captured from the server log (log_statement = all, set for the owner role only
// while a separate client runs the first 128 queries), every statement of each search transaction, with
// the logged parameter values written in as literals. So pgbench runs exactly what Engram sent, less the
// binary parameter encoding.
guard let logPath = env["ENGRAM_POSTGRES_LOG"] else { fail("ENGRAM_POSTGRES_LOG (from scripts/postgres.sh env) is not set") }
@MainActor func startCapture() throws -> Int {
    try psqlRun("ALTER ROLE \(ownerConfig.username) SET log_statement = 'all'", user: "postgres")
    return (try FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
}
@MainActor func capturedScripts(since start: Int) throws -> [String] {
    try psqlRun("ALTER ROLE \(ownerConfig.username) RESET log_statement", user: "postgres")
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: logPath))
    try handle.seek(toOffset: UInt64(start))
    let text = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
    // Entries start with the default prefix "%m [%p] "; a statement's own line breaks continue an entry.
    let head = try Regex(#"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[(\d+)\] (\w+):  "#, as: (Substring, Substring, Substring).self)
    let parameter = try Regex(#"\$(\d+) = ('(?:[^']|'')*'|NULL)"#, as: (Substring, Substring, Substring).self)
    var entries: [(pid: String, level: String, text: String)] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if let m = line.prefixMatch(of: head) {
            entries.append((String(m.1), String(m.2), String(line[m.range.upperBound...])))
        } else if !entries.isEmpty {
            entries[entries.count - 1].text += "\n" + line
        }
    }
    var open: [String: [String]] = [:]
    var scripts: [String] = []
    for (index, entry) in entries.enumerated() where entry.level == "LOG" {
        guard let colon = entry.text.range(of: ": "), entry.text.hasPrefix("execute ") || entry.text.hasPrefix("statement: ") else { continue }
        var sql = String(entry.text[colon.upperBound...])
        if index + 1 < entries.count, entries[index + 1].pid == entry.pid, entries[index + 1].level == "DETAIL", entries[index + 1].text.lowercased().hasPrefix("parameters: ") {
            var values: [(Int, String)] = []
            for m in entries[index + 1].text.matches(of: parameter) { values.append((Int(m.1)!, String(m.2))) }
            for (n, value) in values.sorted(by: { $0.0 > $1.0 }) { sql = sql.replacingOccurrences(of: "$\(n)", with: value) }
        }
        if sql == "BEGIN" { open[entry.pid] = [] }
        guard var statements = open[entry.pid] else { continue }
        statements.append(sql)
        if sql == "COMMIT" {
            open[entry.pid] = nil
            if statements.contains(where: { $0.contains("ORDER BY") }) { scripts.append(statements.joined(separator: ";\n") + ";\n") }
        } else {
            open[entry.pid] = statements
        }
    }
    guard scripts.count >= min(queries.count, 128) else { fail("captured \(scripts.count) search transactions from \(logPath), expected \(min(queries.count, 128))") }
    return Array(scripts.prefix(128))
}
var engramPlain: [String] = [], engramFiltered: [String] = []
for filtered in [false, true] {
    let start = try startCapture()
    do {
        try await Engram.withStores(storeURL, access: .existing) { stores in
            let store = stores.vectors
            // One more search than scripts: a read's COMMIT is not waited for, so the last one may still be
            // in flight when the client shuts down.
            for q in queries.prefix(128) + queries.prefix(1) {
                _ = try await store.search(SearchRequest(mode: .vector, vector: q, vectorIdentity: identity, filter: filtered ? filter : nil, k: 10), in: ref)
            }
        }
    } catch {
        _ = try? psqlRun("ALTER ROLE \(ownerConfig.username) RESET log_statement", user: "postgres")
        throw error
    }
    let scripts = try capturedScripts(since: start)
    if filtered { engramFiltered = scripts } else { engramPlain = scripts }
}
let benchEngram = try pgbenchRun("engram-plain", user: ownerConfig.username, scripts: engramPlain)
let benchEngramFiltered = try pgbenchRun("engram-filtered", user: ownerConfig.username, scripts: engramFiltered)
let benchApp = try pgbenchRun("bare-plain", user: "engram_app", scripts: bareScripts(filtered: false))
let benchSuper = try pgbenchRun("bare-plain", user: "postgres", scripts: bareScripts(filtered: false))
let benchAppFiltered = try pgbenchRun("bare-filtered", user: "engram_app", scripts: bareScripts(filtered: true))

// Unfiltered latency once more in alternating rounds (Engram, then its statements in pgbench, then the bare
// statement), five by default: the shared machine's speed drifts from one minute to the next, so a ratio of
// two measurements taken minutes apart moved between 1.05 and 1.36 over three runs. Reported: each round's
// ratios and their medians.
let rounds = max(1, Int(env["ENGRAM_BENCH_ROUNDS"] ?? "") ?? 5)
var roundEngram: [Double] = [], roundOwn: [Double] = [], roundBare: [Double] = []
for _ in 0..<rounds {
    var p50 = 0.0
    try await Engram.withStores(storeURL, access: .existing) { stores in
        let store = stores.vectors
        _ = try await measure(store, filter: nil)  // warm-up of this client
        p50 = try await measure(store, filter: nil).p50
    }
    roundEngram.append(p50)
    roundOwn.append(try pgbenchRun("engram-plain", user: ownerConfig.username, scripts: engramPlain).p50)
    roundBare.append(try pgbenchRun("bare-plain", user: "engram_app", scripts: bareScripts(filtered: false)).p50)
}
func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
let ownRatios = zip(roundEngram, roundOwn).map { $0 / $1 }, bareRatios = zip(roundEngram, roundBare).map { $0 / $1 }

// MARK: langchain-postgres, on the same rows and queries.

var langchain: [String: Double] = [:]
if let python = env["LANGCHAIN_PYTHON"] {
    var vectors = Data()
    var lines = ""
    for row in corpus {
        for c in row.chunks {
            c.embedding!.withUnsafeBufferPointer { vectors.append(Data(buffer: $0)) }
            let meta = row.document.metadata.merging(c.metadata) { _, new in new }
            lines += JSONValue.object([("id", .string(c.id)), ("text", .string(c.text)), ("metadata", .string(meta.canonicalJSON))]).serialized() + "\n"
        }
    }
    try vectors.write(to: URL(fileURLWithPath: work + "/lc-vectors.f32"))
    try lines.write(toFile: work + "/lc-rows.jsonl", atomically: false, encoding: .utf8)
    var qdata = Data()
    for q in queries { q.withUnsafeBufferPointer { qdata.append(Data(buffer: $0)) } }
    try qdata.write(to: URL(fileURLWithPath: work + "/lc-queries.f32"))
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("langchain_bench.py").path
    let out = try run(python, [script, work, "postgresql+psycopg://\(ownerConfig.username)@\(host):\(port)/\(database)"])
    for line in out.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let v = Double(parts[1]) { langchain[String(parts[0])] = v }
    }
}

// MARK: Indexes under row-level security: keyword searches and the filtered search, as shipped and with the
// text search and jsonb containment operators marked leakproof by a superuser (README), which lets the
// policies' tables use their GIN indexes.

// Keyword queries: the two longest words of the first 100 query texts (rarer than short ones; Engram ORs
// the words, so an 8-word query matches most of the collection and is ranked wholly either way).
let keywordQueries = queryTexts.prefix(100).map { text in
    KeywordTokenizer.tokens(text).enumerated().sorted { ($0.element.count, -$0.offset) > ($1.element.count, -$1.offset) }.prefix(2).map(\.element).joined(separator: " ")
}
func measureKeyword(_ store: any VectorStore, _ texts: [String], _ ref: CollectionRef) async throws -> (p50: Double, p95: Double) {
    var times: [Double] = []
    for text in texts {
        let start = now()
        _ = try await store.search(SearchRequest(mode: .keyword, text: text, k: 10), in: ref)
        times.append(seconds(since: start) * 1000)
    }
    return (percentile(times, 50), percentile(times, 95))
}
let leakproofFunctions = ["pg_catalog.ts_match_vq(tsvector, tsquery)", "pg_catalog.jsonb_contains(jsonb, jsonb)"]
var keywordShipped = (p50: 0.0, p95: 0.0), keywordLeakproof = keywordShipped
var filteredLeakproof = Measured(p50: 0, p95: 0, ids: [], path: "")
try await Engram.withStores(storeURL, access: .existing) { stores in
    let store = stores.vectors
    _ = try await measureKeyword(store, keywordQueries, ref)  // warm-up
    keywordShipped = try await measureKeyword(store, keywordQueries, ref)
    for f in leakproofFunctions { try psqlRun("ALTER FUNCTION \(f) LEAKPROOF", user: "postgres") }
    defer { for f in leakproofFunctions { _ = try? psqlRun("ALTER FUNCTION \(f) NOT LEAKPROOF", user: "postgres") } }
    _ = try await measureKeyword(store, keywordQueries, ref)
    keywordLeakproof = try await measureKeyword(store, keywordQueries, ref)
    filteredLeakproof = try await measure(store, filter: filter)
}
var filteredLeakproofEqual = 0
for (i, q) in queries.enumerated() {
    let f = correct(filteredLeakproof.ids[i], query: q, among: inFilter)
    if f.correct == f.expected && filteredLeakproof.ids[i].count == f.expected { filteredLeakproofEqual += 1 }
}

// MARK: Report.

let engramRate = Double(chunkTotal) / engramLoad, copyRate = Double(chunkTotal) / rawCopy
say("")
say("bulk load (\(chunkTotal) chunks, \(corpus.count) documents; index built afterwards)")
say("engram upsert(batches:), \(batchChunks)-chunk batches, \(ownerConfig.storeOptions.bulkWriters) writers   \(fmt(engramLoad, 2)) s   \(fmt(engramRate, 0)) chunks/s   (client CPU \(fmt(engramLoadCPU, 2)) s)")
say("psql \\copy, same rows, same table shape         \(fmt(rawCopy, 2)) s   \(fmt(copyRate, 0)) chunks/s   -> engram = \(fmt(engramRate / copyRate, 2)) x raw COPY")
let streamsRate = Double(chunkTotal) / rawCopyStreams
say("psql \\copy in \(copyStreams) streams side by side       \(fmt(rawCopyStreams, 2)) s   \(fmt(streamsRate, 0)) chunks/s   -> engram = \(fmt(engramRate / streamsRate, 2)) x")
if let t = langchain["load_seconds"] {
    let rate = Double(chunkTotal) / t
    say("langchain-postgres add_embeddings                \(fmt(t, 2)) s   \(fmt(rate, 0)) chunks/s   -> engram = \(fmt(engramRate / rate, 1)) x langchain")
}
say("engram index builds: HNSW (m 16, ef_construction 64) and keyword GIN   \(fmt(engramIndex, 2)) s")
if let t = langchain["index_seconds"] { say("langchain table HNSW build (same parameters)      \(fmt(t, 2)) s") }
say("")
say("k=10 queries (\(queries.count) each); filter bucket == \"b7\" matches \(filterRows) chunks (\(fmt(100 * Double(filterRows) / Double(chunkTotal), 2))%)")
say("engram vector, unfiltered      p50 \(fmt(approximate.p50, 2)) ms  p95 \(fmt(approximate.p95, 2)) ms   path \(approximate.path); client CPU \(fmt(searchCPU, 2)) ms per search")
say("pgbench, Engram's statements   p50 \(fmt(benchEngram.p50, 2)) ms  p95 \(fmt(benchEngram.p95, 2)) ms   -> engram = \(fmt(approximate.p50 / benchEngram.p50, 2)) x")
say("pgbench, bare ranking (app)    p50 \(fmt(benchApp.p50, 2)) ms  p95 \(fmt(benchApp.p95, 2)) ms   -> engram = \(fmt(approximate.p50 / benchApp.p50, 2)) x")
say("unfiltered, \(rounds) alternating rounds: engram p50 \(roundEngram.map { fmt($0, 2) }.joined(separator: " ")) ms; its statements in pgbench \(roundOwn.map { fmt($0, 2) }.joined(separator: " ")) ms; bare \(roundBare.map { fmt($0, 2) }.joined(separator: " ")) ms")
say("  -> engram / its statements: \(ownRatios.map { fmt($0, 2) }.joined(separator: " ")), median \(fmt(median(ownRatios), 2)) x; engram / bare: \(bareRatios.map { fmt($0, 2) }.joined(separator: " ")), median \(fmt(median(bareRatios), 2)) x")
say("engram vector, 0.5% filter     p50 \(fmt(filtered.p50, 2)) ms  p95 \(fmt(filtered.p95, 2)) ms   path \(filtered.path); \(filteredFull)/\(queries.count) queries returned 10, \(filteredEqual)/\(queries.count) equal to the exact answer")
say("pgbench, Engram's statements   p50 \(fmt(benchEngramFiltered.p50, 2)) ms  p95 \(fmt(benchEngramFiltered.p95, 2)) ms   -> engram = \(fmt(filtered.p50 / benchEngramFiltered.p50, 2)) x")
say("pgbench, bare exact rank (app) p50 \(fmt(benchAppFiltered.p50, 2)) ms  p95 \(fmt(benchAppFiltered.p95, 2)) ms   -> engram = \(fmt(filtered.p50 / benchAppFiltered.p50, 2)) x")
if let p50 = langchain["plain_p50"], let p95 = langchain["plain_p95"], let fp50 = langchain["filtered_p50"], let fp95 = langchain["filtered_p95"], let avg = langchain["filtered_avg_results"], let full = langchain["filtered_full"] {
    say("langchain unfiltered (HNSW)    p50 \(fmt(p50, 2)) ms  p95 \(fmt(p95, 2)) ms")
    say("langchain 0.5% filter (HNSW)   p50 \(fmt(fp50, 2)) ms  p95 \(fmt(fp95, 2)) ms   average \(fmt(avg, 2)) results; \(Int(full))/\(queries.count) queries returned 10")
}
say("")
say("recall@10 of the HNSW path vs exact (brute force, float64): \(fmt(recall, 3)) over \(queries.count) queries")
say("keyword search (\(keywordQueries.count) two-word queries), as shipped   p50 \(fmt(keywordShipped.p50, 2)) ms  p95 \(fmt(keywordShipped.p95, 2)) ms   (row-level security: no GIN index)")
say("keyword search, operators marked leakproof      p50 \(fmt(keywordLeakproof.p50, 2)) ms  p95 \(fmt(keywordLeakproof.p95, 2)) ms   -> \(fmt(keywordShipped.p50 / keywordLeakproof.p50, 1)) x faster")
say("0.5% filter, operators marked leakproof         p50 \(fmt(filteredLeakproof.p50, 2)) ms  p95 \(fmt(filteredLeakproof.p95, 2)) ms   path \(filteredLeakproof.path); \(filteredLeakproofEqual)/\(queries.count) equal to the exact answer -> \(fmt(filtered.p50 / filteredLeakproof.p50, 1)) x faster")
say("row-level security: same unfiltered SQL, app role (policies apply) p50 \(fmt(benchApp.p50, 2)) ms vs superuser (bypass) p50 \(fmt(benchSuper.p50, 2)) ms -> \(fmt(benchApp.p50 / benchSuper.p50, 2)) x")
