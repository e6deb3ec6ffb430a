import Foundation

/// The reference memory store: everything in memory. Its behaviour defines Engram's memory semantics; the
/// other stores must match it (the conformance suite checks).
public actor InMemoryMemoryStore: MemoryStore {
    private var memories: [String: Memory] = [:]
    private var auditLog: [MemoryEvent] = []
    private let clock: @Sendable () -> Date
    public nonisolated let retention: RetentionPolicies

    /// - Parameters:
    ///   - retention: the named retention policies.
    ///   - now: the clock (injectable, so that expiry and recency can be tested).
    public init(retention: RetentionPolicies = .standard, now: @escaping @Sendable () -> Date = { Date() }) {
        self.retention = retention
        self.clock = now
    }

    private func record(_ kind: MemoryEvent.Kind, _ m: MemoryTrace, actor: String, reason: String, at: Date) {
        auditLog.append(MemoryEvent(sequence: Int64(auditLog.count + 1), tenant: m.tenant, memoryID: m.id, kind: kind, actor: actor, reason: reason,
                                    contentSHA256: m.contentSHA256, at: at))
    }

    private func owned(_ id: String, _ tenant: String) -> Memory? {
        guard let m = memories[id], m.tenant == tenant else { return nil }
        return m
    }

    public func remember(_ draft: MemoryDraft, actor: String) throws -> RememberOutcome {
        let now = clock()
        let expiry = try MemoryRules.validate(draft, actor: actor, policies: retention, now: now)
        if let s = draft.supersedes, owned(s, draft.tenant) == nil { throw MemoryRules.notFound(s) }
        let hash = SHA256Hex.hash(draft.content)
        let existing = memories.values.first(where: { $0.tenant == draft.tenant && $0.subject == draft.subject && $0.namespace == draft.namespace && $0.contentSHA256 == hash })
        let plan = MemoryRules.remembering(draft, existing: existing, expiry: expiry, now: now)
        memories[plan.memory.id] = plan.memory
        for e in plan.events { record(e.kind, plan.memory.trace, actor: actor, reason: e.reason, at: now) }
        return plan.outcome
    }

    public func recall(_ query: RecallQuery) throws -> [RecallHit] {
        try MemoryRules.validate(query)
        let now = clock()
        let prepared = MemoryRules.PreparedRecall(query)
        var hits: [RecallHit] = []
        for m in memories.values where MemoryRules.selects(m, tenant: query.tenant, subject: query.subject, namespace: query.namespace, kinds: query.kinds, filter: query.filter, now: now) {
            if let score = prepared.score(m, now: now) { hits.append(RecallHit(memory: m, score: score)) }
        }
        hits.sort(by: MemoryRules.ranksBefore)
        hits = Array(hits.prefix(query.limit))
        for i in hits.indices {
            hits[i].memory.touch(now)
            memories[hits[i].memory.id] = hits[i].memory
        }
        return hits
    }

    public func memory(id: String, tenant: String) throws -> Memory? {
        guard var m = owned(id, tenant) else { return nil }
        m.touch(clock())
        memories[id] = m
        return m
    }

    public func list(_ request: MemoryListRequest) throws -> MemoryPage {
        try MemoryRules.validate(request)
        let position = try request.cursor.map(MemoryRules.parseCursor)
        let kinds = request.kind.map { [$0] }
        let selected = memories.values.filter { m in
            MemoryRules.selects(m, tenant: request.tenant, subject: request.subject, namespace: request.namespace, kinds: kinds, filter: request.filter, now: nil)
                && (position.map { MemoryRules.isAfter(m, $0) } ?? true)
        }.sorted(by: MemoryRules.listsBefore)
        let page = Array(selected.prefix(request.limit))
        return MemoryPage(memories: page, nextCursor: selected.count > page.count ? page.last.map(MemoryRules.cursor(after:)) : nil)
    }

    public func update(id: String, tenant: String, _ changes: MemoryUpdate, actor: String, reason: String) throws -> Memory {
        try MemoryRules.validate(changes, actor: actor, reason: reason)
        guard var m = owned(id, tenant) else { throw MemoryRules.notFound(id) }
        guard !m.legalHold else { throw MemoryRules.held(id) }
        let now = clock()
        let expiry = try changes.retention.map { try retention.expiry(of: $0, from: now) }
        if let content = changes.content {
            let hash = SHA256Hex.hash(content)
            if let other = memories.values.first(where: { $0.id != id && $0.tenant == m.tenant && $0.subject == m.subject && $0.namespace == m.namespace && $0.contentSHA256 == hash }) {
                throw EngramError(.conflict, "memory \(other.id) of the same subject and namespace already holds this content")
            }
        }
        m.apply(changes, expiry: expiry, now: now)
        memories[id] = m
        record(.updated, m.trace, actor: actor, reason: reason, at: now)
        return m
    }

    public func forget(_ request: ForgetRequest) throws -> DeletionReceipt {
        try MemoryRules.validate(request)
        let now = clock()
        var selected: [Memory] = []
        var missing: [String] = []
        switch request.selector {
        case .ids(let ids):
            for id in Set(ids).sorted() {
                if let m = owned(id, request.tenant) { selected.append(m) } else { missing.append(id) }
            }
        case .subject(let s):
            selected = memories.values.filter { $0.tenant == request.tenant && $0.subject == s }
        case .filter(let f, let subject, let namespace):
            selected = memories.values.filter { MemoryRules.selects($0, tenant: request.tenant, subject: subject, namespace: namespace, kinds: nil, filter: f, now: nil) }
        case .all:
            selected = memories.values.filter { $0.tenant == request.tenant }
        }
        let (deleted, held) = delete(selected, event: .deleted, actor: request.actor, reason: request.reason, at: now)
        return DeletionReceipt(tenant: request.tenant, deleted: deleted, held: held, missing: missing, actor: request.actor, reason: request.reason, at: now)
    }

    private func delete(_ selected: [Memory], event: MemoryEvent.Kind, actor: String, reason: String, at now: Date) -> (deleted: [String], held: [String]) {
        var deleted: [String] = [], held: [String] = []
        for m in selected.sorted(by: { $0.id < $1.id }) {
            if m.legalHold {
                held.append(m.id)
            } else {
                memories[m.id] = nil
                record(event, m.trace, actor: actor, reason: reason, at: now)
                deleted.append(m.id)
            }
        }
        return (deleted, held)
    }

    public func export(tenant: String, subject: String?) throws -> [Memory] {
        try MemoryRules.validateTenant(tenant)
        return memories.values.filter { $0.tenant == tenant && (subject == nil || $0.subject == subject) }.sorted(by: MemoryRules.listsBefore)
    }

    public func sweep(tenant: String?, now: Date, actor: String) throws -> DeletionReceipt {
        if let tenant { try MemoryRules.validateTenant(tenant) }
        try MemoryRules.validateLabel(actor, what: "actor")
        let expired = memories.values.filter { m in (tenant == nil || m.tenant == tenant) && (m.expiresAt.map { $0 <= now } ?? false) }
        let (deleted, held) = delete(expired, event: .expired, actor: actor, reason: "retention expired", at: now)
        return DeletionReceipt(tenant: tenant, deleted: deleted, held: held, missing: [], actor: actor, reason: "retention expired", at: now)
    }

    public func setLegalHold(id: String, tenant: String, held: Bool, actor: String, reason: String) throws -> Memory {
        try MemoryRules.validateLabel(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        guard var m = owned(id, tenant) else { throw MemoryRules.notFound(id) }
        guard m.legalHold != held else { return m }
        m.legalHold = held
        memories[id] = m
        record(held ? .holdSet : .holdCleared, m.trace, actor: actor, reason: reason, at: clock())
        return m
    }

    public func events(tenant: String, memoryID: String?) throws -> [MemoryEvent] {
        try MemoryRules.validateTenant(tenant)
        return auditLog.filter { $0.tenant == tenant }.enumerated().compactMap { i, e in
            guard memoryID == nil || e.memoryID == memoryID else { return nil }
            var numbered = e
            numbered.sequence = Int64(i + 1)
            return numbered
        }
    }

    public func memoryTenants() -> [String] {
        Array(Set(memories.values.map(\.tenant)).union(auditLog.map(\.tenant))).sorted()
    }

    public func restore(memories restored: [Memory], tenant: String, plan: RestorePlan) throws -> MemoryRestoreOutcome {
        try MemoryRules.validateTenant(tenant)
        for m in restored {
            guard m.tenant == tenant else { throw EngramError(.invalidInput, "memory \(m.id) belongs to tenant '\(m.tenant)', not '\(tenant)'") }
            try MemoryRules.validateRestored(m)
            if let other = memories[m.id], other.tenant != tenant { throw MemoryRules.idOfAnotherTenant(m.id, tenant: tenant) }
        }
        // Written to a copy and swapped in: all of the batch or none of it.
        var staged = memories
        var byContent: [String: String] = [:]
        func contentKey(_ m: Memory) -> String { "\(m.subject)\u{0}\(m.namespace)\u{0}\(m.contentSHA256)" }
        for m in staged.values where m.tenant == tenant { byContent[contentKey(m)] = m.id }
        var outcome = MemoryRestoreOutcome()
        var log: [MemoryEvent] = []
        for m in restored {
            switch MemoryRules.restoreDecision(existing: staged[m.id].map(\.legalHold), contentHeldBy: byContent[contentKey(m)], id: m.id) {
            case .keepHeld: outcome.keptHeld.append(m.id)
            case .keepDuplicate: outcome.keptDuplicate.append(m.id)
            case .insert, .replace:
                if let old = staged[m.id] { byContent[contentKey(old)] = nil }
                staged[m.id] = m
                byContent[contentKey(m)] = m.id
                log.append(MemoryEvent(sequence: 0, tenant: tenant, memoryID: m.id, kind: .restored, actor: plan.actor, reason: MemoryRules.restoredReason(plan),
                                       contentSHA256: m.contentSHA256, at: plan.at))
                outcome.written.append(m.id)
            }
        }
        memories = staged
        auditLog += log
        return outcome
    }

    public func importEvents(_ events: [MemoryEvent], tenant: String, plan: RestorePlan) throws -> Int {
        try MemoryRules.validateTenant(tenant)
        for e in events {
            guard e.tenant == tenant else { throw EngramError(.invalidInput, "an event of memory \(e.memoryID) belongs to tenant '\(e.tenant)', not '\(tenant)'") }
            try MemoryRules.validateRestored(e)
        }
        auditLog += events.map { e in
            MemoryEvent(sequence: 0, tenant: tenant, memoryID: e.memoryID, kind: e.kind, actor: e.actor, reason: e.reason, contentSHA256: e.contentSHA256, at: e.at,
                        origin: MemoryRules.importedOrigin(plan, archived: e.origin))
        }
        return events.count
    }
}

extension Memory {
    /// `remember` of the same content again: newer, at least as important, metadata merged (the draft's
    /// values win), expiry and retention from the draft, the draft's embedding when it has one, provenance
    /// chunk ids merged.
    public mutating func refresh(with draft: MemoryDraft, expiry: Date?, now: Date) {
        updatedAt = now
        importance = Swift.max(importance, draft.importance)
        metadata.merge(draft.metadata) { _, new in new }
        expiresAt = expiry
        retention = draft.retention
        if let e = draft.embedding {
            embedding = e
            embeddingIdentity = draft.embeddingIdentity
        }
        for c in draft.provenance.chunkIDs where !provenance.chunkIDs.contains(c) { provenance.chunkIDs.append(c) }
        if provenance.runID == nil { provenance.runID = draft.provenance.runID }
        if provenance.messageID == nil { provenance.messageID = draft.provenance.messageID }
    }

    /// Applies an update. New content drops an embedding computed from the old content unless a new one comes with it.
    public mutating func apply(_ changes: MemoryUpdate, expiry: Date??, now: Date) {
        if let c = changes.content, c != content {
            content = c
            contentSHA256 = SHA256Hex.hash(c)
            embedding = changes.embedding
            embeddingIdentity = changes.embedding == nil ? nil : changes.embeddingIdentity
        }
        if let m = changes.metadata { metadata = m }
        if let i = changes.importance { importance = i }
        if let k = changes.kind { kind = k }
        if let r = changes.retention, let e = expiry {
            retention = r
            expiresAt = e
        }
        updatedAt = now
    }

    /// Records an access.
    public mutating func touch(_ now: Date) {
        lastAccessedAt = now
        accessCount += 1
    }
}
