import EngramCore
import Foundation
import Testing

/// `engram reindex`, killed with SIGKILL at each of its steps (ENGRAM_FAULT_POINT) and run again.
// In the serialized CLI suite: a CLI test blocks a thread while the process runs, and two at once could
// hold every thread of the test process's pool while their processes wait on a lock one of its tasks holds.
extension CLITests {
    @Test(arguments: CLITests.backends)
    func aReindexKilledAtAnyStepIsFinishedByARerun(backend: String) async throws {
        let cli = try CLI(backend: backend)
        for i in 0..<6 {
            try cli.write("docs/d\(i).md", "# Doc \(i)\n\nFirst paragraph of document \(i) about rivers.\n\nSecond paragraph \(i) about mountains.\n\nThird paragraph \(i) about forests.\n")
        }
        #expect(try await cli.run(["init", "--embedder", "hash:64"]).status == 0)
        #expect(try await cli.run(["ingest", cli.path("docs"), "--max-tokens", "8", "--overlap", "0"]).status == 0)
        let chunks = try #require(try await cli.run(["stats", "--json"]).json()["chunks"]?.int)
        #expect(chunks >= 18)
        let query = ["search", "rivers of document 3", "--mode", "vector", "-k", "5", "--json"]
        let before = try await cli.run(query).json()["hits"]?.array?.compactMap { $0["chunk_id"]?.string }
        #expect(before?.count == 5)
        func status() async throws -> JSONValue { try await cli.run(["reindex", "--status", "--json"]).json() }
        func reindex(_ spec: String, killAt point: String? = nil) async throws -> CLI.Result {
            try await cli.run(["reindex", "--embedder", spec, "--batch-size", "4", "--json"], environment: ["ENGRAM_FAULT_POINT": point])
        }

        // Killed after its second batch: the old generation serves, the new one holds two batches.
        let first = try await reindex("hash:32", killAt: "reindex.batch-written:2")
        #expect(first.signaled && first.status == SIGKILL, "\(first.stderr)")
        #expect(try await status()["pending"]?["copied"]?.int == 8)
        #expect(try await status()["embedding"]?["dimension"]?.int == 64)
        #expect(try await cli.run(query).json()["hits"]?.array?.compactMap { $0["chunk_id"]?.string } == before, "searches still answer from the old generation")
        let unfinished = try await cli.run(["doctor", "--json"])
        #expect(unfinished.status == 2 && unfinished.stdout.contains("\"reindex\"") && unfinished.stdout.contains("--abandon"), "\(unfinished.stdout)")

        // Killed before the switch: every chunk copied, nothing switched.
        let second = try await reindex("hash:32", killAt: "reindex.before-switch")
        #expect(second.signaled, "\(second.stderr)")
        #expect(try await status()["pending"]?["copied"]?.int == chunks)
        #expect(try await status()["embedding"]?["dimension"]?.int == 64)

        // The rerun embeds nothing again and switches.
        let third = try await reindex("hash:32")
        #expect(third.status == 0, "\(third.stderr)")
        let report = try third.json()
        #expect(report["switched"] == .bool(true) && report["resumed"] == .bool(true))
        #expect(report["already_copied"]?.int == chunks && report["embedded"]?.int == 0)
        #expect(report["dropped_rows"]?.int == chunks, "the old generation's rows are dropped")
        let switched = try await status()
        #expect(switched["embedding"]?["dimension"]?.int == 32 && switched["pending"] == .null)
        let after = try await cli.run(query)
        #expect(after.status == 0, "searches embed the query with the new embedder: \(after.stderr)")
        #expect(try after.json()["hits"]?.array?.count == 5)

        // Killed right after the switch: the new generation serves; the rerun only drops the old rows.
        let fourth = try await reindex("hash:48", killAt: "reindex.switched")
        #expect(fourth.signaled, "\(fourth.stderr)")
        let switchedAgain = try await status()
        #expect(switchedAgain["embedding"]?["dimension"]?.int == 48 && switchedAgain["pending"] == .null)
        #expect(try await cli.run(query).json()["hits"]?.array?.count == 5)
        let leftover = try await cli.run(["doctor", "--json"])
        #expect(leftover.status == 2 && leftover.stdout.contains("old_generation") && leftover.stdout.contains("\(chunks) chunk rows"), "\(leftover.stdout)")
        let fifth = try await reindex("hash:48")
        #expect(fifth.status == 0, "\(fifth.stderr)")
        #expect(try fifth.json()["switched"] == .bool(false) && fifth.json()["dropped_rows"]?.int == chunks && fifth.json()["embedded"]?.int == 0)
        #expect(try await cli.run(["stats", "--json"]).json()["chunks"]?.int == chunks)
        let doctor = try await cli.run(["doctor", "--json"])
        #expect(doctor.status == 0, "\(doctor.stdout)")

        // Abandoning: the next reindex starts from nothing.
        #expect(try await reindex("hash:16", killAt: "reindex.batch-written:1").signaled)
        #expect(try await cli.run(["reindex", "--abandon", "--json"]).json()["abandoned"] == .bool(true))
        let abandoned = try await status()
        #expect(abandoned["pending"] == .null && abandoned["embedding"]?["dimension"]?.int == 48)
        try await cli.cleanUp()
    }

    @Test func badReindexRequestsAreRefused() async throws {
        let cli = try CLI()
        try cli.write("docs/a.md", "# A\n\nSome text.\n")
        #expect(try await cli.run(["init", "--embedder", "hash:64"]).status == 0)
        #expect(try await cli.run(["ingest", cli.path("docs")]).status == 0)
        let notInstalled = try await cli.run(["reindex", "--embedder", "minilm:\(cli.path("no-model"))"])
        #expect(notInstalled.status == 78, "\(notInstalled.stderr)")
        let missing = try await cli.run(["reindex", "--collection", "nope", "--embedder", "hash:32"])
        #expect(missing.status == 66 && missing.stderr.contains("does not exist"), "\(missing.stderr)")
        #expect(try await cli.run(["reindex"]).status == 64, "an embedder, --abandon or --status is needed")
        let same = try await cli.run(["reindex", "--embedder", "hash:64"])
        #expect(same.status == 0 && same.stdout.contains("already uses"), "\(same.stdout)")
        let external = try await cli.run(["reindex", "--embedder", "external:8"])
        #expect(external.status == 78 && external.stderr.contains("external"), "\(external.stderr)")
        #expect(try await cli.run(["stats", "--json"]).json()["collection"]?["embedding"]?["dimension"]?.int == 64, "nothing changed")
    }
}
