@testable import EngramCore
@testable import EngramPipeline
import EngramWire
import Foundation
import Testing

@Suite struct JSONValueEncoderTests {
    struct Sample: Codable, Equatable {
        var count: Int
        var ratio: Double
        var whole: Double
        var name: String?
        var at: Date
        var tags: [String?]
        var nested: [String: Int]
    }

    @Test func integersDoublesNullsAndDatesAreWrittenAsTheyAre() throws {
        let at = Date(timeIntervalSince1970: 1_764_000_000.123)
        let text = try JSONValueEncoder().text(Sample(count: 3, ratio: 0.25, whole: 3, name: nil, at: at, tags: ["a", nil], nested: ["z": 1, "a": 2]))
        #expect(text == #"{"at":"2025-11-24T16:00:00.123Z","count":3,"name":null,"nested":{"a":2,"z":1},"ratio":0.25,"tags":["a",null],"whole":3.0}"#)
    }

    @Test func nonFiniteNumbersAreNullNeverAnError() throws {
        struct Scores: Encodable { var a: Double; var b: Float; var c: [Double] }
        #expect(try JSONValueEncoder().text(Scores(a: .nan, b: .infinity, c: [1.5, -.infinity])) == #"{"a":null,"b":null,"c":[1.5,null]}"#)
        // A float keeps its short form rather than its widened binary value.
        struct F: Encodable { var f: Float }
        #expect(try JSONValueEncoder().text(F(f: 0.1)) == #"{"f":0.1}"#)
    }

    @Test func metadataKeepsItsTypesAndItsKeysAsGiven() throws {
        let m: Metadata = ["camelCase": .double(2), "n": .int(2), "when": .date(Date(timeIntervalSince1970: 0)), "list": .array([.string("x"), .bool(true)]), "none": .null]
        let text = try JSONValueEncoder().text(m)
        #expect(text == #"{"camelCase":2.0,"list":["x",true],"n":2,"none":null,"when":{"$date":"1970-01-01T00:00:00.000Z"}}"#)
        var parsed: Metadata = [:]
        guard case .object(let members) = try JSONValue.parse(text) else { Issue.record("not an object"); return }
        for (k, v) in members { parsed[k] = try MetadataValue(json: v, key: k) }
        #expect(parsed == m, "the text parses back to the same metadata, a double staying a double")
    }

    @Test func aJSONValueIsEmbeddedAsItIs() throws {
        let v = try JSONValue.parse(#"{"b":[1,2.5,"x",null],"a":{"$date":"2024-01-01"}}"#)
        struct Holder: Encodable { var v: JSONValue }
        #expect(try JSONValueEncoder().text(Holder(v: v)) == #"{"v":{"a":{"$date":"2024-01-01"},"b":[1,2.5,"x",null]}}"#)
    }
}

@Suite struct WireTypeTests {
    static let identity = EmbeddingIdentity(model: "engram/hash-embedder", revision: "1", dimension: 64, distance: .cosine, normalized: true)
    static let at = Date(timeIntervalSince1970: 1_764_000_000)

    static var chunk: StoredChunk {
        StoredChunk(id: "chk_1", documentID: "doc_1", sourceURI: "file:///a.md", documentSHA256: String(repeating: "a", count: 64), ordinal: 0,
                    text: "hello", charStart: 0, charEnd: 5, section: ["Intro"], tokenCount: 1, sha256: String(repeating: "b", count: 64),
                    metadata: ["lang": .string("en"), "year": .int(2024), "weight": .double(2), "seen": .date(at)], generation: 1)
    }

    static var memory: EngramCore.Memory {
        EngramCore.Memory(id: "mem_1", tenant: "t", subject: "alice", namespace: "default", kind: "fact", content: "likes tea",
                          metadata: ["source": .string("chat")], importance: 0.5,
                          provenance: MemoryProvenance(runID: "run_1", messageID: nil, chunkIDs: ["chk_1"]), createdAt: at, updatedAt: at,
                          lastAccessedAt: nil, accessCount: 0, expiresAt: at.addingTimeInterval(86_400), retention: "default", legalHold: false, supersedes: nil,
                          embedding: nil, embeddingIdentity: identity)
    }

    static var run: EngramCore.Run {
        EngramCore.Run(id: "run_1", tenant: "t", agent: "planner", status: .completed, metadata: ["user": .string("u1")], createdAt: at, updatedAt: at, finishedAt: at,
                       retention: RunRetention(deleteAfter: .seconds(86_400), keepCheckpoints: 3), legalHold: false,
                       forkedFrom: CheckpointRef(runID: "run_0", checkpointID: "cp_0"), lease: RunLease(tenant: "t", runID: "run_1", owner: "", token: 2, expiresAt: at))
    }

    static var checkpoint: EngramCore.Checkpoint {
        let info = CheckpointInfo(id: "cp_1", tenant: "t", runID: "run_1", namespace: "", parentID: nil, step: 0,
                                  channels: ["userMessages": ChannelVersion(version: 1, sha256: String(repeating: "d", count: 64), size: 7)],
                                  tasks: ["search"], metadata: [:], createdAt: at)
        return EngramCore.Checkpoint(info: info, state: ["userMessages": .array([.string("hi")])],
                                     pendingWrites: [PendingWrite(taskID: "search", index: 0, channel: "userMessages", value: .double(2))], remainingTasks: [])
    }

    /// One value of every wire type, as the commands build them.
    static func samples() throws -> [(String, any Codable)] {
        let info = CollectionInfo(ref: CollectionRef(tenant: "t", name: "docs"), identity: identity, generation: 1, createdAt: at)
        let hit = SearchHit(rank: 1, score: 0.9, vectorScore: 0.9, vectorRank: 1, chunk: chunk)
        var ingest = IngestReport()
        ingest.added = 1
        ingest.failed = [.init(source: "x.pdf", code: "load_failed", reason: "unsupported")]
        let receipt = DeletionReceipt(tenant: "t", deleted: ["mem_1"], held: [], missing: ["mem_2"], actor: "cli", reason: "request", at: at)
        let event = EngramCore.MemoryEvent(sequence: 1, tenant: "t", memoryID: "mem_1", kind: .holdSet, actor: "cli", reason: "", contentSHA256: String(repeating: "c", count: 64), at: at)
        var restored = RestoreReport()
        restored.keptHeld = ["mem_3"]
        return [
            ("error", Wire.ErrorBody(EngramError(.notFound, "no chunk"))),
            ("collection", Wire.Collection(info)),
            ("created", Wire.Created(info, created: true)),
            ("stats", Wire.Stats(info, CollectionStats(documents: 1, chunks: 2, embeddedChunks: 2, textBytes: 10), store: StoreDescriptor(kind: "sqlite", schemaVersion: 4))),
            ("chunk", Wire.Chunk(chunk)),
            ("document", Wire.Document(DocumentInfo(id: "doc_1", sourceURI: "file:///a.md", sha256: "a", fingerprint: "f", version: 1, mime: "text/markdown",
                                                    size: 5, chunkCount: 1, metadata: [:], createdAt: at, updatedAt: at), chunks: [chunk])),
            ("hit", Wire.Hit(hit)),
            ("verification", Wire.Verification(ManifestVerifier.Report(manifestID: "m", results: [.init(rank: 1, chunkID: "chk_1", sourceURI: "file:///a.md", status: .changed, reason: "text differs")]))),
            ("ingest", Wire.Ingest(ingest, seconds: 1.5)),
            ("deleted", Wire.Deleted(deleted: ["a"], notFound: ["b"])),
            ("memory", Wire.Memory(memory)),
            ("remembered", Wire.Remembered(.created(memory))),
            ("memory list", Wire.MemoryList(MemoryPage(memories: [memory], nextCursor: nil))),
            ("recall", Wire.Recall([RecallHit(memory: memory, score: RecallScore(similarity: nil, keyword: 0.5, relevance: 0.5, recency: 1, importance: 0.5, total: 0.6))])),
            ("memory event", Wire.MemoryEvent(event)),
            ("receipt", Wire.Receipt(receipt)),
            ("exported", Wire.Exported(exported: 1, file: "out.jsonl")),
            ("doctor", Wire.Doctor(DoctorReport(appliedMigrations: ["1 init"], pendingMigrations: [], findings: [DoctorFinding(check: "index", subject: "t/docs", problem: "p", fix: "f")]))),
            ("migrations", Wire.Migrations([MigrationState(version: 1, name: "init", applied: true)], appliedNow: [1])),
            ("restored", Wire.Restored(restored, seconds: 0.5)),
            ("reindexed", Wire.Reindexed(ReindexReport(collection: info.ref, from: identity, to: identity, generation: 2, resumed: false, alreadyCopied: 0, embedded: 2,
                                                       catchUpPasses: 0, droppedRows: 2, switched: true), seconds: 1)),
            ("reindex status", Wire.ReindexStatus(info, pending: (identity, 2, GenerationProgress(chunks: 4, copied: 1)))),
            ("abandoned", Wire.Abandoned(abandoned: false)),
            ("run", Wire.Run(run)),
            ("run page", Wire.RunPage(RunPage(runs: [run], nextCursor: "1:run_1"))),
            ("checkpoint summary", Wire.CheckpointSummary(checkpoint.info)),
            ("run state", Wire.RunState(run: run, latest: checkpoint)),
            ("recorded", Wire.Recorded(taskID: "search", checkpointID: "cp_1", recorded: 2)),
            ("run event", Wire.RunEvent(RunEvent(sequence: 1, tenant: "t", runID: "run_1", kind: .error, step: 2, taskID: "search", detail: .object([("message", .string("x"))]), actor: "w", at: at))),
            ("run receipt", Wire.RunReceipt(RunDeletionReceipt(tenant: "t", deleted: ["run_1"], pruned: [], held: [], removed: RunRemoval(), actor: "cli", reason: "r", at: at))),
            ("run audit", Wire.RunAuditEvent(RunAuditEvent(sequence: 1, tenant: "t", runID: "run_1", action: .deleted, actor: "cli", reason: "r", removed: RunRemoval(), at: at))),
            ("key", Wire.Key(APIKey(id: "key_0123456789abcdef", tenant: "t", name: "n", scopes: [.read, .admin], createdAt: at, revokedAt: at))),
            ("created key", Wire.CreatedKey(APIKey(id: "key_0123456789abcdef", tenant: "t", name: "n", scopes: [.write], createdAt: at), secret: "egk_x")),
            ("health", Wire.Health(status: "ok")),
        ]
    }

    /// Objects whose keys are the user's: metadata, the manifest's canonical form, a run's state and
    /// channels by name, stored values.
    static let userKeyed: Set<String> = ["metadata", "manifest", "state", "channels", "value", "detail"]

    /// Every key a value writes, outside objects whose keys are the user's.
    static func keys(_ v: JSONValue, path: String = "") -> [String] {
        switch v {
        case .object(let members):
            members.flatMap { k, child in [path + k] + (userKeyed.contains(k) ? [] : keys(child, path: path + k + ".")) }
        case .array(let items): items.flatMap { keys($0, path: path) }
        default: []
        }
    }

    @Test func everyKeyIsSnakeCase() throws {
        for (name, value) in try Self.samples() {
            for key in Self.keys(try JSONValueEncoder().encode(value)) {
                let last = key.split(separator: ".").last.map(String.init) ?? key
                #expect(last.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(name): key \(key) is not snake_case")
            }
        }
    }

    static func readBack<T: Codable>(_ value: T) throws -> (written: String, read: String) {
        let text = try Wire.text(value)
        return (text, try Wire.text(try Wire.decode(T.self, from: Data(text.utf8))))
    }

    @Test func everyTypeReadsBackWhatItWrote() throws {
        for (name, value) in try Self.samples() {
            let (written, read) = try Self.readBack(value)
            #expect(read == written, "\(name) round trip")
        }
    }

    @Test func oneFactHasOneName() throws {
        let hit = try JSONValueEncoder().encode(Wire.Hit(SearchHit(rank: 1, score: 1, chunk: Self.chunk)))
        let shown = try JSONValueEncoder().encode(Wire.Chunk(Self.chunk))
        for key in ["chunk_id", "document_id", "source_uri", "chunk_sha256", "document_sha256", "char_start", "char_end", "section", "metadata", "text"] {
            #expect(hit[key] != nil && hit[key] == shown[key], "\(key) is the same in a hit and in show")
        }
        #expect(hit["vector_score"] == .null && hit["keyword_rank"] == .null, "a method that did not run is null, not missing")
    }

    @Test func integersAreStrictAndDoublesStayDoubles() throws {
        struct Count: Codable { var n: Int; var m: Metadata }
        #expect(throws: EngramError.self) { try Wire.decode(Count.self, from: Data(#"{"n": 2.0, "m": {}}"#.utf8)) }
        let read = try Wire.decode(Count.self, from: Data(#"{"n": 2, "m": {"a": 2.0, "b": 2}}"#.utf8))
        #expect(read.n == 2 && read.m == ["a": .double(2), "b": .int(2)])
        #expect(throws: EngramError.self, "a syntax error is an error, not a crash") { try Wire.decode(Count.self, from: Data(String(repeating: "[", count: 100_000).utf8)) }
    }

    @Test func aBodyThatDoesNotMatchNamesWhatIsWrong() throws {
        #expect {
            try Wire.decode(Wire.Deleted.self, from: Data(#"{"deleted": ["a"], "not_found": 3, "dropped_collection": null}"#.utf8))
        } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.code == .invalidInput && e.message.contains("not_found")
        }
    }
}

@Suite("Wire request bodies")
struct WireRequestTests {
    @Test func requestsDecodeAndRefuseUnknownKeys() throws {
        let search = try Wire.request(Wire.SearchRequest.self, from: Data(#"{"query": "tea", "k": 3, "filter": {"lang": "en"}}"#.utf8))
        #expect(search.query == "tea" && search.k == 3)
        #expect(try Wire.filter(search.filter) == Filter.parseAny(#"{"lang": "en"}"#))
        let ingest = try Wire.request(Wire.IngestRequest.self, from: Data(#"{"documents": [{"id": "a", "text": "x", "source_uri": "s://a", "metadata": {"n": 1}}]}"#.utf8))
        #expect(ingest.documents.first?.sourceURI == "s://a")
        #expect(try Wire.metadata(ingest.documents.first?.metadata) == ["n": .int(1)])
        for (body, key) in [(#"{"query": "x", "filters": {}}"#, "filters"), (#"{"documents": [{"text": "x", "txt": "y"}]}"#, "documents[0].txt"),
                            (#"{"documents": [{"text": "x"}], "tenant": "other"}"#, "tenant")] {
            let type: any WireRequest.Type = body.contains("documents") ? Wire.IngestRequest.self : Wire.SearchRequest.self
            #expect(throws: EngramError.self) { _ = try Wire.request(type, from: Data(body.utf8)) }
            do { _ = try Wire.request(type, from: Data(body.utf8)) } catch let e as EngramError { #expect(e.message.contains("'\(key)'"), "\(e.message)") }
        }
        #expect(throws: EngramError.self) { _ = try Wire.request(Wire.SearchRequest.self, from: Data(#"{"query": 1}"#.utf8)) }
        #expect(throws: EngramError.self) { _ = try Wire.request(Wire.SearchRequest.self, from: Data("[]".utf8)) }
    }
}
