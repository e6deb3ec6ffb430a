import EngramCore
import EngramPostgres
import EngramTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// Where the test server is: `ENGRAM_POSTGRES_URL` (set by scripts/postgres.sh). With
/// `ENGRAM_REQUIRE_SERVICES=1` (CI) a missing server fails the run; otherwise the tests are skipped.
enum PostgresTestEnvironment {
    static let url = ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"]
    static let required = ProcessInfo.processInfo.environment["ENGRAM_REQUIRE_SERVICES"] == "1"
    static var available: Bool { url != nil }

    /// A scratch schema migrated by the owner with grants to `engram_app`, and a client of the application
    /// role (ENGRAM_POSTGRES_APP_URL) on it: what row-level security tests run as.
    static func withApplicationRole<T: Sendable>(_ body: @Sendable (_ schema: String, _ owner: PostgresClient, _ app: PostgresClient) async throws -> T) async throws -> T {
        try await withScratchSchema { config, owner in
            try await PostgresMigrator(schema: config.schema).migrate(owner, grantTo: "engram_app")
            var appConfig = try PostgresStoreConfiguration(url: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_APP_URL"]!)
            appConfig.schema = config.schema
            appConfig.connectTimeout = config.connectTimeout
            return try await appConfig.withClient { app in try await body(config.schema, owner, app) }
        }
    }

    /// A configuration for a schema of the test's own, dropped afterwards.
    static func withScratchSchema<T: Sendable>(_ body: @Sendable (PostgresStoreConfiguration, PostgresClient) async throws -> T) async throws -> T {
        var config = try PostgresStoreConfiguration(url: url!)
        // Generous: on two busy cores a connect can take seconds; a dead server still fails the test.
        config.connectTimeout = .seconds(60)
        config.schema = "engram_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let c = config
        return try await config.withClient { client in
            do {
                let result = try await body(c, client)
                try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(c.schema) CASCADE"))
                return result
            } catch {
                _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(c.schema) CASCADE"))
                throw error
            }
        }
    }
}

@Suite("PostgreSQL service")
struct PostgresServiceTests {
    @Test func serverIsAvailableWhenServicesAreRequired() {
        if PostgresTestEnvironment.required {
            #expect(PostgresTestEnvironment.available, "ENGRAM_REQUIRE_SERVICES=1 but ENGRAM_POSTGRES_URL is not set: start it with scripts/postgres.sh")
        }
    }

    @Test func configurationParsesURLsAndRefusesBadOnes() throws {
        let c = try PostgresStoreConfiguration(url: "postgres://app:s3cret@db.example:6543/rag?sslmode=require&pool_size=4&statement_timeout_ms=1500&schema=mem")
        #expect(c.host == "db.example" && c.port == 6543 && c.username == "app" && c.password == "s3cret")
        #expect(c.database == "rag" && c.tls == .require && c.poolSize == 4 && c.statementTimeout == .milliseconds(1500) && c.schema == "mem")
        #expect(try PostgresStoreConfiguration(url: "postgres://u@127.0.0.1/db").tls == .disable)
        let tuned = try PostgresStoreConfiguration(url: "postgres://u@h/db?hnsw_m=32&hnsw_ef_construction=128&hnsw_ef_search=200&max_scan_tuples=50000&exact_threshold=0")
        #expect(tuned.storeOptions.hnswM == 32 && tuned.storeOptions.hnswEfConstruction == 128 && tuned.storeOptions.hnswEfSearch == 200)
        #expect(tuned.storeOptions.maxScanTuples == 50000 && tuned.storeOptions.exactThreshold == 0)
        #expect(throws: EngramError.self) { try PostgresStoreConfiguration(url: "postgres://u@h/db?hnsw_ef_search=5000") }
        // The pool: one connection kept open and no keep-alive by default; both configurable.
        #expect(c.minimumConnections == 1 && c.keepAlive == nil)
        #expect(c.clientConfiguration.options.minimumConnections == 1 && c.clientConfiguration.options.keepAliveBehavior == nil)
        let pooled = try PostgresStoreConfiguration(url: "postgres://u@h/db?pool_size=8&min_connections=3&keepalive_s=45")
        #expect(pooled.clientConfiguration.options.minimumConnections == 3 && pooled.clientConfiguration.options.maximumConnections == 8)
        #expect(pooled.clientConfiguration.options.keepAliveBehavior?.frequency == .seconds(45))
        // Bulk loads write two batches side by side by default, never more than the pool holds.
        #expect(c.storeOptions.bulkWriters == 2 && pooled.storeOptions.bulkWriters == 2)
        #expect(try PostgresStoreConfiguration(url: "postgres://u@h/db?pool_size=1").storeOptions.bulkWriters == 1)
        #expect(try PostgresStoreConfiguration(url: "postgres://u@h/db?pool_size=8&bulk_writers=4").storeOptions.bulkWriters == 4)
        for bad in ["postgres://u@h/db?pool_size=2&bulk_writers=3", "postgres://u@h/db?bulk_writers=0", "mysql://u@h/db", "postgres://h/db", "postgres://u@h/", "postgres://u@h/db?sslmode=maybe", "postgres://u@h/db?pool_size=0", "postgres://u@h/db?schema=Bad;Drop",
                    "postgres://u@h/db?pool_size=2&min_connections=3", "postgres://u@h/db?keepalive_s=-1", "postgres://u@h/db?keepalive_s=soon"] {
            #expect(throws: EngramError.self, "\(bad)") { try PostgresStoreConfiguration(url: bad) }
        }
    }

    @Test(.timeLimit(.minutes(1))) func unreachableServerFailsWithinTheConnectTimeout() async throws {
        let config = try PostgresStoreConfiguration(url: "postgres://u@127.0.0.1:1/db?connect_timeout_ms=500")
        let started = ContinuousClock.now
        await #expect(throws: EngramError.self) {
            try await config.withClient { client in try await client.query("SELECT 1") }
        }
        #expect(ContinuousClock.now - started < .seconds(30))
    }
}

@Suite("PostgreSQL migrations", .enabled(if: PostgresTestEnvironment.available), .serialized)
struct PostgresMigratorTests {
    @Test func migrateAppliesEverythingOnceAndRecordsChecksums() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            let migrator = try PostgresMigrator(schema: config.schema)
            let all = Array(1...PostgresSchema.migrations.count)
            #expect(try await migrator.status(client).map(\.state) == all.map { _ in .pending })
            #expect(try await migrator.migrate(client) == all)
            #expect(try await migrator.migrate(client) == [], "a second run has nothing to do")
            #expect(try await migrator.status(client).map(\.state) == all.map { _ in .applied })
            let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT version, checksum FROM \(config.schema).schema_migrations"))
            var recorded: [(Int, String)] = []
            for try await row in rows.decode((Int, String).self) { recorded.append(row) }
            #expect(recorded.map(\.0) == all && recorded.map(\.1) == PostgresSchema.migrations.map(\.checksum))
            // The tables exist, with row-level security forced (memory_tenants and run_tenants hold tenant ids only, on purpose without it).
            let rls = try await client.query(PostgresQuery(unsafeSQL: """
                SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
                WHERE relnamespace = '\(config.schema)'::regnamespace AND relkind = 'r' AND relname NOT IN ('schema_migrations', 'memory_tenants', 'run_tenants') ORDER BY relname
                """))
            var tables: [String] = []
            for try await (name, enabled, forced) in rls.decode((String, Bool, Bool).self) {
                #expect(enabled && forced, "\(name) forces row-level security")
                tables.append(name)
            }
            #expect(tables == ["api_keys", "chunks", "collections", "documents", "memories", "memory_events", "run_audit", "run_channels", "run_checkpoints", "run_events",
                               "run_heads", "run_values", "run_writes", "runs"])
        }
    }

    @Test func concurrentMigratorsAreSafe() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        // Separate clients: separate sessions racing for the advisory lock.
                        try await config.withClient { own in try await PostgresMigrator(schema: config.schema).migrate(own) }
                    }
                }
                var all: [[Int]] = []
                for try await result in group { all.append(result) }
                return all
            }
            let all = Array(1...PostgresSchema.migrations.count)
            #expect(applied.filter { $0 == all }.count == 1, "exactly one migrator applied the migrations: \(applied)")
            #expect(applied.filter(\.isEmpty).count == 3)
            #expect(try await PostgresMigrator(schema: config.schema).status(client).map(\.state) == all.map { _ in .applied })
        }
    }

    @Test func anEditedMigrationIsRefusedBeforeAnythingChanges() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            var edited = PostgresSchema.migrations
            edited[0] = PostgresMigration(version: 1, name: edited[0].name, statements: edited[0].statements + ["SELECT 1"])
            let next = PostgresMigration(version: edited.count + 1, name: "more", statements: ["CREATE TABLE {{schema}}.should_not_exist (x int)"])
            let tampered = try PostgresMigrator(schema: config.schema, migrations: edited + [next])
            do {
                try await tampered.migrate(client)
                Issue.record("an edited migration was accepted")
            } catch let e as EngramError {
                #expect(e.code == .schemaMismatch)
                #expect(e.message.contains("migration 1") && e.message.contains("changed after it was applied"))
            }
            let exists = try await client.query(PostgresQuery(unsafeSQL: "SELECT to_regclass('\(config.schema).should_not_exist') IS NOT NULL"))
            for try await flag in exists.decode(Bool.self) { #expect(!flag, "nothing was applied") }
        }
    }

    /// A schema at the first shipped version, filled as that version wrote its rows, upgraded to the
    /// head: every document, chunk and search answer is there, and the tables added since work. The
    /// answers are compared with the same documents written by the head into a fresh collection. This
    /// test stays as the schema grows.
    @Test func aSchemaAtTheFirstVersionUpgradesWithItsData() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            let first = try PostgresMigrator(schema: config.schema, migrations: Array(PostgresSchema.migrations.prefix(1)))
            #expect(try await first.migrate(client) == [1])
            let fx = Fixtures()
            let docs = [("mem://a", "apples grow on trees\n\nthey are red or green"), ("mem://b", "bananas are yellow")]
            let store = try PostgresVectorStore(client: client, schema: config.schema)
            // Version 1's rows: the keyword tokens kept in search_text, the text search vector generated from them.
            let s = config.schema, logger = Logger(label: "test")
            try await client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: logger)
                _ = try await connection.query("SELECT set_config('engram.tenant_id', \(fx.ref.tenant), true)", logger: logger)
                _ = try await connection.query("""
                    INSERT INTO \(unescaped: s).collections (tenant_id, name, model, revision, dimension, distance, normalized)
                    VALUES (\(fx.ref.tenant), \(fx.ref.name), \(fx.identity.model), \(fx.identity.revision), \(fx.identity.dimension), \(fx.identity.distance.rawValue), \(fx.identity.normalized))
                    """, logger: logger)
                for (source, text) in docs {
                    let (d, chunks) = fx.document(source, text)
                    _ = try await connection.query("""
                        INSERT INTO \(unescaped: s).documents (collection_id, id, tenant_id, source_uri, sha256, fingerprint, version, mime, size, chunk_count, metadata, text, created_at, updated_at)
                        SELECT c.id, \(d.id), c.tenant_id, \(d.sourceURI), \(d.sha256), \(d.fingerprint), 1, \(d.mime), \(d.size), \(chunks.count), '{}'::jsonb, \(d.text), now(), now()
                        FROM \(unescaped: s).collections c WHERE c.name = \(fx.ref.name)
                        """, logger: logger)
                    for c in chunks {
                        let vector = "[" + c.embedding!.map { "\($0)" }.joined(separator: ",") + "]"
                        _ = try await connection.query("""
                            INSERT INTO \(unescaped: s).chunks (collection_id, id, tenant_id, document_id, generation, ordinal, char_start, char_end, token_count, sha256, section, metadata, text_search_config, text, search_text, embedding)
                            SELECT col.id, \(c.id), col.tenant_id, \(d.id), 1, \(c.ordinal), \(c.charStart), \(c.charEnd), \(c.tokenCount), \(c.sha256), '[]'::jsonb, '{}'::jsonb,
                                   'simple'::regconfig, \(c.text), \(KeywordTokenizer.tokens(c.text).joined(separator: " ")), \(vector)::vector
                            FROM \(unescaped: s).collections col WHERE col.name = \(fx.ref.name)
                            """, logger: logger)
                    }
                }
                _ = try await connection.query("COMMIT", logger: logger)
            }

            let head = try PostgresMigrator(schema: config.schema)
            #expect(try await head.migrate(client) == Array(2...PostgresSchema.migrations.count))
            #expect(try await head.status(client).allSatisfy { $0.state == .applied })
            // The same documents written by the head into a schema of its own (same ids, so ties rank alike).
            let requests = [SearchMode.hybrid, .keyword, .vector].map { SearchRequest(mode: $0, text: "red apples", vector: fx.query("red apples"), vectorIdentity: fx.identity, k: 3) }
            let written = try await PostgresTestEnvironment.withScratchSchema { freshConfig, freshClient in
                try await PostgresMigrator(schema: freshConfig.schema).migrate(freshClient)
                let fresh = try PostgresVectorStore(client: freshClient, schema: freshConfig.schema)
                try await fx.load(fresh, docs.map { ($0.0, $0.1, [:]) })
                var answers: [SearchResponse] = []
                for r in requests { answers.append(try await fresh.search(r, in: fx.ref)) }
                return answers
            }
            for (request, expected) in zip(requests, written) {
                let upgraded = try await store.search(request, in: fx.ref)
                #expect(!upgraded.hits.isEmpty && upgraded.hits.map(\.chunk.id) == expected.hits.map(\.chunk.id), "\(request.mode)")
                #expect(upgraded.hits.map(\.score) == expected.hits.map(\.score), "\(request.mode)")
            }
            #expect(try await store.stats(fx.ref).documents == 2)
            #expect(try await store.document(sourceURI: "mem://b", in: fx.ref)?.text == "bananas are yellow")
            let memories = try PostgresMemoryStore(client: client, schema: config.schema)
            _ = try await memories.remember(MemoryDraft(tenant: "t1", subject: "u", content: "likes bananas"), actor: "test")
            #expect(try await memories.export(tenant: "t1", subject: nil).map(\.content) == ["likes bananas"])
        }
    }

    @Test func aNewerDatabaseIsRefused() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            let newer = PostgresSchema.migrations + [PostgresMigration(version: PostgresSchema.migrations.count + 1, name: "future", statements: ["CREATE TABLE {{schema}}.future (x int)"])]
            try await PostgresMigrator(schema: config.schema, migrations: newer).migrate(client)
            await #expect(throws: EngramError.self) { try await PostgresMigrator(schema: config.schema).status(client) }
            await #expect(throws: EngramError.self) { try await PostgresMigrator(schema: config.schema).migrate(client) }
        }
    }
}
