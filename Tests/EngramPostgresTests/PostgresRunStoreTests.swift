import EngramCore
import EngramPostgres
import EngramTesting
import Foundation
import PostgresNIO
import Testing

@Suite("PostgreSQL run store", .enabled(if: PostgresTestEnvironment.available))
struct PostgresRunStoreTests {
    @Test(arguments: RunStoreConformance.cases)
    func conformance(_ check: RunConformanceCase) async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let clock = TestClock()
            try await check.run(on: PostgresRunStore(client: client, schema: config.schema, now: clock.function), clock: clock)
        }
    }

    @Test(arguments: APIKeyStoreConformance.cases)
    func keyConformance(_ check: APIKeyConformanceCase) async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            try await check.run(on: PostgresAPIKeyStore(database: PostgresDatabase(client: client, schema: config.schema)))
        }
    }

    /// Rows of every tenant's run table, read as the owner with `tenant` set.
    static func rows(_ client: PostgresClient, _ sql: String, tenant: String) async throws -> [String] {
        try await client.withTransaction(logger: .init(label: "test")) { c in
            try await c.query(PostgresQuery(unsafeSQL: "SELECT set_config('engram.tenant_id', '\(tenant)', true)"), logger: .init(label: "test"))
            var out: [String] = []
            for try await v in try await c.query(PostgresQuery(unsafeSQL: sql), logger: .init(label: "test")).decode(String.self) { out.append(v) }
            return out
        }
    }

    /// As the application role: a session sees its own tenant's keys, reads another key's row only by
    /// presenting that key's hash (what a request's bearer token gives), and cannot add or change keys of
    /// another tenant by any statement.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_APP_URL"] != nil))
    func theApplicationRoleReadsAKeyOnlyWithItsHash() async throws {
        try await PostgresTestEnvironment.withApplicationRole { s, _, app in
            let store = try PostgresAPIKeyStore(database: PostgresDatabase(client: app, schema: s))
            let (alice, aliceText) = try await APIKeys.create(tenant: "alice", name: "a", scopes: [.read], in: store)
            let (bob, bobText) = try await APIKeys.create(tenant: "bob", name: "b", scopes: [.admin], in: store)
            #expect(try await store.key(id: bob.id, presenting: APIKeys.digest(bobText))?.key == bob)
            #expect(try await APIKeys.authenticate(aliceText, in: store) == alice)
            #expect(try await Self.rows(app, "SELECT id FROM \(s).api_keys", tenant: "alice") == [alice.id])
            #expect(try await Self.rows(app, "SELECT id FROM \(s).api_keys", tenant: "").isEmpty)
            // Presenting Alice's hash shows Alice's row and no other; another hash shows nothing.
            #expect(try await store.key(id: alice.id, presenting: APIKeys.digest(aliceText))?.key == alice)
            #expect(try await store.key(id: bob.id, presenting: APIKeys.digest(aliceText)) == nil)
            #expect(try await store.key(id: alice.id, presenting: APIKeys.digest(aliceText + "x")) == nil)
            for statement in ["INSERT INTO \(s).api_keys (id, tenant_id, name, scopes, secret_sha256, created_at) VALUES ('key_00000000000000ff', 'bob', 'x', 'admin', decode(repeat('00', 32), 'hex'), now()) RETURNING id",
                              "UPDATE \(s).api_keys SET revoked_at = now() WHERE id = '\(bob.id)' RETURNING id",
                              "DELETE FROM \(s).api_keys WHERE id = '\(bob.id)' RETURNING id"] {
                let changed = try? await Self.rows(app, statement, tenant: "alice")
                #expect(changed == nil || changed == [], "\(statement): \(changed ?? [])")
            }
            #expect(try await store.keys(tenant: "bob").map(\.revokedAt) == [nil])
        }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_APP_URL"] != nil))
    func theApplicationRoleSeesOneTenantAndCannotRewriteTheAudit() async throws {
        try await PostgresTestEnvironment.withApplicationRole { s, _, app in
            do {
                let store = try PostgresRunStore(client: app, schema: s)
                for tenant in ["alice", "bob"] {
                    let run = try await store.startRun(RunDraft(tenant: tenant, id: "run_same", agent: "a"), actor: "test")
                    let lease = try await store.acquireLease(runID: run.id, tenant: tenant, owner: "w", duration: .seconds(60))
                    let first = try await store.putCheckpoint(CheckpointDraft(tenant: tenant, runID: run.id, parentID: nil, step: 0, state: ["secret": .string("\(tenant)'s state")]), lease: lease)
                    // The next step takes the one-statement path (run_advance), as the application role.
                    let next = try await store.putCheckpoint(CheckpointDraft(tenant: tenant, runID: run.id, parentID: first.id, step: 1, state: ["secret": .string("\(tenant)'s state"), "n": .int(1)]), lease: lease)
                    #expect(try await store.checkpoint(runID: run.id, tenant: tenant, namespace: "", id: nil)?.info.id == next.id)
                }
                #expect(try await store.checkpoint(runID: "run_same", tenant: "alice", namespace: "", id: nil)?.state["secret"] == .string("alice's state"))
                _ = try await store.deleteRun(id: "run_same", tenant: "bob", actor: "ops", reason: "test")
                for table in ["runs", "run_checkpoints", "run_values", "run_channels", "run_events", "run_audit"] {
                    let seen = try await Self.rows(app, "SELECT tenant_id FROM \(s).\(table)", tenant: "alice")
                    #expect(Set(seen).isSubset(of: ["alice"]), "\(table) as alice: \(seen)")
                }
                #expect(try await Self.rows(app, "SELECT value FROM \(s).run_values", tenant: "alice").sorted() == ["\"alice's state\"", "1"])
                // Writing another tenant's rows is refused by the policy, crafted SQL included.
                await #expect(throws: (any Error).self) {
                    _ = try await Self.rows(app, "INSERT INTO \(s).run_values (tenant_id, sha256, value) VALUES ('bob', 'x', '1') RETURNING value", tenant: "alice")
                }
                for statement in ["UPDATE \(s).run_audit SET actor = 'forged'", "DELETE FROM \(s).run_audit", "TRUNCATE \(s).run_audit"] {
                    await #expect(throws: (any Error).self, "\(statement)") { _ = try await Self.rows(app, statement + " RETURNING actor", tenant: "bob") }
                }
                #expect(try await store.audit(tenant: "bob").map(\.actor) == ["ops"])
            }
        }
    }

    @Test func anUnchangedChannelWritesNoNewValueBytes() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let store = try PostgresRunStore(client: client, schema: config.schema)
            let s = config.schema
            let run = try await store.startRun(RunDraft(tenant: "t", agent: "a"), actor: "test")
            let lease = try await store.acquireLease(runID: run.id, tenant: "t", owner: "w", duration: .seconds(60))
            let big = JSONValue.string(String(repeating: "context ", count: 4_000))
            var parent = try await store.putCheckpoint(CheckpointDraft(tenant: "t", runID: run.id, parentID: nil, step: 0, state: ["docs": big, "turn": .int(0)]), lease: lease).id
            func valueBytes() async throws -> [String] {
                try await Self.rows(client, "SELECT count(*)::text || ' ' || coalesce(sum(length(value)), 0)::text FROM \(s).run_values", tenant: "t")
            }
            let before = try await valueBytes()
            for step in 1...10 {
                parent = try await store.putCheckpoint(CheckpointDraft(tenant: "t", runID: run.id, parentID: parent, step: step, state: ["docs": big, "turn": .int(Int64(step))]), lease: lease).id
            }
            let after = try await valueBytes()
            let (n0, b0) = (Int(before[0].split(separator: " ")[0])!, Int(before[0].split(separator: " ")[1])!)
            let (n1, b1) = (Int(after[0].split(separator: " ")[0])!, Int(after[0].split(separator: " ")[1])!)
            #expect(n1 == n0 + 10)
            #expect(b1 - b0 == (1...10).map { String($0).utf8.count }.reduce(0, +), "the unchanged 32 kB channel added 0 bytes")
        }
    }

    /// A count summed over the fixture's tenants, each read with its tenant set (row-level security applies).
    static func count(_ client: PostgresClient, _ sql: String) async throws -> Int {
        var n = 0
        for t in 0..<RunSweepFixture.tenants { n += try await rows(client, "SELECT (\(sql))::text", tenant: "t\(t)").map { Int($0)! }.reduce(0, +) }
        return n
    }

    @Test func sweepingTwoThousandRunsLeavesNoRowBehind() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let clock = TestClock()
            let store = try PostgresRunStore(client: client, schema: config.schema, now: clock.function)
            let s = config.schema
            try await RunSweepFixture.load(store, runs: 2_000, workers: 1)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).run_checkpoints") == 2_000)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).run_values") == 10 + 2_000)
            try await RunSweepFixture.sweepAndCheck(store, runs: 2_000, clock: clock)
            let left = RunSweepFixture.unfinishedCount(2_000)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).run_checkpoints") == left)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).run_writes") == left)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).run_channels") == 2 * left)
            #expect(try await Self.count(client, "SELECT count(*)::int FROM \(s).run_values") == 10 + left)
            #expect(try await Self.count(client, """
                SELECT count(*)::int FROM \(s).run_values v WHERE NOT EXISTS (SELECT 1 FROM \(s).run_channels c WHERE c.tenant_id = v.tenant_id AND c.sha256 = v.sha256)
                """) == 0, "no orphan value")
        }
    }
}
