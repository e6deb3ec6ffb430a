import EngramCore
import Foundation
import Testing

/// `engram backup` and `engram restore` across backends.
// In the serialized CLI suite: a CLI test blocks a thread while the process runs, and two at once could
// hold every thread of the test process's pool while their processes wait on a lock one of its tasks holds.
extension CLITests {
    static func hitIDs(_ r: CLI.Result) throws -> [String] {
        try #require(try r.json()["hits"]?.array).compactMap { $0["chunk_id"]?.string }
    }

    /// Ingest into SQLite, search and keep the manifest, back up, restore into PostgreSQL: the same search
    /// gives the same chunks, and the manifest verifies against the restored store. Then back again from
    /// PostgreSQL into a new SQLite store.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"] != nil))
    func aRoundTripThroughTheOtherBackendKeepsAnswersAndEvidence() async throws {
        let sqlite = try CLI()
        for i in 0..<8 {
            // A word repeated a different number of times per document: no two chunks tie on a score (a
            // tie would be broken by the last bits of each backend's arithmetic).
            let pad = String(repeating: " stone", count: i)
            try sqlite.write("docs/d\(i).md", "# Doc \(i)\n\nRivers and lakes of region \(i)\(pad).\n\nMountains \(i) and their forests\(pad).\n\nA town \(i) by the sea\(pad).\n")
        }
        try sqlite.write("docs/n.jsonl", #"{"id": "n1", "text": "Retention keeps memories for a year.", "lang": "en", "year": 2024}"# + "\n")
        #expect(try await sqlite.run(["init", "--embedder", "hash:64"]).status == 0)
        #expect(try await sqlite.run(["ingest", sqlite.path("docs"), "--max-tokens", "16", "--overlap", "0"]).status == 0)
        // Vector searches rank alike on every backend; keyword ranking is each backend's own (FTS5's bm25,
        // PostgreSQL's ts_rank_cd), so keyword and hybrid answers are compared SQLite to SQLite.
        let vectorQueries: [[String]] = [["search", "rivers of region 5", "--mode", "vector", "-k", "4", "--json"],
                                         ["search", "a town by the sea", "--mode", "vector", "--filter", #"extension == "md""#, "-k", "4", "--json"]]
        let queries = vectorQueries + [["search", "mountains forests", "--mode", "keyword", "-k", "4", "--json"],
                                       ["search", "a town by the sea", "--mode", "hybrid", "--filter", #"extension == "md""#, "-k", "4", "--json"]]
        var before: [[String]] = []
        for query in queries { before.append(try Self.hitIDs(await sqlite.run(query))) }
        #expect(before.allSatisfy { $0.count == 4 })
        #expect(try await sqlite.run(queries[0] + ["--manifest", sqlite.path("evidence.json")]).status == 0)

        for (subject, text) in [("alice", "prefers tea in the morning"), ("alice", "works on the river project"), ("bob", "is allergic to nuts")] {
            #expect(try await sqlite.run(["memory", "remember", text, "--subject", subject]).status == 0)
        }
        let forgotten = try await sqlite.run(["memory", "forget", "--subject", "bob", "--reason", "asked", "--json"])
        #expect(forgotten.status == 0, "\(forgotten.stderr)")
        let memoriesBefore = try await sqlite.run(["memory", "export", "--json"]).stdout
        #expect(memoriesBefore.contains("river project") && !memoriesBefore.contains("allergic"))

        let archive = sqlite.path("backup.zip")
        let backup = try await sqlite.run(["backup", "--out", archive, "--all-tenants", "--json"])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(try backup.json()["files"]?.array?.count == 5)
        let check = try await sqlite.run(["restore", archive, "--verify-only", "--json"], useStore: false)
        #expect(try check.json()["verified"] == .bool(true), "\(check.stderr)")

        let postgres = try CLI(backend: "postgres")
        let restore = try await postgres.run(["restore", archive, "--json"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try restore.json()["embedded"]?.int == 0)
        #expect(try restore.json()["memories"]?.int == 2 && restore.json()["memory_events"]?.int == 4, "3 created, 1 deleted")
        #expect(try await postgres.run(["memory", "export", "--json"]).stdout == memoriesBefore, "the same memories on PostgreSQL")
        var after: [[String]] = []
        for query in vectorQueries { after.append(try Self.hitIDs(await postgres.run(query))) }
        #expect(after == Array(before.prefix(2)), "the same chunks answer on PostgreSQL")
        #expect(try Self.hitIDs(await postgres.run(queries[2])).count == 4)
        let verify = try await postgres.run(["verify", sqlite.path("evidence.json"), "--json"])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        #expect(try verify.json()["all_verified"] == .bool(true))
        #expect(try await postgres.run(["restore", archive]).status == 65, "a second restore into the same store is refused")
        #expect(try await postgres.run(["restore", archive, "--mode", "merge", "--json"]).json()["documents"]?.int == 9, "merging is allowed")

        // And back, from PostgreSQL (one tenant) into a new SQLite store, without vectors: embedded again.
        let archive2 = sqlite.path("from-postgres.zip")
        let backup2 = try await postgres.run(["backup", "--out", archive2, "--no-vectors", "--json"])
        #expect(backup2.status == 0, "\(backup2.stderr)")
        let again = try CLI()
        let restore2 = try await again.run(["restore", archive2, "--json"])
        #expect(restore2.status == 0, "\(restore2.stderr)")
        #expect(try restore2.json()["embedded"]?.int ?? 0 > 0)
        var answers: [[String]] = []
        for query in queries { answers.append(try Self.hitIDs(await again.run(query))) }
        #expect(answers == before, "the same chunks answer on SQLite again")
        #expect(try await again.run(["verify", sqlite.path("evidence.json")]).status == 0)
        let allTenants = try await postgres.run(["backup", "--out", archive2, "--all-tenants", "--force"])
        #expect(allTenants.status == 65 && allTenants.stderr.contains("tenant"), "PostgreSQL backs up named tenants: \(allTenants.stderr)")
        try await postgres.cleanUp()
    }

    @Test func badArchivesAreRefusedByName() async throws {
        let cli = try CLI()
        try cli.write("docs/a.md", "# A\n\nSome text about rivers.\n\nMore text about lakes.\n")
        #expect(try await cli.run(["init", "--embedder", "hash:64"]).status == 0)
        #expect(try await cli.run(["ingest", cli.path("docs")]).status == 0)
        let archive = cli.path("b.zip")
        #expect(try await cli.run(["backup", "--out", archive]).status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: cli.path("cut.zip")))
        let target = try CLI()
        let cut = try await target.run(["restore", cli.path("cut.zip")])
        #expect(cut.status == 65 && cut.stderr.contains("truncated"), "\(cut.stderr)")
        let collections = try await target.run(["collections", "--json"])
        #expect(collections.status == 66 || collections.stdout.contains("[]"), "nothing restored: \(collections.stdout)")
        let missing = try await target.run(["restore", cli.path("nope.zip")])
        #expect(missing.status == 66, "\(missing.stderr)")
        #expect(try await target.run(["restore", archive, "--mode", "sideways"]).status == 64)
    }
}
