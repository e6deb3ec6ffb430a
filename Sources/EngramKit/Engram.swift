import EngramCore
import EngramPostgres
import EngramSQLite
import Foundation

/// The library's entry point: opens what a store URL names. The command line, the benchmarks and the
/// server open stores only through it.
///
/// ```swift
/// try await Engram.withStores("sqlite:notes.sqlite", access: .create) { stores in
///     let hits = try await Retriever(store: stores.vectors, embedder: embedder).search(...)
/// }
/// ```
public enum Engram {
    /// Every backend this build can open, tried in order. A new backend is one module and one entry here.
    public static let backends: [any StoreBackend.Type] = [SQLiteBackend.self, PostgresBackend.self, InMemoryBackend.self]

    /// The backend of `url`, or `invalid_configuration` listing the URLs this build opens.
    public static func backend(for url: String) throws -> any StoreBackend.Type {
        if let backend = backends.first(where: { $0.handles(url) }) { return backend }
        throw EngramError(.invalidConfiguration, "unknown store URL '\(url)' (expected sqlite:PATH, postgres://USER@HOST:PORT/DATABASE or memory:)")
    }

    /// Opens the stores `url` names for the duration of `body`, then closes them (a PostgreSQL client is
    /// shut down, SQLite's connections are closed).
    public static func withStores<T>(_ url: String, access: StoreAccess, options: StoreOptions = StoreOptions(),
                                     _ body: (Stores) async throws -> T) async throws -> T {
        try await backend(for: url).withStores(url, access: access, options: options, body)
    }

    /// The schema migrations of the store `url` names, without opening it for use.
    public static func withMigrations<T>(_ url: String, options: StoreOptions = StoreOptions(),
                                         _ body: (any SchemaMigrations) async throws -> T) async throws -> T {
        try await backend(for: url).withMigrations(url, options: options, body)
    }

    /// The local files of the store `url` names (existing or not), which no output may replace; empty for
    /// a server or an unknown URL.
    public static func localFiles(of url: String) -> [String] {
        backends.first(where: { $0.handles(url) })?.localFiles(url) ?? []
    }
}
