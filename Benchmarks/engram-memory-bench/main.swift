// Long-term memory benchmark (run through scripts/bench-memory.sh), on SQLite and, when ENGRAM_POSTGRES_URL
// is set, PostgreSQL, with the hash embedder (384 dimensions):
//
//   1. remember throughput: one big tenant with ENGRAM_MEMBENCH_BIG memories (default 100,000, over 10
//      subjects), ENGRAM_MEMBENCH_TENANTS - 1 other tenants with ENGRAM_MEMBENCH_SMALL each (default 99 ×
//      1,000), and a tenant of ENGRAM_MEMBENCH_SWEEP memories (default 50,000) under the 1-day policy;
//      remembered by 4 concurrent tasks, one memory per call (each its own transaction, with its audit
//      event);
//   2. recall p50/p95 (text + vector, k = 10) in the big tenant and in a small one;
//   3. forget-by-subject of one subject of the big tenant (a tenth: 10,000 by default), timed, then proved
//      complete: the subject exports nothing, and there is one `deleted` event per memory;
//   4. a sweep two days later of the expiring tenant, timed and proved the same way.
//
// Usage: engram-memory-bench WORK_DIR [scale]   (scale: see Scale.swift)
import EngramCore
import EngramKit
import EngramPostgres
import EngramSQLite
import EngramTesting
import Foundation
import PostgresNIO


let env = ProcessInfo.processInfo.environment
guard CommandLine.arguments.count >= 2 else { fail("usage: engram-memory-bench WORK_DIR [scale]") }
let work = CommandLine.arguments[1]
let scale = CommandLine.arguments.dropFirst(2).first == "scale"
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
func setting(_ name: String, _ value: Int) -> Int { Int(env[name] ?? "") ?? value }
let big = setting("ENGRAM_MEMBENCH_BIG", 100_000)
let tenants = setting("ENGRAM_MEMBENCH_TENANTS", 100)
let small = setting("ENGRAM_MEMBENCH_SMALL", 1_000)
let sweepCount = setting("ENGRAM_MEMBENCH_SWEEP", 50_000)
let queryCount = setting("ENGRAM_MEMBENCH_QUERIES", 100)
let embedder = HashEmbedder(dimension: 384)

// Synthetic memories: short sentences over a small vocabulary, so that words recur across memories.
let subjects = ["people", "project", "customer", "meeting", "travel", "health", "billing", "support", "device", "family"]
let nouns = ["tea", "coffee", "train", "invoice", "laptop", "garden", "report", "contract", "budget", "flight", "server", "printer", "holiday", "dentist", "password", "backup"]
let verbs = ["prefers", "booked", "cancelled", "asked about", "forgot", "renewed", "paid", "moved", "scheduled", "reported"]
let times = ["on monday", "every morning", "last week", "in march", "before lunch", "after the review", "at night", "twice a month"]
func sentence(_ i: Int, _ rng: inout SplitMix64) -> String {
    let n1 = nouns[Int(rng.next() % UInt64(nouns.count))], n2 = nouns[Int(rng.next() % UInt64(nouns.count))]
    let v = verbs[Int(rng.next() % UInt64(verbs.count))], t = times[Int(rng.next() % UInt64(times.count))]
    return "The user \(v) the \(n1) and the \(n2) \(t) (note \(i))"
}

func draft(tenant: String, subject: String, content: String, retention: String = "default") -> MemoryDraft {
    MemoryDraft(tenant: tenant, subject: subject, content: content, importance: 0.5, retention: retention,
                embedding: embedder.vector(for: content), embeddingIdentity: embedder.identity)
}

var rng = SplitMix64(seed: 42)
var drafts: [MemoryDraft] = []
for i in 0..<big { drafts.append(draft(tenant: "t000", subject: subjects[i % subjects.count], content: sentence(i, &rng))) }
for t in 1..<(scale ? 1 : tenants) {
    for i in 0..<small { drafts.append(draft(tenant: String(format: "t%03d", t), subject: subjects[i % subjects.count], content: sentence(i, &rng))) }
}
for i in 0..<(scale ? 0 : sweepCount) { drafts.append(draft(tenant: "texp", subject: "scratch", content: sentence(i, &rng), retention: "session")) }
var queries: [RecallQuery] = []
for i in 0..<queryCount {
    let text = nouns[i % nouns.count] + " " + verbs[(i / nouns.count) % verbs.count] + " " + times[i % times.count]
    queries.append(RecallQuery(tenant: "t000", text: text, vector: embedder.vector(for: text), vectorIdentity: embedder.identity, limit: 10))
}
let forgetSubject = subjects[0]
let forgetExpected = (0..<big).filter { $0 % subjects.count == 0 }.count

struct Figures {
    var rememberRate = 0.0, loadSeconds = 0.0
    var bigP50 = 0.0, bigP95 = 0.0, smallP50 = 0.0, smallP95 = 0.0
    var forgetSeconds = 0.0, forgotten = 0, forgetEvents = 0, forgetLeft = 0
    var sweepSeconds = 0.0, swept = 0, sweepEvents = 0, sweepLeft = 0
}

@MainActor func run(_ store: any MemoryStore, name: String) async throws -> Figures {
    var f = Figures()
    let start = now()
    let workers = 4
    let all = drafts
    try await withThrowingTaskGroup(of: Void.self) { group in
        for w in 0..<workers {
            group.addTask {
                var i = w
                while i < all.count {
                    _ = try await store.remember(all[i], actor: "bench")
                    i += workers
                }
            }
        }
        try await group.waitForAll()
    }
    f.loadSeconds = seconds(since: start)
    f.rememberRate = Double(drafts.count) / f.loadSeconds
    FileHandle.standardError.write(Data("\(name): remembered \(drafts.count) in \(fmt(f.loadSeconds)) s\n".utf8))

    func timeRecalls(_ tenant: String) async throws -> (Double, Double) {
        var times: [Double] = []
        for (i, var q) in queries.enumerated() {
            q.tenant = tenant
            let s = now()
            let hits = try await store.recall(q)
            if i > 2 { times.append(seconds(since: s) * 1000) }  // the first ones warm caches
            guard hits.count == 10 else { fail("\(name): recall in \(tenant) returned \(hits.count) memories, not 10") }
        }
        return (percentile(times, 50), percentile(times, 95))
    }
    (f.bigP50, f.bigP95) = try await timeRecalls("t000")
    (f.smallP50, f.smallP95) = try await timeRecalls("t001")

    let eventsBefore = try await store.events(tenant: "t000", memoryID: nil).filter { $0.kind == .deleted }.count
    let forgetStart = now()
    let receipt = try await store.forget(ForgetRequest(tenant: "t000", selector: .subject(forgetSubject), actor: "bench", reason: "erasure benchmark"))
    f.forgetSeconds = seconds(since: forgetStart)
    f.forgotten = receipt.deleted.count
    f.forgetLeft = try await store.export(tenant: "t000", subject: forgetSubject).count
    f.forgetEvents = try await store.events(tenant: "t000", memoryID: nil).filter { $0.kind == .deleted }.count - eventsBefore

    let sweepStart = now()
    let swept = try await store.sweep(tenant: nil, now: Date().addingTimeInterval(2 * 86_400), actor: "bench")
    f.sweepSeconds = seconds(since: sweepStart)
    f.swept = swept.deleted.count
    f.sweepLeft = try await store.export(tenant: "texp", subject: nil).count
    f.sweepEvents = try await store.events(tenant: "texp", memoryID: nil).filter { $0.kind == .expired }.count
    return f
}

/// The store URL of `schema` on the server at `url` with a pool of `poolSize`, the schema dropped (the
/// store's `create` migrates it anew).
func freshSchema(url: String, schema: String, poolSize: Int) async throws -> String {
    try await dropSchema(url: url, schema: schema)
    return url + (url.contains("?") ? "&" : "?") + "schema=\(schema)&pool_size=\(poolSize)"
}

/// Drops a benchmark schema (test data only; no store API drops a schema).
func dropSchema(url: String, schema: String) async throws {
    try await PostgresStoreConfiguration(url: url).withClient { client in
        try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
    }
}

if scale {
    let tenantCount = setting("ENGRAM_MEMBENCH_SCALE_TENANTS", 100)
    guard tenantCount >= 3, tenantCount < 4096 else { fail("ENGRAM_MEMBENCH_SCALE_TENANTS must be 3 to 4095") }
    func show(_ name: String, _ f: ScaleFigures) {
        let total = tenantCount * big
        say("\(name): \(tenantCount) tenants × \(big) memories = \(total) memories, \(f.bytes / 1_000_000) MB (memories and audit events)")
        say("  template tenant through the API            \(fmt(f.templateSeconds)) s (\(fmt(Double(big) / f.templateSeconds, 0)) memories/s)")
        say("  copies by SQL, tenants in turn             \(f.copied) in \(fmt(f.copySeconds)) s")
        say("  recall k=10, each query in another copy    p50 \(fmt(f.coldP50, 1)) ms  p95 \(fmt(f.coldP95, 1)) ms")
        say("  recall k=10, one copied tenant again       p50 \(fmt(f.warmP50, 1)) ms  p95 \(fmt(f.warmP95, 1)) ms")
        say("  recall k=10, the template tenant           p50 \(fmt(f.templateP50, 1)) ms  p95 \(fmt(f.templateP95, 1)) ms")
        say("  forget subject '\(forgetSubject)' of t\(String(format: "%03d", tenantCount / 2)): \(f.forgotten) of \(forgetExpected) in \(fmt(f.forgetSeconds, 2)) s; \(f.forgetEvents) deleted events; \(f.rowsLeft) rows left in the table")
        guard f.forgotten == forgetExpected, f.forgetEvents == forgetExpected, f.rowsLeft == 0 else { fail("\(name): the forget was incomplete") }
    }
    let sqlitePath = work + "/memory-scale.sqlite"
    func removeSQLite() { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) } }
    removeSQLite()
    let f = try await Engram.withStores("sqlite:" + sqlitePath, access: .create) { stores in
        try await runScale(stores.memories, copier: SQLiteTenantCopier(path: sqlitePath), name: "SQLite",
                           tenants: tenantCount, perTenant: big, templateDrafts: drafts, queries: queries, forgetSubject: forgetSubject)
    }
    show("SQLite", f)
    removeSQLite()  // the disk holds one backend's copy at a time
    if let url = env["ENGRAM_POSTGRES_URL"], let superuser = env["ENGRAM_POSTGRES_SUPERUSER_URL"] {
        let schema = "engram_memscale"
        let f = try await Engram.withStores(try await freshSchema(url: url, schema: schema, poolSize: 4), access: .create) { stores in
            try await runScale(stores.memories, copier: PostgresTenantCopier(superuserURL: superuser, schema: schema),
                               name: "PostgreSQL", tenants: tenantCount, perTenant: big, templateDrafts: drafts, queries: queries, forgetSubject: forgetSubject)
        }
        show("PostgreSQL", f)
        try await dropSchema(url: url, schema: schema)
    }
    exit(0)
}

var results: [(String, Figures)] = []
let sqlitePath = work + "/memory-bench.sqlite"
for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) }
results.append(("SQLite", try await Engram.withStores("sqlite:" + sqlitePath, access: .create) { try await run($0.memories, name: "SQLite") }))

if let url = env["ENGRAM_POSTGRES_URL"] {
    let store = try await freshSchema(url: url, schema: "engram_membench", poolSize: 8)
    results.append(("PostgreSQL", try await Engram.withStores(store, access: .create) { try await run($0.memories, name: "PostgreSQL") }))
}

say("Engram memory benchmark — \(drafts.count) memories: tenant t000 \(big) (\(subjects.count) subjects), \(tenants - 1) tenants × \(small), tenant texp \(sweepCount) on the 1-day policy; hash embedder, 384 dimensions")
say("")
for (name, f) in results {
    say("\(name)")
    say("  remember, 4 concurrent tasks, one memory per call     \(fmt(f.rememberRate, 0)) memories/s (\(drafts.count) in \(fmt(f.loadSeconds)) s)")
    say("  recall k=10 (text + vector), tenant of \(big)      p50 \(fmt(f.bigP50, 2)) ms  p95 \(fmt(f.bigP95, 2)) ms")
    say("  recall k=10 (text + vector), tenant of \(small)        p50 \(fmt(f.smallP50, 2)) ms  p95 \(fmt(f.smallP95, 2)) ms")
    say("  forget subject '\(forgetSubject)': \(f.forgotten) of \(forgetExpected) deleted in \(fmt(f.forgetSeconds, 2)) s; \(f.forgetEvents) deleted events; \(f.forgetLeft) left in an export of the subject")
    say("  sweep two days later: \(f.swept) of \(sweepCount) expired deleted in \(fmt(f.sweepSeconds, 2)) s; \(f.sweepEvents) expired events; \(f.sweepLeft) left in the tenant")
    guard f.forgotten == forgetExpected, f.forgetLeft == 0, f.forgetEvents == forgetExpected, f.swept == sweepCount, f.sweepLeft == 0, f.sweepEvents == sweepCount else {
        fail("\(name): a deletion was incomplete")
    }
}
