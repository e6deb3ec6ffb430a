import EngramCore
import Foundation
import Testing

/// The command line used as a careless or hostile user would (issue 15): outputs that name folders,
/// devices or the store itself, prunes with patterns, filters built to crash, configuration that
/// overflows, special files as inputs, vectors at the float32 limit.
extension CLITests {
    /// A store with one small collection, for the tests that only need something to protect.
    static func smallStore() async throws -> CLI {
        let cli = try CLI()
        try cli.write("docs/a.md", "# Alpha\n\nRivers and lakes.\n")
        try cli.write("docs/b.txt", "Mountains and forests.\n")
        #expect(try await cli.run(["init", "--embedder", "hash:32"]).status == 0)
        #expect(try await cli.run(["ingest", cli.path("docs")]).status == 0)
        #expect(try await cli.run(["memory", "remember", "Alice prefers green tea", "--subject", "alice", "--embedder", "hash:32"]).status == 0)
        return cli
    }

    /// Names in `folder` other than `expected` (temporary files left behind).
    static func strayFiles(in folder: String, expected: Set<String>) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { !expected.contains($0) }
    }

    // MARK: 1. Outputs never destroy what the command did not create

    @Test func backupRefusesAFolderAndLeavesItWhole() async throws {
        let cli = try await Self.smallStore()
        try cli.write("keep/precious.txt", "do not delete me")
        for out in [cli.path("keep"), "keep", ".", cli.path("keep") + "/"] {
            let r = try await cli.run(["backup", "--out", out])
            #expect(r.status == 65, "\(out): \(r.stderr)")
            #expect(r.stderr.contains("folder"), "\(r.stderr)")
        }
        #expect(FileManager.default.contents(atPath: cli.path("keep/precious.txt")) == Data("do not delete me".utf8))
        #expect(FileManager.default.fileExists(atPath: cli.path("docs/a.md")), "--out . deleted nothing")
        #expect(try Self.strayFiles(in: cli.path("keep"), expected: ["precious.txt"]).isEmpty)
    }

    @Test func outputsRefuseEveryFileOfTheOpenStore() async throws {
        let cli = try await Self.smallStore()
        let before = try await cli.dump()
        // The WAL and shared-memory files exist only while a connection is open; keep one open.
        let linked = cli.path("hard-link.sqlite"), symbolic = cli.path("soft-link.sqlite")
        try FileManager.default.linkItem(atPath: cli.store, toPath: linked)
        try FileManager.default.createSymbolicLink(atPath: symbolic, withDestinationPath: cli.store)
        let storeNames = [cli.store, cli.store + "-wal", cli.store + "-shm", cli.store + "-journal", linked, symbolic,
                          cli.path("store/../store/engram.sqlite")]
        for target in storeNames {
            let backup = try await cli.run(["backup", "--out", target, "--force"])
            #expect(backup.status == 65 && backup.stderr.contains("store"), "backup --out \(target): \(backup.stderr)")
            let export = try await cli.run(["memory", "export", "--out", target, "--force"])
            #expect(export.status == 65 && export.stderr.contains("store"), "memory export --out \(target): \(export.stderr)")
            let search = try await cli.run(["search", "rivers", "--manifest", target, "--force"])
            #expect(search.status == 65 && search.stderr.contains("store"), "search --manifest \(target): \(search.stderr)")
        }
        #expect(try await cli.dump() == before, "the store is unchanged")
        #expect(!FileManager.default.fileExists(atPath: cli.store + "-journal"))
        #expect(try await cli.run(["search", "rivers", "--json"]).status == 0, "and still opens")
    }

    @Test func outputsRefuseSpecialFilesAndNeedForceToReplace() async throws {
        let cli = try await Self.smallStore()
        let fifo = cli.path("pipe")
        #expect(mkfifo(fifo, 0o600) == 0)
        let r = try await cli.run(["backup", "--out", fifo], timeout: 60)
        #expect(r.status == 65 && r.stderr.contains("FIFO"), "\(r.stderr)")
        var s = stat()
        #expect(lstat(fifo, &s) == 0 && (s.st_mode & S_IFMT) == S_IFIFO, "the FIFO is still there")
        let device = try await cli.run(["memory", "export", "--out", "/dev/null"])
        #expect(device.status == 65 && device.stderr.contains("device"), "\(device.stderr)")

        let archive = cli.path("backup.zip")
        try cli.write("backup.zip", "an older archive")
        let refused = try await cli.run(["backup", "--out", archive])
        #expect(refused.status == 65 && refused.stderr.contains("--force"), "\(refused.stderr)")
        #expect(FileManager.default.contents(atPath: archive) == Data("an older archive".utf8))
        let manifest = cli.path("m.json")
        try cli.write("m.json", "keep")
        #expect(try await cli.run(["search", "rivers", "--manifest", manifest]).status == 65)
        #expect(FileManager.default.contents(atPath: manifest) == Data("keep".utf8))

        let forced = try await cli.run(["backup", "--out", archive, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try await cli.run(["restore", archive, "--verify-only"], useStore: false).status == 0)
        var mode = stat()
        #expect(stat(archive, &mode) == 0 && mode.st_mode & 0o777 == 0o600, "an archive of a tenant's data is private")
        #expect(try await cli.run(["search", "rivers", "--manifest", manifest, "--force"]).status == 0)
        #expect(try Self.strayFiles(in: cli.directory.path, expected: ["store", "docs", "pipe", "backup.zip", "m.json"]).isEmpty, "no temporary file left")
        let missingFolder = try await cli.run(["backup", "--out", cli.path("no/such/folder/b.zip")])
        #expect(missingFolder.status == 65 && missingFolder.stderr.contains("does not exist"), "\(missingFolder.stderr)")
    }

    // MARK: 2. Prune removes only documents whose source is gone

    @Test func pruneKeepsDocumentsLeftOutByPatterns() async throws {
        let cli = try CLI()
        try cli.write("docs/a.md", "# A\n\nalpha text\n")
        try cli.write("docs/b.txt", "beta text\n")
        try cli.write("docs/sub/c.md", "# C\n\ngamma text\n")
        #expect(try await cli.run(["init", "--embedder", "hash:32"]).status == 0)
        #expect(try await cli.run(["ingest", cli.path("docs"), "--json"]).json()["added"]?.int == 3)

        let onlyMarkdown = try await cli.run(["ingest", cli.path("docs"), "--prune", "--include", "*.md", "--json"])
        #expect(onlyMarkdown.status == 0, "\(onlyMarkdown.stderr)")
        #expect(try onlyMarkdown.json()["deleted"]?.int == 0, "b.txt still exists")
        let excluding = try await cli.run(["ingest", cli.path("docs"), "--prune", "--exclude", "sub", "--json"])
        #expect(try excluding.json()["deleted"]?.int == 0, "sub/c.md still exists")
        #expect(try await cli.run(["stats", "--json"]).json()["documents"]?.int == 3)

        try FileManager.default.removeItem(atPath: cli.path("docs/b.txt"))
        let gone = try await cli.run(["ingest", cli.path("docs"), "--prune", "--include", "*.md", "--json"])
        #expect(try gone.json()["deleted"]?.int == 1, "the file that is gone is pruned, whatever the patterns")
        #expect(try await cli.run(["show", cli.path("docs/b.txt")]).status == 66)
        #expect(try await cli.run(["show", cli.path("docs/sub/c.md")]).status == 0)
    }

    // MARK: 5, 6. Filters built to crash

    @Test func deeplyNestedFiltersAreRefusedNotCrashed() async throws {
        let cli = try await Self.smallStore()
        let parentheses = String(repeating: "(", count: 60_000) + "a == 1" + String(repeating: ")", count: 60_000)
        let nots = String(repeating: "not ", count: 5_000) + "a == 1"
        let json = String(repeating: #"{"$not": "#, count: 5_000) + #"{"a": 1}"# + String(repeating: "}", count: 5_000)
        for filter in [parentheses, nots, json] {
            for command in [["search", "rivers"], ["memory", "recall", "tea"], ["memory", "list"], ["memory", "forget", "--reason", "r"]] {
                let r = try await cli.run(command + ["--filter", filter])
                #expect(!r.signaled && r.status == 65, "\(command[0]) \(command.count > 1 ? command[1] : ""): status \(r.status) \(r.stderr.prefix(200))")
                #expect(r.stderr.contains("deep") || r.stderr.contains("nest"), "\(r.stderr.prefix(200))")
            }
        }
        let moderate = String(repeating: "(", count: 20) + #"extension == "md""# + String(repeating: ")", count: 20)
        #expect(try await cli.run(["search", "rivers", "--filter", moderate]).status == 0, "reasonable nesting still works")
    }

    @Test func largeOrFiltersRunOrAreRefusedWithoutSQL() async throws {
        let cli = try await Self.smallStore()
        let terms = (0..<1_500).map { #"extension == "x\#($0)""# } + [#"extension == "md""#]
        let wide = terms.joined(separator: " or ")
        for mode in ["keyword", "hybrid", "vector"] {
            let r = try await cli.run(["search", "rivers lakes", "--mode", mode, "--filter", wide, "--json"])
            #expect(r.status == 0, "\(mode): \(r.stderr.prefix(300))")
            #expect(try r.json()["hits"]?.array?.count == 1, "\(mode)")
        }
        let list = try await cli.run(["search", "rivers", "--mode", "keyword", "--filter", "extension in [" + (0..<4_000).map { "\"v\($0)\"" }.joined(separator: ", ") + #", "md"]"#, "--json"])
        #expect(list.status == 0, "\(list.stderr.prefix(300))")
        #expect(try await cli.run(["memory", "list", "--filter", wide]).status == 0)
        let tooMany = (0..<5_000).map { "k == \($0)" }.joined(separator: " or ")
        let refused = try await cli.run(["search", "rivers", "--mode", "keyword", "--filter", tooMany])
        #expect(refused.status == 65, "\(refused.stderr.prefix(300))")
        #expect(refused.stderr.contains("filter") && !refused.stderr.contains("SELECT") && !refused.stderr.contains("json_"), "\(refused.stderr.prefix(300))")
    }

    // MARK: 7. Configuration that overflows

    @Test func retentionPoliciesThatOverflowAreConfigurationErrors() async throws {
        let cli = try CLI()
        for policies in ["default=99999999999999d", "default=1e300s", "default=400000d,session=1d"] {
            let r = try await cli.run(["memory", "remember", "x", "--subject", "s", "--embedder", "hash:8"], environment: ["ENGRAM_RETENTION_POLICIES": policies])
            #expect(!r.signaled && r.status == 78, "\(policies): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("default="), "the entry is named: \(r.stderr)")
        }
        let fine = try await cli.run(["memory", "remember", "x", "--subject", "s", "--embedder", "hash:8"], environment: ["ENGRAM_RETENTION_POLICIES": "default=36500d"])
        #expect(fine.status == 0, "\(fine.stderr)")
    }

    // MARK: 8. Special files as inputs

    @Test func inputsThatAreFoldersOrFIFOsAreRefusedAtOnce() async throws {
        let cli = try await Self.smallStore()
        try FileManager.default.createDirectory(atPath: cli.path("dir.zip"), withIntermediateDirectories: true)
        let fifo = cli.path("fifo.zip")
        #expect(mkfifo(fifo, 0o600) == 0)
        for archive in [cli.path("dir.zip"), fifo] {
            for extra in [["--verify-only"], []] {
                let r = try await cli.run(["restore", archive] + extra, timeout: 30)
                #expect(!r.timedOut && r.status == 65, "restore \(archive) \(extra): \(r.status) \(r.stderr)")
            }
        }
        let fifoManifest = cli.path("fifo.json")
        #expect(mkfifo(fifoManifest, 0o600) == 0)
        let verify = try await cli.run(["verify", fifoManifest], timeout: 30)
        #expect(!verify.timedOut && verify.status == 65, "\(verify.stderr)")
        let vector = try await cli.run(["search", "--vector-file", fifoManifest], timeout: 30)
        #expect(!vector.timedOut && vector.status == 65, "\(vector.stderr)")
        let ingest = try await cli.run(["ingest", fifo, "--json"], timeout: 30)
        #expect(!ingest.timedOut && ingest.status == 2, "\(ingest.stderr)")
        let zero = try await cli.run(["search", "--vector-file", "/dev/zero"], timeout: 30)
        #expect(!zero.timedOut && zero.status == 65, "\(zero.stderr)")
    }

    // MARK: 9. Vectors at the float32 limit

    @Test func vectorsWhoseNormOverflowsAreRefusedAndOutputIsAlwaysJSON() async throws {
        let cli = try CLI()
        #expect(try await cli.run(["init", "--embedder", "external:4"]).status == 0)
        let records = [
            #"{"id": "big", "text": "huge", "embedding": [1e38, 1e38, 1e38, 1e38]}"#,
            #"{"id": "zero", "text": "nothing", "embedding": [0, 0, 0, 0]}"#,
            #"{"id": "ok", "text": "fine", "embedding": [1, 0, 0, 0]}"#,
            #"{"id": "ok2", "text": "also fine", "embedding": [0, 1, 0, 0]}"#,
        ]
        try cli.write("v.jsonl", records.joined(separator: "\n") + "\n")
        let ingest = try await cli.run(["ingest", cli.path("v.jsonl"), "--json"])
        #expect(ingest.status == 2)
        let report = try ingest.json()
        #expect(report["added"]?.int == 2)
        let reasons = (report["failed"]?.array ?? []).compactMap { $0["reason"]?.string }
        #expect(reasons.count == 2 && reasons.contains { $0.contains("norm") } && reasons.contains { $0.contains("zero vector") }, "\(reasons)")
        for vector in ["[1e38, 1e38, 1e38, 1e38]", "[0, 0, 0, 0]", "[3.4e38, 0, 0, 0]"] {
            let r = try await cli.run(["search", "--vector", vector, "--json"])
            #expect(r.status == 65, "\(vector): \(r.stderr)")
        }
        let search = try await cli.run(["search", "--vector", "[1e17, 1e17, 0, 0]", "--json"])
        #expect(search.status == 0, "\(search.stderr)")
        let hits = try #require(try search.json()["hits"]?.array)
        #expect(hits.count == 2 && hits.allSatisfy { if case .double(let d)? = $0["score"] { d.isFinite } else { false } })
    }

    @Test func nonFiniteNumbersNeverReachJSONOutput() {
        #expect(JSONValue.array([.double(.nan), .double(.infinity), .double(-.infinity), .double(1.5)]).serialized() == "[null,null,null,1.5]")
    }
}

/// The folder walk (issue 15, items 10 and 11) and erasure with a second connection (item 12).
extension CLITests {
    /// Creates a file whose name is the given bytes (which need not be UTF-8) in `folder`.
    static func createFile(named bytes: [UInt8], in folder: String, contents: String) throws {
        let path = Array(folder.utf8) + [UInt8(ascii: "/")] + bytes + [0]
        let fd = path.withUnsafeBufferPointer { p in p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: path.count) { open($0, O_CREAT | O_WRONLY | O_TRUNC, 0o644) } }
        #expect(fd >= 0)
        _ = Array(contents.utf8).withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    @Test func theWalkNeverLoopsNorLeavesTheFoldersItWasGiven() async throws {
        let cli = try CLI()
        try cli.write("outside/secret.txt", "the secret password is hunter2\n")
        try cli.write("root/a/sub/doc.md", "# Doc\n\nRivers and lakes.\n")
        try cli.write("root/top.md", "# Top\n\nMountains.\n")
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: cli.path("root/a/sub/loop"), withDestinationPath: "..")
        try fm.createSymbolicLink(atPath: cli.path("root/self1"), withDestinationPath: ".")
        try fm.createSymbolicLink(atPath: cli.path("root/self2"), withDestinationPath: ".")
        try fm.createSymbolicLink(atPath: cli.path("root/leak.txt"), withDestinationPath: cli.path("outside/secret.txt"))
        try fm.createSymbolicLink(atPath: cli.path("root/broken.md"), withDestinationPath: cli.path("nowhere.md"))
        #expect(mkfifo(cli.path("root/pipe.md"), 0o600) == 0)
        #expect(try await cli.run(["init", "--embedder", "hash:32"]).status == 0)

        let ingest = try await cli.run(["ingest", cli.path("root"), "--json"], timeout: 60)
        #expect(!ingest.timedOut && ingest.status == 0, "\(ingest.stderr)")
        let report = try ingest.json()
        #expect(report["added"]?.int == 2 && report["files"]?.int == 2, "each file once: \(ingest.stdout)")
        let skipped = report["skipped"]?.array ?? []
        let reasons = Dictionary(grouping: skipped, by: { $0["reason"]?.string ?? "" }).mapValues(\.count)
        #expect(reasons["symbolic_link"] == 5 && reasons["special_file"] == 1, "\(reasons)")
        #expect(try await cli.run(["search", "secret password hunter2", "--mode", "keyword", "--json"]).json()["hits"]?.array?.isEmpty == true, "nothing outside the root")

        let human = try await cli.run(["ingest", cli.path("root")], timeout: 60)
        #expect(human.stdout.contains("skipped") && human.stdout.contains("leak.txt") && human.stdout.contains("--follow-links"), "\(human.stdout)")

        // Following links, loops still end and each file is read once.
        let followed = try await cli.run(["ingest", cli.path("root"), "--follow-links", "--json"], timeout: 60)
        #expect(!followed.timedOut && followed.status == 0, "\(followed.stderr)")
        let f = try followed.json()
        #expect(f["added"]?.int == 1, "the linked file outside, opted in: \(followed.stdout)")
        let fReasons = Dictionary(grouping: f["skipped"]?.array ?? [], by: { $0["reason"]?.string ?? "" }).mapValues(\.count)
        #expect(fReasons["already_visited"] ?? 0 >= 3 && fReasons["broken_link"] == 1, "\(fReasons)")
    }

    @Test func fileNamesThatAreNotUTF8OrHoldNewlinesAreReportedNotForged() async throws {
        let cli = try CLI()
        try cli.write("root/plain.md", "# Plain\n\nplain text\n")
        try Self.createFile(named: [0x62, 0x61, 0x64, 0xFF, 0x2E, 0x6D, 0x64], in: cli.path("root"), contents: "# Bad\n\nlatin1 name\n")
        try Self.createFile(named: Array("evil\nfailed:\n  forged.md".utf8), in: cli.path("root"), contents: "# Evil\n\nnewline name\n")
        #expect(try await cli.run(["init", "--embedder", "hash:32"]).status == 0)
        let json = try await cli.run(["ingest", cli.path("root"), "--json"])
        let report = try json.json()
        #expect(report["added"]?.int == 2, "\(json.stdout)")
        let invalid = (report["skipped"]?.array ?? []).filter { $0["reason"]?.string == "invalid_name" }
        #expect(invalid.count == 1 && invalid[0]["path"]?.string?.hasSuffix("bad\\xFF.md") == true, "\(invalid)")

        try cli.write("root/plain.md", "# Plain\n\nchanged text\n")
        let human = try await cli.run(["ingest", cli.path("root")])
        #expect(human.stdout.contains("bad\\xFF.md"), "\(human.stdout)")
        #expect(!human.stdout.split(separator: "\n").contains { $0.hasPrefix("failed:") || $0.hasPrefix("  forged") }, "a name cannot forge report lines: \(human.stdout)")
        let show = try await cli.run(["show", cli.path("root/evil\nfailed:\n  forged.md")])
        #expect(show.status == 0 && !show.stdout.split(separator: "\n").contains { $0.hasPrefix("  forged") }, "\(show.stdout)")
        let named = try await cli.run(["ingest", cli.path("root") + "/bad\u{FFFD}.md"])
        #expect(named.status == 2 && named.stdout.contains("UTF-8"), "\(named.stdout)")
    }

    /// A forget while another process holds a read transaction: the receipt says the erasure is pending,
    /// and the next command finishes it once that reader lets go.
    @Test func aForgetHeldBackByAReaderIsFinishedByTheNextCommand() async throws {
        let cli = try CLI()
        let secret = "the vault combination is 31-41-59"
        #expect(try await cli.run(["memory", "remember", secret, "--subject", "alice", "--no-embedding"]).status == 0)
        func onDisk() -> Bool {
            [cli.store, cli.store + "-wal"].contains { (FileManager.default.contents(atPath: $0) ?? Data()).range(of: Data(secret.utf8)) != nil }
        }
        #expect(onDisk())
        // The reader: a second connection (Python's sqlite3) in its own process, holding a read transaction.
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        reader.arguments = ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN")
            c.execute("SELECT count(*) FROM memories").fetchall()
            print("reading", flush=True)
            sys.stdin.readline()
            c.execute("COMMIT")
            print("done", flush=True)
            sys.stdin.readline()
            """, cli.store]
        let input = Pipe(), output = Pipe()
        reader.standardInput = input
        reader.standardOutput = output
        try reader.run()
        defer { if reader.isRunning { reader.terminate() } }
        var said = ""
        func waitFor(_ word: String) -> Bool {
            while !said.contains(word) {
                let more = output.fileHandleForReading.availableData
                if more.isEmpty { return false }
                said += String(decoding: more, as: UTF8.self)
            }
            return true
        }
        #expect(waitFor("reading"))

        let forget = try await cli.run(["memory", "forget", "--subject", "alice", "--reason", "erasure request", "--json"])
        #expect(forget.status == 0, "\(forget.stderr)")
        #expect(try forget.json()["erasure_pending"] == .bool(true), "the receipt is honest: \(forget.stdout)")
        #expect(try await cli.run(["memory", "export"]).stdout.isEmpty, "the rows are gone")
        #expect(onDisk(), "the old pages are still on disk while the reader holds its snapshot")

        input.fileHandleForWriting.write(Data("\n".utf8))
        #expect(waitFor("done"), "the reader ended its transaction, keeping its connection")
        #expect(try await cli.run(["memory", "list"]).status == 0)
        #expect(!onDisk(), "the next command finished the erasure")
        let again = try await cli.run(["memory", "remember", "something else", "--subject", "bob", "--no-embedding"])
        #expect(again.status == 0)
        let second = try await cli.run(["memory", "forget", "--subject", "bob", "--reason", "r", "--json"])
        #expect(try second.json()["erasure_pending"] == .bool(false), "nothing held it back this time")
        input.fileHandleForWriting.closeFile()
        reader.waitUntilExit()
    }
}

/// Smaller holes (issue 15, "weaker points").
extension CLITests {
    @Test func storedEscapeSequencesNeverReachTheTerminalRaw() async throws {
        let cli = try CLI()
        try cli.write("docs/red.md", "# Title \u{1B}[31mred\u{1B}[0m\n\nText with \u{1B}]0;owned\u{07} a title change and \u{1B}[2J a clear.\n")
        #expect(try await cli.run(["init", "--embedder", "hash:32"]).status == 0)
        #expect(try await cli.run(["ingest", cli.path("docs")]).status == 0)
        #expect(try await cli.run(["memory", "remember", "evil \u{1B}[2J memory\rforged line", "--subject", "s", "--no-embedding"]).status == 0)
        for args in [["search", "text title", "--mode", "keyword"], ["memory", "list"], ["memory", "recall", "evil memory", "--keyword-only"], ["show", cli.path("docs/red.md")]] {
            let r = try await cli.run(args)
            #expect(r.status == 0, "\(args): \(r.stderr)")
            #expect(!r.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0 == "\r" }, "\(args): \(r.stdout.debugDescription)")
            #expect(r.stdout.contains("\\u{1b}"), "\(args): escaped, not dropped")
        }
        let json = try await cli.run(["search", "text title", "--mode", "keyword", "--json"])
        #expect(try json.json()["hits"]?.array?.first?["text"]?.string?.contains("\u{1B}") == true, "JSON keeps the exact text (escaped as JSON)")
    }

    @Test func verifyUsesTheCallersTenantNotTheManifests() async throws {
        let cli = try CLI()
        try cli.write("docs/a.md", "# A\n\nRivers and lakes.\n")
        #expect(try await cli.run(["init", "--embedder", "hash:32", "--tenant", "alice"]).status == 0)
        #expect(try await cli.run(["ingest", cli.path("docs"), "--tenant", "alice"]).status == 0)
        #expect(try await cli.run(["search", "rivers", "--tenant", "alice", "--manifest", cli.path("m.json")]).status == 0)
        let asDefault = try await cli.run(["verify", cli.path("m.json")])
        #expect(asDefault.status == 65 && asDefault.stderr.contains("--tenant alice"), "\(asDefault.stderr)")
        let asBob = try await cli.run(["verify", cli.path("m.json"), "--tenant", "bob"])
        #expect(asBob.status == 65, "\(asBob.stderr)")
        #expect(try await cli.run(["verify", cli.path("m.json"), "--tenant", "alice"]).status == 0)
    }

    @Test func lookalikeTenantIdsAreRefused() async throws {
        let cli = try CLI()
        for tenant in ["\u{0430}lice", "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}", "al\u{0131}ce", "caf\u{E9}"] {
            let r = try await cli.run(["init", "--embedder", "hash:8", "--tenant", tenant])
            #expect(r.status == 65 && r.stderr.contains("ASCII"), "\(tenant.debugDescription): \(r.stderr)")
            let m = try await cli.run(["memory", "remember", "x", "--subject", "s", "--tenant", tenant, "--no-embedding"])
            #expect(m.status == 65 && m.stderr.contains("ASCII"), "\(tenant.debugDescription): \(m.stderr)")
        }
        #expect(try await cli.run(["init", "--embedder", "hash:8", "--tenant", "alice-2.prod:eu"]).status == 0)
        #expect(try await cli.run(["init", "--embedder", "hash:8", "--collection", "Bücher"]).status == 0, "collection names may use any script")
    }

    @Test func aStorePathThatIsAFolderOrAFIFOIsNamedAsSuch() async throws {
        let cli = try CLI()
        try FileManager.default.createDirectory(atPath: cli.path("folder.sqlite"), withIntermediateDirectories: true)
        #expect(mkfifo(cli.path("fifo.sqlite"), 0o600) == 0)
        for store in ["sqlite:" + cli.path("folder.sqlite"), "sqlite:" + cli.path("fifo.sqlite")] {
            for args in [["search", "x"], ["ingest", cli.path(".")], ["memory", "list"], ["memory", "remember", "x", "--subject", "s", "--no-embedding"]] {
                let r = try await cli.run(args + ["--store", store], useStore: false, timeout: 60)
                #expect(!r.timedOut && r.status == 78 && (r.stderr.contains("is a folder") || r.stderr.contains("FIFO")), "\(store) \(args[0]): \(r.stderr)")
            }
        }
    }

    @Test func memoryMetadataIsBounded() async throws {
        let cli = try CLI()
        let big = #"{"blob": ""# + String(repeating: "x", count: 70_000) + #""}"#
        let r = try await cli.run(["memory", "remember", "small content", "--subject", "s", "--metadata", big, "--no-embedding"])
        #expect(r.status == 65 && r.stderr.contains("metadata"), "\(r.stderr.prefix(200))")
        #expect(try await cli.run(["memory", "remember", "small content", "--subject", "s", "--metadata", #"{"ok": "yes"}"#, "--no-embedding"]).status == 0)
    }

    @Test func aRestoreKilledMidwayLeavesOnlyPrivateTemporaryFiles() async throws {
        let (_, archive) = try await Self.aliceArchive()
        let target = try CLI()
        let tmp = target.path("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let killed = try await target.run(["restore", archive, "--tenant", "alice"], environment: ["ENGRAM_FAULT_POINT": "restore.step:2", "TMPDIR": tmp])
        #expect(killed.signaled)
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp)
        #expect(!left.isEmpty, "the killed restore's folder is there")
        for name in left {
            var s = stat()
            #expect(stat(tmp + "/" + name, &s) == 0 && s.st_mode & 0o077 == 0, "\(name) is private: \(String(s.st_mode & 0o777, radix: 8))")
        }
    }
}

extension CLITests {
    /// Whether this process may bind-mount a folder read-only (root on Linux): the test needs a real
    /// read-only file system.
    static func mountReadOnly(_ source: String, at target: String) -> Bool {
        func run(_ args: [String]) -> Bool {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/mount")
            p.arguments = args
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return false }
            p.waitUntilExit()
            return p.terminationStatus == 0
        }
        return run(["--bind", source, target]) && run(["-o", "remount,bind,ro", target])
    }

    static func unmount(_ target: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/umount")
        p.arguments = [target]
        try? p.run()
        p.waitUntilExit()
    }

    @Test func aStoreOnAReadOnlyFileSystemCanBeSearched() async throws {
        let cli = try CLI()
        try cli.write("docs/a.md", "# A\n\nRivers and lakes.\n")
        #expect(try await cli.run(["ingest", cli.path("docs"), "--embedder", "hash:32"]).status == 0)
        let mounted = cli.path("ro")
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        guard Self.mountReadOnly(cli.path("store"), at: mounted) else {
            #expect(ProcessInfo.processInfo.environment["ENGRAM_REQUIRE_SERVICES"] != "1" || getuid() != 0, "root could not bind-mount read-only")
            return
        }
        defer { Self.unmount(mounted) }
        let store = "sqlite:" + mounted + "/engram.sqlite"
        let search = try await cli.run(["search", "rivers", "--store", store, "--json"], useStore: false)
        #expect(search.status == 0, "\(search.stderr)")
        #expect(try search.json()["hits"]?.array?.count == 1)
        #expect(try await cli.run(["stats", "--store", store], useStore: false).status == 0)
        try cli.write("docs/b.md", "# B\n\nMountains.\n")
        let write = try await cli.run(["ingest", cli.path("docs"), "--store", store], useStore: false)
        #expect(write.status != 0 && write.stderr.contains("read-only") && !write.stderr.contains("SELECT"), "\(write.stderr)")
        // Listing memories only reads; recall counts accesses, which needs to write.
        let list = try await cli.run(["memory", "list", "--store", store], useStore: false)
        #expect(list.status == 0, "\(list.stderr)")
        let recall = try await cli.run(["memory", "recall", "rivers", "--store", store], useStore: false)
        #expect(recall.status == 1 && recall.stderr.contains("read-only file system"), "\(recall.stderr)")
    }
}

extension CLITests {
    /// Model files that are FIFOs (or folders) are refused at once instead of blocking the command.
    @Test func modelFilesThatAreNotRegularFilesAreRefused() async throws {
        let cli = try CLI()
        let model = cli.path("model")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for name in ["model.safetensors", "config.json", "vocab.txt"] { #expect(mkfifo(model + "/" + name, 0o600) == 0) }
        let r = try await cli.run(["init", "--embedder", "minilm:" + model], timeout: 60)
        #expect(!r.timedOut && r.status == 78, "\(r.status) \(r.stderr)")
    }
}
