import EngramCore
import EngramKit
import EngramPostgres
@testable import EngramSQLite
import GRDB
import Foundation
import PostgresNIO
import Testing

@Suite("Entry point")
struct EntryPointTests {
    static func scratch(_ name: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("engram-kit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder.appendingPathComponent(name).path
    }

    @Test func urlsFindTheirBackendAndUnknownOnesAreNamed() throws {
        #expect(try Engram.backend(for: "sqlite:x.sqlite") == SQLiteBackend.self)
        #expect(try Engram.backend(for: "notes.db") == SQLiteBackend.self)
        #expect(try Engram.backend(for: "memory:") == InMemoryBackend.self)
        #expect(try Engram.backend(for: "postgres://u@h/db").schemes == ["postgres", "postgresql"])
        do {
            _ = try Engram.backend(for: "mysql://u@h/db")
            Issue.record("an unknown scheme was accepted")
        } catch let e as EngramError {
            #expect(e.code == .invalidConfiguration && e.message.contains("mysql://u@h/db") && e.message.contains("sqlite:PATH"))
        }
        let path = "/tmp/a b/engram.sqlite"
        #expect(Engram.localFiles(of: "sqlite:\(path)") == [path, path + "-wal", path + "-shm", path + "-journal"])
        #expect(Engram.localFiles(of: "postgres://u@h/db").isEmpty)
    }

    /// The capabilities a backend has are there; the ones it lacks are absent and named when required.
    @Test func capabilitiesArePresentExactlyWhereTheBackendHasThem() async throws {
        let path = try Self.scratch("caps.sqlite")
        try await Engram.withStores("sqlite:\(path)", access: .create) { stores in
            #expect(stores.kind == "sqlite")
            #expect(stores.generations != nil && stores.backupSource != nil && stores.restoreTarget != nil && stores.doctor != nil)
            let vectors = try #require(stores.vectors as? SQLiteVectorStore), memories = try #require(stores.memories as? SQLiteMemoryStore)
            #expect(vectors.database === memories.database, "one owner per file")
        }
        try await Engram.withStores("memory:", access: .create) { stores in
            #expect(stores.kind == "memory" && stores.generations != nil && stores.backupSource != nil)
            #expect(stores.restoreTarget == nil && stores.doctor == nil)
            do {
                _ = try stores.require(\.doctor, "check itself")
                Issue.record("a missing capability was returned")
            } catch let e as EngramError {
                #expect(e.code == .unsupported && e.message == "a memory store cannot check itself")
            }
        }
    }

    @Test func accessSaysWhetherAStoreMayBeCreated() async throws {
        let path = try Self.scratch("new.sqlite")
        for access in [StoreAccess.existing, .inspect] {
            do {
                try await Engram.withStores("sqlite:\(path)", access: access) { (_: Stores) -> Void in Issue.record("a missing store was opened with \(access)") }
            } catch let e as EngramError {
                #expect(e.code == .notFound && e.message.contains("no Engram store at"))
            }
            #expect(!FileManager.default.fileExists(atPath: path), "refusing created nothing")
        }
        let ref = CollectionRef(tenant: "t", name: "c")
        try await Engram.withStores("sqlite:\(path)", access: .create) { stores in
            _ = try await stores.vectors.createCollection(ref, identity: HashEmbedder(dimension: 8).identity)
            _ = try await stores.memories.remember(MemoryDraft(tenant: "t", subject: "u", content: "likes tea"), actor: "test")
        }
        let (collection, memories) = try await Engram.withStores("sqlite:\(path)", access: .existing) { stores in
            (try await stores.vectors.collection(ref), try await stores.memories.list(MemoryListRequest(tenant: "t")).memories)
        }
        #expect(collection != nil && memories.count == 1)
    }

    /// `.read` never migrates and never writes; `.inspect` reports the schema as it is; a writer migrates.
    @Test func readersNeitherMigrateNorWrite() async throws {
        let path = try Self.scratch("old.sqlite")
        do {
            // A store as an earlier Engram left it (WAL, like every store), closed before the test opens it.
            let pool = try DatabasePool(path: path)
            try SQLiteSchema.migrator.migrate(pool, upTo: "v3_chunk_generations")
            try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            try pool.close()
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            try await Engram.withStores("sqlite:\(path)", access: .read) { (_: Stores) -> Void in Issue.record("a store that needs migrating was read") }
        } catch let e as EngramError {
            #expect(e.code == .schemaMismatch && e.message.contains("engram migrate"), "\(e.message)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes, "the reader did not change the file")
        let report = try await Engram.withStores("sqlite:\(path)", access: .inspect) { try await $0.require(\.doctor, "check itself").diagnose(tenants: nil) }
        #expect(report.pendingMigrations == Array(SQLiteVectorStore.knownMigrations.dropFirst(3)) && !report.healthy, "doctor reports the pending migrations: \(report.pendingMigrations)")
        // (Doctor's connection may write: GRDB's pool set-up, and the keyword index check, are write statements that change no row.)
        #expect(try await Engram.withMigrations("sqlite:\(path)") { try await $0.status() }.filter(\.applied).count == 3, "doctor migrated nothing")

        let ref = CollectionRef(tenant: "t", name: "c")
        try await Engram.withStores("sqlite:\(path)", access: .existing) { stores in
            _ = try await stores.vectors.createCollection(ref, identity: HashEmbedder(dimension: 8).identity)
        }
        let applied = try await Engram.withMigrations("sqlite:\(path)") { try await $0.status() }
        #expect(applied.allSatisfy { $0.applied }, "a writer migrated the file")
        try await Engram.withStores("sqlite:\(path)", access: .read) { (stores: Stores) async throws -> Void in
            #expect(try await stores.vectors.collection(ref) != nil)
            #expect(try await stores.memories.list(MemoryListRequest(tenant: "t")).memories.isEmpty)
            await #expect(throws: EngramError.self, "a reader cannot write documents") {
                _ = try await stores.vectors.createCollection(CollectionRef(tenant: "t", name: "other"), identity: HashEmbedder(dimension: 8).identity)
            }
            await #expect(throws: EngramError.self, "nor memories") {
                _ = try await stores.memories.remember(MemoryDraft(tenant: "t", subject: "u", content: "x"), actor: "test")
            }
        }
        #expect(try await Engram.withStores("sqlite:\(path)", access: .read) { try await $0.vectors.collections(tenant: "t").count } == 1)
    }

    @Test func migrationsAreReadWithoutOpeningTheStore() async throws {
        let path = try Self.scratch("migrations.sqlite")
        await #expect(throws: EngramError.self) { try await Engram.withMigrations("sqlite:\(path)") { try await $0.status() } }
        let applied = try await Engram.withMigrations("sqlite:\(path)") { try await $0.migrate(grantTo: nil) }
        #expect(applied == Array(1...SQLiteVectorStore.schemaVersion))
        let status = try await Engram.withMigrations("sqlite:\(path)") { try await $0.status() }
        #expect(status.count == SQLiteVectorStore.schemaVersion && status.allSatisfy(\.applied))
        #expect(try await Engram.withMigrations("sqlite:\(path)") { try await $0.migrate(grantTo: nil) } == [])
        do {
            _ = try await Engram.withMigrations("sqlite:\(path)") { try await $0.migrate(grantTo: "app") }
            Issue.record("a role was accepted for SQLite")
        } catch let e as EngramError {
            #expect(e.code == .invalidInput)
        }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"] != nil || ProcessInfo.processInfo.environment["ENGRAM_REQUIRE_SERVICES"] == "1"))
    func postgresIsOpenedThroughTheSameEntryPoint() async throws {
        let base = try #require(ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"])
        let schema = "engram_kit_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
        let url = base + "?schema=\(schema)"
        do {
            try await Engram.withStores(url, access: .existing) { (_: Stores) -> Void in Issue.record("an unmigrated schema was opened") }
        } catch let e as EngramError {
            #expect(e.code == .schemaMismatch && e.message.contains("engram migrate"), "\(e.message)")
        }
        let ref = CollectionRef(tenant: "t", name: "c")
        try await Engram.withStores(url, access: .create) { stores in
            #expect(stores.kind == "postgres" && stores.restoreTarget != nil && stores.doctor != nil && stores.generations != nil)
            let vectors = try #require(stores.vectors as? PostgresVectorStore), memories = try #require(stores.memories as? PostgresMemoryStore)
            #expect(vectors.database === memories.database, "one owner per schema")
            _ = try await stores.vectors.createCollection(ref, identity: HashEmbedder(dimension: 8).identity)
            do {
                _ = try await stores.require(\.doctor, "check itself").diagnose(tenants: nil)
                Issue.record("PostgreSQL checked every tenant through row-level security")
            } catch let e as EngramError {
                #expect(e.code == .invalidInput && e.message.contains("--tenant"))
            }
        }
        let status = try await Engram.withMigrations(url) { try await $0.status() }
        #expect(!status.isEmpty && status.allSatisfy(\.applied))
        let collection = try await Engram.withStores(url, access: .existing) { try await $0.vectors.collection(ref) }
        #expect(collection != nil)
        try await Engram.withStores(url, access: .read) { (stores: Stores) async throws -> Void in
            #expect(try await stores.vectors.collection(ref) != nil)
            do {
                _ = try await stores.vectors.createCollection(CollectionRef(tenant: "t", name: "other"), identity: HashEmbedder(dimension: 8).identity)
                Issue.record("a reader created a collection")
            } catch let e as EngramError {
                #expect(e.code == .unsupported && e.message.contains("opened for reading"), "\(e.message)")
            }
            await #expect(throws: EngramError.self, "nor memories") {
                _ = try await stores.memories.remember(MemoryDraft(tenant: "t", subject: "u", content: "x"), actor: "test")
            }
        }
        #expect(try await Engram.withStores(url, access: .read) { try await $0.vectors.collections(tenant: "t").count } == 1)
        try await PostgresStoreConfiguration(url: base).withClient { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
        }
    }
}

/// The README's library example is `Examples/readme/main.swift`, which the build compiles (target
/// `readme-example`): the two must stay the same text.
@Test func theReadmeLibraryExampleIsTheCompiledOne() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    let example = try String(contentsOf: root.appendingPathComponent("Examples/readme/main.swift"), encoding: .utf8)
    let start = try #require(readme.range(of: "## Library\n\n```swift\n"))
    let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
    #expect(String(readme[start.upperBound..<end.lowerBound]) == example)
}
