import EngramCore
import EngramSQLite
import EngramTesting
import Foundation
import GRDB
import Testing

@Suite("SQLite memory store")
struct SQLiteMemoryStoreTests {
    @Test(arguments: MemoryStoreConformance.cases)
    func conformance(_ check: MemoryConformanceCase) async throws {
        let clock = TestClock()
        try await check.run(on: SQLiteMemoryStore(path: temporaryStorePath(), now: clock.function), clock: clock)
    }

    /// Every byte of the database file and its write-ahead log, as text (lossy), for looking for content.
    static func fileText(_ path: String) -> String {
        var text = ""
        for suffix in ["", "-wal", "-journal"] {
            if let data = FileManager.default.contents(atPath: path + suffix) { text += String(decoding: data, as: UTF8.self) }
        }
        return text
    }

    @Test func forgottenContentLeavesNoTraceInTheFiles() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteMemoryStore(path: path)
        let secret = "zq-secret-marker-of-the-forget-test"
        var ids: [String] = []
        for i in 0..<200 {
            ids.append(try await store.remember(MemoryDraft(tenant: "t", subject: "u", content: "\(secret) number \(i) with some padding text"), actor: "a").memory.id)
        }
        _ = try await store.remember(MemoryDraft(tenant: "t", subject: "other", content: "an innocent memory"), actor: "a")
        #expect(Self.fileText(path).contains(secret), "the marker is in the files before")
        let receipt = try await store.forget(ForgetRequest(tenant: "t", selector: .subject("u"), actor: "ops", reason: "erasure"))
        #expect(receipt.deleted.count == 200)
        // The tables themselves, queried directly.
        let rows = try await DatabaseQueue(path: path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM memories WHERE content LIKE ?", arguments: ["%\(secret)%"])
        }
        #expect(rows == 0)
        // And the raw bytes: secure_delete overwrote the freed cells, and the log was truncated.
        #expect(!Self.fileText(path).contains(secret), "no byte of the forgotten content stays in the database or its log")
        #expect(Self.fileText(path).contains("an innocent memory"), "what was not forgotten is still there")
        // The audit trail holds hashes only.
        let events = try await store.events(tenant: "t", memoryID: nil)
        #expect(events.filter { $0.kind == .deleted }.count == 200)
        #expect(try await DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM memory_events WHERE reason LIKE ? OR actor LIKE ?", arguments: ["%\(secret)%", "%\(secret)%"]) } == 0)
    }

    @Test func aTenantsMemoriesAreStoredTogetherWhenTenantsWriteInTurn() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteMemoryStore(path: path)
        for i in 0..<60 {
            for tenant in ["a", "b", "c"] {
                _ = try await store.remember(MemoryDraft(tenant: tenant, subject: "u", content: "memory \(i) of \(tenant)"), actor: "x")
            }
        }
        let rows = try await DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT tenant_id, min(rowid) AS low, max(rowid) AS high, count(*) AS n FROM memories GROUP BY tenant_id ORDER BY low")
        }
        #expect(rows.map { $0["tenant_id"] as String } == ["a", "b", "c"])
        for r in rows {
            let low: Int64 = r["low"], high: Int64 = r["high"], n: Int64 = r["n"]
            #expect(high - low + 1 == n, "tenant \(r["tenant_id"] as String): \(n) memories in one run of rowids, \(low)...\(high)")
            #expect(low >> 32 > 0, "in the tenant's slot, not among the rowids of memories written before the slots")
        }
        let listed = try await store.list(MemoryListRequest(tenant: "b", limit: 100)).memories.map(\.content)
        #expect(Set(listed) == Set((0..<60).map { "memory \($0) of b" }))
    }

    @Test func theAuditTrailIsAppendOnly() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteMemoryStore(path: path)
        _ = try await store.remember(MemoryDraft(tenant: "t", subject: "u", content: "something"), actor: "a")
        let queue = try DatabaseQueue(path: path)
        #expect(throws: (any Error).self) { try queue.write { db in try db.execute(sql: "UPDATE memory_events SET actor = 'someone else'") } }
        #expect(throws: (any Error).self) { try queue.write { db in try db.execute(sql: "DELETE FROM memory_events") } }
        #expect(try await store.events(tenant: "t", memoryID: nil).map(\.actor) == ["a"])
    }

    @Test func aForgetThatFailsHalfwayDeletesNothingAndARerunFinishes() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteMemoryStore(path: path)
        for i in 0..<1_000 { _ = try await store.remember(MemoryDraft(tenant: "t", subject: "u", content: "memory \(i)"), actor: "a") }
        // A failure in the middle of the deletion: after 500 rows are gone, the next delete aborts.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: """
                CREATE TRIGGER crash_halfway BEFORE DELETE ON memories
                WHEN (SELECT count(*) FROM memory_events WHERE event = 'deleted') >= 500
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END
                """)
        }
        await #expect(throws: EngramError.self) {
            try await store.forget(ForgetRequest(tenant: "t", selector: .subject("u"), actor: "ops", reason: "erasure"))
        }
        #expect(try await store.export(tenant: "t", subject: "u").count == 1_000, "nothing half-deleted")
        #expect(try await store.events(tenant: "t", memoryID: nil).filter { $0.kind == .deleted }.isEmpty, "no event for a deletion that did not happen")
        try await queue.write { db in try db.execute(sql: "DROP TRIGGER crash_halfway") }
        let rerun = try await store.forget(ForgetRequest(tenant: "t", selector: .subject("u"), actor: "ops", reason: "erasure"))
        #expect(rerun.deleted.count == 1_000)
        #expect(try await store.export(tenant: "t", subject: "u").isEmpty)
    }

    @Test func aSweepThatFailsHalfwayDeletesNothingAndARerunFinishes() async throws {
        let path = temporaryStorePath()
        let clock = TestClock()
        let store = try SQLiteMemoryStore(path: path, now: clock.function)
        for i in 0..<600 { _ = try await store.remember(MemoryDraft(tenant: "t", subject: "u", content: "short-lived \(i)", retention: "session"), actor: "a") }
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: """
                CREATE TRIGGER crash_halfway BEFORE DELETE ON memories
                WHEN (SELECT count(*) FROM memory_events WHERE event = 'expired') >= 300
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END
                """)
        }
        clock.advance(by: 2 * 86_400)
        await #expect(throws: EngramError.self) { try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper") }
        #expect(try await store.export(tenant: "t", subject: nil).count == 600, "nothing half-swept")
        try await queue.write { db in try db.execute(sql: "DROP TRIGGER crash_halfway") }
        let rerun = try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper")
        #expect(rerun.deleted.count == 600)
        #expect(try await store.events(tenant: "t", memoryID: nil).filter { $0.kind == .expired }.count == 600)
    }

    @Test func memoriesLiveBesideDocumentsInOneFile() async throws {
        let path = temporaryStorePath()
        let documents = try SQLiteVectorStore(path: path)
        let fx = Fixtures()
        try await fx.load(documents, [("mem://a", "apples", [:])])
        let memories = try SQLiteMemoryStore(path: path)
        _ = try await memories.remember(MemoryDraft(tenant: "t", subject: "u", content: "likes apples"), actor: "a")
        #expect(try await documents.stats(fx.ref).documents == 1)
        let reopened = try SQLiteMemoryStore(path: path)
        #expect(try await reopened.export(tenant: "t", subject: nil).map(\.content) == ["likes apples"])
    }
}
