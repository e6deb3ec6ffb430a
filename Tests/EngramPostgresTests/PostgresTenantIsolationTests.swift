import EngramCore
import EngramPostgres
import EngramTesting
import Foundation
import PostgresNIO
import Testing

/// Row-level security, seen from the application role (not the owner): whatever SQL it sends, it reads
/// and changes only the rows of the tenant its transaction names.
@Suite("PostgreSQL tenant isolation", .enabled(if: PostgresTestEnvironment.available && ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_APP_URL"] != nil))
struct PostgresTenantIsolationTests {
    @Test func theApplicationRoleSeesOnlyItsTenant() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, owner in
            try await PostgresMigrator(schema: config.schema).migrate(owner, grantTo: "engram_app")
            let fx = Fixtures()
            let alice = CollectionRef(tenant: "alice", name: "docs"), bob = CollectionRef(tenant: "bob", name: "docs")
            let ownerStore = try PostgresVectorStore(client: owner, schema: config.schema)
            try await fx.load(ownerStore, [("mem://a", "alice secret plans", [:])], in: alice)
            try await fx.load(ownerStore, [("mem://b", "bob public notes", [:])], in: bob)

            // Even the owner sees nothing without a tenant: row-level security is forced.
            let unscoped = try await owner.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(config.schema).chunks"))
            for try await n in unscoped.decode(Int.self) { #expect(n == 0) }

            var appConfig = try PostgresStoreConfiguration(url: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_APP_URL"]!)
            appConfig.schema = config.schema
            let schema = config.schema
            try await appConfig.withClient { app in
                try await app.withTransaction(logger: .init(label: "test")) { c in
                    try await c.query("SELECT set_config('engram.tenant_id', 'alice', true)", logger: .init(label: "test"))
                    let texts = try await c.query(PostgresQuery(unsafeSQL: "SELECT text FROM \(schema).chunks ORDER BY text"), logger: .init(label: "test"))
                    var seen: [String] = []
                    for try await t in texts.decode(String.self) { seen.append(t) }
                    #expect(seen == ["alice secret plans"], "a crafted query without a tenant filter still sees only alice")
                    let bobRows = try await c.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(schema).chunks WHERE tenant_id = 'bob'"), logger: .init(label: "test"))
                    for try await n in bobRows.decode(Int.self) { #expect(n == 0) }
                    let updated = try await c.query(PostgresQuery(unsafeSQL: "UPDATE \(schema).chunks SET text = 'pwned' WHERE tenant_id = 'bob' RETURNING id"), logger: .init(label: "test"))
                    var changed = 0
                    for try await _ in updated.decode(String.self) { changed += 1 }
                    #expect(changed == 0, "alice cannot change bob's rows")
                    let deleted = try await c.query(PostgresQuery(unsafeSQL: "DELETE FROM \(schema).documents WHERE tenant_id = 'bob' RETURNING id"), logger: .init(label: "test"))
                    var removed = 0
                    for try await _ in deleted.decode(String.self) { removed += 1 }
                    #expect(removed == 0, "alice cannot delete bob's rows")
                }
                // Writing a row for another tenant is refused by the policy's WITH CHECK.
                await #expect(throws: (any Error).self) {
                    try await app.withTransaction(logger: .init(label: "test")) { c in
                        try await c.query("SELECT set_config('engram.tenant_id', 'alice', true)", logger: .init(label: "test"))
                        try await c.query(PostgresQuery(unsafeSQL: "INSERT INTO \(schema).collections (tenant_id, name, model, revision, dimension, distance, normalized) VALUES ('bob', 'x', 'm', '', 3, 'cosine', false)"), logger: .init(label: "test"))
                    }
                }
                // The application role cannot edit the migration history.
                await #expect(throws: (any Error).self) {
                    try await app.query(PostgresQuery(unsafeSQL: "DELETE FROM \(schema).schema_migrations"))
                }
                // Through the store API, bob's view never includes alice's rows.
                let appStore = try PostgresVectorStore(client: app, schema: schema)
                let hits = try await appStore.search(SearchRequest(mode: .keyword, text: "alice secret plans", k: 10), in: bob)
                #expect(hits.hits.isEmpty)
                #expect(try await appStore.stats(bob).documents == 1)
            }
            // Bob's rows are intact.
            let bobText = try await ownerStore.chunks(ids: [ChunkRecord.makeID(documentID: DocumentRecord.makeID(ref: bob, sourceURI: "mem://b"), ordinal: 0)], in: bob)
            #expect(bobText.map(\.text) == ["bob public notes"])
        }
    }
}
