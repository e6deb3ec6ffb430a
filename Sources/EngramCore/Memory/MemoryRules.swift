import Foundation

/// What every memory store checks and computes the same way: validation of input (before anything is
/// written), ids, expiry, recall scores and list cursors.
public enum MemoryRules {
    /// The longest content a memory may hold, in UTF-8 bytes.
    public static let maxContentBytes = 32_768
    /// The largest metadata of a memory, as canonical JSON.
    public static let maxMetadataBytes = 65_536
    /// The most memories one `recall` or `list` page returns.
    public static let maxLimit = 1_000

    /// How stores keep a memory's provenance and embedding identity: JSON with sorted keys. Every backend
    /// writes the same bytes, so an identity can be compared as stored text.
    public static func storedJSON<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    /// Reads what ``storedJSON(_:)`` wrote.
    /// - Throws: `storage_failure` (or `code`) naming the type when the text does not decode; never a
    ///   `DecodingError`.
    public static func fromStoredJSON<T: Decodable>(_ type: T.Type, _ text: String, code: EngramError.Code = .storageFailure) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw EngramError(code, "a stored \(type) is malformed (\(error))", underlying: error)
        }
    }

    /// A new random memory id: `mem_` and 24 hex digits.
    public static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        let a = g.next() as UInt64, b = g.next() as UInt32
        return "mem_" + hex(a, 16) + hex(UInt64(b), 8)
    }

    static func hex(_ v: UInt64, _ digits: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    /// Tenant ids: 1–128 ASCII letters, digits and `_ - . :` (``CollectionRef/validateTenant(_:)``).
    public static func validateTenant(_ tenant: String) throws {
        try CollectionRef.validateTenant(tenant)
    }

    /// Subjects (user or agent ids) and actors: 1–256 characters, no control characters.
    public static func validateLabel(_ value: String, what: String) throws {
        guard !value.isEmpty, value.count <= 256 else {
            throw EngramError(.invalidInput, "\(what) must be 1 to 256 characters, got \(value.count)")
        }
        if let bad = value.unicodeScalars.first(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
            throw EngramError(.invalidInput, "\(what) contains the control character U+\(String(bad.value, radix: 16, uppercase: true))")
        }
    }

    public static func validateKind(_ kind: MemoryKind) throws {
        let ok = !kind.rawValue.isEmpty && kind.rawValue.count <= 64
            && kind.rawValue.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
        guard ok else { throw EngramError(.invalidInput, "memory kind '\(kind)' must be 1 to 64 lowercase letters, digits, _ or -") }
    }

    public static func validateImportance(_ importance: Double) throws {
        guard importance.isFinite, (0...1).contains(importance) else {
            throw EngramError(.invalidInput, "importance must be between 0 and 1, got \(importance)")
        }
    }

    public static func validateContent(_ content: String) throws {
        guard !content.unicodeScalars.allSatisfy(\.properties.isWhitespace) else {
            throw EngramError(.invalidInput, "memory content is empty")
        }
        guard content.utf8.count <= maxContentBytes else {
            throw EngramError(.invalidInput, "memory content is \(content.utf8.count) bytes; the limit is \(maxContentBytes)")
        }
    }

    static func validateEmbedding(_ vector: [Float]?, _ identity: EmbeddingIdentity?) throws {
        guard let vector else { return }
        guard let identity else {
            throw EngramError(.embeddingMismatch, "memory embedding given without the identity that produced it")
        }
        try identity.validate(vector: vector, context: "memory embedding")
    }

    /// Metadata of at most ``maxMetadataBytes`` (content itself is capped at ``maxContentBytes``).
    public static func validateMetadataSize(_ metadata: Metadata, context: String) throws {
        let size = metadata.canonicalJSON.utf8.count
        guard size <= maxMetadataBytes else {
            throw EngramError(.invalidInput, "\(context): metadata is \(size) bytes as JSON; the limit is \(maxMetadataBytes)")
        }
    }

    /// Checks a draft and computes its expiry at `now`.
    /// - Throws: `invalid_input` naming the bad field; nothing is written.
    public static func validate(_ draft: MemoryDraft, actor: String, policies: RetentionPolicies, now: Date) throws -> Date? {
        try validateTenant(draft.tenant)
        try validateLabel(draft.subject, what: "subject")
        try CollectionRef.validateName(draft.namespace, what: "namespace")
        try validateLabel(actor, what: "actor")
        try validateKind(draft.kind)
        try validateContent(draft.content)
        try validateImportance(draft.importance)
        try UpsertValidation.validateMetadata(draft.metadata, context: "memory")
        try validateMetadataSize(draft.metadata, context: "memory")
        try validateEmbedding(draft.embedding, draft.embeddingIdentity)
        let policyExpiry = try policies.expiry(of: draft.retention, from: now)
        if let explicit = draft.expiresAt {
            guard explicit > now else {
                throw EngramError(.invalidInput, "expires_at \(MetadataValue.canonicalDateString(explicit)) is not in the future")
            }
            return explicit
        }
        return policyExpiry
    }

    /// Checks an update (the memory's own state is the store's business).
    public static func validate(_ changes: MemoryUpdate, actor: String, reason: String) throws {
        try validateLabel(actor, what: "actor")
        try validateReason(reason)
        if let c = changes.content { try validateContent(c) }
        if let i = changes.importance { try validateImportance(i) }
        if let k = changes.kind { try validateKind(k) }
        if let m = changes.metadata {
            try UpsertValidation.validateMetadata(m, context: "memory")
            try validateMetadataSize(m, context: "memory")
        }
        if changes.embedding != nil, changes.content == nil {
            throw EngramError(.invalidInput, "a new embedding needs the new content it was computed from")
        }
        try validateEmbedding(changes.embedding, changes.embeddingIdentity)
    }

    public static func validateReason(_ reason: String) throws {
        guard reason.count <= 1_024 else { throw EngramError(.invalidInput, "reason must be at most 1024 characters") }
        if reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" }) {
            throw EngramError(.invalidInput, "reason contains a control character")
        }
    }

    /// Checks a forget request.
    public static func validate(_ request: ForgetRequest) throws {
        try validateTenant(request.tenant)
        try validateLabel(request.actor, what: "actor")
        try validateReason(request.reason)
        switch request.selector {
        case .ids(let ids):
            guard !ids.isEmpty else { throw EngramError(.invalidInput, "forget by id needs at least one id") }
        case .subject(let s):
            try validateLabel(s, what: "subject")
        case .filter(let f, let subject, let namespace):
            guard !isEmpty(f) else {
                throw EngramError(.invalidInput, "forget with an empty filter would forget everything; say so explicitly (all)")
            }
            try f.validate()
            if let subject { try validateLabel(subject, what: "subject") }
            if let namespace { try CollectionRef.validateName(namespace, what: "namespace") }
        case .all:
            break
        }
    }

    static func isEmpty(_ f: Filter) -> Bool {
        switch f {
        case .and(let fs): return fs.allSatisfy(isEmpty)
        default: return false
        }
    }

    public static func validate(_ query: RecallQuery) throws {
        try validateTenant(query.tenant)
        if let s = query.subject { try validateLabel(s, what: "subject") }
        if let n = query.namespace { try CollectionRef.validateName(n, what: "namespace") }
        for k in query.kinds ?? [] { try validateKind(k) }
        try query.filter?.validate()
        guard (1...maxLimit).contains(query.limit) else {
            throw EngramError(.invalidInput, "limit must be between 1 and \(maxLimit), got \(query.limit)")
        }
        if let v = query.vector {
            guard let identity = query.vectorIdentity else {
                throw EngramError(.embeddingMismatch, "a recall vector needs the identity that produced it")
            }
            try identity.validate(vector: v, context: "recall vector")
        }
        let w = query.weights
        for (name, value) in [("similarity", w.similarity), ("recency", w.recency), ("importance", w.importance), ("keywordShare", w.keywordShare)] {
            guard value.isFinite, value >= 0 else { throw EngramError(.invalidInput, "recall weight \(name) must be a finite number ≥ 0") }
        }
        guard w.keywordShare <= 1 else { throw EngramError(.invalidInput, "recall weight keywordShare must be at most 1") }
        guard w.halfLife.isFinite, w.halfLife > 0 else { throw EngramError(.invalidInput, "recall half-life must be positive") }
    }

    /// Whether a memory passes a recall's or list's selection (tenant, subject, namespace, kinds, filter)
    /// and has not expired at `now`.
    public static func selects(_ m: Memory, tenant: String, subject: String?, namespace: String?, kinds: [MemoryKind]?, filter: Filter?, now: Date?) -> Bool {
        guard m.tenant == tenant else { return false }
        if let subject, m.subject != subject { return false }
        if let namespace, m.namespace != namespace { return false }
        if let kinds, !kinds.contains(m.kind) { return false }
        if let now, let e = m.expiresAt, e <= now { return false }
        if let filter, !filter.matches(m.metadata) { return false }
        return true
    }

    /// A query prepared once for scoring many memories.
    public struct PreparedRecall: Sendable {
        public let query: RecallQuery
        let terms: [String]
        let termBytes: [[UInt8]]
        let queryNorm: Float

        public init(_ query: RecallQuery) {
            self.query = query
            terms = query.text.map(KeywordTokenizer.queryTerms) ?? []
            termBytes = terms.map { Array($0.utf8) }
            queryNorm = query.vector.map(VectorMath.norm) ?? 0
        }

        /// The score of `m` at `now`, or nil when the memory has nothing to do with the query: there is a
        /// query (text or vector) and the memory shares no word with the text and has no vector in the
        /// query's embedding space.
        public func score(_ m: Memory, now: Date) -> RecallScore? {
            score(similarity: similarity(m.embedding, m.embeddingIdentity), keyword: keywordShare(m.content), importance: m.importance, updatedAt: m.updatedAt, now: now)
        }

        /// The similarity of a stored vector to the query's, when it is in the query's embedding space.
        public func similarity(_ embedding: [Float]?, _ identity: EmbeddingIdentity?) -> Double? {
            guard identity == query.vectorIdentity, let e = embedding else { return nil }
            return e.withUnsafeBufferPointer { similarity($0) }
        }

        /// The similarity of a stored vector (already known to be in the query's space) to the query's;
        /// nil when there is no query vector or the lengths differ.
        public func similarity(_ stored: UnsafeBufferPointer<Float>) -> Double? {
            guard let q = query.vector, let identity = query.vectorIdentity, stored.count == q.count, let e = stored.baseAddress else { return nil }
            let norm = VectorMath.dot(e, e, count: stored.count).squareRoot()
            return q.withUnsafeBufferPointer { qp in
                Double(VectorMath.score(identity.distance, query: qp.baseAddress!, queryNorm: queryNorm, stored: e, storedNorm: norm, count: q.count))
            }
        }

        /// The share of the query's words found in `content` (nil without query text).
        public func keywordShare(_ content: String) -> Double? {
            let terms = termBytes  // captured once: the closure runs per token
            guard !terms.isEmpty else { return nil }
            var found = [Bool](repeating: false, count: terms.count)
            var count = 0
            KeywordTokenizer.forEachToken(content) { token in
                for i in 0..<terms.count where !found[i] && terms[i].count == token.count {
                    let equal = terms[i].withUnsafeBufferPointer { t in memcmp(t.baseAddress!, token.baseAddress!, token.count) == 0 }
                    if equal {
                        found[i] = true
                        count += 1
                    }
                }
            }
            return Double(count) / Double(terms.count)
        }

        /// The query's distinct words (folded), for stores that count matches themselves.
        public var queryTerms: [String] { terms }

        /// The highest total a memory with these inputs can reach whatever words it holds (its keyword
        /// share taken as 1), so that a store scanning many memories reads the text only of those that could
        /// still rank. Never below the memory's real total: the score only grows with the keyword share.
        public func bound(similarity: Double?, importance: Double, updatedAt: Date, now: Date) -> Double {
            score(similarity: similarity, keyword: terms.isEmpty ? nil : 1, importance: importance, updatedAt: updatedAt, now: now)?.total ?? -.infinity
        }

        /// The score from its inputs, or nil when there is a query (text or vector) and the memory shares
        /// no word with the text and has no vector in the query's space.
        public func score(similarity: Double?, keyword: Double?, importance: Double, updatedAt: Date, now: Date) -> RecallScore? {
            let w = query.weights
            let asked = query.vector != nil || !terms.isEmpty
            if asked && similarity == nil && (keyword ?? 0) == 0 { return nil }
            let relevance: Double
            switch (similarity, keyword) {
            case let (s?, k?): relevance = (1 - w.keywordShare) * min(1, max(0, s)) + w.keywordShare * k
            case let (s?, nil): relevance = min(1, max(0, s))
            case let (nil, k?): relevance = k
            case (nil, nil): relevance = 0
            }
            let age = max(0, now.timeIntervalSince(updatedAt))
            let recency = pow(0.5, age / w.halfLife)
            let total = w.similarity * relevance + w.recency * recency + w.importance * importance
            return RecallScore(similarity: similarity, keyword: keyword, relevance: relevance, recency: recency, importance: importance, total: total)
        }
    }

    /// The best `limit` scored memories seen so far, in recall order.
    public struct TopScores: Sendable {
        public let limit: Int
        public private(set) var best: [(id: String, score: RecallScore)] = []

        public init(limit: Int) { self.limit = limit }

        /// The total a memory must exceed to be kept, once `limit` memories are held (ties are decided by
        /// id, so a memory scoring exactly this may still rank); nil before.
        public var floor: Double? { best.count == limit ? best.last?.score.total : nil }

        public mutating func offer(id: String, score: RecallScore) {
            func before(_ a: (id: String, score: RecallScore), _ b: (id: String, score: RecallScore)) -> Bool {
                MemoryRules.ranksBefore(total: a.score.total, id: a.id, total: b.score.total, id: b.id)
            }
            let entry = (id: id, score: score)
            guard limit > 0, best.count < limit || before(entry, best[best.count - 1]) else { return }
            var low = 0, high = best.count  // the first held entry the new one ranks before
            while low < high {
                let mid = (low + high) / 2
                if before(entry, best[mid]) { high = mid } else { low = mid + 1 }
            }
            best.insert(entry, at: low)
            if best.count > limit { best.removeLast() }
        }
    }

    /// Recall order: higher total first, then id.
    public static func ranksBefore(_ a: RecallHit, _ b: RecallHit) -> Bool {
        ranksBefore(total: a.score.total, id: a.memory.id, total: b.score.total, id: b.memory.id)
    }

    /// Recall order from a total and an id each.
    public static func ranksBefore(total a: Double, id aID: String, total b: Double, id bID: String) -> Bool {
        a != b ? a > b : aID < bID
    }

    /// List order: creation time (milliseconds), then id.
    public static func listsBefore(_ a: Memory, _ b: Memory) -> Bool {
        let ma = MetadataValue.milliseconds(a.createdAt), mb = MetadataValue.milliseconds(b.createdAt)
        return ma != mb ? ma < mb : a.id < b.id
    }

    /// The cursor after `m`: its creation millisecond and id.
    public static func cursor(after m: Memory) -> String {
        "\(MetadataValue.milliseconds(m.createdAt)):\(m.id)"
    }

    /// Parses a cursor into (creation millisecond, id).
    public static func parseCursor(_ cursor: String) throws -> (Int64, String) {
        let parts = cursor.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let ms = Int64(parts[0]), parts[1].hasPrefix("mem_") else {
            throw EngramError(.invalidInput, "not a memory list cursor: '\(cursor)'")
        }
        return (ms, String(parts[1]))
    }

    /// Whether `m` comes after the cursor position.
    public static func isAfter(_ m: Memory, _ position: (Int64, String)) -> Bool {
        let ms = MetadataValue.milliseconds(m.createdAt)
        return ms != position.0 ? ms > position.0 : m.id > position.1
    }

    public static func validate(_ request: MemoryListRequest) throws {
        try validateTenant(request.tenant)
        if let s = request.subject { try validateLabel(s, what: "subject") }
        if let n = request.namespace { try CollectionRef.validateName(n, what: "namespace") }
        if let k = request.kind { try validateKind(k) }
        try request.filter?.validate()
        guard (1...maxLimit).contains(request.limit) else {
            throw EngramError(.invalidInput, "limit must be between 1 and \(maxLimit), got \(request.limit)")
        }
        if let c = request.cursor { _ = try parseCursor(c) }
    }

    /// The error for a memory under legal hold that a change would alter.
    public static func held(_ id: String) -> EngramError {
        EngramError(.legalHold, "memory \(id) is under legal hold; clear the hold first")
    }

    public static func notFound(_ id: String) -> EngramError {
        EngramError(.notFound, "memory \(id) does not exist")
    }
}

extension MemoryRules {
    /// An audit event a store must append, in order, with an operation's write.
    public struct PlannedEvent: Sendable, Hashable {
        public let kind: MemoryEvent.Kind
        public let reason: String
    }

    /// What remembering does, decided once for every backend: the same content for the same subject and
    /// namespace refreshes that memory (`updated`, "remembered again"); otherwise a new memory is created
    /// (`created`, and `hold_set` "held when remembered" when the draft is held).
    public struct RememberPlan: Sendable {
        /// The row to write: an insert when ``outcome`` is `created`, an update otherwise.
        public let outcome: RememberOutcome
        public let events: [PlannedEvent]

        public var memory: Memory { outcome.memory }
    }

    /// - Parameters:
    ///   - existing: the tenant's memory with the draft's subject, namespace and content hash, if any.
    ///   - expiry: from ``validate(_:actor:policies:now:)``.
    public static func remembering(_ draft: MemoryDraft, existing: Memory?, expiry: Date?, now: Date) -> RememberPlan {
        if var m = existing {
            m.refresh(with: draft, expiry: expiry, now: now)
            return RememberPlan(outcome: .refreshed(m), events: [PlannedEvent(kind: .updated, reason: "remembered again")])
        }
        let m = Memory(id: newID(), tenant: draft.tenant, subject: draft.subject, namespace: draft.namespace, kind: draft.kind, content: draft.content,
                       metadata: draft.metadata, importance: draft.importance, provenance: draft.provenance, createdAt: now, updatedAt: now, lastAccessedAt: nil,
                       accessCount: 0, expiresAt: expiry, retention: draft.retention, legalHold: draft.legalHold, supersedes: draft.supersedes,
                       embedding: draft.embedding, embeddingIdentity: draft.embedding == nil ? nil : draft.embeddingIdentity)
        var events = [PlannedEvent(kind: .created, reason: "")]
        if m.legalHold { events.append(PlannedEvent(kind: .holdSet, reason: "held when remembered")) }
        return RememberPlan(outcome: .created(m), events: events)
    }
}
