import EngramCore
import EngramPostgres
import EngramTesting
import Foundation
import Testing

@Suite("PostgreSQL bulk load", .enabled(if: PostgresTestEnvironment.available))
struct PostgresBulkLoadTests {
    /// Batches go to the store several at once; a document in several batches ends as its last batch
    /// wrote it (a batch waits for a batch still writing one of its documents), and each batch's
    /// results come back in order.
    @Test func batchesAreWrittenSideBySideAndTheLaterVersionWins() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            var options = PostgresVectorStore.Options()
            options.bulkWriters = 3
            let store = try PostgresVectorStore(client: client, schema: config.schema, options: options)
            #expect(store.bulkWriters == 3)
            let fx = Fixtures()
            _ = try await store.createCollection(fx.ref, identity: fx.identity)
            let sharedIn = [0, 1, 2, 7]
            var batches: [[DocumentUpsert]] = []
            for b in 0..<12 {
                var batch: [DocumentUpsert] = []
                for i in 0..<5 {
                    let (d, c) = fx.document("mem://b\(b)/\(i)", "batch \(b) document \(i)\n\nsecond paragraph of \(b)-\(i)")
                    batch.append(DocumentUpsert(document: d, chunks: c))
                }
                if sharedIn.contains(b) {
                    let (d, c) = fx.document("mem://shared", "version \(b) of the shared document\n\nwith \(b + 1) more words")
                    batch.insert(DocumentUpsert(document: d, chunks: c), at: b % 3)
                }
                batches.append(batch)
            }
            let results = try await store.upsert(batches: batches, identity: fx.identity, in: fx.ref, deferIndexing: true)
            #expect(results.map(\.count) == batches.map(\.count))
            for (b, (batch, outcomes)) in zip(batches, results).enumerated() {
                for (item, outcome) in zip(batch, outcomes) {
                    let expected: UpsertOutcome = item.document.sourceURI == "mem://shared" && b > 0 ? .updated : .added
                    #expect((try? outcome.get()) == expected, "\(item.document.sourceURI)")
                }
            }
            #expect(try await store.stats(fx.ref).documents == 61)
            #expect(try await store.document(sourceURI: "mem://shared", in: fx.ref)?.text == "version 7 of the shared document\n\nwith 8 more words")
            let hits = try await store.search(SearchRequest(mode: .keyword, text: "version shared", k: 10), in: fx.ref).hits
            #expect(hits.map(\.chunk.text) == ["version 7 of the shared document"], "the earlier versions' chunks are gone")
        }
    }

    /// Two writers (two processes: two clients) replacing the same documents at once, in opposite orders:
    /// whichever loses a race (a unique violation, a deadlock) runs again, so no call fails, and every
    /// document ends whole, as one writer's version, with only that version's chunks.
    @Test func writersRacingOnTheSameDocumentsBothSucceed() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let fx = Fixtures()
            _ = try await PostgresVectorStore(client: client, schema: config.schema).createCollection(fx.ref, identity: fx.identity)
            let sources = (0..<6).map { "mem://doc\($0)" }
            func version(_ writer: Int, _ round: Int, _ source: String) -> DocumentUpsert {
                let paragraphs = (0...(writer + round % 3)).map { "writer \(writer) round \(round) paragraph \($0) of \(source)" }
                let (d, c) = fx.document(source, paragraphs.joined(separator: "\n\n"))
                return DocumentUpsert(document: d, chunks: c)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<2 {
                    group.addTask {
                        try await config.withClient { own in
                            let store = try PostgresVectorStore(client: own, schema: config.schema)
                            for round in 0..<8 {
                                let order = writer == 0 ? sources : sources.reversed()
                                let results = try await store.upsert(batch: order.map { version(writer, round, $0) }, identity: fx.identity, in: fx.ref)
                                for r in results { _ = try r.get() }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let store = try PostgresVectorStore(client: client, schema: config.schema)
            var chunks = 0
            for source in sources {
                let text = try #require(try await store.document(sourceURI: source, in: fx.ref)?.text)
                let final = [version(0, 7, source), version(1, 7, source)].first { $0.document.text == text }
                #expect(final != nil, "\(source) is one writer's last version")
                chunks += final?.chunks.count ?? 0
            }
            #expect(try await store.stats(fx.ref).chunks == chunks, "no chunk of an earlier or other version is left")
        }
    }
}
