import EngramCore
import Testing

@Suite struct SearchPathTests {
    @Test func everyPathReadsBackFromTheTextManifestsRecord() throws {
        let paths: [SearchPath] = [.exactScan, .bm25, .tsRankCD, .index("hnsw"), .index("ivfflat"), .indexThenExact("hnsw"),
                                   .fused(vector: .indexThenExact("hnsw"), keyword: .tsRankCD), .fused(vector: .exactScan, keyword: .bm25)]
        #expect(paths.map(\.description) == ["exact-scan", "bm25", "ts_rank_cd", "hnsw", "ivfflat", "hnsw+exact-fallback",
                                             "rrf(hnsw+exact-fallback,ts_rank_cd)", "rrf(exact-scan,bm25)"])
        for p in paths { #expect(SearchPath(p.description) == p) }
        for bad in ["", "rrf(", "rrf(a)", "+exact-fallback", "HNSW", "rrf(exact-scan,)", "exact scan"] {
            #expect(SearchPath(bad) == nil, "'\(bad)' is not a path")
        }
        #expect(SearchPath.of(.vector, vector: .exactScan, keyword: .bm25) == .exactScan)
        #expect(SearchPath.of(.keyword, vector: .exactScan, keyword: .bm25) == .bm25)
        #expect(SearchPath.of(.hybrid, vector: .index("hnsw"), keyword: .tsRankCD) == .fused(vector: .index("hnsw"), keyword: .tsRankCD))
    }
}
