import Foundation

/// What a memory is about: `fact`, `preference`, `episode`, `summary`, or any other lowercase word.
public struct MemoryKind: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let fact: MemoryKind = "fact"
    public static let preference: MemoryKind = "preference"
    public static let episode: MemoryKind = "episode"
    public static let summary: MemoryKind = "summary"
}

/// Where a memory came from.
public struct MemoryProvenance: Sendable, Hashable, Codable {
    public var runID: String?
    public var messageID: String?
    /// Chunks the memory was derived from.
    public var chunkIDs: [String]

    public init(runID: String? = nil, messageID: String? = nil, chunkIDs: [String] = []) {
        self.runID = runID
        self.messageID = messageID
        self.chunkIDs = chunkIDs
    }
}

/// A long-term memory of one tenant, about one subject (a user or an agent), in one namespace.
public struct Memory: Sendable, Hashable {
    public var id: String
    public var tenant: String
    public var subject: String
    public var namespace: String
    public var kind: MemoryKind
    public var content: String
    /// SHA-256 (hex) of `content`: what audit events record instead of the content.
    public var contentSHA256: String
    public var metadata: Metadata
    /// 0 (trivia) to 1 (essential).
    public var importance: Double
    public var provenance: MemoryProvenance
    public var createdAt: Date
    public var updatedAt: Date
    public var lastAccessedAt: Date?
    /// How many times the memory was returned by `recall` or `get`.
    public var accessCount: Int
    /// When the memory expires (nil: never); computed from the retention policy when written.
    public var expiresAt: Date?
    /// The retention policy's name.
    public var retention: String
    /// Under legal hold a memory is neither changed, forgotten nor swept.
    public var legalHold: Bool
    /// The memory this one replaces, if any.
    public var supersedes: String?
    public var embedding: [Float]?
    /// What produced `embedding`.
    public var embeddingIdentity: EmbeddingIdentity?

    public init(id: String, tenant: String, subject: String, namespace: String, kind: MemoryKind, content: String, metadata: Metadata, importance: Double,
                provenance: MemoryProvenance, createdAt: Date, updatedAt: Date, lastAccessedAt: Date?, accessCount: Int, expiresAt: Date?,
                retention: String, legalHold: Bool, supersedes: String?, embedding: [Float]?, embeddingIdentity: EmbeddingIdentity?) {
        self.id = id
        self.tenant = tenant
        self.subject = subject
        self.namespace = namespace
        self.kind = kind
        self.content = content
        self.contentSHA256 = SHA256Hex.hash(content)
        self.metadata = metadata
        self.importance = importance
        self.provenance = provenance
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastAccessedAt = lastAccessedAt
        self.accessCount = accessCount
        self.expiresAt = expiresAt
        self.retention = retention
        self.legalHold = legalHold
        self.supersedes = supersedes
        self.embedding = embedding
        self.embeddingIdentity = embeddingIdentity
    }
}

/// What an audit event records of a memory: which one, and the hash of its content (never the content).
public struct MemoryTrace: Sendable, Hashable {
    public var id: String
    public var tenant: String
    public var contentSHA256: String

    public init(id: String, tenant: String, contentSHA256: String) {
        self.id = id
        self.tenant = tenant
        self.contentSHA256 = contentSHA256
    }
}

extension Memory {
    public var trace: MemoryTrace { MemoryTrace(id: id, tenant: tenant, contentSHA256: contentSHA256) }
}

/// A memory to remember.
public struct MemoryDraft: Sendable {
    public var tenant: String
    public var subject: String
    public var namespace: String
    public var kind: MemoryKind
    public var content: String
    public var metadata: Metadata
    public var importance: Double
    public var provenance: MemoryProvenance
    /// A retention policy name (see ``RetentionPolicies``).
    public var retention: String
    /// An explicit expiry (must be in the future); overrides the policy's.
    public var expiresAt: Date?
    public var legalHold: Bool
    public var supersedes: String?
    public var embedding: [Float]?
    public var embeddingIdentity: EmbeddingIdentity?

    public init(tenant: String, subject: String, namespace: String = "default", kind: MemoryKind = .fact, content: String, metadata: Metadata = [:],
                importance: Double = 0.5, provenance: MemoryProvenance = MemoryProvenance(), retention: String = "default", expiresAt: Date? = nil,
                legalHold: Bool = false, supersedes: String? = nil, embedding: [Float]? = nil, embeddingIdentity: EmbeddingIdentity? = nil) {
        self.tenant = tenant
        self.subject = subject
        self.namespace = namespace
        self.kind = kind
        self.content = content
        self.metadata = metadata
        self.importance = importance
        self.provenance = provenance
        self.retention = retention
        self.expiresAt = expiresAt
        self.legalHold = legalHold
        self.supersedes = supersedes
        self.embedding = embedding
        self.embeddingIdentity = embeddingIdentity
    }
}

/// What `remember` did: stored a new memory, or refreshed the one that already held the same content for
/// the same tenant, subject and namespace.
public enum RememberOutcome: Sendable, Hashable {
    case created(Memory)
    case refreshed(Memory)

    public var memory: Memory {
        switch self {
        case .created(let m), .refreshed(let m): m
        }
    }

    public var created: Bool {
        if case .created = self { return true }
        return false
    }
}

/// Named retention durations. Expiry is computed when a memory is written: `now + duration`; a policy
/// with no duration keeps memories until they are forgotten.
public struct RetentionPolicies: Sendable, Hashable {
    public private(set) var durations: [String: TimeInterval?]

    /// The longest duration a policy may have (1000 years); longer is `forever`.
    public static let maxDuration: TimeInterval = 1_000 * 365.25 * 86_400

    /// `session` (1 day), `default` (365 days) and `forever`.
    public static let standard = RetentionPolicies(["session": 86_400, "default": 365 * 86_400, "forever": nil])

    public init(_ durations: [String: TimeInterval?]) {
        self.durations = durations
    }

    /// Parses `name=DURATION,…`, where a duration is a number with `s`, `m`, `h` or `d`, or `forever`
    /// (for example `session=1d,default=365d,chat=12h,forever=forever`).
    /// - Throws: `invalid_configuration` naming the bad entry.
    public static func parse(_ text: String) throws -> RetentionPolicies {
        var durations: [String: TimeInterval?] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, (try? CollectionRef.validateName(parts[0], what: "policy")) != nil else {
                throw EngramError(.invalidConfiguration, "retention policy '\(entry)' must be NAME=DURATION (DURATION: 30d, 12h, 45m, 90s or forever)")
            }
            do {
                durations[parts[0]] = .some(try parseDuration(parts[1]))
            } catch let e as EngramError {
                throw EngramError(.invalidConfiguration, "retention policy '\(entry)': \(e.message)")
            }
        }
        guard !durations.isEmpty else { throw EngramError(.invalidConfiguration, "no retention policy in '\(text)'") }
        return RetentionPolicies(durations)
    }

    /// A duration as policies write it: a number with `s`, `m`, `h` or `d` (`30d`, `12h`, `45m`, `90s`), or
    /// `forever` (nil).
    /// - Throws: `invalid_input` naming the text.
    public static func parseDuration(_ text: String) throws -> TimeInterval? {
        if text == "forever" { return nil }
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let n = Double(text.dropLast()), n.isFinite, n > 0 else {
            throw EngramError(.invalidInput, "'\(text)' is not a duration (30d, 12h, 45m, 90s or forever)")
        }
        guard n * unit <= maxDuration else { throw EngramError(.invalidInput, "'\(text)' is longer than 1000 years; use forever") }
        return n * unit
    }

    /// The expiry of a memory written at `now` under `policy`.
    /// - Throws: `invalid_input` for an unknown policy name.
    public func expiry(of policy: String, from now: Date) throws -> Date? {
        guard let entry = durations[policy] else {
            throw EngramError(.invalidInput, "unknown retention policy '\(policy)' (known: \(durations.keys.sorted().joined(separator: ", ")))")
        }
        return entry.map { now.addingTimeInterval($0) }
    }
}

/// The weights of a recall score: `similarity × relevance + recency × 0.5^(age / halfLife) + importance ×
/// importance`, where relevance mixes the vector's cosine similarity and the share of query words the
/// memory contains, and age counts from the memory's last update.
public struct RecallWeights: Sendable, Hashable {
    public var similarity: Double = 0.6
    public var recency: Double = 0.2
    public var importance: Double = 0.2
    /// The share of relevance that comes from words when there is both a query vector and query text.
    public var keywordShare: Double = 0.3
    /// Age at which recency falls to one half.
    public var halfLife: TimeInterval = 30 * 86_400

    public init() {}
}

/// A recall: semantic (a query vector) and/or keyword (query text), within filters.
public struct RecallQuery: Sendable {
    public var tenant: String
    public var subject: String?
    public var namespace: String?
    public var kinds: [MemoryKind]?
    public var filter: Filter?
    public var text: String?
    public var vector: [Float]?
    public var vectorIdentity: EmbeddingIdentity?
    public var limit: Int
    public var weights: RecallWeights

    public init(tenant: String, subject: String? = nil, namespace: String? = nil, kinds: [MemoryKind]? = nil, filter: Filter? = nil, text: String? = nil,
                vector: [Float]? = nil, vectorIdentity: EmbeddingIdentity? = nil, limit: Int = 10, weights: RecallWeights = RecallWeights()) {
        self.tenant = tenant
        self.subject = subject
        self.namespace = namespace
        self.kinds = kinds
        self.filter = filter
        self.text = text
        self.vector = vector
        self.vectorIdentity = vectorIdentity
        self.limit = limit
        self.weights = weights
    }
}

/// The parts of a recall score.
public struct RecallScore: Sendable, Hashable {
    /// Cosine similarity to the query vector (nil: no vector, or the memory has none in that space).
    public var similarity: Double?
    /// Share of the query's words found in the memory (nil: no query text).
    public var keyword: Double?
    /// The mix of the two, 0–1.
    public var relevance: Double
    /// 0.5^(age / half-life), 0–1.
    public var recency: Double
    public var importance: Double
    public var total: Double

    public init(similarity: Double?, keyword: Double?, relevance: Double, recency: Double, importance: Double, total: Double) {
        self.similarity = similarity
        self.keyword = keyword
        self.relevance = relevance
        self.recency = recency
        self.importance = importance
        self.total = total
    }
}

public struct RecallHit: Sendable, Hashable {
    public var memory: Memory
    public var score: RecallScore

    public init(memory: Memory, score: RecallScore) {
        self.memory = memory
        self.score = score
    }
}

/// A page of `list`.
public struct MemoryListRequest: Sendable {
    public var tenant: String
    public var subject: String?
    public var namespace: String?
    public var kind: MemoryKind?
    public var filter: Filter?
    public var limit: Int
    /// The `nextCursor` of the previous page.
    public var cursor: String?

    public init(tenant: String, subject: String? = nil, namespace: String? = nil, kind: MemoryKind? = nil, filter: Filter? = nil, limit: Int = 100, cursor: String? = nil) {
        self.tenant = tenant
        self.subject = subject
        self.namespace = namespace
        self.kind = kind
        self.filter = filter
        self.limit = limit
        self.cursor = cursor
    }
}

public struct MemoryPage: Sendable, Hashable {
    /// In creation order (then by id).
    public var memories: [Memory]
    /// Pass it back for the next page; nil on the last page. Memories created meanwhile come after it.
    public var nextCursor: String?

    public init(memories: [Memory], nextCursor: String?) {
        self.memories = memories
        self.nextCursor = nextCursor
    }
}

/// Changes to a memory; nil fields stay as they are.
public struct MemoryUpdate: Sendable {
    public var content: String?
    /// The new content's embedding (with its identity); leave nil when the content does not change.
    public var embedding: [Float]?
    public var embeddingIdentity: EmbeddingIdentity?
    public var metadata: Metadata?
    public var importance: Double?
    public var kind: MemoryKind?
    /// A new retention policy; the expiry is computed again from now.
    public var retention: String?

    public init(content: String? = nil, embedding: [Float]? = nil, embeddingIdentity: EmbeddingIdentity? = nil, metadata: Metadata? = nil,
                importance: Double? = nil, kind: MemoryKind? = nil, retention: String? = nil) {
        self.content = content
        self.embedding = embedding
        self.embeddingIdentity = embeddingIdentity
        self.metadata = metadata
        self.importance = importance
        self.kind = kind
        self.retention = retention
    }
}

/// Which memories of a tenant to forget.
public enum ForgetSelector: Sendable, Hashable {
    case ids([String])
    case subject(String)
    /// Memories whose metadata match, optionally within one subject and namespace. The filter must not be
    /// empty: forgetting everything is `.all`.
    case filter(Filter, subject: String?, namespace: String?)
    /// Every memory of the tenant.
    case all
}

public struct ForgetRequest: Sendable {
    public var tenant: String
    public var selector: ForgetSelector
    public var actor: String
    public var reason: String

    public init(tenant: String, selector: ForgetSelector, actor: String, reason: String) {
        self.tenant = tenant
        self.selector = selector
        self.actor = actor
        self.reason = reason
    }
}

/// Proof of a forget or a sweep: what was deleted (ids, sorted), what was kept because of a legal hold,
/// and which asked-for ids did not exist for this tenant.
public struct DeletionReceipt: Sendable, Hashable {
    public var tenant: String?
    public var deleted: [String]
    public var held: [String]
    public var missing: [String]
    public var actor: String
    public var reason: String
    public var at: Date
    /// True when the rows are deleted but a copy of the old pages may stay on disk until a reader of an
    /// older snapshot lets go (SQLite's write-ahead log); the store finishes the erasure at its next use.
    public var erasurePending = false

    public init(tenant: String?, deleted: [String], held: [String], missing: [String], actor: String, reason: String, at: Date) {
        self.tenant = tenant
        self.deleted = deleted
        self.held = held
        self.missing = missing
        self.actor = actor
        self.reason = reason
        self.at = at
    }
}

/// An audit event. It never holds content: only the content's SHA-256.
public struct MemoryEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case created, updated, deleted, expired
        case holdSet = "hold_set"
        case holdCleared = "hold_cleared"
        /// Written by a restore, for each memory it wrote.
        case restored
    }

    /// The event's number within its tenant: 1 for the tenant's first event, then increasing (gaps are
    /// never left, and no number says anything about other tenants).
    public var sequence: Int64
    public var tenant: String
    public var memoryID: String
    public var kind: Kind
    public var actor: String
    public var reason: String
    public var contentSHA256: String
    public var at: Date
    /// Nil for an event recorded by this store; for an event imported by a restore, the archive it came
    /// from (its `at` is then the time of the original event).
    public var origin: String?

    public init(sequence: Int64, tenant: String, memoryID: String, kind: Kind, actor: String, reason: String, contentSHA256: String, at: Date, origin: String? = nil) {
        self.origin = origin
        self.sequence = sequence
        self.tenant = tenant
        self.memoryID = memoryID
        self.kind = kind
        self.actor = actor
        self.reason = reason
        self.contentSHA256 = contentSHA256
        self.at = at
    }
}

/// Long-term memory: tenant-scoped, scored recall, retention, legal hold, and deletion that leaves an
/// audit trail without content.
///
/// Every operation names its tenant; an id of another tenant's memory behaves exactly like an id that
/// does not exist. Every write is atomic: on an error the store is unchanged. All implementations follow
/// ``InMemoryMemoryStore`` and pass the conformance suite in `EngramTesting`.
public protocol MemoryStore: Sendable {
    var retention: RetentionPolicies { get }

    /// Stores a memory, or refreshes the memory that already holds the same content for the same tenant,
    /// subject and namespace (its update time, importance (the larger), metadata (merged), expiry and
    /// embedding), recording `created` or `updated`.
    func remember(_ draft: MemoryDraft, actor: String) async throws -> RememberOutcome
    /// The best `limit` memories by ``RecallScore/total``; bumps their access count and time.
    func recall(_ query: RecallQuery) async throws -> [RecallHit]
    /// One memory; bumps its access count and time. Nil when it does not exist for this tenant.
    func memory(id: String, tenant: String) async throws -> Memory?
    func list(_ request: MemoryListRequest) async throws -> MemoryPage
    func update(id: String, tenant: String, _ changes: MemoryUpdate, actor: String, reason: String) async throws -> Memory
    /// Deletes the selected memories (all of them: there is no cap), except those under legal hold, and
    /// records a `deleted` event for each.
    func forget(_ request: ForgetRequest) async throws -> DeletionReceipt
    /// Every memory of a tenant (or of one subject), in creation order: an access request's answer.
    func export(tenant: String, subject: String?) async throws -> [Memory]
    /// Deletes memories that expired at `now`, except those under legal hold, recording `expired` events.
    /// `tenant` nil: all tenants.
    func sweep(tenant: String?, now: Date, actor: String) async throws -> DeletionReceipt
    func setLegalHold(id: String, tenant: String, held: Bool, actor: String, reason: String) async throws -> Memory
    /// Audit events of a tenant (or of one memory), oldest first.
    func events(tenant: String, memoryID: String?) async throws -> [MemoryEvent]
    /// Every tenant that has memories or audit events (for a backup of all tenants).
    func memoryTenants() async throws -> [String]
    /// Writes memories of one tenant as a backup holds them (checked with
    /// ``MemoryRules/validateRestored(_:)-memory``), in one transaction: ids, times, access counts, expiry
    /// and holds are kept (retention policies are not applied again). Each memory is treated by
    /// ``MemoryRules/restoreDecision(existing:contentHeldBy:id:)``: ids are matched within `tenant` only,
    /// a held memory is never changed, and each memory written gets a `restored` event.
    /// - Throws: `conflict` when an id belongs to another tenant's memory; the store is then unchanged.
    func restore(memories: [Memory], tenant: String, plan: RestorePlan) async throws -> MemoryRestoreOutcome
    /// Appends audit events of one tenant from a backup, with their original times, marked with the
    /// backup as their ``MemoryEvent/origin``; returns how many.
    func importEvents(_ events: [MemoryEvent], tenant: String, plan: RestorePlan) async throws -> Int
}
