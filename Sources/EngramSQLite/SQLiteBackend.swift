import EngramCore
import Foundation
import GRDB

/// `sqlite:PATH` (also `sqlite://PATH`, or a bare path ending in `.sqlite` or `.db`): the embedded store,
/// one file holding documents, chunks and memories.
public enum SQLiteBackend: StoreBackend {
    public static let schemes = ["sqlite"]

    /// The file a URL names, or nil when it is not a SQLite URL.
    public static func path(_ url: String) -> String? {
        if let path = SQLiteVectorStore.path(fromURL: url) { return path }
        return url.hasSuffix(".sqlite") || url.hasSuffix(".db") ? url : nil
    }

    public static func handles(_ url: String) -> Bool { path(url) != nil }

    public static func localFiles(_ url: String) -> [String] {
        path(url).map(SQLiteVectorStore.files(ofDatabaseAt:)) ?? []
    }

    static func requirePath(_ url: String) throws -> String {
        guard let path = path(url) else { throw EngramError(.invalidConfiguration, "not a SQLite store URL: \(url) (expected sqlite:PATH)") }
        return path
    }

    public static func withStores<T>(_ url: String, access: StoreAccess, options: StoreOptions, _ body: (Stores) async throws -> T) async throws -> T {
        let path = try requirePath(url)
        let database = try SQLiteDatabase(path: path, access: access, logger: options.logger)
        let vectors = SQLiteVectorStore(database: database)
        let memories = SQLiteMemoryStore(database: database, retention: options.retention)
        return try await body(Stores(kind: vectors.descriptor.kind, vectors: vectors, memories: memories, runs: SQLiteRunStore(database: database), keys: SQLiteAPIKeyStore(database: database), generations: vectors,
                                     backupSource: vectors, restoreTarget: vectors, doctor: vectors))
    }

    public static func withMigrations<T>(_ url: String, options: StoreOptions, _ body: (any SchemaMigrations) async throws -> T) async throws -> T {
        try await body(Migrations(path: try requirePath(url)))
    }

    /// The file's migrations, read without opening the store (which would migrate it).
    struct Migrations: SchemaMigrations {
        let path: String

        func applied() throws -> [String] {
            try SQLiteDatabase.checkPath(path)
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            do {
                var config = Configuration()
                config.readonly = true
                return try DatabaseQueue(path: path, configuration: config).read { db in try SQLiteSchema.migrator.appliedMigrations(db) }
            } catch {
                throw SQLiteVectorStore.engramError(error)
            }
        }

        func status() async throws -> [MigrationState] {
            guard FileManager.default.fileExists(atPath: path) else {
                throw EngramError(.notFound, "no Engram store at \(FilePaths.display(path)) (engram migrate creates one, or pass --store)")
            }
            let applied = Set(try self.applied())
            return SQLiteVectorStore.knownMigrations.enumerated().map { MigrationState(version: $0 + 1, name: $1, applied: applied.contains($1)) }
        }

        func migrate(grantTo role: String?) async throws -> [Int] {
            guard role == nil else { throw EngramError(.invalidInput, "--grant-to applies to PostgreSQL stores only") }
            let before = Set(try applied())
            _ = try SQLiteDatabase(path: path, access: .create)
            let after = Set(try applied())
            return SQLiteVectorStore.knownMigrations.enumerated().filter { after.contains($1) && !before.contains($1) }.map { $0.offset + 1 }
        }
    }
}
