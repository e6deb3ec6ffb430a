import EngramCore
import Foundation
import Testing

/// Restores that fail, are killed, or read forged archives (issue 15, items 3 and 4).
extension CLITests {
    /// A SQLite store of tenant `alice` with two collections and memories, and its backup.
    static func aliceArchive() async throws -> (cli: CLI, archive: String) {
        let cli = try CLI()
        for i in 0..<6 { try cli.write("docs/d\(i).md", "# Doc \(i)\n\nRivers and lakes of region \(i).\n\nMountains \(i) and forests.\n") }
        for collection in ["one", "two"] {
            #expect(try await cli.run(["init", "--embedder", "hash:32", "--tenant", "alice", "--collection", collection]).status == 0)
            #expect(try await cli.run(["ingest", cli.path("docs"), "--tenant", "alice", "--collection", collection, "--max-tokens", "8", "--overlap", "0"]).status == 0)
        }
        for text in ["Alice prefers green tea", "Alice works on the river project"] {
            #expect(try await cli.run(["memory", "remember", text, "--subject", "alice", "--tenant", "alice", "--embedder", "hash:32"]).status == 0)
        }
        let archive = cli.path("alice.zip")
        let backup = try await cli.run(["backup", "--out", archive, "--tenant", "alice"])
        #expect(backup.status == 0, "\(backup.stderr)")
        return (cli, archive)
    }

    /// Whether the target holds nothing of tenant `tenant`: no collection, no memory, no event.
    static func holdsNothing(_ target: CLI, tenant: String) async throws -> Bool {
        let collections = try await target.run(["collections", "--tenant", tenant, "--json"])
        let memories = try await target.run(["memory", "export", "--tenant", tenant])
        let events = try await target.run(["memory", "events", "--tenant", tenant, "--json"])
        let noCollections = collections.status == 66 || (try? collections.json().array?.isEmpty) == true
        let noMemories = memories.status == 66 || memories.stdout.isEmpty
        let noEvents = events.status == 66 || (try? events.json().array?.isEmpty) == true
        return noCollections && noMemories && noEvents
    }

    @Test(arguments: backends)
    func aRestoreThatFailsAtTheLastRowWritesNothing(backend: String) async throws {
        let (source, archive) = try await Self.aliceArchive()
        var forged = try ArchiveForgery(URL(fileURLWithPath: archive))
        let last = forged.parts["chunks.jsonl"]!.count - 1
        var n = 0
        forged.edit("chunks.jsonl") { row in
            defer { n += 1 }
            guard n == last else { return row }
            return row.setting("embedding", .string(BackupRow.base64(of: [Float](repeating: .nan, count: 32))))
        }
        let bad = source.path("bad-vector.zip")
        try forged.write(to: URL(fileURLWithPath: bad))

        let target = try CLI(backend: backend)
        let refused = try await target.run(["restore", bad, "--tenant", "alice"])
        #expect(refused.status == 65, "\(refused.stderr)")
        #expect(refused.stderr.contains("chunks.jsonl line \(last + 1)") && refused.stderr.lowercased().contains("nan"), "\(refused.stderr)")
        #expect(try await Self.holdsNothing(target, tenant: "alice"), "nothing of the archive was written")
        let good = try await target.run(["restore", archive, "--tenant", "alice", "--json"])
        #expect(good.status == 0, "a retry is not refused as 'not empty': \(good.stderr)")
        #expect(try good.json()["collections"]?.int == 2 && good.json()["memories"]?.int == 2 && good.json()["atomic"] == .bool(true))
        try await target.cleanUp()
    }

    @Test(arguments: backends)
    func aRestoreKilledMidwayLeavesNothingAndARerunFinishes(backend: String) async throws {
        let (_, archive) = try await Self.aliceArchive()
        let target = try CLI(backend: backend)
        for step in [1, 2, 4, 6] {
            let killed = try await target.run(["restore", archive, "--tenant", "alice"], environment: ["ENGRAM_FAULT_POINT": "restore.step:\(step)"])
            #expect(killed.signaled && killed.status == SIGKILL, "killed at step \(step): \(killed.status) \(killed.stderr)")
            #expect(try await Self.holdsNothing(target, tenant: "alice"), "killed at step \(step), nothing is there")
        }
        let rerun = try await target.run(["restore", archive, "--tenant", "alice", "--json"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let search = try await target.run(["search", "rivers region 3", "--tenant", "alice", "--collection", "two", "--mode", "keyword", "--json"])
        #expect(try search.json()["hits"]?.array?.isEmpty == false, "\(search.stderr)")
        try await target.cleanUp()
    }

    /// Rows of a tenant the manifest does not declare are refused; rows of a declared tenant that was not
    /// named are left alone; ids are matched within a tenant; held memories are never changed.
    @Test(arguments: backends)
    func forgedArchivesNeverCrossTenantsOrTouchHeldMemories(backend: String) async throws {
        let (source, archive) = try await Self.aliceArchive()
        let target = try CLI(backend: backend)
        // Bob's store: a document at the same source path, and a memory.
        for collection in ["one"] {
            #expect(try await target.run(["init", "--embedder", "hash:32", "--tenant", "bob", "--collection", collection]).status == 0)
        }
        try target.write("docs/d0.md", "placeholder")
        let bobDoc = source.path("docs/d0.md")
        #expect(try await target.run(["ingest", bobDoc, "--tenant", "bob", "--collection", "one"]).status == 0)
        let bobBefore = try await target.run(["show", bobDoc, "--tenant", "bob", "--collection", "one", "--json"]).stdout
        let bobMemory = try await target.run(["memory", "remember", "Bob is allergic to nuts", "--subject", "bob", "--tenant", "bob", "--embedder", "hash:32", "--json"])
        let bobID = try #require(try bobMemory.json()["memory"]?["id"]?.string)
        let bobExport = try await target.run(["memory", "export", "--tenant", "bob"]).stdout

        // 1. Alice's archive with every row moved to bob (ids recomputed as bob's), the manifest still
        // declaring alice only.
        var moved = try ArchiveForgery(URL(fileURLWithPath: archive))
        for part in ["collections.jsonl", "documents.jsonl", "chunks.jsonl", "memories.jsonl", "memory_events.jsonl"] {
            moved.edit(part) { row in
                var r = row.setting("tenant", .string("bob"))
                if part == "documents.jsonl", let uri = row["source_uri"]?.string, let c = row["collection"]?.string {
                    r = r.setting("id", .string(DocumentRecord.makeID(ref: CollectionRef(tenant: "bob", name: c), sourceURI: uri)))
                }
                return r
            }
        }
        let movedURL = source.path("moved.zip")
        try moved.write(to: URL(fileURLWithPath: movedURL))
        for args in [["--tenant", "alice"], ["--all-tenants"], ["--tenant", "alice", "--mode", "merge"], ["--all-tenants", "--mode", "merge"]] {
            let r = try await target.run(["restore", movedURL] + args)
            #expect(r.status == 65 && r.stderr.contains("does not declare"), "\(args): \(r.stderr)")
        }
        #expect(try await target.run(["restore", movedURL, "--tenant", "bob", "--mode", "merge"]).status == 66, "the archive holds no tenant bob")

        // 2. An alice memory row carrying bob's memory id: refused, nothing written, bob's memory stays bob's.
        var stolen = try ArchiveForgery(URL(fileURLWithPath: archive))
        var first = true
        stolen.edit("memories.jsonl") { row in
            defer { first = false }
            return first ? row.setting("id", .string(bobID)) : row
        }
        let stolenURL = source.path("stolen-id.zip")
        try stolen.write(to: URL(fileURLWithPath: stolenURL))
        let r = try await target.run(["restore", stolenURL, "--tenant", "alice", "--mode", "merge"])
        #expect(r.status == 65 && r.stderr.contains("another tenant"), "\(r.stderr)")
        #expect(try await Self.holdsNothing(target, tenant: "alice"), "all or nothing")
        #expect(try await target.run(["memory", "export", "--tenant", "bob"]).stdout == bobExport, "bob's memory is untouched")
        #expect(try await target.run(["show", bobDoc, "--tenant", "bob", "--collection", "one", "--json"]).stdout == bobBefore)

        // 3. Alice restored; then a held memory meets a forged row with other content and no hold.
        #expect(try await target.run(["restore", archive, "--tenant", "alice"]).status == 0)
        let aliceMemories = try await target.run(["memory", "list", "--tenant", "alice", "--json"]).json()["memories"]?.array ?? []
        let held = try #require(aliceMemories.first?["id"]?.string)
        #expect(try await target.run(["memory", "hold", held, "--tenant", "alice", "--reason", "case 12"]).status == 0)
        let heldBefore = try await target.run(["memory", "get", held, "--tenant", "alice", "--json"]).json()
        var changed = try ArchiveForgery(URL(fileURLWithPath: archive))
        changed.edit("memories.jsonl") { row in
            guard row["id"]?.string == held else { return row }
            let content = "Alice now prefers coffee"
            return row.setting("content", .string(content)).setting("content_sha256", .string(SHA256Hex.hash(content))).setting("legal_hold", .bool(false))
        }
        changed.edit("memory_events.jsonl") { row in row.setting("reason", .string("forged: deleted by the administrator")) }
        let changedURL = source.path("changed.zip")
        try changed.write(to: URL(fileURLWithPath: changedURL))
        let merge = try await target.run(["restore", changedURL, "--tenant", "alice", "--mode", "merge", "--json"])
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect(try merge.json()["kept_held"] == .array([.string(held)]), "\(merge.stdout)")
        let heldAfter = try await target.run(["memory", "get", held, "--tenant", "alice", "--json"]).json()
        #expect(heldAfter["content"] == heldBefore["content"] && heldAfter["legal_hold"] == .bool(true))
        let events = try await target.run(["memory", "events", "--tenant", "alice", "--json"]).json().array ?? []
        let forgedEvents = events.filter { $0["reason"]?.string?.hasPrefix("forged") == true }
        #expect(!forgedEvents.isEmpty && forgedEvents.allSatisfy { $0["origin"]?.string?.hasPrefix("backup ") == true }, "imported events say where they came from")
        #expect(!events.contains { $0["memory_id"]?.string == held && $0["event"]?.string == "restored" && $0["sequence"]?.int ?? 0 > 4 }, "the held memory got no second restore")
        #expect(events.map { $0["sequence"]?.int ?? 0 } == (1...Int64(events.count)).map { $0 }, "numbered within the tenant")
        try await target.cleanUp()
    }

    @Test func forgedArchiveStructuresAreRefused() async throws {
        let (source, archive) = try await Self.aliceArchive()
        let target = try CLI()
        func refused(_ name: String, _ expected: String, extra: [(String, Data)] = [], _ change: (inout ArchiveForgery) -> Void) async throws {
            var f = try ArchiveForgery(URL(fileURLWithPath: archive))
            change(&f)
            let url = source.path(name)
            try f.write(to: URL(fileURLWithPath: url), extra: extra)
            let r = try await target.run(["restore", url, "--tenant", "alice"])
            #expect(r.status == 65 && r.stderr.contains(expected), "\(name): \(r.stderr)")
            #expect(try await Self.holdsNothing(target, tenant: "alice"), "\(name)")
        }
        try await refused("dup.zip", "appears twice", extra: [("chunks.jsonl", Data())]) { _ in }
        try await refused("extra.zip", "unexpected member", extra: [("../../etc/passwd", Data("x".utf8))]) { _ in }
        try await refused("doc-id.zip", "does not belong") { f in
            f.edit("documents.jsonl") { $0.setting("source_uri", .string("file:///elsewhere.md")) }
        }
        try await refused("chunk-text.zip", "differs from the document") { f in
            f.edit("chunks.jsonl") { $0.setting("text", .string("something else")) }
        }
        try await refused("memory-hash.zip", "content_sha256") { f in
            f.edit("memories.jsonl") { $0.setting("content", .string("changed content")) }
        }
        try await refused("counts.zip", "its manifest says") { f in
            var dropped = false
            f.edit("documents.jsonl") { row in
                guard !dropped else { return row }
                dropped = true
                return nil
            }
            var firstDoc: String?
            f.edit("chunks.jsonl") { row in
                if firstDoc == nil { firstDoc = row["document_id"]?.string }
                return row["document_id"]?.string == firstDoc ? nil : row
            }
        }
        try await refused("bad-id.zip", "is not a memory id") { f in
            f.edit("memories.jsonl") { $0.setting("id", .string("mem_../../x")) }
        }
    }
}
