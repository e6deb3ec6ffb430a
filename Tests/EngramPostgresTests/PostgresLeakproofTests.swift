import EngramCore
import EngramPostgres
import EngramTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// Row-level security lets PostgreSQL use an index only for operators marked leakproof, and neither text
/// search matching (`@@`) nor jsonb containment (`@>`) is: keyword searches and metadata filters scan the
/// collection. A superuser may mark the two functions leakproof (README, "Indexes under row-level
/// security"); then the application role's statements use the GIN indexes, and still see only their
/// tenant's rows.
@Suite("PostgreSQL indexes under row-level security", .serialized,
       .enabled(if: PostgresTestEnvironment.available && ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_SUPERUSER_URL"] != nil
                && ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_APP_URL"] != nil))
struct PostgresLeakproofTests {
    static let functions = ["pg_catalog.ts_match_vq(tsvector, tsquery)", "pg_catalog.jsonb_contains(jsonb, jsonb)"]

    @Test func markedLeakproofTheGINIndexesServeTheApplicationRoleAndTenantsStayApart() async throws {
        let env = ProcessInfo.processInfo.environment
        let superuser = try PostgresStoreConfiguration(url: env["ENGRAM_POSTGRES_SUPERUSER_URL"]!)
        let logger = Logger(label: "test")
        try await PostgresTestEnvironment.withScratchSchema { config, owner in
            try await PostgresMigrator(schema: config.schema).migrate(owner, grantTo: "engram_app")
            let fx = Fixtures()
            let alice = CollectionRef(tenant: "alice", name: "docs"), bob = CollectionRef(tenant: "bob", name: "docs")
            // Every collection gets its keyword index, however small.
            var options = PostgresVectorStore.Options()
            options.exactThreshold = 0
            let ownerStore = try PostgresVectorStore(client: owner, schema: config.schema, options: options)
            // Enough other chunks that an index is worth using.
            try await fx.load(ownerStore, [("mem://a", "alice secret plans", ["team": .string("red")])]
                              + (0..<400).map { ("mem://filler\($0)", "ordinary note number \($0)", ["team": .string("blue")]) }, in: alice)
            try await fx.load(ownerStore, [("mem://b", "bob secret notes", ["team": .string("red")])], in: bob)
            try await ownerStore.buildIndexes(alice)
            try await superuser.withClient { su in _ = try await su.query(PostgresQuery(unsafeSQL: "ANALYZE \(config.schema).chunks")) }
            var appConfig = try PostgresStoreConfiguration(url: env["ENGRAM_POSTGRES_APP_URL"]!)
            appConfig.schema = config.schema
            let schema = config.schema

            /// The plans of a keyword match and a metadata filter as the application role, in alice's
            /// transaction, with sequential scans priced out so any usable index is taken.
            func plans() async throws -> [String] {
                try await appConfig.withClient { app in
                    try await app.withTransaction(logger: logger) { c in
                        try await c.query("SELECT set_config('engram.tenant_id', 'alice', true), set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)", logger: logger)
                        var out: [String] = []
                        var collection: Int64 = 0
                        for try await id in try await c.query(PostgresQuery(unsafeSQL: "SELECT id FROM \(schema).collections WHERE name = 'docs'"), logger: logger).decode(Int64.self) {
                            collection = id
                        }
                        // Searches name the collection generation, which the keyword index is on.
                        let generation = "collection_id = \(collection) AND generation = 1"
                        for predicate in ["\(generation) AND text_search @@ to_tsquery('simple', 'secret')", "metadata @> '{\"team\": \"red\"}'"] {
                            let rows = try await c.query(PostgresQuery(unsafeSQL: "EXPLAIN SELECT id FROM \(schema).chunks WHERE \(predicate)"), logger: logger)
                            var plan = ""
                            for try await line in rows.decode(String.self) { plan += line + "\n" }
                            out.append(plan)
                        }
                        return out
                    }
                }
            }
            let before = try await plans()
            #expect(!before[0].contains("chunks_tsv_c") && !before[1].contains("chunks_metadata"), "without leakproof operators, no GIN index: \(before)")

            try await superuser.withClient { su in
                // Remember how the functions were marked, and put that back afterwards.
                var was: [String: Bool] = [:]
                for f in Self.functions {
                    let rows = try await su.query(PostgresQuery(unsafeSQL: "SELECT proleakproof FROM pg_proc WHERE oid = '\(f)'::regprocedure"))
                    for try await flag in rows.decode(Bool.self) { was[f] = flag }
                }
                for f in Self.functions { try await su.query(PostgresQuery(unsafeSQL: "ALTER FUNCTION \(f) LEAKPROOF")) }
                do {
                    let after = try await plans()
                    #expect(after[0].contains("Bitmap Index Scan on chunks_tsv_c"), "\(after[0])")
                    #expect(after[1].contains("Bitmap Index Scan on chunks_metadata"), "\(after[1])")
                    // Through the store, each tenant still finds only its own rows.
                    try await appConfig.withClient { app in
                        let store = try PostgresVectorStore(client: app, schema: schema)
                        let keyword = try await store.search(SearchRequest(mode: .keyword, text: "secret", k: 10), in: alice)
                        #expect(keyword.hits.map(\.chunk.text) == ["alice secret plans"])
                        let filtered = try await store.search(SearchRequest(mode: .vector, vector: fx.query("secret"), vectorIdentity: fx.identity, filter: try Filter.parse("team == \"red\""), k: 10), in: bob)
                        #expect(filtered.hits.map(\.chunk.text) == ["bob secret notes"])
                    }
                } catch {
                    for f in Self.functions where was[f] == false { _ = try? await su.query(PostgresQuery(unsafeSQL: "ALTER FUNCTION \(f) NOT LEAKPROOF")) }
                    throw error
                }
                for f in Self.functions where was[f] == false { try await su.query(PostgresQuery(unsafeSQL: "ALTER FUNCTION \(f) NOT LEAKPROOF")) }
            }
        }
    }
}
