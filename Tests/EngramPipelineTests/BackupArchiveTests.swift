import EngramCore
import EngramFuzz
import EngramPipeline
import EngramTesting
import Foundation
import Testing
import ZIPFoundation

@Suite("Backup archives")
struct BackupArchiveTests {
    let fx = Fixtures()
    let other = CollectionRef(tenant: "t2", name: "notes")

    func source() async throws -> InMemoryVectorStore {
        let store = InMemoryVectorStore()
        try await fx.load(store, (0..<12).map { i in
            ("mem://\(i)", "document \(i) about rivers\n\nmountains of \(i) and lakes\n\nforests, \(i) trees", ["n": .int(Int64(i)), "when": .date(Date(timeIntervalSince1970: 1_700_000_000 + Double(i)))])
        })
        try await fx.load(store, [("mem://x", "a note of another tenant", ["lang": .string("en")])], in: other)
        return store
    }

    func temporaryURL(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-backup-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name)
    }

    /// Vector, keyword and filtered answers, as ids and scores.
    func answers(_ store: any VectorStore, _ ref: CollectionRef) async throws -> [[String]] {
        var out: [[String]] = []
        for q in ["rivers of 3", "forests trees", "lakes"] {
            for request in [SearchRequest(mode: .vector, vector: fx.query(q), vectorIdentity: fx.identity, k: 5),
                            SearchRequest(mode: .keyword, text: q, k: 5),
                            SearchRequest(mode: .hybrid, text: q, vector: fx.query(q), vectorIdentity: fx.identity, filter: .compare("n", .gte, .int(6)), k: 5)] {
                out.append(try await store.search(request, in: ref).hits.map { "\($0.chunk.id) \($0.chunk.sha256) \(String(format: "%.6f", $0.score))" })
            }
        }
        return out
    }

    @Test func aBackupRestoresWithTheSameAnswersAndRows() async throws {
        let store = try await source()
        let url = temporaryURL("b.zip")
        let manifest = try await BackupArchive.write(from: store, tenants: nil, to: url)
        #expect(manifest.tenants == ["t1", "t2"] && manifest.collections.map(\.chunks) == [36, 1] && manifest.collections.map(\.documents) == [12, 1])
        #expect(manifest.parts.map(\.rows) == [2, 13, 37, 0, 0], "no memory store: empty memory files")
        let restored = InMemoryVectorStore()
        let report = try await BackupArchive.restore(url, into: restored, embedder: { _ in throw EngramError(.unsupported, "not needed") })
        #expect(report.collections == 2 && report.documents == 13 && report.chunks == 37 && report.embedded == 0)
        #expect(try await answers(restored, fx.ref) == answers(store, fx.ref))
        // Every row as it was (document versions and times start again: the restore writes them).
        for ref in [fx.ref, other] {
            let a = try await store.documents(in: ref), b = try await restored.documents(in: ref)
            #expect(a.map { [$0.id, $0.sourceURI, $0.sha256, $0.fingerprint, $0.metadata.canonicalJSON] } == b.map { [$0.id, $0.sourceURI, $0.sha256, $0.fingerprint, $0.metadata.canonicalJSON] })
            for d in a {
                let ids = (0..<d.chunkCount).map { ChunkRecord.makeID(documentID: d.id, ordinal: $0) }
                #expect(try await store.chunks(ids: ids, in: ref) == restored.chunks(ids: ids, in: ref))
                #expect(try await store.document(id: d.id, in: ref)?.text == restored.document(id: d.id, in: ref)?.text)
            }
        }
        // One tenant only.
        let one = try await BackupArchive.write(from: store, tenants: ["t2"], to: temporaryURL("one.zip"))
        #expect(one.collections.map(\.ref) == [other])
    }

    @Test func withoutVectorsTheRestoreEmbedsAgain() async throws {
        let store = try await source()
        let url = temporaryURL("novec.zip")
        let manifest = try await BackupArchive.write(from: store, tenants: nil, vectors: false, to: url)
        #expect(!manifest.includesVectors)
        let withVectors = try await BackupArchive.write(from: store, tenants: nil, to: temporaryURL("vec.zip"))
        let perVector = BackupRow.base64(of: [Float](repeating: 0, count: fx.identity.dimension)).count + 2 - "null".count
        #expect(manifest.parts[2].bytes + 37 * perVector == withVectors.parts[2].bytes, "each chunk line holds null instead of its quoted base64 vector")
        let restored = InMemoryVectorStore()
        let embedder = fx.embedder
        let report = try await BackupArchive.restore(url, into: restored, embedder: { identity in
            #expect(identity == embedder.identity)
            return embedder
        })
        #expect(report.embedded == 37)
        #expect(try await answers(restored, fx.ref) == answers(store, fx.ref))
    }

    @Test func aDamagedArchiveIsRejectedBeforeAnythingIsWritten() async throws {
        let store = try await source()
        let url = temporaryURL("good.zip")
        _ = try await BackupArchive.write(from: store, tenants: nil, to: url)
        let bytes = try Data(contentsOf: url)
        let target = InMemoryVectorStore()
        func refused(_ data: Data, _ expected: String) async throws {
            let bad = temporaryURL("bad.zip")
            try data.write(to: bad)
            do {
                _ = try await BackupArchive.restore(bad, into: target, embedder: { _ in fx.embedder })
                Issue.record("restored a damaged archive (\(expected))")
            } catch let e as EngramError {
                #expect(e.code == .invalidInput, "\(expected): \(e)")
                #expect(e.message.contains(expected), "\(e.message) names \(expected)")
            }
            #expect(await target.collections(tenant: "t1").isEmpty, "nothing was written")
            #expect(await target.collections(tenant: "t2").isEmpty, "nothing was written")
        }
        try await refused(bytes.prefix(bytes.count / 2), "not a readable backup archive")
        try await refused(bytes.prefix(bytes.count - 10), "not a readable backup archive")
        // One flipped byte inside each part's compressed data.
        let archive = try Archive(url: url, accessMode: .read)
        for name in ["manifest.json", "collections.jsonl", "documents.jsonl", "chunks.jsonl"] {
            let entry = try #require(archive[name])
            var flipped = bytes
            let at = try #require(Self.dataOffset(of: name, in: bytes)) + Int(entry.compressedSize) / 2
            flipped[at] ^= 0x01
            try await refused(flipped, name)
        }
    }

    /// Where an entry's data starts: after its local header (30 bytes, the name, the extra field).
    static func dataOffset(of name: String, in bytes: Data) -> Int? {
        let b = [UInt8](bytes), n = Array(name.utf8)
        var i = 0
        while i + 30 + n.count <= b.count {
            if b[i] == 0x50, b[i + 1] == 0x4B, b[i + 2] == 3, b[i + 3] == 4, Int(b[i + 26]) | Int(b[i + 27]) << 8 == n.count, Array(b[(i + 30)..<(i + 30 + n.count)]) == n {
                return i + 30 + n.count + (Int(b[i + 28]) | Int(b[i + 29]) << 8)
            }
            i += 1
        }
        return nil
    }

    @Test func aNewerFormatOrAMismatchingTargetIsRefused() async throws {
        let store = try await source()
        let url = temporaryURL("good.zip")
        _ = try await BackupArchive.write(from: store, tenants: nil, to: url)
        // The same archive, its manifest saying format version 2, or a source schema newer than the target's.
        let target = InMemoryVectorStore()
        for (from, to, expected) in [("\"format_version\":1", "\"format_version\":2", "format version 2"), ("\"schema_version\":1", "\"schema_version\":2", "schema version 2")] {
            let newer = temporaryURL("newer.zip")
            let read = try Archive(url: url, accessMode: .read)
            let write = try Archive(url: newer, accessMode: .create)
            for entry in read {
                var data = Data()
                _ = try read.extract(entry) { data.append($0) }
                if entry.path == "manifest.json" {
                    let text = String(decoding: data, as: UTF8.self)
                    #expect(text.contains(from))
                    data = Data(text.replacingOccurrences(of: from, with: to).utf8)
                }
                try write.addEntry(with: entry.path, type: .file, uncompressedSize: Int64(data.count), provider: { position, size in
                    data.subdata(in: Int(position)..<Int(position) + size)
                })
            }
            do {
                _ = try await BackupArchive.restore(newer, into: target, embedder: { _ in fx.embedder })
                Issue.record("restored a newer archive (\(expected))")
            } catch let e as EngramError {
                #expect(e.code == .unsupported && e.message.contains(expected), "\(e)")
            }
            #expect(await target.collections(tenant: "t1").isEmpty)
        }
        // A target collection of the same name with another dimension: refused, target unchanged.
        _ = try await target.createCollection(fx.ref, identity: HashEmbedder(dimension: 32).identity)
        do {
            _ = try await BackupArchive.restore(url, into: target, mode: .merge, embedder: { _ in fx.embedder })
            Issue.record("restored into a collection of another dimension")
        } catch let e as EngramError {
            #expect(e.code == .embeddingMismatch, "\(e)")
        }
        #expect(try await target.stats(fx.ref).chunks == 0)
        #expect(await target.collection(other) == nil)
        // A target that is not empty: refused unless merging, which keeps its other documents.
        let busy = InMemoryVectorStore()
        try await fx.load(busy, [("mem://own", "a document only the target has", [:]), ("mem://0", "an older version of document 0", [:])])
        do {
            _ = try await BackupArchive.restore(url, into: busy, embedder: { _ in fx.embedder })
            Issue.record("restored into a store that is not empty")
        } catch let e as EngramError {
            #expect(e.code == .conflict && e.message.contains("merge"), "\(e)")
        }
        #expect(try await busy.stats(fx.ref).documents == 2)
        _ = try await BackupArchive.restore(url, into: busy, mode: .merge, embedder: { _ in fx.embedder })
        #expect(try await busy.stats(fx.ref).documents == 13, "12 restored, one of them replacing the target's, and the target's own")
        #expect(try await busy.document(sourceURI: "mem://0", in: fx.ref)?.text == store.document(sourceURI: "mem://0", in: fx.ref)?.text)
    }

    /// Memories of two tenants with an audit trail: created, updated, a hold, a forgotten one.
    func memories() async throws -> InMemoryMemoryStore {
        let store = InMemoryMemoryStore(now: { Date(timeIntervalSince1970: 1_750_000_000) })
        for (i, (tenant, subject)) in [("t1", "alice"), ("t1", "bob"), ("t2", "carol")].enumerated() {
            for j in 0..<3 {
                let content = "\(subject) likes item \(j) of list \(i)"
                _ = try await store.remember(MemoryDraft(tenant: tenant, subject: subject, content: content, metadata: ["j": .int(Int64(j))], importance: 0.25 * Double(j),
                                                         provenance: MemoryProvenance(runID: "run-\(i)", chunkIDs: ["chk_\(j)"]),
                                                         embedding: fx.embedder.vector(for: content), embeddingIdentity: fx.identity), actor: "agent")
            }
        }
        let bob = try await store.export(tenant: "t1", subject: "bob")
        _ = try await store.setLegalHold(id: bob[0].id, tenant: "t1", held: true, actor: "lawyer", reason: "case 7")
        _ = try await store.forget(ForgetRequest(tenant: "t1", selector: .ids([bob[1].id]), actor: "user", reason: "asked to"))
        return store
    }

    @Test func longTermMemoriesAndTheirAuditTrailRoundTrip() async throws {
        let store = try await source()
        let memories = try await memories()
        for vectors in [true, false] {
            let url = temporaryURL("m.zip")
            let manifest = try await BackupArchive.write(from: store, memories: memories, tenants: nil, vectors: vectors, to: url)
            #expect(manifest.memoryTenants == ["t1", "t2"])
            #expect(manifest.parts.map(\.rows) == [2, 13, 37, 8, 11], "8 memories; 9 created, a hold and a deletion")
            let target = InMemoryVectorStore(), targetMemories = InMemoryMemoryStore()
            let report = try await BackupArchive.restore(url, into: target, memories: targetMemories, embedder: { _ in fx.embedder })
            #expect(report.memories == 8 && report.memoryEvents == 11)
            for tenant in ["t1", "t2"] {
                let restored = try await targetMemories.export(tenant: tenant, subject: nil)
                #expect(try await restored == memories.export(tenant: tenant, subject: nil), "every field, vectors \(vectors)")
                // The archive's events come back with their times, marked as imported; the restore adds one
                // `restored` event per memory it wrote.
                let strip = { (e: MemoryEvent) in [e.tenant, e.memoryID, e.kind.rawValue, e.actor, e.reason, e.contentSHA256, MetadataValue.canonicalDateString(e.at)] }
                let events = try await targetMemories.events(tenant: tenant, memoryID: nil)
                #expect(events.filter { $0.origin != nil }.map(strip) == (try await memories.events(tenant: tenant, memoryID: nil)).map(strip))
                #expect(events.filter { $0.origin != nil }.allSatisfy { $0.origin!.hasPrefix("backup ") })
                let marks = events.filter { $0.origin == nil }
                #expect(marks.allSatisfy { $0.kind == .restored && $0.actor == "restore" } && Set(marks.map(\.memoryID)) == Set(restored.map(\.id)))
                #expect(events.map(\.sequence) == (1...Int64(events.count)).map { $0 }, "numbered within the tenant")
            }
            #expect(vectors || report.embedded == 37 + 8, "chunks and memories embedded again")
            do {
                _ = try await BackupArchive.restore(url, into: InMemoryVectorStore(), memories: targetMemories, embedder: { _ in fx.embedder })
                Issue.record("restored into a memory store that is not empty")
            } catch let e as EngramError {
                #expect(e.code == .conflict && e.message.contains("long-term memories"))
            }
            do {
                _ = try await BackupArchive.restore(url, into: InMemoryVectorStore(), embedder: { _ in fx.embedder })
                Issue.record("restored memories without a memory store")
            } catch let e as EngramError {
                #expect(e.code == .invalidInput)
            }
        }
    }

    /// Archives built to inflate to gigabytes: a manifest that declares more than 16 MiB is not read, and
    /// a member whose zip headers and manifest understate its size is not inflated past what they say.
    @Test func archivesBuiltToInflateAreRefusedBeforeTheyCostMemoryOrDisk() async throws {
        let huge = temporaryURL("manifest-bomb.zip")
        let archive = try Archive(url: huge, accessMode: .create)
        let spaces = Data(repeating: 0x20, count: 20 << 20)
        try archive.addEntry(with: "manifest.json", type: .file, uncompressedSize: Int64(spaces.count), compressionMethod: .deflate) { position, size in
            spaces.subdata(in: Int(position)..<Int(position) + size)
        }
        let hugeSize = try FileManager.default.attributesOfItem(atPath: huge.path)[.size] as? Int ?? 0
        #expect(hugeSize < 1 << 20, "a small file")
        do {
            _ = try BackupArchive.verify(huge)
            Issue.record("a 20 MiB manifest was read")
        } catch let e as EngramError {
            #expect(e.code == .invalidInput && e.message.contains("declares"), "\(e.message)")
        }

        // 50 MB of newlines in chunks.jsonl, with the zip headers and the manifest saying 100 bytes.
        let lines = Data(repeating: 0x0A, count: 50_000_000)
        let parts = [Data(), Data(), lines, Data(), Data()]
        let bomb = temporaryURL("member-bomb.zip")
        try BackupFixtures.archive(manifest: Data(), parts: parts, to: bomb)
        var bytes = try Data(contentsOf: bomb)
        func patch(at offset: Int, _ value: UInt32) {
            withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + 4, with: $0) }
        }
        let name = Data("chunks.jsonl".utf8)
        for (signature, sizeOffset, nameOffset) in [(Data([0x50, 0x4B, 0x01, 0x02]), 24, 46), (Data([0x50, 0x4B, 0x03, 0x04]), 22, 30)] {
            var from = bytes.startIndex
            while let r = bytes.range(of: signature, in: from..<bytes.endIndex) {
                if bytes[(r.lowerBound + nameOffset)...].starts(with: name) { patch(at: r.lowerBound + sizeOffset, 100) }
                from = r.upperBound
            }
        }
        try bytes.write(to: bomb)
        do {
            _ = try BackupArchive.verify(bomb)
            Issue.record("an understated member was accepted")
        } catch let e as EngramError {
            #expect(e.code == .invalidInput && (e.message.contains("inflates past") || e.message.contains("size differs")), "\(e.message)")
        }
    }
}
