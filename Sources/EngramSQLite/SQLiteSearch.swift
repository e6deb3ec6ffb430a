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
    /// Per row (chunk), ordered by rowid: rowid, id, metadata slot, vector slot (-1 without a vector).
    let rowIDs: [Int64]
    let ids: [String]
    let metadataIndex: [Int32]
    let vectorSlot: [Int32]
    let rowOfRowID: [Int64: Int32]
    let metadata: [Metadata]
    /// Per vector slot: its row, the vector and its norm.
    let slotRow: [Int32]
    let vectors: [Float]
    let norms: [Float]

    /// Accumulates rows in rowid order.
    struct Builder {
        let dimension: Int
        var rowIDs: [Int64] = [], ids: [String] = [], metadataIndex: [Int32] = [], vectorSlot: [Int32] = []
        var metadata: [Metadata] = []
        var distinct: [String: Int32] = [:]
        var slotRow: [Int32] = [], vectors: [Float] = [], norms: [Float] = []

        mutating func metadataSlot(json: String) throws -> Int32 {
            if let i = distinct[json] { return i }
            let i = Int32(metadata.count)
            metadata.append(try Metadata.parse(json: json))
            distinct[json] = i
            return i
        }

        mutating func append(rowID: Int64, id: String, metadataSlot: Int32, vector: UnsafeBufferPointer<Float>?, norm: Float?) {
            if let vector {
                vectorSlot.append(Int32(slotRow.count))
                slotRow.append(Int32(ids.count))
                vectors.append(contentsOf: vector)
                norms.append(norm ?? VectorMath.dot(vector.baseAddress!, vector.baseAddress!, count: dimension).squareRoot())
            } else {
                vectorSlot.append(-1)
            }
            rowIDs.append(rowID)
            ids.append(id)
            metadataIndex.append(metadataSlot)
        }

        /// Appends rows read from `chunks` (columns rowid, id, metadata, embedding).
        mutating func append(_ cursor: RowCursor) throws {
            while let row = try cursor.next() {
                let id: String = row["id"]
                let m = try metadataSlot(json: row["metadata"])
                if let data = row["embedding"] as Data? {
                    guard data.count == dimension * 4 else {
                        throw EngramError(.storageFailure, "chunk \(id) has a \(data.count)-byte embedding, expected \(dimension * 4)")
                    }
                    // Copy rather than rebind: a blob's bytes need not be aligned for Float.
                    var vector = [Float](repeating: 0, count: dimension)
                    _ = vector.withUnsafeMutableBytes { data.copyBytes(to: $0) }
                    vector.withUnsafeBufferPointer { append(rowID: row["rowid"], id: id, metadataSlot: m, vector: $0, norm: nil) }
                } else {
                    append(rowID: row["rowid"], id: id, metadataSlot: m, vector: nil, norm: nil)
                }
            }
        }

        func build(dataVersion: Int64) -> SearchCache {
            SearchCache(dataVersion: dataVersion, builder: self)
        }
    }

    private init(dataVersion: Int64, builder b: Builder) {
        self.dataVersion = dataVersion
        dimension = b.dimension
        rowIDs = b.rowIDs
        ids = b.ids
        metadataIndex = b.metadataIndex
        vectorSlot = b.vectorSlot
        metadata = b.metadata
        slotRow = b.slotRow
        vectors = b.vectors
        norms = b.norms
        var rowOf: [Int64: Int32] = [:]
        rowOf.reserveCapacity(rowIDs.count)
        for (i, r) in rowIDs.enumerated() { rowOf[r] = Int32(i) }
        rowOfRowID = rowOf
    }

    static func rows(_ collectionID: Int64, _ generation: Int) -> SQL {
        "SELECT rowid, id, metadata, embedding FROM chunks WHERE collection_id = \(collectionID) AND generation = \(generation)"
    }

    static func load(_ db: Database, collectionID: Int64, generation: Int, dimension: Int, dataVersion: Int64) throws -> SearchCache {
        var b = Builder(dimension: dimension)
        try b.append(db.rowCursor("\(rows(collectionID, generation)) ORDER BY rowid"))
        return b.build(dataVersion: dataVersion)
    }

    /// This cache brought up to date with the database.
    ///
    /// Chunk rows are never updated in place (an upsert deletes a document's chunks and inserts new
    /// ones) and rowids are never reused (`AUTOINCREMENT`), so the new state is the old rows that still
    /// exist plus the rows with larger rowids: only those are read. A mostly-changed collection is
    /// simply reloaded.
    func refreshed(_ db: Database, collectionID: Int64, generation: Int, dataVersion: Int64) throws -> SearchCache {
        let current = try db.values(Int64.self, "SELECT rowid FROM chunks WHERE collection_id = \(collectionID) AND generation = \(generation) ORDER BY rowid")
        let oldMax = rowIDs.last ?? 0
        let added = current.count - current.prefix { $0 <= oldMax }.count
        let kept = current.count - added
        if rowIDs.isEmpty || added + (rowIDs.count - kept) > rowIDs.count / 2 {
            return try SearchCache.load(db, collectionID: collectionID, generation: generation, dimension: dimension, dataVersion: dataVersion)
        }
        var b = Builder(dimension: dimension)
        b.metadata = metadata
        var i = 0
        vectors.withUnsafeBufferPointer { v in
            for rowID in current.prefix(kept) {
                while i < rowIDs.count, rowIDs[i] < rowID { i += 1 }
                guard i < rowIDs.count, rowIDs[i] == rowID else { continue }
                let slot = Int(vectorSlot[i])
                let vector = slot >= 0 ? UnsafeBufferPointer(rebasing: v[(slot * dimension)..<((slot + 1) * dimension)]) : nil
                b.append(rowID: rowID, id: ids[i], metadataSlot: metadataIndex[i], vector: vector, norm: slot >= 0 ? norms[slot] : nil)
            }
        }
        if added > 0 {
            try b.append(db.rowCursor("\(SearchCache.rows(collectionID, generation)) AND rowid > \(oldMax) ORDER BY rowid"))
        }
        return b.build(dataVersion: dataVersion)
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
        let cached = caches.withLock { $0[key] }
        if let cached, cached.dataVersion == c.dataVersion {
            return cached
        }
        let fresh = try cached?.refreshed(db, collectionID: c.id, generation: c.info.generation, dataVersion: c.dataVersion)
            ?? SearchCache.load(db, collectionID: c.id, generation: c.info.generation, dimension: c.info.identity.dimension, dataVersion: c.dataVersion)
        caches.withLock { caches in
            // A reindex switched generations: the old generation's copy is no longer read.
            caches = caches.filter { $0.key.collectionID != c.id || $0.key.generation == c.info.generation }
            caches[key] = fresh
        }
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
            let matched = try db.count("SELECT count(*) FROM \(fts) WHERE \(fts) MATCH \(match)")
            var limit = depth + 32
            while true {
                let rows = try db.rows("SELECT rowid, bm25(\(fts)) AS r FROM \(fts) WHERE \(fts) MATCH \(match) ORDER BY r LIMIT \(limit)")
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
        let filterSQL = try SQLiteFilterCompiler(column: "c.metadata").compile(filter)
        let from: SQL = """
            FROM \(fts) CROSS JOIN chunks c ON c.rowid = \(fts).rowid
            WHERE \(fts) MATCH \(match) AND c.generation = \(c.info.generation) AND \(filterSQL)
            """
        let rows = try db.rows("SELECT c.id, bm25(\(fts)) AS r \(from) ORDER BY r, c.id LIMIT \(depth)")
        let matched = try db.count("SELECT count(*) \(from)")
        return (rows.map { ScoredID(id: $0["id"], score: -($0["r"] as Double)) }, matched)
    }

    static func idsOfRowIDs(_ db: Database, _ rowIDs: [Int64]) throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        for start in stride(from: 0, to: rowIDs.count, by: 500) {
            for row in try db.rows("SELECT rowid, id FROM chunks WHERE rowid IN \(rowIDs[start..<min(rowIDs.count, start + 500)])") {
                out[row["rowid"]] = row["id"]
            }
        }
        return out
    }

    /// Keyword ranking filtered through the cache (hybrid search, which loads the cache anyway): FTS5
    /// scores every match, the cached metadata decides which pass.
    static func keywordRankingCached(_ db: Database, _ c: CollectionRow, cache: SearchCache, text: String, pass: [Bool], depth: Int) throws -> (ranking: [ScoredID], matched: Int) {
        let fts = SQLiteSchema.ftsTable(c.id)
        let cursor = try db.rowCursor("SELECT rowid, bm25(\(fts)) FROM \(fts) WHERE \(fts) MATCH \(matchExpression(text))")
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
                let chunks = try Self.fetchChunks(db, c, ids: ranked.map(\.id))
                return SearchResponse(
                    hits: SearchAssembly.hits(ranked, chunks: chunks),
                    path: .of(request.mode, vector: .exactScan, keyword: .bm25),
                    exhaustive: true, matched: matched)
            }
        }
    }
}
