// The scale run (`engram-memory-bench WORK_DIR scale`, scripts/bench-memory-scale.sh): recall among
// ENGRAM_MEMBENCH_SCALE_TENANTS tenants (default 100) of ENGRAM_MEMBENCH_BIG memories each (default 100,000),
// that is 10 million memories with 384-d vectors, on SQLite and then on PostgreSQL.
//
// Remembering ten million memories through the API would take over an hour per backend, so one template
// tenant (t000) is remembered through the API and the other tenants are copies of it written by SQL, each
// memory with its `created` audit event, **interleaved**: written in turn, tenant after tenant, as when
// many tenants write at once. PostgreSQL stores rows where they arrive, so a tenant's memories are spread
// over the whole table (a tenant remembered alone is stored contiguously); SQLite stores them in rowid
// order, and the copies get the rowids the store gives (each tenant its slot, see SQLiteMemoryStore). Recall is then timed in the
// copied tenants, one query per tenant in turn, and a forget of one subject (a tenth of a tenant) is timed
// and checked in the tables themselves.
import EngramCore
import EngramPostgres
import EngramSQLite
import EngramTesting
import Foundation
import GRDB
import PostgresNIO

struct ScaleFigures {
    var templateSeconds = 0.0, copySeconds = 0.0, copied = 0, bytes: Int64 = 0
    var coldP50 = 0.0, coldP95 = 0.0, warmP50 = 0.0, warmP95 = 0.0, templateP50 = 0.0, templateP95 = 0.0
    var forgetSeconds = 0.0, forgotten = 0, forgetEvents = 0, rowsLeft = -1
}

/// Copies of the template tenant `t000` for tenants 1..<`tenants`, written in batches of `batch` template
/// memories, each batch one statement per table ordered template memory first, tenant second.
protocol TenantCopier: Sendable {
    func copy(tenants: Int, templateCount: Int, batch: Int) async throws
    /// Rows of `tenant` with `subject` in the memories table, read beneath the API.
    func rowsLeft(tenant: String, subject: String) async throws -> Int
    func storageBytes() async throws -> Int64
}

/// Prints how many copies are written, at most every 30 seconds.
final class Progress {
    let name: String
    let start = now()
    var last = now()
    init(name: String) { self.name = name }
    func report(_ done: Int) {
        guard seconds(since: last) > 30 else { return }
        last = now()
        FileHandle.standardError.write(Data("\(name): \(done) copies in \(fmt(seconds(since: start))) s\n".utf8))
    }
}

struct SQLiteTenantCopier: TenantCopier {
    let path: String

    func copy(tenants: Int, templateCount: Int, batch: Int) async throws {
        let progress = Progress(name: "SQLite")
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA cache_size = -2000000")  // 2 GB: the copy updates four indexes at random places
        }
        let queue = try DatabaseQueue(path: path, configuration: config)
        try await queue.write { db in
            try db.execute(sql: "CREATE TEMP TABLE bench_tenants (n INTEGER PRIMARY KEY)")
            for n in 1..<tenants { try db.execute(sql: "INSERT INTO bench_tenants VALUES (?)", arguments: [n]) }
            // Each copied tenant gets the next memory slot, as its first remember would give it.
            try db.execute(sql: "INSERT INTO memory_tenant_slots (tenant_id, slot) SELECT printf('t%03d', n), n + 1 FROM temp.bench_tenants")
        }
        let templateSlot = try await queue.read { db in try Int64.fetchOne(db, sql: "SELECT slot FROM memory_tenant_slots WHERE tenant_id = 't000'") }
        guard templateSlot == 1 else { fail("the template tenant should hold memory slot 1, not \(templateSlot.map(String.init) ?? "none")") }
        let rowids = try await queue.read { db in
            try Int64.fetchAll(db, sql: "SELECT rowid FROM memories WHERE tenant_id = 't000' ORDER BY rowid")
        }
        var done = 0
        for start in stride(from: 0, to: rowids.count, by: batch) {
            let low = rowids[start], high = rowids[min(start + batch, rowids.count) - 1]
            try await queue.write { db in
                try db.execute(sql: """
                    INSERT INTO memories (rowid, id, tenant_id, subject, namespace, kind, content_sha256, importance, retention,
                        legal_hold, created_ms, updated_ms, accessed_ms, access_count, expires_ms, supersedes, provenance,
                        metadata, embedding_identity, content, embedding)
                    SELECT m.rowid + t.n * 4294967296, printf('mem_%03x%021x', t.n, m.rowid), printf('t%03d', t.n), m.subject, m.namespace, m.kind,
                        m.content_sha256, m.importance, m.retention, m.legal_hold, m.created_ms, m.updated_ms, m.accessed_ms,
                        m.access_count, m.expires_ms, m.supersedes, m.provenance, m.metadata, m.embedding_identity, m.content,
                        m.embedding
                    FROM memories m, temp.bench_tenants t
                    WHERE m.tenant_id = 't000' AND m.rowid BETWEEN ? AND ?
                    ORDER BY m.rowid, t.n
                    """, arguments: [low, high])
                try db.execute(sql: """
                    INSERT INTO memory_events (tenant_id, memory_id, event, actor, reason, content_sha256, at_ms)
                    SELECT printf('t%03d', t.n), printf('mem_%03x%021x', t.n, m.rowid), e.event, e.actor,
                        e.reason, e.content_sha256, e.at_ms
                    FROM memories m JOIN memory_events e ON e.tenant_id = 't000' AND e.memory_id = m.id, temp.bench_tenants t
                    WHERE m.tenant_id = 't000' AND m.rowid BETWEEN ? AND ?
                    ORDER BY e.sequence, t.n
                    """, arguments: [low, high])
            }
            done += min(batch, rowids.count - start) * (tenants - 1)
            progress.report(done)
        }
        try await queue.writeWithoutTransaction { db in
            try db.execute(sql: "ANALYZE")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    func rowsLeft(tenant: String, subject: String) async throws -> Int {
        let queue = try DatabaseQueue(path: path)
        return try await queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM memories WHERE tenant_id = ? AND subject = ?", arguments: [tenant, subject]) ?? -1
        }
    }

    func storageBytes() async throws -> Int64 {
        ["", "-wal"].reduce(Int64(0)) { sum, suffix in
            sum + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int64) ?? 0)
        }
    }
}

/// Copies as the superuser (row-level security does not apply to it), on one connection.
struct PostgresTenantCopier: TenantCopier {
    let superuserURL: String
    let schema: String

    func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let config = try PostgresStoreConfiguration(url: superuserURL)
        return try await config.withClient { client in try await client.withConnection(body) }
    }

    func run(_ c: PostgresConnection, _ sql: String) async throws {
        for try await _ in try await c.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "bench")) {}
    }

    func copy(tenants: Int, templateCount: Int, batch: Int) async throws {
        let progress = Progress(name: "PostgreSQL")
        try await withConnection { c in
            try await run(c, "SET maintenance_work_mem = '2GB'")
            try await run(c, "CREATE TEMP TABLE template AS SELECT row_number() OVER (ORDER BY created_at, id) AS ord, id FROM \(schema).memories WHERE tenant_id = 't000'")
            try await run(c, "INSERT INTO \(schema).memory_tenants SELECT format('t%s', lpad(n::text, 3, '0')) FROM generate_series(1, \(tenants - 1)) n ON CONFLICT DO NOTHING")
            var done = 0
            for start in stride(from: 1, through: templateCount, by: batch) {
                let end = start + batch - 1
                try await run(c, "BEGIN")
                try await run(c, """
                    INSERT INTO \(schema).memories (id, tenant_id, subject, namespace, kind, content, content_sha256, terms,
                        metadata, importance, provenance, created_at, updated_at, accessed_at, access_count, expires_at,
                        retention, legal_hold, supersedes, embedding_identity, embedding)
                    SELECT 'mem_' || lpad(to_hex(t.n), 3, '0') || lpad(to_hex(p.ord), 21, '0'), format('t%s', lpad(t.n::text, 3, '0')),
                        m.subject, m.namespace, m.kind, m.content, m.content_sha256, m.terms, m.metadata, m.importance,
                        m.provenance, m.created_at, m.updated_at, m.accessed_at, m.access_count, m.expires_at, m.retention,
                        m.legal_hold, m.supersedes, m.embedding_identity, m.embedding
                    FROM template p JOIN \(schema).memories m ON m.id = p.id, generate_series(1, \(tenants - 1)) t(n)
                    WHERE p.ord BETWEEN \(start) AND \(end)
                    ORDER BY p.ord, t.n
                    """)
                try await run(c, """
                    INSERT INTO \(schema).memory_events (tenant_id, memory_id, event, actor, reason, content_sha256, at)
                    SELECT format('t%s', lpad(t.n::text, 3, '0')), 'mem_' || lpad(to_hex(t.n), 3, '0') || lpad(to_hex(p.ord), 21, '0'),
                        e.event, e.actor, e.reason, e.content_sha256, e.at
                    FROM template p JOIN \(schema).memory_events e ON e.tenant_id = 't000' AND e.memory_id = p.id,
                        generate_series(1, \(tenants - 1)) t(n)
                    WHERE p.ord BETWEEN \(start) AND \(end)
                    ORDER BY e.sequence, t.n
                    """)
                try await run(c, "COMMIT")
                done += (min(end, templateCount) - start + 1) * (tenants - 1)
                progress.report(done)
            }
            try await run(c, "VACUUM ANALYZE \(schema).memories")
            try await run(c, "VACUUM ANALYZE \(schema).memory_events")
        }
    }

    func rowsLeft(tenant: String, subject: String) async throws -> Int {
        try await withConnection { c in
            let rows = try await c.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM \(schema).memories WHERE tenant_id = '\(tenant)' AND subject = '\(subject)'"), logger: Logger(label: "bench"))
            for try await (n) in rows.decode(Int64.self) { return Int(n) }
            return -1
        }
    }

    func storageBytes() async throws -> Int64 {
        try await withConnection { c in
            let rows = try await c.query(PostgresQuery(unsafeSQL: "SELECT (pg_total_relation_size('\(schema).memories') + pg_total_relation_size('\(schema).memory_events'))::int8"), logger: Logger(label: "bench"))
            for try await (n) in rows.decode(Int64.self) { return n }
            return -1
        }
    }
}

/// The scale run on one backend: template through the API, copies by SQL, then recall and forget.
@MainActor func runScale(_ store: any MemoryStore, copier: any TenantCopier, name: String, tenants: Int, perTenant: Int,
                         templateDrafts: [MemoryDraft], queries: [RecallQuery], forgetSubject: String) async throws -> ScaleFigures {
    var f = ScaleFigures()
    let start = now()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for w in 0..<4 {
            group.addTask {
                var i = w
                while i < templateDrafts.count {
                    _ = try await store.remember(templateDrafts[i], actor: "bench")
                    i += 4
                }
            }
        }
        try await group.waitForAll()
    }
    f.templateSeconds = seconds(since: start)
    FileHandle.standardError.write(Data("\(name): template tenant of \(templateDrafts.count) remembered in \(fmt(f.templateSeconds)) s\n".utf8))

    let copyStart = now()
    try await copier.copy(tenants: tenants, templateCount: templateDrafts.count, batch: 2_000)
    f.copySeconds = seconds(since: copyStart)
    f.copied = (tenants - 1) * templateDrafts.count
    f.bytes = try await copier.storageBytes()
    FileHandle.standardError.write(Data("\(name): \(f.copied) copies in \(fmt(f.copySeconds)) s, \(f.bytes / 1_000_000) MB\n".utf8))

    func timed(_ tenantOf: (Int) -> String, skip: Int) async throws -> (Double, Double) {
        var times: [Double] = []
        for (i, var q) in queries.enumerated() {
            q.tenant = tenantOf(i)
            let s = now()
            let hits = try await store.recall(q)
            if i >= skip { times.append(seconds(since: s) * 1000) }
            guard hits.count == q.limit else { fail("\(name): recall in \(q.tenant) returned \(hits.count) memories, not \(q.limit)") }
        }
        return (percentile(times, 50), percentile(times, 95))
    }
    // One query per copied tenant in turn: each tenant is visited once per round of tenants - 1 queries.
    (f.coldP50, f.coldP95) = try await timed({ String(format: "t%03d", 1 + $0 % (tenants - 1)) }, skip: 0)
    (f.warmP50, f.warmP95) = try await timed({ _ in "t001" }, skip: 3)
    (f.templateP50, f.templateP95) = try await timed({ _ in "t000" }, skip: 3)

    let tenant = String(format: "t%03d", tenants / 2)
    let before = try await store.events(tenant: tenant, memoryID: nil).filter { $0.kind == .deleted }.count
    let forgetStart = now()
    let receipt = try await store.forget(ForgetRequest(tenant: tenant, selector: .subject(forgetSubject), actor: "bench", reason: "erasure benchmark"))
    f.forgetSeconds = seconds(since: forgetStart)
    f.forgotten = receipt.deleted.count
    f.forgetEvents = try await store.events(tenant: tenant, memoryID: nil).filter { $0.kind == .deleted }.count - before
    f.rowsLeft = try await copier.rowsLeft(tenant: tenant, subject: forgetSubject)
    return f
}
