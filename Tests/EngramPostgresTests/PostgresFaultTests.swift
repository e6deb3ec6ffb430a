import EngramCore
import EngramPostgres
import EngramTesting
import Foundation
import Logging
import PostgresNIO
import Testing

@Suite("PostgreSQL faults", .enabled(if: PostgresTestEnvironment.available), .serialized)
struct PostgresFaultTests {
    @Test func aStatementTimeoutSurfacesAsAClearError() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, _ in
            var limited = config
            limited.statementTimeout = .milliseconds(100)
            let slow = [PostgresMigration(version: 1, name: "slow", statements: ["SELECT pg_sleep(2)"])]
            do {
                _ = try await limited.withClient { client in try await PostgresMigrator(schema: config.schema, migrations: slow).migrate(client) }
                Issue.record("the slow statement was not cancelled")
            } catch let e as EngramError {
                #expect(e.code == .storageFailure)
                #expect(e.message.contains("statement timeout"), "\(e.message)")
            }
        }
    }

    @Test func aConnectionLostMidWriteLeavesNoPartialDocument() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, owner in
            try await PostgresMigrator(schema: config.schema).migrate(owner)
            let fx = Fixtures()
            let store = try PostgresVectorStore(client: owner, schema: config.schema)
            _ = try await store.createCollection(fx.ref, identity: fx.identity)
            let batch = (0..<1500).map { i -> DocumentUpsert in
                let (d, c) = fx.document("mem://\(i)", "paragraph one of \(i)\n\nparagraph two of \(i)\n\nparagraph three")
                return DocumentUpsert(document: d, chunks: c)
            }
            // Kill the writing session while its batch transaction is open: whichever statement it is
            // running, or between two statements (postgres-nio would then wait forever for an answer on
            // the closed connection; the store must notice and fail).
            let writer = Task { try await store.upsert(batch: batch, identity: fx.identity, in: fx.ref) }
            var terminated = 0
            for _ in 0..<500 where terminated == 0 {
                let killer = try await owner.query(PostgresQuery(unsafeSQL: """
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE pid <> pg_backend_pid() AND datname = current_database() AND xact_start IS NOT NULL
                      AND query ILIKE '%\(config.schema).documents%'
                    """))
                for try await ok in killer.decode(Bool.self) where ok { terminated += 1 }
                if terminated == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            let outcome = await writer.result
            #expect(terminated == 1, "the writer's session was found and terminated")
            if terminated > 0 {
                guard case .failure(let error) = outcome else {
                    Issue.record("the write survived a terminated connection")
                    return
                }
                #expect((error as? EngramError)?.code == .storageFailure, "\(error)")
            }
            // All or nothing: either no document, or every document with all its chunks.
            let documents = try await store.documents(in: fx.ref)
            #expect(documents.isEmpty || documents.count == batch.count, "\(documents.count) documents")
            let stats = try await store.stats(fx.ref)
            #expect(stats.chunks == documents.reduce(0) { $0 + $1.chunkCount })
            // The store keeps working on a fresh connection.
            try await fx.load(store, [("mem://after", "written after the failure", [:])])
            #expect(try await store.document(sourceURI: "mem://after", in: fx.ref) != nil)
        }
    }

    @Test func aReadWhoseSessionIsTerminatedIsRetried() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, owner in
            try await PostgresMigrator(schema: config.schema).migrate(owner)
            let fx = Fixtures()
            let store = try PostgresVectorStore(client: owner, schema: config.schema)
            try await fx.load(store, [("mem://a", "alpha beta gamma", [:]), ("mem://b", "beta delta", [:])])
            // Hold a lock that makes the search wait, terminate the waiting session, then let go: the
            // store's second attempt answers.
            let found: Int = try await owner.withConnection { locker in
                _ = try await locker.query("BEGIN", logger: Logger(label: "test"))
                _ = try await locker.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(config.schema).chunks IN ACCESS EXCLUSIVE MODE"), logger: Logger(label: "test"))
                let search = Task { try await store.search(SearchRequest(mode: .keyword, text: "beta", k: 5), in: fx.ref) }
                var terminated = 0
                for _ in 0..<500 where terminated == 0 {
                    // From another session: inside the locker's transaction, pg_stat_activity would not change.
                    let killer = try await owner.query(PostgresQuery(unsafeSQL: """
                        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                        WHERE pid <> pg_backend_pid() AND datname = current_database() AND wait_event_type = 'Lock'
                          AND query ILIKE '%\(config.schema).chunks%'
                        """))
                    for try await ok in killer.decode(Bool.self) where ok { terminated += 1 }
                    if terminated == 0 { try await Task.sleep(for: .milliseconds(5)) }
                }
                _ = try await locker.query("COMMIT", logger: Logger(label: "test"))
                #expect(terminated == 1, "the waiting search was terminated once")
                return try await search.value.hits.count
            }
            #expect(found == 2, "the retried search answers in full")
        }
    }
}
