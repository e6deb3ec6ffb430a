import EngramCore
import Foundation
import GRDB
import Synchronization

struct CacheKey: Hashable, Sendable {
    var collectionID: Int64
    var generation: Int
}

/// An in-memory copy of a collection generation's chunk ids, metadata and vectors, valid for one
/// `data_version` of the collection.
///
/// Metadata is kept once per distinct value (the chunks of one document section share it), so a filter
/// is evaluated once per distinct metadata instead of once per chunk, and no JSON is parsed per query.
/// Vectors live in one contiguous float32 matrix with precomputed norms.
final class SearchCache: Sendable {
    let dataVersion: Int64
    let dimension: Int
    /// Per row (chunk): id, metadata slot, vector slot (-1 without a vector).
    let ids: [String]
    let metadataIndex: [Int32]
    let vectorSlot: [Int32]
    let rowOfRowID: [Int64: Int32]
    let metadata: [Metadata]
    /// Per vector slot: its row, the vector and its norm.
    let slotRow: [Int32]
    let vectors: [Float]
    let norms: [Float]

    init(dataVersion: Int64, dimension: Int, ids: [String], rowIDs: [Int64], metadataIndex: [Int32], metadata: [Metadata], vectorSlot: [Int32], slotRow: [Int32], vectors: [Float]) {
        self.dataVersion = dataVersion
        self.dimension = dimension
        self.ids = ids
        self.metadataIndex = metadataIndex
        self.metadata = metadata
        self.vectorSlot = vectorSlot
        self.slotRow = slotRow
        self.vectors = vectors
        var rowOf: [Int64: Int32] = [:]
        rowOf.reserveCapacity(rowIDs.count)
        for (i, r) in rowIDs.enumerated() { rowOf[r] = Int32(i) }
        self.rowOfRowID = rowOf
        var norms = [Float](repeating: 0, count: slotRow.count)
        vectors.withUnsafeBufferPointer { v in
            for i in 0..<slotRow.count {
                let p = v.baseAddress! + i * dimension
                norms[i] = VectorMath.dot(p, p, count: dimension).squareRoot()
            }
        }
        self.norms = norms
    }

    static func load(_ db: Database, collectionID: Int64, generation: Int, dimension: Int, dataVersion: Int64) throws -> SearchCache {
        var ids: [String] = [], rowIDs: [Int64] = [], metadataIndex: [Int32] = [], vectorSlot: [Int32] = [], slotRow: [Int32] = []
        var metadata: [Metadata] = []
        var distinct: [String: Int32] = [:]
        var vectors: [Float] = []
        let cursor = try Row.fetchCursor(db, sql: "SELECT rowid, id, metadata, embedding FROM chunks WHERE collection_id = ? AND generation = ? ORDER BY rowid", arguments: [collectionID, generation])
        while let row = try cursor.next() {
            let id: String = row["id"]
            let json: String = row["metadata"]
            let m: Int32
            if let i = distinct[json] {
                m = i
            } else {
                m = Int32(metadata.count)
                metadata.append(try Metadata.parse(json: json))
                distinct[json] = m
            }
            if let data = row["embedding"] as Data? {
                guard data.count == dimension * 4 else {
                    throw EngramError(.storageFailure, "chunk \(id) has a \(data.count)-byte embedding, expected \(dimension * 4)")
                }
                data.withUnsafeBytes { raw in vectors.append(contentsOf: raw.bindMemory(to: Float.self)) }
                vectorSlot.append(Int32(slotRow.count))
                slotRow.append(Int32(ids.count))
            } else {
                vectorSlot.append(-1)
            }
            ids.append(id)
            rowIDs.append(row["rowid"])
            metadataIndex.append(m)
        }
        return SearchCache(dataVersion: dataVersion, dimension: dimension, ids: ids, rowIDs: rowIDs, metadataIndex: metadataIndex, metadata: metadata, vectorSlot: vectorSlot, slotRow: slotRow, vectors: vectors)
    }

    /// Per metadata slot: whether it satisfies `filter` (reference semantics, ``Filter/matches(_:)``).
    func passing(_ filter: Filter) -> [Bool] {
        metadata.map(filter.matches)
    }

    /// Vector slots of the rows that pass (all slots without a filter).
    func slots(passing pass: [Bool]?) -> [Int32]? {
        guard let pass else { return nil }
        var out: [Int32] = []
        for (slot, row) in slotRow.enumerated() where pass[Int(metadataIndex[Int(row)])] { out.append(Int32(slot)) }
        return out
    }

    /// The best `k` of `candidates` (vector slots; all when nil), scored against `query`.
    func topK(query: [Float], distance: Distance, candidates: [Int32]?, k: Int) -> [ScoredID] {
        let n = candidates?.count ?? slotRow.count
        guard n > 0 else { return [] }
        let qn = VectorMath.norm(query)
        let parts = n >= 20_000 ? 2 : 1
        let results = Mutex<[[(score: Float, key: String, index: Int)]]>([])
        let dim = dimension
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let lo = n * part / parts, hi = n * (part + 1) / parts
            var top = TopK<String, Float>(k: k)
            query.withUnsafeBufferPointer { q in
                vectors.withUnsafeBufferPointer { v in
                    norms.withUnsafeBufferPointer { norms in
                        for j in lo..<hi {
                            let slot = candidates.map { Int($0[j]) } ?? j
                            let s = VectorMath.score(distance, query: q.baseAddress!, queryNorm: qn, stored: v.baseAddress! + slot * dim, storedNorm: norms[slot], count: dim)
                            if let t = top.threshold, s < t { continue }
                            top.insert(score: s, key: ids[Int(slotRow[slot])], index: slot)
                        }
                    }
                }
            }
            let sorted = top.sorted()
            results.withLock { $0.append(sorted) }
        }
        var merged = TopK<String, Float>(k: k)
        for list in results.withLock({ $0 }) {
            for item in list { merged.insert(score: item.score, key: item.key, index: item.index) }
        }
        return merged.sorted().map { ScoredID(id: $0.key, score: Double($0.score)) }
    }
}

extension SQLiteVectorStore {
    func cache(_ db: Database, _ c: CollectionRow) throws -> SearchCache {
        let key = CacheKey(collectionID: c.id, generation: c.info.generation)
        if let cached = caches.withLock({ $0[key] }), cached.dataVersion == c.dataVersion {
            return cached
        }
        let fresh = try SearchCache.load(db, collectionID: c.id, generation: c.info.generation, dimension: c.info.identity.dimension, dataVersion: c.dataVersion)
        caches.withLock { $0[key] = fresh }
        return fresh
    }

    /// The cache when it is loaded and current, without loading it.
    func freshCache(_ c: CollectionRow) -> SearchCache? {
        let key = CacheKey(collectionID: c.id, generation: c.info.generation)
        guard let cached = caches.withLock({ $0[key] }), cached.dataVersion == c.dataVersion else { return nil }
        return cached
    }

    static func matchExpression(_ text: String) -> String {
        KeywordTokenizer.queryTerms(text).map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " OR ")
    }

    /// Keyword ranking with the filter compiled to SQL; needs no cache, so a cold process answers a
    /// keyword query without loading the collection's vectors.
    ///
    /// FTS5 drives every query (`CROSS JOIN` keeps SQLite from scanning chunks and probing the index
    /// row by row). Without a filter only the index is read: the best `depth` rows by `bm25()`, then
    /// their ids, with ties at the cut resolved by chunk id as on every backend.
    static func keywordRankingSQL(_ db: Database, _ c: CollectionRow, text: String, filter: Filter?, depth: Int) throws -> (ranking: [ScoredID], matched: Int) {
        let fts = SQLiteSchema.ftsTable(c.id)
        let match = matchExpression(text)
        guard let filter else {
            let matched = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(fts) WHERE \(fts) MATCH ?", arguments: [match]) ?? 0
            var limit = depth + 32
            while true {
                let rows = try Row.fetchAll(db, sql: "SELECT rowid, bm25(\(fts)) AS r FROM \(fts) WHERE \(fts) MATCH ? ORDER BY r LIMIT \(limit)", arguments: [match])
                // When rows tie with the last one fetched, a tie may continue past the window: widen it.
                if rows.count == limit, rows.count > depth, (rows[depth - 1]["r"] as Double) == (rows[limit - 1]["r"] as Double) {
                    limit *= 4
                    continue
                }
                let ids = try idsOfRowIDs(db, rows.map { $0["rowid"] as Int64 })
                let scored = rows.compactMap { row in ids[row["rowid"] as Int64].map { ScoredID(id: $0, score: -(row["r"] as Double)) } }
                return (Array(scored.sorted(by: ScoredID.ranksBefore).prefix(depth)), matched)
            }
        }
        var compiler = SQLiteFilterCompiler(column: "c.metadata")
        let filterSQL = try compiler.compile(filter)
        var arguments: [any DatabaseValueConvertible] = [match, c.info.generation]
        arguments.append(contentsOf: compiler.arguments)
        let from = """
            FROM \(fts) CROSS JOIN chunks c ON c.rowid = \(fts).rowid
            WHERE \(fts) MATCH ? AND c.generation = ? AND \(filterSQL)
            """
        let rows = try Row.fetchAll(db, sql: "SELECT c.id, bm25(\(fts)) AS r \(from) ORDER BY r, c.id LIMIT \(depth)", arguments: StatementArguments(arguments))
        let matched = try Int.fetchOne(db, sql: "SELECT count(*) \(from)", arguments: StatementArguments(arguments)) ?? 0
        return (rows.map { ScoredID(id: $0["id"], score: -($0["r"] as Double)) }, matched)
    }

    static func idsOfRowIDs(_ db: Database, _ rowIDs: [Int64]) throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        for start in stride(from: 0, to: rowIDs.count, by: 500) {
            let slice = Array(rowIDs[start..<min(rowIDs.count, start + 500)])
            let placeholders = Array(repeating: "?", count: slice.count).joined(separator: ", ")
            for row in try Row.fetchAll(db, sql: "SELECT rowid, id FROM chunks WHERE rowid IN (\(placeholders))", arguments: StatementArguments(slice)) {
                out[row["rowid"]] = row["id"]
            }
        }
        return out
    }

    /// Keyword ranking filtered through the cache (hybrid search, which loads the cache anyway): FTS5
    /// scores every match, the cached metadata decides which pass.
    static func keywordRankingCached(_ db: Database, _ c: CollectionRow, cache: SearchCache, text: String, pass: [Bool], depth: Int) throws -> (ranking: [ScoredID], matched: Int) {
        let fts = SQLiteSchema.ftsTable(c.id)
        let cursor = try Row.fetchCursor(db, sql: "SELECT rowid, bm25(\(fts)) FROM \(fts) WHERE \(fts) MATCH ?", arguments: [matchExpression(text)])
        var top = TopK<String, Double>(k: depth)
        var matched = 0
        while let row = try cursor.next() {
            guard let r = cache.rowOfRowID[row[0] as Int64], pass[Int(cache.metadataIndex[Int(r)])] else { continue }
            matched += 1
            let score = -(row[1] as Double)
            if let t = top.threshold, score < t { continue }
            top.insert(score: score, key: cache.ids[Int(r)], index: Int(r))
        }
        return (top.sorted().map { ScoredID(id: $0.key, score: $0.score) }, matched)
    }

    public func search(_ request: SearchRequest, in ref: CollectionRef) async throws -> SearchResponse {
        try await wrap {
            try await reader.read { db in
                let c = try Self.requireCollection(db, ref)
                try request.validate(against: c.info.identity)
                let depth = request.mode == .hybrid ? request.effectiveHybridDepth : request.k
                var vectorRanking: [ScoredID]?
                var keywordRanking: [ScoredID]?
                var matched = 0
                switch request.mode {
                case .keyword:
                    // With a filter, a loaded cache answers without parsing JSON per matching row; a cold
                    // process compiles the filter to SQL instead of loading the cache for one query.
                    let (ranking, count) = if let filter = request.filter, let cache = self.freshCache(c) {
                        try Self.keywordRankingCached(db, c, cache: cache, text: request.text!, pass: cache.passing(filter), depth: depth)
                    } else {
                        try Self.keywordRankingSQL(db, c, text: request.text!, filter: request.filter, depth: depth)
                    }
                    keywordRanking = ranking
                    matched = count
                case .vector, .hybrid:
                    let cache = try self.cache(db, c)
                    let pass = request.filter.map(cache.passing)
                    let candidates = cache.slots(passing: pass)
                    matched = candidates?.count ?? cache.slotRow.count
                    vectorRanking = cache.topK(query: request.vector!, distance: c.info.identity.distance, candidates: candidates, k: depth)
                    if request.mode == .hybrid {
                        if let pass {
                            keywordRanking = try Self.keywordRankingCached(db, c, cache: cache, text: request.text!, pass: pass, depth: depth).ranking
                        } else {
                            keywordRanking = try Self.keywordRankingSQL(db, c, text: request.text!, filter: nil, depth: depth).ranking
                        }
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
