/// How a search ranks chunks.
public enum SearchMode: String, Sendable, Codable, CaseIterable {
    /// Nearest vectors under the collection's distance.
    case vector
    /// Full-text BM25 over chunk text.
    case keyword
    /// Reciprocal rank fusion of the vector and keyword rankings.
    case hybrid
}

/// A search against one collection.
public struct SearchRequest: Sendable, Hashable {
    public var mode: SearchMode
    /// Query text (keyword and hybrid modes; recorded in the manifest).
    public var text: String?
    /// Query vector (vector and hybrid modes).
    public var vector: [Float]?
    /// The identity that produced ``vector``; checked against the collection's.
    public var vectorIdentity: EmbeddingIdentity?
    public var filter: Filter?
    public var k: Int
    /// Reciprocal-rank-fusion constant (score of rank r is 1 / (fusionK + r)).
    public var fusionK: Int
    /// How many candidates each ranking contributes to hybrid fusion; nil means max(4k, 50).
    public var hybridDepth: Int?

    public init(mode: SearchMode, text: String? = nil, vector: [Float]? = nil, vectorIdentity: EmbeddingIdentity? = nil, filter: Filter? = nil, k: Int = 10, fusionK: Int = 60, hybridDepth: Int? = nil) {
        self.mode = mode
        self.text = text
        self.vector = vector
        self.vectorIdentity = vectorIdentity
        self.filter = filter
        self.k = k
        self.fusionK = fusionK
        self.hybridDepth = hybridDepth
    }

    /// The per-ranking candidate depth for hybrid search.
    public var effectiveHybridDepth: Int { hybridDepth ?? max(4 * k, 50) }

    /// Checks the request against a collection; every store calls this before touching data.
    /// - Throws: `invalid_input` (k out of range, missing query), `embedding_mismatch`, `invalid_filter`.
    public func validate(against identity: EmbeddingIdentity) throws {
        guard (1...10_000).contains(k) else {
            throw EngramError(.invalidInput, "k must be between 1 and 10000, got \(k)")
        }
        guard fusionK >= 1 else { throw EngramError(.invalidInput, "fusionK must be at least 1") }
        if mode != .keyword {
            guard let vector else {
                throw EngramError(.invalidInput, "\(mode.rawValue) search needs a query vector")
            }
            // The identity first: a query of another model is told how to move the collection to it.
            if let vectorIdentity {
                try identity.requireCompatible(vectorIdentity, context: "query")
            }
            try identity.validate(vector: vector, context: "query vector", isQuery: true)
        }
        if mode != .vector {
            guard let text, !KeywordTokenizer.tokens(text).isEmpty else {
                throw EngramError(.invalidInput, "\(mode.rawValue) search needs query text with at least one word")
            }
        }
        try filter?.validate()
    }
}

/// One ranked result.
public struct SearchHit: Sendable, Hashable, Codable {
    /// 1-based rank.
    public var rank: Int
    /// The score that ordered the results (higher is better): similarity for vector search, the positive
    /// BM25 score for keyword search, the fused RRF score for hybrid search.
    public var score: Double
    public var vectorScore: Double?
    public var vectorRank: Int?
    public var keywordScore: Double?
    public var keywordRank: Int?
    public var chunk: StoredChunk

    public init(rank: Int, score: Double, vectorScore: Double? = nil, vectorRank: Int? = nil, keywordScore: Double? = nil, keywordRank: Int? = nil, chunk: StoredChunk) {
        self.rank = rank
        self.score = score
        self.vectorScore = vectorScore
        self.vectorRank = vectorRank
        self.keywordScore = keywordScore
        self.keywordRank = keywordRank
        self.chunk = chunk
    }
}

/// How a search was answered: the labels every backend uses, written once. Its text form (`exact-scan`,
/// `hnsw`, `hnsw+exact-fallback`, `bm25`, `ts_rank_cd`, `rrf(exact-scan,bm25)`) is what evidence manifests
/// record and `--json` prints.
public indirect enum SearchPath: Sendable, Hashable, CustomStringConvertible, Codable {
    /// Every matching chunk was scored: the answer is exact.
    case exactScan
    /// An approximate vector index answered (`hnsw`, `ivfflat`).
    case index(String)
    /// The index was tried and came back short under a filter, so the matching rows were ranked exactly.
    case indexThenExact(String)
    /// Keyword ranking: BM25 (SQLite's FTS5 and the in-memory index), `ts_rank_cd` (PostgreSQL).
    case bm25
    case tsRankCD
    /// Reciprocal rank fusion of a vector and a keyword path (hybrid search).
    case fused(vector: SearchPath, keyword: SearchPath)

    /// The path of a search in `mode`, given how its vector and its keyword part were answered.
    public static func of(_ mode: SearchMode, vector: SearchPath, keyword: SearchPath) -> SearchPath {
        switch mode {
        case .vector: vector
        case .keyword: keyword
        case .hybrid: .fused(vector: vector, keyword: keyword)
        }
    }

    public var description: String {
        switch self {
        case .exactScan: "exact-scan"
        case .index(let kind): kind
        case .indexThenExact(let kind): "\(kind)+exact-fallback"
        case .bm25: "bm25"
        case .tsRankCD: "ts_rank_cd"
        case .fused(let v, let k): "rrf(\(v),\(k))"
        }
    }

    /// Parses the text form (nil for anything else).
    public init?(_ text: String) {
        switch text {
        case "exact-scan": self = .exactScan
        case "bm25": self = .bm25
        case "ts_rank_cd": self = .tsRankCD
        case _ where text.hasPrefix("rrf(") && text.hasSuffix(")"):
            // The vector part never holds a comma; the keyword part follows the first one.
            let inner = text.dropFirst(4).dropLast()
            guard let comma = inner.firstIndex(of: ","), let v = SearchPath(String(inner[..<comma])),
                  let k = SearchPath(String(inner[inner.index(after: comma)...])) else { return nil }
            self = .fused(vector: v, keyword: k)
        case _ where text.hasSuffix("+exact-fallback"):
            let kind = String(text.dropLast("+exact-fallback".count))
            guard !kind.isEmpty, kind.allSatisfy({ $0.isLetter }) else { return nil }
            self = .indexThenExact(kind)
        case _ where !text.isEmpty && text.allSatisfy({ $0.isLowercase && $0.isLetter }):
            self = .index(text)
        default: return nil
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let path = SearchPath(text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(text)' is not a search path")
        }
        self = path
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The result of a search, including how it was answered.
public struct SearchResponse: Sendable, Hashable, Codable {
    public var hits: [SearchHit]
    /// Which path answered.
    public var path: SearchPath
    /// True when every chunk matching the filter was considered (no approximate index cut it short).
    public var exhaustive: Bool
    /// How many chunks matched the filter (and the keyword query, in keyword mode). Exact when
    /// `exhaustive`; when an approximate index answered, a lower bound (stores do not count every match on
    /// that path, which would cost more than the search).
    public var matched: Int

    public init(hits: [SearchHit], path: SearchPath, exhaustive: Bool, matched: Int) {
        self.hits = hits
        self.path = path
        self.exhaustive = exhaustive
        self.matched = matched
    }
}

/// A scored candidate before the chunk is loaded. Ties order by chunk id so that every backend returns
/// the same order.
public struct ScoredID: Sendable, Hashable {
    public var id: String
    public var score: Double

    public init(id: String, score: Double) {
        self.id = id
        self.score = score
    }

    /// Sort order: higher score first, then smaller id.
    public static func ranksBefore(_ a: ScoredID, _ b: ScoredID) -> Bool {
        // A score that is not a number ranks last (it cannot come from validated vectors).
        if a.score.isNaN != b.score.isNaN { return b.score.isNaN }
        return a.score != b.score ? a.score > b.score : a.id < b.id
    }
}

/// Reciprocal rank fusion.
public enum RankFusion {
    public struct Fused: Sendable {
        public var id: String
        public var score: Double
        public var vectorRank: Int?
        public var keywordRank: Int?
    }

    /// Fuses two rankings (best first): score = Σ 1 / (k + rank). Ties order by id.
    public static func reciprocalRank(vector: [ScoredID], keyword: [ScoredID], k: Int, limit: Int) -> [Fused] {
        var table: [String: Fused] = [:]
        for (i, s) in vector.enumerated() {
            table[s.id, default: Fused(id: s.id, score: 0)].score += 1.0 / Double(k + i + 1)
            table[s.id]!.vectorRank = i + 1
        }
        for (i, s) in keyword.enumerated() {
            table[s.id, default: Fused(id: s.id, score: 0)].score += 1.0 / Double(k + i + 1)
            table[s.id]!.keywordRank = i + 1
        }
        let sorted = table.values.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
        return Array(sorted.prefix(limit))
    }
}

/// Turns per-ranking results into the final ranked list; shared by every backend so that fusion and
/// tie-breaking are identical.
public enum SearchAssembly {
    public struct Ranked: Sendable, Hashable {
        public var id: String
        public var score: Double
        public var vectorScore: Double?
        public var vectorRank: Int?
        public var keywordScore: Double?
        public var keywordRank: Int?
    }

    /// - Parameters:
    ///   - vector: the vector ranking, best first (nil in keyword mode).
    ///   - keyword: the keyword ranking, best first (nil in vector mode).
    public static func rank(mode: SearchMode, vector: [ScoredID]?, keyword: [ScoredID]?, k: Int, fusionK: Int) -> [Ranked] {
        switch mode {
        case .vector:
            return (vector ?? []).prefix(k).enumerated().map { i, s in
                Ranked(id: s.id, score: s.score, vectorScore: s.score, vectorRank: i + 1)
            }
        case .keyword:
            return (keyword ?? []).prefix(k).enumerated().map { i, s in
                Ranked(id: s.id, score: s.score, keywordScore: s.score, keywordRank: i + 1)
            }
        case .hybrid:
            let v = vector ?? [], kw = keyword ?? []
            let vScores = Dictionary(v.map { ($0.id, $0.score) }, uniquingKeysWith: { a, _ in a })
            let kScores = Dictionary(kw.map { ($0.id, $0.score) }, uniquingKeysWith: { a, _ in a })
            return RankFusion.reciprocalRank(vector: v, keyword: kw, k: fusionK, limit: k).map { f in
                Ranked(id: f.id, score: f.score, vectorScore: vScores[f.id], vectorRank: f.vectorRank, keywordScore: kScores[f.id], keywordRank: f.keywordRank)
            }
        }
    }

    /// Builds hits from ranked ids and the loaded chunks (ids without a chunk are dropped).
    public static func hits(_ ranked: [Ranked], chunks: [StoredChunk]) -> [SearchHit] {
        let byID = Dictionary(chunks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [SearchHit] = []
        for r in ranked {
            guard let c = byID[r.id] else { continue }
            out.append(SearchHit(rank: out.count + 1, score: r.score, vectorScore: r.vectorScore, vectorRank: r.vectorRank, keywordScore: r.keywordScore, keywordRank: r.keywordRank, chunk: c))
        }
        return out
    }
}
