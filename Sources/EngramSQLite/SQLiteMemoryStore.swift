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

    static let columns = "id, tenant_id, subject, namespace, kind, content, metadata, importance, provenance, created_ms, updated_ms, accessed_ms, access_count, expires_ms, retention, legal_hold, supersedes, embedding_identity, embedding"

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
        let values: [any DatabaseValueConvertible & Sendable] = [
            m.tenant, m.subject, m.namespace, m.kind.rawValue, m.content, m.contentSHA256, m.metadata.canonicalJSON, m.importance, try MemoryRules.storedJSON(m.provenance),
            ms(m.createdAt), ms(m.updatedAt), m.lastAccessedAt.map(ms), m.accessCount, m.expiresAt.map(ms), m.retention, m.legalHold, m.supersedes,
            try m.embeddingIdentity.map(MemoryRules.storedJSON), blob(m.embedding),
        ]
        let names = "tenant_id, subject, namespace, kind, content, content_sha256, metadata, importance, provenance, created_ms, updated_ms, accessed_ms, access_count, expires_ms, retention, legal_hold, supersedes, embedding_identity, embedding"
        if insert {
            try db.execute(sql: "INSERT INTO memories (rowid, id, \(names)) VALUES (?, ?, \(Array(repeating: "?", count: values.count).joined(separator: ", ")))",
                           arguments: StatementArguments([try nextRowID(db, tenant: m.tenant), m.id] + values))
        } else {
            let sets = names.split(separator: ",").map { "\($0.trimmingCharacters(in: .whitespaces)) = ?" }.joined(separator: ", ")
            // Within the memory's tenant only: an id never moves a row of another tenant.
            try db.execute(sql: "UPDATE memories SET \(sets) WHERE id = ? AND tenant_id = ?", arguments: StatementArguments(values + [m.id, m.tenant]))
        }
    }

    /// The rowid of a tenant's next memory: after the tenant's last, in the tenant's slot (see migration
    /// v4_memories_in_tenant_order), so that a tenant's memories are stored together.
    static func nextRowID(_ db: Database, tenant: String) throws -> Int64 {
        let slot: Int64
        if let known = try Int64.fetchOne(db, sql: "SELECT slot FROM memory_tenant_slots WHERE tenant_id = ?", arguments: [tenant]) {
            slot = known
        } else {
            slot = (try Int64.fetchOne(db, sql: "SELECT max(slot) FROM memory_tenant_slots") ?? 0) + 1
            guard slot < 1 << 31 else { throw EngramError(.storageFailure, "this SQLite store has no memory slot left for another tenant") }
            try db.execute(sql: "INSERT INTO memory_tenant_slots (tenant_id, slot) VALUES (?, ?)", arguments: [tenant, slot])
        }
        let first = slot << 32, last = first | 0xFFFF_FFFF
        let previous = try Int64.fetchOne(db, sql: "SELECT max(rowid) FROM memories WHERE rowid BETWEEN ? AND ?", arguments: [first, last]) ?? first
        guard previous < last else { throw EngramError(.storageFailure, "tenant \(tenant) has used every memory row of this SQLite store") }
        return previous + 1
    }

    static func record(_ db: Database, _ kind: MemoryEvent.Kind, _ m: MemoryTrace, actor: String, reason: String, at: Date, origin: String? = nil) throws {
        try db.execute(sql: "INSERT INTO memory_events (tenant_id, memory_id, event, actor, reason, content_sha256, at_ms, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       arguments: [m.tenant, m.id, kind.rawValue, actor, reason, m.contentSHA256, ms(at), origin])
    }

    static func owned(_ db: Database, _ id: String, _ tenant: String) throws -> Memory? {
        try Row.fetchOne(db, sql: "SELECT \(columns) FROM memories WHERE id = ? AND tenant_id = ?", arguments: [id, tenant]).map(memory)
    }

    /// The SQL condition and arguments selecting a tenant's memories (subject, namespace, kinds, filter,
    /// not expired at `now`).
    static func selection(tenant: String, subject: String?, namespace: String?, kinds: [MemoryKind]?, filter: Filter?, now: Date?) throws -> (String, [any DatabaseValueConvertible]) {
        var parts = ["tenant_id = ?"]
        var args: [any DatabaseValueConvertible] = [tenant]
        if let subject { parts.append("subject = ?"); args.append(subject) }
        if let namespace { parts.append("namespace = ?"); args.append(namespace) }
        if let kinds {
            parts.append(kinds.isEmpty ? "0" : "kind IN (\(kinds.map { _ in "?" }.joined(separator: ", ")))")
            args += kinds.map(\.rawValue)
        }
        if let now { parts.append("(expires_ms IS NULL OR expires_ms > ?)"); args.append(ms(now)) }
        if let filter {
            var compiler = SQLiteFilterCompiler(column: "metadata")
            parts.append(try compiler.compile(filter))
            args += compiler.arguments
        }
        return (parts.joined(separator: " AND "), args)
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
                let existing = try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM memories WHERE tenant_id = ? AND subject = ? AND namespace = ? AND content_sha256 = ?",
                                                arguments: [draft.tenant, draft.subject, draft.namespace, SHA256Hex.hash(draft.content)]).map(Self.memory)
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
        let (condition, args) = try Self.selection(tenant: query.tenant, subject: query.subject, namespace: query.namespace, kinds: query.kinds, filter: query.filter, now: now)
        return try wrap {
            try pool.write { db in
                // Scored from the columns the score needs; whole rows are read for the best ones only. A
                // memory whose score could not reach the current best even if it held every query word is
                // passed over before its text is read.
                var top = MemoryRules.TopScores(limit: query.limit)
                // Only vectors embedded the way the query was are compared (their identity column is the
                // query identity's JSON, written by the same encoder).
                let space = try query.vectorIdentity.map(MemoryRules.storedJSON)
                let cursor = try Row.fetchCursor(db, sql: "SELECT id, content, importance, updated_ms, \(space == nil ? "NULL" : "CASE WHEN embedding_identity = ? THEN embedding END") AS embedding FROM memories WHERE \(condition)",
                                                 arguments: StatementArguments((space.map { [$0] } ?? []) + args.map { $0.databaseValue }))
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
                    try db.execute(sql: "UPDATE memories SET accessed_ms = ?, access_count = access_count + 1 WHERE id = ?", arguments: [Self.ms(now), id])
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
                try db.execute(sql: "UPDATE memories SET accessed_ms = ?, access_count = access_count + 1 WHERE id = ?", arguments: [Self.ms(now), id])
                return m
            }
        }
    }

    public func list(_ request: MemoryListRequest) async throws -> MemoryPage {
        try MemoryRules.validate(request)
        var (condition, args) = try Self.selection(tenant: request.tenant, subject: request.subject, namespace: request.namespace, kinds: request.kind.map { [$0] }, filter: request.filter, now: nil)
        if let (ms, id) = try request.cursor.map(MemoryRules.parseCursor) {
            condition += " AND (created_ms > ? OR (created_ms = ? AND id > ?))"
            args += [ms, ms, id]
        }
        let sql = "SELECT \(Self.columns) FROM memories WHERE \(condition) ORDER BY created_ms, id LIMIT \(request.limit + 1)"
        return try wrap {
            let rows = try readPool.read { db in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args.map { $0.databaseValue })).map(Self.memory) }
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
                if let content = changes.content, let other = try String.fetchOne(db, sql: "SELECT id FROM memories WHERE tenant_id = ? AND subject = ? AND namespace = ? AND content_sha256 = ? AND id <> ?",
                                                                                    arguments: [m.tenant, m.subject, m.namespace, SHA256Hex.hash(content), id]) {
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
                try db.execute(sql: "DELETE FROM memories WHERE id = ?", arguments: [m.trace.id])
                try record(db, event, m.trace, actor: actor, reason: reason, at: now)
                deleted.append(m.trace.id)
            }
        }
        return (deleted, held)
    }

    /// The memories of a selection, with only what a deletion needs (no content or vectors are read).
    static func deletionCandidates(_ db: Database, _ condition: String, _ args: [any DatabaseValueConvertible]) throws -> [(trace: MemoryTrace, held: Bool)] {
        try Row.fetchAll(db, sql: "SELECT id, tenant_id, content_sha256, legal_hold FROM memories WHERE \(condition)", arguments: StatementArguments(args.map { $0.databaseValue })).map { r in
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
                        let found = try Self.deletionCandidates(db, "id = ? AND tenant_id = ?", [id, request.tenant])
                        if found.isEmpty { missing.append(id) } else { selected += found }
                    }
                case .subject(let s):
                    selected = try Self.deletionCandidates(db, "tenant_id = ? AND subject = ?", [request.tenant, s])
                case .filter(let f, let subject, let namespace):
                    let (condition, args) = try Self.selection(tenant: request.tenant, subject: subject, namespace: namespace, kinds: nil, filter: f, now: nil)
                    selected = try Self.deletionCandidates(db, condition, args)
                case .all:
                    selected = try Self.deletionCandidates(db, "tenant_id = ?", [request.tenant])
                }
                let (deleted, held) = try Self.delete(db, selected, event: .deleted, actor: request.actor, reason: request.reason, at: now)
                return DeletionReceipt(tenant: request.tenant, deleted: deleted, held: held, missing: missing, actor: request.actor, reason: request.reason, at: now)
            }
        }
        return erase(receipt)
    }

    public func export(tenant: String, subject: String?) async throws -> [Memory] {
        try MemoryRules.validateTenant(tenant)
        let (condition, args) = try Self.selection(tenant: tenant, subject: subject, namespace: nil, kinds: nil, filter: nil, now: nil)
        return try wrap {
            try readPool.read { db in
                try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM memories WHERE \(condition) ORDER BY created_ms, id", arguments: StatementArguments(args.map { $0.databaseValue })).map(Self.memory)
            }
        }
    }

    public func sweep(tenant: String?, now: Date, actor: String) async throws -> DeletionReceipt {
        if let tenant { try MemoryRules.validateTenant(tenant) }
        try MemoryRules.validateLabel(actor, what: "actor")
        let reason = "retention expired"
        let receipt: DeletionReceipt = try wrap {
            try pool.write { db in
                var condition = "expires_ms IS NOT NULL AND expires_ms <= ?"
                var args: [any DatabaseValueConvertible] = [Self.ms(now)]
                if let tenant { condition += " AND tenant_id = ?"; args.append(tenant) }
                let (deleted, held) = try Self.delete(db, try Self.deletionCandidates(db, condition, args), event: .expired, actor: actor, reason: reason, at: now)
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
                try db.execute(sql: "UPDATE memories SET legal_hold = ? WHERE id = ?", arguments: [held, id])
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
                var sql = "SELECT * FROM (SELECT tenant_id, memory_id, event, actor, reason, content_sha256, at_ms, origin, row_number() OVER (ORDER BY sequence) AS sequence FROM memory_events WHERE tenant_id = ?)"
                var args: [any DatabaseValueConvertible] = [tenant]
                if let memoryID { sql += " WHERE memory_id = ?"; args.append(memoryID) }
                return try Row.fetchAll(db, sql: sql + " ORDER BY sequence", arguments: StatementArguments(args.map { $0.databaseValue })).map(Self.event)
            }
        }
    }

    public func memoryTenants() async throws -> [String] {
        try wrap {
            try readPool.read { db in
                try String.fetchAll(db, sql: "SELECT tenant_id FROM memories UNION SELECT tenant_id FROM memory_events ORDER BY tenant_id")
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
            let placeholders = Array(repeating: "?", count: part.count).joined(separator: ", ")
            // Ids are unique in the whole table: one of another tenant is refused, never taken over.
            var existing: [String: Bool] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, tenant_id, legal_hold FROM memories WHERE id IN (\(placeholders))", arguments: StatementArguments(part.map(\.id))) {
                let id: String = row["id"]
                guard (row["tenant_id"] as String) == tenant else { throw MemoryRules.idOfAnotherTenant(id, tenant: tenant) }
                existing[id] = row["legal_hold"]
            }
            for m in part {
                let holder = try String.fetchOne(db, sql: "SELECT id FROM memories WHERE tenant_id = ? AND subject = ? AND namespace = ? AND content_sha256 = ?",
                                                 arguments: [tenant, m.subject, m.namespace, m.contentSHA256])
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
