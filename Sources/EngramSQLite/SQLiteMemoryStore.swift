import EngramCore
import Foundation
import GRDB
import Logging

/// Long-term memory in the embedded SQLite file (the same file as ``SQLiteVectorStore``; tables
/// `memories` and `memory_events`).
///
/// Every write is one transaction. Deletion is complete: the connection runs with `secure_delete`, so
/// SQLite overwrites the freed bytes, and after a forget or a sweep the write-ahead log is checkpointed and
/// truncated, so no old page image keeps the text either. `memory_events` is append-only (triggers refuse
/// UPDATE and DELETE). Recall reads the tenant's selected memories and scores them with
/// ``MemoryRules/PreparedRecall``, exactly like the reference store.
public final class SQLiteMemoryStore: MemoryStore, Sendable {
    /// The file's owner, shared with the ``SQLiteVectorStore`` of the same file.
    public let database: SQLiteDatabase
    public let retention: RetentionPolicies
    let clock: @Sendable () -> Date

    public var path: String { database.path }

    /// The memories of an open database. Every operation writes (recall and get count accesses, every
    /// change is audited), so the first one opens the database's read-write pool.
    public init(database: SQLiteDatabase, retention: RetentionPolicies = .standard, now: @escaping @Sendable () -> Date = { Date() }) {
        self.database = database
        self.retention = retention
        self.clock = now
    }

    /// Opens (creating and migrating when needed) the store at `path`.
    public convenience init(path: String, retention: RetentionPolicies = .standard, now: @escaping @Sendable () -> Date = { Date() },
                            logger: Logger = Logger(label: "engram.sqlite", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        self.init(database: try SQLiteDatabase(path: path, access: .create, now: now, logger: logger), retention: retention, now: now)
    }

    /// The read-write pool every operation uses.
    var pool: DatabasePool {
        get throws {
            do {
                return try database.writer()
            } catch let e as EngramError where database.readOnlyMedium {
                throw EngramError(.storageFailure, "the store at \(FilePaths.display(path)) is on a read-only file system: long-term memory needs to write (recall and get count accesses, every change is audited); copy the store where it can be written", underlying: e)
            }
        }
    }

    /// What the reads (list, export, events) go through: the read-write pool (its mapped pages serve
    /// scans) when the store may write, the read-only pool when it was opened for reading.
    var readPool: any DatabaseReader {
        get throws { database.access == .read ? database.reader : try pool }
    }

    func wrap<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw SQLiteVectorStore.engramError(error)
        }
    }

    // MARK: Rows

    static let columns: SQL = "id, tenant_id, subject, namespace, kind, content, metadata, importance, provenance, created_ms, updated_ms, accessed_ms, access_count, expires_ms, retention, legal_hold, supersedes, embedding_identity, embedding"

    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
    static func ms(_ d: Date) -> Int64 { MetadataValue.milliseconds(d) }

    static func memory(_ r: Row) throws -> Memory {
        let blob: Data? = r["embedding"]
        let identityText: String? = r["embedding_identity"]
        let provenanceText: String = r["provenance"]
        return Memory(
            id: r["id"], tenant: r["tenant_id"], subject: r["subject"], namespace: r["namespace"], kind: MemoryKind(rawValue: r["kind"]),
            content: r["content"], metadata: try Metadata.parse(json: r["metadata"]), importance: r["importance"],
            provenance: try MemoryRules.fromStoredJSON(MemoryProvenance.self, provenanceText),
            createdAt: date(r["created_ms"]), updatedAt: date(r["updated_ms"]), lastAccessedAt: (r["accessed_ms"] as Int64?).map(date),
            accessCount: r["access_count"], expiresAt: (r["expires_ms"] as Int64?).map(date), retention: r["retention"], legalHold: r["legal_hold"],
            supersedes: r["supersedes"], embedding: blob.map { $0.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } },
            embeddingIdentity: try identityText.map { try MemoryRules.fromStoredJSON(EmbeddingIdentity.self, $0) })
    }

    static func event(_ r: Row) throws -> MemoryEvent {
        guard let kind = MemoryEvent.Kind(rawValue: r["event"]) else { throw EngramError(.storageFailure, "unknown memory event '\(r["event"] as String)'") }
        return MemoryEvent(sequence: r["sequence"], tenant: r["tenant_id"], memoryID: r["memory_id"], kind: kind, actor: r["actor"], reason: r["reason"],
                           contentSHA256: r["content_sha256"], at: date(r["at_ms"]), origin: r["origin"])
    }

    static func blob(_ v: [Float]?) -> Data? {
        v.map { $0.withUnsafeBufferPointer { Data(buffer: $0) } }
    }

    static func write(_ db: Database, _ m: Memory, insert: Bool) throws {
        let columns: [(name: String, value: SQL)] = [
            ("tenant_id", "\(m.tenant)"), ("subject", "\(m.subject)"), ("namespace", "\(m.namespace)"), ("kind", "\(m.kind.rawValue)"),
            ("content", "\(m.content)"), ("content_sha256", "\(m.contentSHA256)"), ("metadata", "\(m.metadata.canonicalJSON)"),
            ("importance", "\(m.importance)"), ("provenance", "\(try MemoryRules.storedJSON(m.provenance))"),
            ("created_ms", "\(ms(m.createdAt))"), ("updated_ms", "\(ms(m.updatedAt))"), ("accessed_ms", "\(m.lastAccessedAt.map(ms))"),
            ("access_count", "\(m.accessCount)"), ("expires_ms", "\(m.expiresAt.map(ms))"), ("retention", "\(m.retention)"),
            ("legal_hold", "\(m.legalHold)"), ("supersedes", "\(m.supersedes)"),
            ("embedding_identity", "\(try m.embeddingIdentity.map(MemoryRules.storedJSON))"), ("embedding", "\(blob(m.embedding))"),
        ]
        if insert {
            let names = columns.map { SQL("\(identifier: $0.name)") }.joined(separator: ", ")
            try db.execute(literal: """
                INSERT INTO memories (rowid, id, \(names))
                VALUES (\(try nextRowID(db, tenant: m.tenant)), \(m.id), \(columns.map(\.value).joined(separator: ", ")))
                """)
        } else {
            let sets = columns.map { SQL("\(identifier: $0.name) = \($0.value)") }.joined(separator: ", ")
            // Within the memory's tenant only: an id never moves a row of another tenant.
            try db.execute(literal: "UPDATE memories SET \(sets) WHERE id = \(m.id) AND tenant_id = \(m.tenant)")
        }
    }

    /// The rowid of a tenant's next memory: after the tenant's last, in the tenant's slot (see migration
    /// v4_memories_in_tenant_order), so that a tenant's memories are stored together.
    static func nextRowID(_ db: Database, tenant: String) throws -> Int64 {
        let slot: Int64
        if let known = try db.value(Int64.self, "SELECT slot FROM memory_tenant_slots WHERE tenant_id = \(tenant)") {
            slot = known
        } else {
            slot = (try db.value(Int64.self, "SELECT max(slot) FROM memory_tenant_slots") ?? 0) + 1
            guard slot < 1 << 31 else { throw EngramError(.storageFailure, "this SQLite store has no memory slot left for another tenant") }
            try db.execute(literal: "INSERT INTO memory_tenant_slots (tenant_id, slot) VALUES (\(tenant), \(slot))")
        }
        let first = slot << 32, last = first | 0xFFFF_FFFF
        let previous = try db.value(Int64.self, "SELECT max(rowid) FROM memories WHERE rowid BETWEEN \(first) AND \(last)") ?? first
        guard previous < last else { throw EngramError(.storageFailure, "tenant \(tenant) has used every memory row of this SQLite store") }
        return previous + 1
    }

    static func record(_ db: Database, _ kind: MemoryEvent.Kind, _ m: MemoryTrace, actor: String, reason: String, at: Date, origin: String? = nil) throws {
        // Prepared once per connection and run per event (a sweep writes thousands) with bound arguments.
        try db.cachedStatement(literal: """
            INSERT INTO memory_events (tenant_id, memory_id, event, actor, reason, content_sha256, at_ms, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [m.tenant, m.id, kind.rawValue, actor, reason, m.contentSHA256, ms(at), origin])
    }

    static func owned(_ db: Database, _ id: String, _ tenant: String) throws -> Memory? {
        try db.row("SELECT \(columns) FROM memories WHERE id = \(id) AND tenant_id = \(tenant)").map(memory)
    }

    /// The memory of the tenant, subject and namespace holding content of this hash (other than `other`).
    static func holder(_ db: Database, _ tenant: String, _ subject: String, _ namespace: String, _ contentSHA256: String, other: String? = nil) throws -> String? {
        var sql: SQL = "SELECT id FROM memories WHERE tenant_id = \(tenant) AND subject = \(subject) AND namespace = \(namespace) AND content_sha256 = \(contentSHA256)"
        if let other { sql += " AND id <> \(other)" }
        return try db.value(String.self, sql)
    }

    /// Every tenant with memories or events.
    static let tenantsSQL: SQL = "SELECT tenant_id FROM memories UNION SELECT tenant_id FROM memory_events ORDER BY tenant_id"

    /// The SQL condition selecting a tenant's memories (subject, namespace, kinds, filter, not expired at
    /// `now`).
    static func selection(tenant: String, subject: String?, namespace: String?, kinds: [MemoryKind]?, filter: Filter?, now: Date?) throws -> SQL {
        var parts: [SQL] = ["tenant_id = \(tenant)"]
        if let subject { parts.append("subject = \(subject)") }
        if let namespace { parts.append("namespace = \(namespace)") }
        if let kinds { parts.append("kind IN \(kinds.map(\.rawValue))") }
        if let now { parts.append("(expires_ms IS NULL OR expires_ms > \(ms(now)))") }
        if let filter { parts.append(try SQLiteFilterCompiler(column: "metadata").compile(filter)) }
        return parts.joined(separator: " AND ")
    }

    /// After deleting content: checkpoint the write-ahead log into the database and truncate it, so that
    /// no earlier page image with the deleted text stays in either file; marks the receipt pending when a
    /// reader of an older snapshot holds the checkpoint back (``SQLiteErasure``).
    func erase(_ receipt: DeletionReceipt) -> DeletionReceipt {
        guard !receipt.deleted.isEmpty else { return receipt }
        var r = receipt
        // The deletion was written through this pool, so it is open.
        r.erasurePending = (try? pool).map { !SQLiteErasure.complete($0, now: clock()) } ?? true
        if r.erasurePending {
            database.logger.warning("erasure pending: a reader holds an older snapshot; the next command on the store finishes it", metadata: ["path": "\(path)", "deleted": "\(r.deleted.count)"])
        }
        return r
    }

    // MARK: MemoryStore

    public func remember(_ draft: MemoryDraft, actor: String) async throws -> RememberOutcome {
        let now = clock()
        let expiry = try MemoryRules.validate(draft, actor: actor, policies: retention, now: now)
        return try wrap {
            try pool.write { db in
                if let s = draft.supersedes, try Self.owned(db, s, draft.tenant) == nil { throw MemoryRules.notFound(s) }
                let existing = try db.row("""
                    SELECT \(Self.columns) FROM memories
                    WHERE tenant_id = \(draft.tenant) AND subject = \(draft.subject) AND namespace = \(draft.namespace) AND content_sha256 = \(SHA256Hex.hash(draft.content))
                    """).map(Self.memory)
                let plan = MemoryRules.remembering(draft, existing: existing, expiry: expiry, now: now)
                try Self.write(db, plan.memory, insert: plan.outcome.created)
                for e in plan.events { try Self.record(db, e.kind, plan.memory.trace, actor: actor, reason: e.reason, at: now) }
                return plan.outcome
            }
        }
    }

    public func recall(_ query: RecallQuery) async throws -> [RecallHit] {
        try MemoryRules.validate(query)
        let now = clock()
        let prepared = MemoryRules.PreparedRecall(query)
        let condition = try Self.selection(tenant: query.tenant, subject: query.subject, namespace: query.namespace, kinds: query.kinds, filter: query.filter, now: now)
        return try wrap {
            try pool.write { db in
                // Scored from the columns the score needs; whole rows are read for the best ones only. A
                // memory whose score could not reach the current best even if it held every query word is
                // passed over before its text is read.
                var top = MemoryRules.TopScores(limit: query.limit)
                // Only vectors embedded the way the query was are compared (their identity column is the
                // query identity's JSON, written by the same encoder).
                let space = try query.vectorIdentity.map(MemoryRules.storedJSON)
                let embedding: SQL = space.map { "CASE WHEN embedding_identity = \($0) THEN embedding END" } ?? "NULL"
                let cursor = try db.rowCursor("SELECT id, content, importance, updated_ms, \(embedding) AS embedding FROM memories WHERE \(condition)")
                while let row = try cursor.next() {
                    var similarity: Double?
                    if let blob = row.dataNoCopy(atIndex: 4) {
                        similarity = blob.withUnsafeBytes { raw in
                            if let base = raw.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
                                return prepared.similarity(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: raw.count / 4))
                            }
                            return Array(raw.bindMemory(to: UInt8.self)).withUnsafeBytes { prepared.similarity($0.bindMemory(to: Float.self)) }
                        }
                    }
                    let importance: Double = row[2], updatedAt = Self.date(row[3])
                    if let floor = top.floor, prepared.bound(similarity: similarity, importance: importance, updatedAt: updatedAt, now: now) < floor { continue }
                    let keyword = prepared.keywordShare(row[1])
                    if let score = prepared.score(similarity: similarity, keyword: keyword, importance: importance, updatedAt: updatedAt, now: now) {
                        top.offer(id: row[0], score: score)
                    }
                }
                var hits: [RecallHit] = []
                for (id, score) in top.best {
                    guard var m = try Self.owned(db, id, query.tenant) else { continue }
                    m.touch(now)
                    try db.execute(literal: "UPDATE memories SET accessed_ms = \(Self.ms(now)), access_count = access_count + 1 WHERE id = \(id)")
                    hits.append(RecallHit(memory: m, score: score))
                }
                return hits
            }
        }
    }

    public func memory(id: String, tenant: String) async throws -> Memory? {
        let now = clock()
        return try wrap {
            try pool.write { db in
                guard var m = try Self.owned(db, id, tenant) else { return nil }
                m.touch(now)
                try db.execute(literal: "UPDATE memories SET accessed_ms = \(Self.ms(now)), access_count = access_count + 1 WHERE id = \(id)")
                return m
            }
        }
    }

    public func list(_ request: MemoryListRequest) async throws -> MemoryPage {
        try MemoryRules.validate(request)
        var condition = try Self.selection(tenant: request.tenant, subject: request.subject, namespace: request.namespace, kinds: request.kind.map { [$0] }, filter: request.filter, now: nil)
        if let (ms, id) = try request.cursor.map(MemoryRules.parseCursor) {
            condition += " AND (created_ms > \(ms) OR (created_ms = \(ms) AND id > \(id)))"
        }
        let sql: SQL = "SELECT \(Self.columns) FROM memories WHERE \(condition) ORDER BY created_ms, id LIMIT \(request.limit + 1)"
        return try wrap {
            let rows = try readPool.read { db in try db.rows(sql).map(Self.memory) }
            let page = Array(rows.prefix(request.limit))
            return MemoryPage(memories: page, nextCursor: rows.count > page.count ? page.last.map(MemoryRules.cursor(after:)) : nil)
        }
    }

    public func update(id: String, tenant: String, _ changes: MemoryUpdate, actor: String, reason: String) async throws -> Memory {
        try MemoryRules.validate(changes, actor: actor, reason: reason)
        let now = clock()
        let expiry = try changes.retention.map { try retention.expiry(of: $0, from: now) }
        return try wrap {
            try pool.write { db in
                guard var m = try Self.owned(db, id, tenant) else { throw MemoryRules.notFound(id) }
                guard !m.legalHold else { throw MemoryRules.held(id) }
                if let content = changes.content, let other = try Self.holder(db, m.tenant, m.subject, m.namespace, SHA256Hex.hash(content), other: id) {
                    throw EngramError(.conflict, "memory \(other) of the same subject and namespace already holds this content")
                }
                m.apply(changes, expiry: expiry, now: now)
                try Self.write(db, m, insert: false)
                try Self.record(db, .updated, m.trace, actor: actor, reason: reason, at: now)
                return m
            }
        }
    }

    /// Deletes `selected` (all but the held ones) with one event each, inside the caller's transaction.
    static func delete(_ db: Database, _ selected: [(trace: MemoryTrace, held: Bool)], event: MemoryEvent.Kind, actor: String, reason: String, at now: Date) throws -> (deleted: [String], held: [String]) {
        var deleted: [String] = [], held: [String] = []
        for m in selected.sorted(by: { $0.trace.id < $1.trace.id }) {
            if m.held {
                held.append(m.trace.id)
            } else {
                try db.cachedStatement(literal: "DELETE FROM memories WHERE id = ?").execute(arguments: [m.trace.id])
                try record(db, event, m.trace, actor: actor, reason: reason, at: now)
                deleted.append(m.trace.id)
            }
        }
        return (deleted, held)
    }

    /// The memories of a selection, with only what a deletion needs (no content or vectors are read).
    static func deletionCandidates(_ db: Database, _ condition: SQL) throws -> [(trace: MemoryTrace, held: Bool)] {
        try db.rows("SELECT id, tenant_id, content_sha256, legal_hold FROM memories WHERE \(condition)").map { r in
            (MemoryTrace(id: r["id"], tenant: r["tenant_id"], contentSHA256: r["content_sha256"]), r["legal_hold"])
        }
    }

    public func forget(_ request: ForgetRequest) async throws -> DeletionReceipt {
        try MemoryRules.validate(request)
        let now = clock()
        let receipt: DeletionReceipt = try wrap {
            try pool.write { db in
                var missing: [String] = []
                var selected: [(trace: MemoryTrace, held: Bool)] = []
                switch request.selector {
                case .ids(let ids):
                    for id in Set(ids).sorted() {
                        let found = try Self.deletionCandidates(db, "id = \(id) AND tenant_id = \(request.tenant)")
                        if found.isEmpty { missing.append(id) } else { selected += found }
                    }
                case .subject(let s):
                    selected = try Self.deletionCandidates(db, "tenant_id = \(request.tenant) AND subject = \(s)")
                case .filter(let f, let subject, let namespace):
                    selected = try Self.deletionCandidates(db, Self.selection(tenant: request.tenant, subject: subject, namespace: namespace, kinds: nil, filter: f, now: nil))
                case .all:
                    selected = try Self.deletionCandidates(db, "tenant_id = \(request.tenant)")
                }
                let (deleted, held) = try Self.delete(db, selected, event: .deleted, actor: request.actor, reason: request.reason, at: now)
                return DeletionReceipt(tenant: request.tenant, deleted: deleted, held: held, missing: missing, actor: request.actor, reason: request.reason, at: now)
            }
        }
        return erase(receipt)
    }

    public func export(tenant: String, subject: String?) async throws -> [Memory] {
        try MemoryRules.validateTenant(tenant)
        let condition = try Self.selection(tenant: tenant, subject: subject, namespace: nil, kinds: nil, filter: nil, now: nil)
        return try wrap {
            try readPool.read { db in
                try db.rows("SELECT \(Self.columns) FROM memories WHERE \(condition) ORDER BY created_ms, id").map(Self.memory)
            }
        }
    }

    public func sweep(tenant: String?, now: Date, actor: String) async throws -> DeletionReceipt {
        if let tenant { try MemoryRules.validateTenant(tenant) }
        try MemoryRules.validateLabel(actor, what: "actor")
        let reason = "retention expired"
        let receipt: DeletionReceipt = try wrap {
            try pool.write { db in
                var condition: SQL = "expires_ms IS NOT NULL AND expires_ms <= \(Self.ms(now))"
                if let tenant { condition += " AND tenant_id = \(tenant)" }
                let (deleted, held) = try Self.delete(db, try Self.deletionCandidates(db, condition), event: .expired, actor: actor, reason: reason, at: now)
                return DeletionReceipt(tenant: tenant, deleted: deleted, held: held, missing: [], actor: actor, reason: reason, at: now)
            }
        }
        return erase(receipt)
    }

    public func setLegalHold(id: String, tenant: String, held: Bool, actor: String, reason: String) async throws -> Memory {
        try MemoryRules.validateLabel(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let now = clock()
        return try wrap {
            try pool.write { db in
                guard var m = try Self.owned(db, id, tenant) else { throw MemoryRules.notFound(id) }
                guard m.legalHold != held else { return m }
                m.legalHold = held
                try db.execute(literal: "UPDATE memories SET legal_hold = \(held) WHERE id = \(id)")
                try Self.record(db, held ? .holdSet : .holdCleared, m.trace, actor: actor, reason: reason, at: now)
                return m
            }
        }
    }

    public func events(tenant: String, memoryID: String?) async throws -> [MemoryEvent] {
        try MemoryRules.validateTenant(tenant)
        return try wrap {
            try readPool.read { db in
                // Numbered within the tenant, so that no number reveals another tenant's activity.
                var sql: SQL = """
                    SELECT * FROM (SELECT tenant_id, memory_id, event, actor, reason, content_sha256, at_ms, origin, row_number() OVER (ORDER BY sequence) AS sequence
                                   FROM memory_events WHERE tenant_id = \(tenant))
                    """
                if let memoryID { sql += " WHERE memory_id = \(memoryID)" }
                return try db.rows(sql + " ORDER BY sequence").map(Self.event)
            }
        }
    }

    public func memoryTenants() async throws -> [String] {
        try wrap {
            try readPool.read { db in
                try db.values(String.self, Self.tenantsSQL)
            }
        }
    }

    public func restore(memories: [Memory], tenant: String, plan: RestorePlan) async throws -> MemoryRestoreOutcome {
        try wrap { try pool.write { db in try Self.restore(db, memories: memories, tenant: tenant, plan: plan) } }
    }

    public func importEvents(_ events: [MemoryEvent], tenant: String, plan: RestorePlan) async throws -> Int {
        try wrap { try pool.write { db in try Self.importEvents(db, events, tenant: tenant, plan: plan) } }
    }

    /// ``MemoryStore/restore(memories:tenant:plan:)`` inside the caller's transaction.
    static func restore(_ db: Database, memories: [Memory], tenant: String, plan: RestorePlan) throws -> MemoryRestoreOutcome {
        try MemoryRules.validateTenant(tenant)
        for m in memories {
            guard m.tenant == tenant else { throw EngramError(.invalidInput, "memory \(m.id) belongs to tenant '\(m.tenant)', not '\(tenant)'") }
            try MemoryRules.validateRestored(m)
        }
        var outcome = MemoryRestoreOutcome()
        for start in stride(from: 0, to: memories.count, by: 300) {
            let part = memories[start..<min(memories.count, start + 300)]
            // Ids are unique in the whole table: one of another tenant is refused, never taken over.
            var existing: [String: Bool] = [:]
            for row in try db.rows("SELECT id, tenant_id, legal_hold FROM memories WHERE id IN \(part.map(\.id))") {
                let id: String = row["id"]
                guard (row["tenant_id"] as String) == tenant else { throw MemoryRules.idOfAnotherTenant(id, tenant: tenant) }
                existing[id] = row["legal_hold"]
            }
            for m in part {
                let holder = try Self.holder(db, tenant, m.subject, m.namespace, m.contentSHA256)
                switch MemoryRules.restoreDecision(existing: existing[m.id], contentHeldBy: holder, id: m.id) {
                case .keepHeld: outcome.keptHeld.append(m.id)
                case .keepDuplicate: outcome.keptDuplicate.append(m.id)
                case .insert, .replace:
                    try write(db, m, insert: existing[m.id] == nil)
                    try record(db, .restored, m.trace, actor: plan.actor, reason: MemoryRules.restoredReason(plan), at: plan.at)
                    existing[m.id] = m.legalHold
                    outcome.written.append(m.id)
                }
            }
        }
        return outcome
    }

    /// ``MemoryStore/importEvents(_:tenant:plan:)`` inside the caller's transaction.
    static func importEvents(_ db: Database, _ events: [MemoryEvent], tenant: String, plan: RestorePlan) throws -> Int {
        try MemoryRules.validateTenant(tenant)
        for e in events {
            guard e.tenant == tenant else { throw EngramError(.invalidInput, "an event of memory \(e.memoryID) belongs to tenant '\(e.tenant)', not '\(tenant)'") }
            try MemoryRules.validateRestored(e)
            try record(db, e.kind, MemoryTrace(id: e.memoryID, tenant: tenant, contentSHA256: e.contentSHA256), actor: e.actor, reason: e.reason, at: e.at,
                       origin: MemoryRules.importedOrigin(plan, archived: e.origin))
        }
        return events.count
    }
}
