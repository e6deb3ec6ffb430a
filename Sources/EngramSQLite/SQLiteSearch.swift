import EngramCore
import Foundation
import GRDB
import Synchronization

struct CacheKey: Hashable, Sendable {
    var collectionID: Int64
    var generation: Int
}

/// An in-memory copy of a collection generation's vectors, valid for one `data_version`.
final class VectorCache: Sendable {
    let dataVersion: Int64
    let dimension: Int
    let ids: [String]
    let vectors: [Float]
    let norms: [Float]
    let indexOfRowID: [Int64: Int32]

    init(dataVersion: Int64, dimension: Int, rowIDs: [Int64], ids: [String], vectors: [Float]) {
        self.dataVersion = dataVersion
        self.dimension = dimension
        self.ids = ids
        self.vectors = vectors
        var norms = [Float](repeating: 0, count: ids.count)
        vectors.withUnsafeBufferPointer { v in
            for i in 0..<ids.count {
                let p = v.baseAddress! + i * dimension
                norms[i] = VectorMath.dot(p, p, count: dimension).squareRoot()
            }
        }
        self.norms = norms
        var index: [Int64: Int32] = [:]
        index.reserveCapacity(rowIDs.count)
        for (i, r) in rowIDs.enumerated() { index[r] = Int32(i) }
        self.indexOfRowID = index
    }

    static func load(_ db: Database, collectionID: Int64, generation: Int, dimension: Int, dataVersion: Int64) throws -> VectorCache {
        var rowIDs: [Int64] = []
        var ids: [String] = []
        var vectors: [Float] = []
        let cursor = try Row.fetchCursor(db, sql: "SELECT rowid, id, embedding FROM chunks WHERE collection_id = ? AND generation = ? AND embedding IS NOT NULL ORDER BY rowid", arguments: [collectionID, generation])
        while let row = try cursor.next() {
            let data: Data = row["embedding"]
            guard data.count == dimension * 4 else {
                throw EngramError(.storageFailure, "chunk \(row["id"] as String) has a \(data.count)-byte embedding, expected \(dimension * 4)")
            }
            rowIDs.append(row["rowid"])
            ids.append(row["id"])
            data.withUnsafeBytes { raw in
                vectors.append(contentsOf: raw.bindMemory(to: Float.self))
            }
        }
        return VectorCache(dataVersion: dataVersion, dimension: dimension, rowIDs: rowIDs, ids: ids, vectors: vectors)
    }

    /// The best `k` of `candidates` (all rows when nil), scored against `query`.
    func topK(query: [Float], distance: Distance, candidates: [Int32]?, k: Int) -> [ScoredID] {
        let n = candidates?.count ?? ids.count
        guard n > 0 else { return [] }
        let qn = VectorMath.norm(query)
        let parts = n >= 20_000 ? 2 : 1
        let results = Mutex<[[(score: Float, key: String, index: Int)]]>([])
        let dim = dimension
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let lo = n * part / parts, hi = n * (part + 1) / parts
            var top = TopK<String>(k: k)
            query.withUnsafeBufferPointer { q in
                vectors.withUnsafeBufferPointer { v in
                    norms.withUnsafeBufferPointer { norms in
                        for j in lo..<hi {
                            let i = candidates.map { Int($0[j]) } ?? j
                            let s = VectorMath.score(distance, query: q.baseAddress!, queryNorm: qn, stored: v.baseAddress! + i * dim, storedNorm: norms[i], count: dim)
                            if let t = top.threshold, s < t { continue }
                            top.insert(score: s, key: ids[i], index: i)
                        }
                    }
                }
            }
            let sorted = top.sorted()
            results.withLock { $0.append(sorted) }
        }
        var merged = TopK<String>(k: k)
        for list in results.withLock({ $0 }) {
            for item in list { merged.insert(score: item.score, key: item.key, index: item.index) }
        }
        return merged.sorted().map { ScoredID(id: $0.key, score: Double($0.score)) }
    }
}

extension SQLiteVectorStore {
    func cache(_ db: Database, _ c: CollectionRow) throws -> VectorCache {
        let key = CacheKey(collectionID: c.id, generation: c.info.generation)
        if let cached = caches.withLock({ $0[key] }), cached.dataVersion == c.dataVersion {
            return cached
        }
        let fresh = try VectorCache.load(db, collectionID: c.id, generation: c.info.generation, dimension: c.info.identity.dimension, dataVersion: c.dataVersion)
        caches.withLock { $0[key] = fresh }
        return fresh
    }

    public func search(_ request: SearchRequest, in ref: CollectionRef) async throws -> SearchResponse {
        try await wrap {
            try await pool.read { db in
                let c = try Self.requireCollection(db, ref)
                try request.validate(against: c.info.identity)
                var filterSQL = "1"
                var filterArguments: [any DatabaseValueConvertible] = []
                if let filter = request.filter {
                    var compiler = SQLiteFilterCompiler(column: "c.metadata")
                    filterSQL = try compiler.compile(filter)
                    filterArguments = compiler.arguments
                }
                let depth = request.mode == .hybrid ? request.effectiveHybridDepth : request.k
                var vectorRanking: [ScoredID]?
                var keywordRanking: [ScoredID]?
                var matched = 0
                if request.mode != .keyword, let q = request.vector {
                    let cache = try self.cache(db, c)
                    var candidates: [Int32]? = nil
                    if request.filter != nil {
                        var arguments: [any DatabaseValueConvertible] = [c.id, c.info.generation]
                        arguments.append(contentsOf: filterArguments)
                        let rowIDs = try Int64.fetchAll(db, sql: "SELECT c.rowid FROM chunks c WHERE c.collection_id = ? AND c.generation = ? AND c.embedding IS NOT NULL AND \(filterSQL)", arguments: StatementArguments(arguments))
                        candidates = rowIDs.compactMap { cache.indexOfRowID[$0] }
                    }
                    matched = candidates?.count ?? cache.ids.count
                    vectorRanking = cache.topK(query: q, distance: c.info.identity.distance, candidates: candidates, k: depth)
                }
                if request.mode != .vector, let text = request.text {
                    let terms = KeywordTokenizer.queryTerms(text)
                    let match = terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " OR ")
                    let fts = SQLiteSchema.ftsTable(c.id)
                    var arguments: [any DatabaseValueConvertible] = [match, c.id, c.info.generation]
                    arguments.append(contentsOf: filterArguments)
                    let from = """
                        FROM \(fts) JOIN chunks c ON c.rowid = \(fts).rowid
                        WHERE \(fts) MATCH ? AND c.collection_id = ? AND c.generation = ? AND \(filterSQL)
                        """
                    let rows = try Row.fetchAll(db, sql: "SELECT c.id, bm25(\(fts)) AS rank \(from) ORDER BY rank, c.id LIMIT \(depth)", arguments: StatementArguments(arguments))
                    keywordRanking = rows.map { ScoredID(id: $0["id"], score: -($0["rank"] as Double)) }
                    if request.mode == .keyword {
                        matched = try Int.fetchOne(db, sql: "SELECT count(*) \(from)", arguments: StatementArguments(arguments)) ?? 0
                    }
                }
                let ranked = SearchAssembly.rank(mode: request.mode, vector: vectorRanking, keyword: keywordRanking, k: request.k, fusionK: request.fusionK)
                let chunks = try Self.fetchChunks(db, collectionID: c.id, ids: ranked.map(\.id))
                return SearchResponse(
                    hits: SearchAssembly.hits(ranked, chunks: chunks),
                    path: SearchAssembly.path(mode: request.mode, vectorPath: "exact-scan", keywordPath: "bm25"),
                    exhaustive: true, matched: matched)
            }
        }
    }
}
