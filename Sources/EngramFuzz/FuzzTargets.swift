import EngramCore
import EngramPipeline
import Foundation

/// The parsers that read what a user or an attacker hands Engram, as fuzz targets.
///
/// Each target takes arbitrary bytes. Refusing them with an ``EngramError`` is fine; crashing, hanging or
/// breaking an invariant (a parsed filter that does not print back to itself, a chunk that is not a
/// range of its document, a restore that writes something while it throws) is a bug: the target aborts
/// with a message (``invariant(_:_:)``), which libFuzzer reports with the input. `scripts/fuzz.sh TARGET SECONDS`
/// runs one under libFuzzer; the inputs it found are kept in `Tests/EngramPipelineTests/Fuzz/TARGET/`
/// and replayed by the tests.
public enum FuzzTargets {
    public static let names = ["filter", "filter-json", "json", "markdown", "html", "jsonl", "manifest", "backup-zip", "backup-rows"]

    /// Runs target `name` on `data`.
    public static func run(_ name: String, _ data: [UInt8]) async {
        switch name {
        case "filter": filter(data)
        case "filter-json": filterJSON(data)
        case "json": json(data)
        case "markdown": await loader(data, path: "/fuzz/input.md")
        case "html": await loader(data, path: "/fuzz/input.html")
        case "jsonl": await loader(data, path: "/fuzz/input.jsonl")
        case "manifest": manifest(data)
        case "backup-zip": backupZip(data)
        case "backup-rows": await backupRows(data)
        default: broken("unknown fuzz target \(name) (known: \(names.joined(separator: ", ")))")
        }
    }

    /// ``run(_:_:)`` from a thread that may block (libFuzzer's, or a command's main thread): never from
    /// a task of the concurrency pool, which it could exhaust.
    public static func runBlocking(_ name: String, _ data: [UInt8]) {
        let done = DispatchSemaphore(value: 0)
        Task {
            await run(name, data)
            done.signal()
        }
        done.wait()
    }

    /// The readable filter form: a parsed filter prints back to an equal filter, and every backend's
    /// reference evaluation runs on it.
    static func filter(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        guard let f = try? Filter.parse(text) else { return }
        check(f)
    }

    static func filterJSON(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        guard let f = try? Filter.parseJSON(text) else { return }
        check(f)
    }

    static func check(_ f: Filter) {
        guard let again = try? Filter.parse(f.description) else { broken("the printed form of a parsed filter does not parse: \(f.description)") }
        invariant(again == f || again.description == f.description, "a parsed filter prints to another filter: \(f.description)")
        guard let fromJSON = try? Filter.parseJSON(f.json.serialized()) else { broken("the JSON form of a parsed filter does not parse: \(f.json.serialized())") }
        invariant(fromJSON.description == f.description || fromJSON == f, "JSON round trip differs: \(f.json.serialized())")
        _ = f.matches(["a": .int(1), "b": .string("x"), "tags": .array([.string("x"), .int(2)]), "d": .date(Date(timeIntervalSince1970: 0))])
    }

    /// JSON values: what parses serializes to JSON that parses to the same value.
    static func json(_ data: [UInt8]) {
        guard let v = try? JSONValue.parse(data) else { return }
        let text = v.serialized()
        guard let again = try? JSONValue.parse(text) else { broken("serialized JSON does not parse: \(text.prefix(200))") }
        invariant(again == v, "JSON round trip differs: \(text.prefix(200))")
        _ = try? Metadata.parse(json: text)
    }

    /// A loader, then the chunker and the upsert checks: every chunk must be an exact range of its document.
    static func loader(_ data: [UInt8], path: String) async {
        guard let loaded = try? SourceLoader().load(bytes: data, path: path, sourceURI: "file://" + path) else { return }
        let report: IngestReport? = try? await {
            let store = InMemoryVectorStore()
            let embedder = HashEmbedder(dimension: 16)
            let ref = CollectionRef(tenant: "fuzz", name: "fuzz")
            _ = try await store.createCollection(ref, identity: embedder.identity)
            var options = Ingestor.Options()
            options.chunker = StructuredChunker(maxTokens: 16, overlapTokens: 4)
            return try await Ingestor(store: store, embedder: embedder, collection: ref, options: options).ingest(documents: loaded.documents)
        }()
        for failure in report?.failed ?? [] {
            invariant(!["differs from the document", "outside the document", "sha256 does not match", "ordinal"].contains { failure.reason.contains($0) },
                         "the chunker made a chunk that is not a range of its document: \(failure.reason)")
        }
    }

    static func manifest(_ data: [UInt8]) {
        guard let m = try? EvidenceManifest.parse(String(decoding: data, as: UTF8.self)) else { return }
        guard let again = try? EvidenceManifest.parse(m.canonicalJSON) else { broken("a parsed manifest's canonical JSON does not parse") }
        invariant(again.id == m.id, "a manifest's id changed on a round trip")
    }

    /// Raw bytes as a backup archive.
    static func backupZip(_ data: [UInt8]) {
        let url = scratch.appendingPathComponent("input.zip")
        guard (try? Data(data).write(to: url)) != nil else { return }
        if let verified = try? BackupArchive.verify(url) { verified.remove() }
    }

    /// Bytes as the lines of a backup's five parts (split at 0x1E), packed into an archive whose manifest
    /// matches them, then restored into empty in-memory stores: either the restore succeeds, or it throws
    /// and the stores hold nothing.
    static func backupRows(_ data: [UInt8]) async {
        var parts = data.split(separator: 0x1E, maxSplits: 5, omittingEmptySubsequences: false).map { Data($0) }
        while parts.count < 6 { parts.append(Data()) }
        let url = scratch.appendingPathComponent("rows.zip")
        guard (try? BackupFixtures.archive(manifest: parts[0], parts: Array(parts[1...5]), to: url)) != nil else { return }
        let store = InMemoryVectorStore(), memories = InMemoryMemoryStore()
        do {
            _ = try await BackupArchive.restore(url, into: store, memories: memories, embedder: { identity in HashEmbedder(dimension: identity.dimension) })
        } catch is EngramError {
            let tenants = await memories.memoryTenants()
            invariant(tenants.isEmpty, "a refused restore wrote memories")
            for t in ["default", "t1", "t2", "alice", "bob"] {
                let collections = (try? await store.collections(tenant: t)) ?? []
                invariant(collections.isEmpty, "a refused restore wrote collections")
            }
        } catch {
            broken("a restore threw something else than an EngramError: \(error)")
        }
    }

    /// Stops the process with `message` when `condition` is false (the message is printed in release
    /// builds too, unlike `precondition`'s).
    static func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
        if !condition() { broken(message()) }
    }

    static func broken(_ message: String) -> Never {
        FileHandle.standardError.write(Data("engram-fuzz: invariant broken: \(message)\n".utf8))
        abort()
    }

    static let scratch: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("engram-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()
}
