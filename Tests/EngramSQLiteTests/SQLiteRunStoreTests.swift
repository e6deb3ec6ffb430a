import EngramCore
import EngramSQLite
import EngramTesting
import Foundation
import GRDB
import Testing

@Suite("SQLite run store")
struct SQLiteRunStoreTests {
    @Test(arguments: RunStoreConformance.cases)
    func conformance(_ check: RunConformanceCase) async throws {
        let clock = TestClock()
        try await check.run(on: SQLiteRunStore(path: temporaryStorePath(), now: clock.function), clock: clock)
    }
}

@Suite("SQLite run store storage")
struct SQLiteRunStorageTests {
    /// Rows and bytes of the run tables, read straight from the file.
    static func tables(_ path: String) async throws -> [String: (rows: Int, bytes: Int)] {
        try await DatabaseQueue(path: path).read { db in
            var out: [String: (rows: Int, bytes: Int)] = [:]
            for (table, column) in [("run_values", "value"), ("run_channels", "sha256"), ("run_checkpoints", "channels"), ("run_writes", "value"), ("run_events", "kind")] {
                let row = try Row.fetchOne(db, sql: "SELECT count(*) AS n, coalesce(sum(length(\(column))), 0) AS b FROM \(table)")!
                out[table] = (row["n"], row["b"])
            }
            return out
        }
    }

    @Test func anUnchangedChannelWritesNoNewValueBytes() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteRunStore(path: path)
        let run = try await store.startRun(RunDraft(tenant: "t", agent: "a"), actor: "test")
        let lease = try await store.acquireLease(runID: run.id, tenant: "t", owner: "w", duration: .seconds(60))
        let big = JSONValue.string(String(repeating: "context ", count: 4_000))
        let first = try await store.putCheckpoint(CheckpointDraft(tenant: "t", runID: run.id, parentID: nil, step: 0, state: ["docs": big, "turn": .int(0)]), lease: lease)
        let before = try await Self.tables(path)
        #expect(before["run_values"]!.bytes > 32_000)
        // Ten steps that change only the small channel.
        var parent = first.id
        for step in 1...10 {
            parent = try await store.putCheckpoint(CheckpointDraft(tenant: "t", runID: run.id, parentID: parent, step: step, state: ["docs": big, "turn": .int(Int64(step))]), lease: lease).id
        }
        let after = try await Self.tables(path)
        #expect(after["run_values"]!.rows == before["run_values"]!.rows + 10, "one new value per step: the changed channel's")
        #expect(after["run_values"]!.bytes - before["run_values"]!.bytes == (1...10).map { String($0).utf8.count }.reduce(0, +), "the unchanged 32 kB channel added 0 bytes")
        #expect(after["run_channels"]!.rows == before["run_channels"]!.rows + 10)
        #expect(after["run_checkpoints"]!.rows == 11)
    }

    @Test func sweepingTenThousandRunsLeavesNoRowBehind() async throws {
        let path = temporaryStorePath()
        let clock = TestClock()
        let store = try SQLiteRunStore(path: path, now: clock.function)
        try await RunSweepFixture.load(store, runs: 10_000, workers: 1)
        let before = try await Self.tables(path)
        #expect(before["run_checkpoints"]!.rows == 10_000)
        #expect(before["run_values"]!.rows == 10 + 10_000, "the shared prompt once per tenant, one answer per run")
        try await RunSweepFixture.sweepAndCheck(store, runs: 10_000, clock: clock)
        let left = RunSweepFixture.unfinishedCount(10_000)
        let after = try await Self.tables(path)
        #expect(after["run_checkpoints"]!.rows == left && after["run_writes"]!.rows == left && after["run_channels"]!.rows == 2 * left)
        #expect(after["run_values"]!.rows == 10 + left)
        // No value without a channel version that refers to it.
        let orphans = try await DatabaseQueue(path: path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM run_values v WHERE NOT EXISTS (SELECT 1 FROM run_channels c WHERE c.tenant_id = v.tenant_id AND c.sha256 = v.sha256)")
        }
        #expect(orphans == 0)
    }
}

@Suite("SQLite API key store")
struct SQLiteAPIKeyStoreTests {
    @Test(arguments: APIKeyStoreConformance.cases)
    func conformance(_ check: APIKeyConformanceCase) async throws {
        try await check.run(on: SQLiteAPIKeyStore(database: SQLiteDatabase(path: temporaryStorePath(), access: .create)))
    }
}
