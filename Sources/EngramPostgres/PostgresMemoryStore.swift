import EngramCore
import Foundation
import Logging
import PostgresNIO

/// Long-term memory in PostgreSQL (tables `memories`, `memory_events`, `memory_tenants` of migration 2).
///
/// Every operation is one transaction scoped to its tenant by row-level security, like the vector store's.
/// Recall ranks in SQL: the similarity (pgvector, for memories embedded in the query's space) and the share
/// of query words (`terms`, GIN-indexed) are computed by the server over the selected memories, which are
/// ordered by the same score formula as the reference store; the scores' parts are then computed again from
/// the returned similarity and word share with ``MemoryRules/PreparedRecall``, so every backend reports
/// them identically. A keyword-only recall reads only memories sharing a word with the query.
public final class PostgresMemoryStore: MemoryStore, Sendable {
    public let retention: RetentionPolicies
    /// The database's owner, shared with the ``PostgresVectorStore`` of the same client and schema.
    let db: PostgresDatabase
    let clock: @Sendable () -> Date
    public var database: PostgresDatabase { db }
    var schemaName: SQLIdentifier { db.schemaName }

    /// The memories of a database.
    public init(database: PostgresDatabase, retention: RetentionPolicies = .standard, now: @escaping @Sendable () -> Date = { Date() }) {
        db = database
        self.retention = retention
        self.clock = now
    }

    /// - Parameters:
    ///   - client: a client whose `run()` the application schedules.
    ///   - schema: the migrated schema (see ``PostgresMigrator``).
    public convenience init(client: PostgresClient, schema: String = "engram", retention: RetentionPolicies = .standard, now: @escaping @Sendable () -> Date = { Date() },
                            logger: Logger = Logger(label: "engram.postgres", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        self.init(database: try PostgresDatabase(client: client, schema: schema, logger: logger), retention: retention, now: now)
    }

    // MARK: Rows

    static let columns: PostgresSQL = """
        m.id, m.tenant_id, m.subject, m.namespace, m.kind, m.content, m.metadata::text AS metadata, m.importance, m.provenance::text AS provenance,
        m.created_at, m.updated_at, m.accessed_at, m.access_count, m.expires_at, m.retention, m.legal_hold, m.supersedes, m.embedding_identity,
        m.embedding::real[] AS embedding
        """

    /// The creation time's millisecond, rounded as ``MetadataValue/milliseconds(_:)`` rounds it: list
    /// order and cursors compare it, so that every backend pages the same way.
    static let createdMillisecond: PostgresSQL = "round(extract(epoch FROM m.created_at) * 1000)::bigint"

    static func memory(_ r: PostgresRandomAccessRow) throws -> Memory {
        let identityText = try r["embedding_identity"].decode(String?.self)
        return Memory(
            id: try r["id"].decode(String.self), tenant: try r["tenant_id"].decode(String.self), subject: try r["subject"].decode(String.self),
            namespace: try r["namespace"].decode(String.self), kind: MemoryKind(rawValue: try r["kind"].decode(String.self)), content: try r["content"].decode(String.self),
            metadata: try Metadata.parse(json: r["metadata"].decode(String.self)), importance: try r["importance"].decode(Double.self),
            provenance: try MemoryRules.fromStoredJSON(MemoryProvenance.self, r["provenance"].decode(String.self)),
            createdAt: try r["created_at"].decode(Date.self), updatedAt: try r["updated_at"].decode(Date.self), lastAccessedAt: try r["accessed_at"].decode(Date?.self),
            accessCount: try r["access_count"].decode(Int.self), expiresAt: try r["expires_at"].decode(Date?.self), retention: try r["retention"].decode(String.self),
            legalHold: try r["legal_hold"].decode(Bool.self), supersedes: try r["supersedes"].decode(String?.self), embedding: try r["embedding"].decode([Float]?.self),
            embeddingIdentity: try identityText.map { try MemoryRules.fromStoredJSON(EmbeddingIdentity.self, $0) })
    }

    static let eventColumns: PostgresSQL = "sequence, tenant_id, memory_id, event, actor, reason, content_sha256, at, origin"

    static func event(_ r: PostgresRandomAccessRow) throws -> MemoryEvent {
        let name = try r["event"].decode(String.self)
        guard let kind = MemoryEvent.Kind(rawValue: name) else { throw EngramError(.storageFailure, "unknown memory event '\(name)'") }
        return MemoryEvent(sequence: try r["sequence"].decode(Int64.self), tenant: try r["tenant_id"].decode(String.self), memoryID: try r["memory_id"].decode(String.self),
                           kind: kind, actor: try r["actor"].decode(String.self), reason: try r["reason"].decode(String.self),
                           contentSHA256: try r["content_sha256"].decode(String.self), at: try r["at"].decode(Date.self), origin: try r["origin"].decode(String?.self))
    }

    /// The distinct folded words of a content, as stored in `terms`.
    static func terms(_ content: String) -> [String] { Array(Set(KeywordTokenizer.tokens(content))).sorted() }

    func write(_ c: PostgresConnection, _ m: Memory, insert: Bool, types: PGVectorTypes) async throws {
        let identity = try m.embeddingIdentity.map(MemoryRules.storedJSON)
        let values: [PostgresSQL] = [
            "\(m.tenant)", "\(m.subject)", "\(m.namespace)", "\(m.kind.rawValue)", "\(m.content)", "\(m.contentSHA256)", "\(Self.terms(m.content))",
            "\(m.metadata.canonicalJSON)::jsonb", "\(m.importance)", "\(try MemoryRules.storedJSON(m.provenance))::jsonb", "\(m.createdAt)", "\(m.updatedAt)",
            "\(m.lastAccessedAt)", "\(m.accessCount)", "\(m.expiresAt)", "\(m.retention)", "\(m.legalHold)", "\(m.supersedes)", "\(identity)",
            "\(m.embedding.map { PGVector(values: $0, types: types) })",
        ]
        let names = ["tenant_id", "subject", "namespace", "kind", "content", "content_sha256", "terms", "metadata", "importance", "provenance", "created_at", "updated_at",
                     "accessed_at", "access_count", "expires_at", "retention", "legal_hold", "supersedes", "embedding_identity", "embedding"]
        if insert {
            _ = try await db.rows(c, "INSERT INTO \(schemaName).memories (id, \(unsafeRaw: names.joined(separator: ", "))) VALUES (\(m.id), \(PostgresSQL.joined(values, separator: ", ")))")
            _ = try await db.rows(c, "INSERT INTO \(schemaName).memory_tenants (tenant_id) VALUES (\(m.tenant)) ON CONFLICT DO NOTHING")
        } else {
            let sets = PostgresSQL.joined(zip(names, values).map { "\(unsafeRaw: $0) = \($1)" }, separator: ", ")
            // Within the memory's tenant only (row-level security says so too).
            _ = try await db.rows(c, "UPDATE \(schemaName).memories SET \(sets) WHERE id = \(m.id) AND tenant_id = \(m.tenant)")
        }
    }

    func record(_ c: PostgresConnection, _ kind: MemoryEvent.Kind, _ memories: [MemoryTrace], actor: String, reason: String, at: Date) async throws {
        guard !memories.isEmpty else { return }
        _ = try await db.rows(c, """
            INSERT INTO \(schemaName).memory_events (tenant_id, memory_id, event, actor, reason, content_sha256, at)
            SELECT t, i, \(kind.rawValue), \(actor), \(reason), h, \(at)
            FROM unnest(\(memories.map(\.tenant))::text[], \(memories.map(\.id))::text[], \(memories.map(\.contentSHA256))::text[]) AS u(t, i, h)
            """)
    }

    func owned(_ c: PostgresConnection, _ id: String, _ tenant: String) async throws -> Memory? {
        return try await db.rows(c, "SELECT \(Self.columns) FROM \(schemaName).memories m WHERE m.id = \(id) AND m.tenant_id = \(tenant)").first.map(Self.memory)
    }

    /// The SQL condition selecting a tenant's memories (subject, namespace, kinds, filter, not expired at `now`).
    func selection(tenant: String, subject: String?, namespace: String?, kinds: [MemoryKind]?, filter: Filter?, now: Date?) throws -> PostgresSQL {
        var parts: [PostgresSQL] = ["m.tenant_id = \(tenant)"]
        if let subject { parts.append("m.subject = \(subject)") }
        if let namespace { parts.append("m.namespace = \(namespace)") }
        if let kinds { parts.append("m.kind = ANY(\(kinds.map(\.rawValue))::text[])") }
        if let now { parts.append("(m.expires_at IS NULL OR m.expires_at > \(now))") }
        if let filter { parts.append(try PostgresFilterCompiler(column: "m.metadata").compile(filter)) }
        return PostgresSQL.joined(parts, separator: " AND ")
    }

    // MARK: MemoryStore

    public func remember(_ draft: MemoryDraft, actor: String) async throws -> RememberOutcome {
        let now = clock()
        let expiry = try MemoryRules.validate(draft, actor: actor, policies: retention, now: now)
        let types = try await db.vectorTypes()
        do {
            return try await remember(draft, actor: actor, expiry: expiry, now: now, types: types)
        } catch where PostgresDatabase.sqlState(error) == "23505" {
            // Two callers remembered the same new content at once and the other one's insert won: this
            // one is now a refresh of it.
            return try await remember(draft, actor: actor, expiry: expiry, now: now, types: types)
        }
    }

    func remember(_ draft: MemoryDraft, actor: String, expiry: Date?, now: Date, types: PGVectorTypes) async throws -> RememberOutcome {
        try await db.inTenant(draft.tenant) { c in
            if let s = draft.supersedes, try await self.owned(c, s, draft.tenant) == nil { throw MemoryRules.notFound(s) }
            let existing = try await self.db.rows(c, """
                SELECT \(Self.columns) FROM \(self.schemaName).memories m
                WHERE m.tenant_id = \(draft.tenant) AND m.subject = \(draft.subject) AND m.namespace = \(draft.namespace)
                  AND m.content_sha256 = \(SHA256Hex.hash(draft.content))
                FOR UPDATE
                """).first.map(Self.memory)
            let plan = MemoryRules.remembering(draft, existing: existing, expiry: expiry, now: now)
            try await self.write(c, plan.memory, insert: plan.outcome.created, types: types)
            for e in plan.events { try await self.record(c, e.kind, [plan.memory.trace], actor: actor, reason: e.reason, at: now) }
            return plan.outcome
        }
    }

    public func recall(_ query: RecallQuery) async throws -> [RecallHit] {
        try MemoryRules.validate(query)
        let now = clock()
        let prepared = MemoryRules.PreparedRecall(query)
        let types = try await db.vectorTypes()
        return try await db.inTenant(query.tenant) { c in
            let w = query.weights
            let condition = try self.selection(tenant: query.tenant, subject: query.subject, namespace: query.namespace, kinds: query.kinds, filter: query.filter, now: now)
            var similarity: PostgresSQL = "NULL::float8"
            if let v = query.vector, let identity = query.vectorIdentity {
                let dim = PostgresSQL(unsafeRaw: "\(identity.dimension)")
                let q: PostgresSQL = "\(PGVector(values: v, types: types))::vector(\(dim))"
                let e: PostgresSQL = "m.embedding::vector(\(dim))"
                let score = PostgresVectorStore.similaritySQL(identity.distance, distance: "(\(e) \(unsafeRaw: PostgresVectorStore.operatorClass(identity.distance).op) \(q))")
                similarity = "CASE WHEN m.embedding_identity = \(try MemoryRules.storedJSON(identity)) AND m.embedding IS NOT NULL THEN (\(score))::float8 END"
            }
            let terms = prepared.queryTerms
            var keyword: PostgresSQL = "NULL::float8"
            var wordsOnly: PostgresSQL = ""
            if !terms.isEmpty {
                // One membership test per query word: no subquery per row. `word = ANY(terms)` compares the
                // word with each element; `terms @> ARRAY[word]`, which compares two arrays for every row,
                // cost four times as much (320 against 80 ms over 90,000 memories, measured in psql).
                let each = terms.map { "(\($0)::text = ANY(m.terms))::int" as PostgresSQL }
                keyword = "((\(PostgresSQL.joined(each, separator: " + ")))::float8 / \(terms.count))"
                if query.vector == nil { wordsOnly = " AND m.terms && \(terms)::text[]" }
            }
            let asked = query.vector != nil || !terms.isEmpty
            let ks = SQLValue(w.keywordShare)
            let relevance: PostgresSQL = """
                CASE WHEN s.sim IS NOT NULL AND s.kw IS NOT NULL THEN (1 - \(ks)) * least(1, greatest(0, s.sim)) + \(ks) * s.kw
                     WHEN s.sim IS NOT NULL THEN least(1, greatest(0, s.sim))
                     ELSE coalesce(s.kw, 0) END
                """
            let recency: PostgresSQL = "power(0.5, greatest(0, extract(epoch FROM \(now) - s.updated_at)::float8) / \(w.halfLife))"
            let total: PostgresSQL = "\(w.similarity) * (\(relevance)) + \(w.recency) * \(recency) + \(w.importance) * s.importance"
            // Ranked on the few columns the score needs; whole rows are read for the best ones only.
            let rows = try await self.db.rows(c, """
                WITH ranked AS (
                    SELECT s.id, s.sim, s.kw FROM (
                        SELECT m.id, m.updated_at, m.importance, \(similarity) AS sim, \(keyword) AS kw
                        FROM \(self.schemaName).memories m WHERE \(condition)\(wordsOnly)
                    ) s
                    \(unsafeRaw: asked ? "WHERE s.sim IS NOT NULL OR s.kw > 0" : "")
                    ORDER BY \(total) DESC, s.id COLLATE "C" LIMIT \(query.limit)
                )
                SELECT \(Self.columns), r.sim, r.kw FROM ranked r JOIN \(self.schemaName).memories m ON m.id = r.id
                """)
            var hits: [RecallHit] = []
            for r in rows {
                let m = try Self.memory(r)
                if let score = prepared.score(similarity: try r["sim"].decode(Double?.self), keyword: try r["kw"].decode(Double?.self), importance: m.importance, updatedAt: m.updatedAt, now: now) {
                    hits.append(RecallHit(memory: m, score: score))
                }
            }
            hits.sort(by: MemoryRules.ranksBefore)
            for i in hits.indices { hits[i].memory.touch(now) }
            if !hits.isEmpty {
                _ = try await self.db.rows(c, "UPDATE \(self.schemaName).memories SET accessed_at = \(now), access_count = access_count + 1 WHERE id = ANY(\(hits.map(\.memory.id))::text[])")
            }
            return hits
        }
    }

    public func memory(id: String, tenant: String) async throws -> Memory? {
        try MemoryRules.validateTenant(tenant)
        let now = clock()
        return try await db.inTenant(tenant) { c in
            return try await self.db.rows(c, """
                UPDATE \(self.schemaName).memories m SET accessed_at = \(now), access_count = access_count + 1
                WHERE m.id = \(id) AND m.tenant_id = \(tenant) RETURNING \(Self.columns)
                """).first.map(Self.memory)
        }
    }

    public func list(_ request: MemoryListRequest) async throws -> MemoryPage {
        try MemoryRules.validate(request)
        return try await db.reading(request.tenant) { c in
            var condition = try self.selection(tenant: request.tenant, subject: request.subject, namespace: request.namespace, kinds: request.kind.map { [$0] }, filter: request.filter, now: nil)
            if let (ms, id) = try request.cursor.map(MemoryRules.parseCursor) {
                let t = SQLValue(ms)
                condition += " AND (\(Self.createdMillisecond) > \(t) OR (\(Self.createdMillisecond) = \(t) AND m.id COLLATE \"C\" > \(id)))"
            }
            let rows = try await self.db.rows(c, "SELECT \(Self.columns) FROM \(self.schemaName).memories m WHERE \(condition) ORDER BY \(Self.createdMillisecond), m.id COLLATE \"C\" LIMIT \(request.limit + 1)")
            let memories = try rows.map(Self.memory)
            let page = Array(memories.prefix(request.limit))
            return MemoryPage(memories: page, nextCursor: memories.count > page.count ? page.last.map(MemoryRules.cursor(after:)) : nil)
        }
    }

    public func update(id: String, tenant: String, _ changes: MemoryUpdate, actor: String, reason: String) async throws -> Memory {
        try MemoryRules.validate(changes, actor: actor, reason: reason)
        try MemoryRules.validateTenant(tenant)
        let now = clock()
        let expiry = try changes.retention.map { try retention.expiry(of: $0, from: now) }
        let types = try await db.vectorTypes()
        return try await db.inTenant(tenant) { c in
            guard var m = try await self.db.rows(c, "SELECT \(Self.columns) FROM \(self.schemaName).memories m WHERE m.id = \(id) AND m.tenant_id = \(tenant) FOR UPDATE").first.map(Self.memory) else {
                throw MemoryRules.notFound(id)
            }
            guard !m.legalHold else { throw MemoryRules.held(id) }
            if let content = changes.content {
                if let other = try await self.db.rows(c, """
                    SELECT id FROM \(self.schemaName).memories WHERE tenant_id = \(m.tenant) AND subject = \(m.subject) AND namespace = \(m.namespace)
                      AND content_sha256 = \(SHA256Hex.hash(content)) AND id <> \(id)
                    """).first {
                    throw EngramError(.conflict, "memory \(try other["id"].decode(String.self)) of the same subject and namespace already holds this content")
                }
            }
            m.apply(changes, expiry: expiry, now: now)
            try await self.write(c, m, insert: false, types: types)
            try await self.record(c, .updated, [m.trace], actor: actor, reason: reason, at: now)
            return m
        }
    }

    /// Deletes the selected memories except the held ones, with one event each, in one statement each
    /// for the rows and the events, however many there are.
    func delete(_ c: PostgresConnection, condition: PostgresSQL, event: MemoryEvent.Kind, actor: String, reason: String, at now: Date) async throws -> (deleted: [String], held: [String]) {
        let held = try await db.rows(c, "SELECT m.id FROM \(schemaName).memories m WHERE \(condition) AND m.legal_hold").map { try $0["id"].decode(String.self) }
        let deleted = try await db.rows(c, "DELETE FROM \(schemaName).memories m WHERE \(condition) AND NOT m.legal_hold RETURNING m.id, m.tenant_id, m.content_sha256")
        var gone = try deleted.map { r in
            MemoryTrace(id: try r["id"].decode(String.self), tenant: try r["tenant_id"].decode(String.self), contentSHA256: try r["content_sha256"].decode(String.self))
        }
        gone.sort { $0.id < $1.id }
        try await record(c, event, gone, actor: actor, reason: reason, at: now)
        return (gone.map(\.id), held.sorted())
    }

    public func forget(_ request: ForgetRequest) async throws -> DeletionReceipt {
        try MemoryRules.validate(request)
        let now = clock()
        return try await db.inTenant(request.tenant) { c in
            var missing: [String] = []
            let condition: PostgresSQL
            switch request.selector {
            case .ids(let ids):
                let unique = Array(Set(ids)).sorted()
                let present = Set(try await self.db.rows(c, "SELECT id FROM \(self.schemaName).memories WHERE tenant_id = \(request.tenant) AND id = ANY(\(unique)::text[])")
                    .map { try $0["id"].decode(String.self) })
                missing = unique.filter { !present.contains($0) }
                condition = "m.tenant_id = \(request.tenant) AND m.id = ANY(\(unique)::text[])"
            case .subject(let s):
                condition = "m.tenant_id = \(request.tenant) AND m.subject = \(s)"
            case .filter(let f, let subject, let namespace):
                condition = try self.selection(tenant: request.tenant, subject: subject, namespace: namespace, kinds: nil, filter: f, now: nil)
            case .all:
                condition = "m.tenant_id = \(request.tenant)"
            }
            let (deleted, held) = try await self.delete(c, condition: condition, event: .deleted, actor: request.actor, reason: request.reason, at: now)
            return DeletionReceipt(tenant: request.tenant, deleted: deleted, held: held, missing: missing, actor: request.actor, reason: request.reason, at: now)
        }
    }

    public func export(tenant: String, subject: String?) async throws -> [Memory] {
        try MemoryRules.validateTenant(tenant)
        return try await db.reading(tenant) { c in
            let condition = try self.selection(tenant: tenant, subject: subject, namespace: nil, kinds: nil, filter: nil, now: nil)
            return try await self.db.rows(c, "SELECT \(Self.columns) FROM \(self.schemaName).memories m WHERE \(condition) ORDER BY \(Self.createdMillisecond), m.id COLLATE \"C\"").map(Self.memory)
        }
    }

    public func sweep(tenant: String?, now: Date, actor: String) async throws -> DeletionReceipt {
        if let tenant { try MemoryRules.validateTenant(tenant) }
        try MemoryRules.validateLabel(actor, what: "actor")
        let reason = "retention expired"
        // Every tenant: each in its own tenant-scoped transaction, so row-level security still applies.
        let tenants: [String]
        if let tenant {
            tenants = [tenant]
        } else {
            tenants = try await db.reading("") { c in
                try await self.db.rows(c, "SELECT tenant_id FROM \(self.schemaName).memory_tenants ORDER BY tenant_id COLLATE \"C\"").map { try $0["tenant_id"].decode(String.self) }
            }
        }
        var deleted: [String] = [], held: [String] = []
        for t in tenants {
            let part = try await db.inTenant(t) { c in
                let condition: PostgresSQL = "m.tenant_id = \(t) AND m.expires_at IS NOT NULL AND m.expires_at <= \(now)"
                return try await self.delete(c, condition: condition, event: .expired, actor: actor, reason: reason, at: now)
            }
            deleted += part.deleted
            held += part.held
        }
        return DeletionReceipt(tenant: tenant, deleted: deleted.sorted(), held: held.sorted(), missing: [], actor: actor, reason: reason, at: now)
    }

    public func setLegalHold(id: String, tenant: String, held: Bool, actor: String, reason: String) async throws -> Memory {
        try MemoryRules.validateTenant(tenant)
        try MemoryRules.validateLabel(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let now = clock()
        return try await db.inTenant(tenant) { c in
            guard var m = try await self.db.rows(c, "SELECT \(Self.columns) FROM \(self.schemaName).memories m WHERE m.id = \(id) AND m.tenant_id = \(tenant) FOR UPDATE").first.map(Self.memory) else {
                throw MemoryRules.notFound(id)
            }
            guard m.legalHold != held else { return m }
            m.legalHold = held
            _ = try await self.db.rows(c, "UPDATE \(self.schemaName).memories SET legal_hold = \(held) WHERE id = \(id)")
            try await self.record(c, held ? .holdSet : .holdCleared, [m.trace], actor: actor, reason: reason, at: now)
            return m
        }
    }

    public func events(tenant: String, memoryID: String?) async throws -> [MemoryEvent] {
        try MemoryRules.validateTenant(tenant)
        return try await db.reading(tenant) { c in
            // Numbered within the tenant, so that no number reveals another tenant's activity.
            var sql: PostgresSQL = """
                SELECT * FROM (SELECT row_number() OVER (ORDER BY sequence) AS sequence, tenant_id, memory_id, event, actor, reason, content_sha256, at, origin
                               FROM \(self.schemaName).memory_events WHERE tenant_id = \(tenant)) e
                """
            if let memoryID { sql += " WHERE memory_id = \(memoryID)" }
            return try await self.db.rows(c, sql + " ORDER BY sequence").map(Self.event)
        }
    }

    public func memoryTenants() async throws -> [String] {
        try await db.reading("") { c in
            try await self.db.rows(c, "SELECT tenant_id FROM \(self.schemaName).memory_tenants ORDER BY tenant_id COLLATE \"C\"").map { try $0["tenant_id"].decode(String.self) }
        }
    }

    /// One transaction per tenant (row-level security), in tenant order.
    public func restore(memories: [Memory], tenant: String, plan: RestorePlan) async throws -> MemoryRestoreOutcome {
        try MemoryRules.validateTenant(tenant)
        let types = try await db.vectorTypes()
        return try await db.inTenant(tenant) { c in try await self.restore(c, memories: memories, tenant: tenant, plan: plan, types: types) }
    }

    public func importEvents(_ events: [MemoryEvent], tenant: String, plan: RestorePlan) async throws -> Int {
        try MemoryRules.validateTenant(tenant)
        return try await db.inTenant(tenant) { c in try await self.importEvents(c, events, tenant: tenant, plan: plan) }
    }

    /// ``MemoryStore/restore(memories:tenant:plan:)`` inside the caller's transaction, whose tenant is
    /// `tenant`. Row-level security hides other tenants' memories, so an id of one shows up as a unique
    /// violation of the insert, which aborts the transaction.
    func restore(_ c: PostgresConnection, memories: [Memory], tenant: String, plan: RestorePlan, types: PGVectorTypes) async throws -> MemoryRestoreOutcome {
        for m in memories {
            guard m.tenant == tenant else { throw EngramError(.invalidInput, "memory \(m.id) belongs to tenant '\(m.tenant)', not '\(tenant)'") }
            try MemoryRules.validateRestored(m)
        }
        var existing: [String: Bool] = [:]
        for r in try await db.rows(c, "SELECT id, legal_hold FROM \(schemaName).memories WHERE tenant_id = \(tenant) AND id = ANY(\(memories.map(\.id))::text[])") {
            existing[try r["id"].decode(String.self)] = try r["legal_hold"].decode(Bool.self)
        }
        var byContent: [String: String] = [:]
        func key(_ subject: String, _ namespace: String, _ sha: String) -> String { "\(subject)\u{0}\(namespace)\u{0}\(sha)" }
        for r in try await db.rows(c, "SELECT id, subject, namespace, content_sha256 FROM \(schemaName).memories WHERE tenant_id = \(tenant) AND content_sha256 = ANY(\(memories.map(\.contentSHA256))::text[])") {
            byContent[key(try r["subject"].decode(String.self), try r["namespace"].decode(String.self), try r["content_sha256"].decode(String.self))] = try r["id"].decode(String.self)
        }
        var outcome = MemoryRestoreOutcome()
        var written: [MemoryTrace] = []
        for m in memories {
            switch MemoryRules.restoreDecision(existing: existing[m.id], contentHeldBy: byContent[key(m.subject, m.namespace, m.contentSHA256)], id: m.id) {
            case .keepHeld: outcome.keptHeld.append(m.id)
            case .keepDuplicate: outcome.keptDuplicate.append(m.id)
            case .insert, .replace:
                do {
                    try await write(c, m, insert: existing[m.id] == nil, types: types)
                } catch where PostgresDatabase.sqlState(error) == "23505" {
                    throw MemoryRules.idOfAnotherTenant(m.id, tenant: tenant)
                }
                existing[m.id] = m.legalHold
                byContent[key(m.subject, m.namespace, m.contentSHA256)] = m.id
                written.append(m.trace)
                outcome.written.append(m.id)
            }
        }
        try await record(c, .restored, written, actor: plan.actor, reason: MemoryRules.restoredReason(plan), at: plan.at)
        return outcome
    }

    /// ``MemoryStore/importEvents(_:tenant:plan:)`` inside the caller's transaction, whose tenant is `tenant`.
    func importEvents(_ c: PostgresConnection, _ events: [MemoryEvent], tenant: String, plan: RestorePlan) async throws -> Int {
        for e in events {
            guard e.tenant == tenant else { throw EngramError(.invalidInput, "an event of memory \(e.memoryID) belongs to tenant '\(e.tenant)', not '\(tenant)'") }
            try MemoryRules.validateRestored(e)
        }
        guard !events.isEmpty else { return 0 }
        _ = try await db.rows(c, "INSERT INTO \(schemaName).memory_tenants (tenant_id) VALUES (\(tenant)) ON CONFLICT DO NOTHING")
        _ = try await db.rows(c, """
            INSERT INTO \(schemaName).memory_events (tenant_id, memory_id, event, actor, reason, content_sha256, at, origin)
            SELECT \(tenant), u.i, u.e, u.a, u.r, u.h, u.t, u.o
            FROM unnest(\(events.map(\.memoryID))::text[], \(events.map(\.kind.rawValue))::text[], \(events.map(\.actor))::text[],
                        \(events.map(\.reason))::text[], \(events.map(\.contentSHA256))::text[], \(events.map(\.at))::timestamptz[],
                        \(events.map { MemoryRules.importedOrigin(plan, archived: $0.origin) })::text[])
                 WITH ORDINALITY AS u(i, e, a, r, h, t, o, n)
            ORDER BY u.n
            """)
        return events.count
    }
}
