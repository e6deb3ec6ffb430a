import EngramCore
import EngramPostgres
import EngramTesting
import Foundation
import PostgresNIO
import Testing

@Suite("PostgreSQL memory store", .enabled(if: PostgresTestEnvironment.available))
struct PostgresMemoryStoreTests {
    @Test(arguments: MemoryStoreConformance.cases)
    func conformance(_ check: MemoryConformanceCase) async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let clock = TestClock()
            try await check.run(on: PostgresMemoryStore(client: client, schema: config.schema, now: clock.function), clock: clock)
        }
    }

    /// Rows of a tenant's table as the owner sees them with the tenant set.
    static func count(_ client: PostgresClient, _ sql: String, tenant: String) async throws -> Int {
        try await client.withTransaction(logger: .init(label: "test")) { c in
            try await c.query(PostgresQuery(unsafeSQL: "SELECT set_config('engram.tenant_id', '\(tenant)', true), set_config('enable_seqscan', 'off', true)"), logger: .init(label: "test"))
            var n = 0
            for try await v in try await c.query(PostgresQuery(unsafeSQL: sql), logger: .init(label: "test")).decode(Int.self) { n = v }
            return n
        }
    }

    @Test func forgottenContentIsGoneFromTheTablesAndTheWordIndex() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let store = try PostgresMemoryStore(client: client, schema: config.schema)
            let s = config.schema
            for i in 0..<50 { _ = try await store.remember(MemoryDraft(tenant: "t", subject: "u", content: "zanzibarsecret note \(i)"), actor: "a") }
            _ = try await store.remember(MemoryDraft(tenant: "t", subject: "v", content: "kept note"), actor: "a")
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).memories WHERE terms @> ARRAY['zanzibarsecret']", tenant: "t") == 50)
            let receipt = try await store.forget(ForgetRequest(tenant: "t", selector: .subject("u"), actor: "ops", reason: "erasure"))
            #expect(receipt.deleted.count == 50)
            // Through the GIN index on terms (sequential scans off) and by the text itself.
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).memories WHERE terms @> ARRAY['zanzibarsecret']", tenant: "t") == 0)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).memories WHERE content LIKE '%zanzibarsecret%'", tenant: "t") == 0)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).memory_events WHERE reason LIKE '%zanzibarsecret%' OR actor LIKE '%zanzibarsecret%'", tenant: "t") == 0)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).memory_events WHERE event = 'deleted'", tenant: "t") == 50)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).memories", tenant: "t") == 1)
        }
    }

    /// A forget or a sweep that fails in the middle (a trigger aborts the deletion after 300 rows) leaves
    /// every memory and no event; run again, it finishes.
    @Test func aForgetOrSweepThatFailsHalfwayDeletesNothingAndARerunFinishes() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let s = config.schema
            let clock = TestClock()
            let store = try PostgresMemoryStore(client: client, schema: s, now: clock.function)
            for i in 0..<600 {
                _ = try await store.remember(MemoryDraft(tenant: "t", subject: i < 300 ? "u" : "v", content: "memory \(i)", retention: i < 300 ? "default" : "session"), actor: "a")
            }
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                CREATE FUNCTION \(s).fail_halfway() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF (SELECT count(*) FROM \(s).memories) <= 450 THEN RAISE EXCEPTION 'injected failure'; END IF;
                    RETURN OLD;
                END $$
                """))
            _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE TRIGGER fail_halfway BEFORE DELETE ON \(s).memories FOR EACH ROW EXECUTE FUNCTION \(s).fail_halfway()"))
            await #expect(throws: EngramError.self) { try await store.forget(ForgetRequest(tenant: "t", selector: .subject("u"), actor: "ops", reason: "erasure")) }
            clock.advance(by: 2 * 86_400)
            await #expect(throws: EngramError.self) { try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper") }
            #expect(try await store.export(tenant: "t", subject: nil).count == 600, "nothing half-deleted")
            #expect(try await store.events(tenant: "t", memoryID: nil).allSatisfy { $0.kind == .created }, "no event for deletions that did not happen")
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP TRIGGER fail_halfway ON \(s).memories"))
            #expect(try await store.forget(ForgetRequest(tenant: "t", selector: .subject("u"), actor: "ops", reason: "erasure")).deleted.count == 300)
            #expect(try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper").deleted.count == 300)
            #expect(try await store.export(tenant: "t", subject: nil).isEmpty)
        }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_APP_URL"] != nil))
    func theApplicationRoleCannotRewriteTheAuditTrailOrReadAnotherTenant() async throws {
        try await PostgresTestEnvironment.withApplicationRole { s, owner, app in
            do {
                let store = try PostgresMemoryStore(client: app, schema: s)
                let mine = try await store.remember(MemoryDraft(tenant: "alice", subject: "u", content: "alice private memory"), actor: "a").memory
                _ = try await store.remember(MemoryDraft(tenant: "bob", subject: "u", content: "bob private memory"), actor: "a")
                for statement in ["UPDATE \(s).memory_events SET actor = 'forged'", "DELETE FROM \(s).memory_events", "TRUNCATE \(s).memory_events"] {
                    await #expect(throws: (any Error).self, "\(statement)") {
                        try await app.withTransaction(logger: .init(label: "test")) { c in
                            try await c.query("SELECT set_config('engram.tenant_id', 'alice', true)", logger: .init(label: "test"))
                            try await c.query(PostgresQuery(unsafeSQL: statement), logger: .init(label: "test"))
                        }
                    }
                }
                #expect(try await store.events(tenant: "alice", memoryID: nil).map(\.actor) == ["a"])
                // A crafted query as alice sees only alice's memories.
                let seen = try await app.withTransaction(logger: .init(label: "test")) { c in
                    try await c.query("SELECT set_config('engram.tenant_id', 'alice', true)", logger: .init(label: "test"))
                    var texts: [String] = []
                    for try await t in try await c.query(PostgresQuery(unsafeSQL: "SELECT content FROM \(s).memories"), logger: .init(label: "test")).decode(String.self) { texts.append(t) }
                    return texts
                }
                #expect(seen == ["alice private memory"])
                #expect(try await store.memory(id: mine.id, tenant: "bob") == nil)
                let receipt = try await store.forget(ForgetRequest(tenant: "bob", selector: .ids([mine.id]), actor: "x", reason: ""))
                #expect(receipt.deleted.isEmpty && receipt.missing == [mine.id])
            }
            // Even the owner cannot rewrite it: the trigger refuses.
            await #expect(throws: (any Error).self) {
                try await owner.withTransaction(logger: .init(label: "test")) { c in
                    try await c.query("SELECT set_config('engram.tenant_id', 'alice', true)", logger: .init(label: "test"))
                    try await c.query(PostgresQuery(unsafeSQL: "DELETE FROM \(s).memory_events"), logger: .init(label: "test"))
                }
            }
        }
    }
}
