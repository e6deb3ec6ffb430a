import EngramCore
import Logging
import PostgresNIO

/// `postgres://USER@HOST:PORT/DATABASE?…` (also `postgresql://`): the production store, one schema of a
/// PostgreSQL database (see ``PostgresStoreConfiguration`` for the URL's settings). The stores share one
/// client, run for as long as they are open.
public enum PostgresBackend: StoreBackend {
    public static let schemes = ["postgres", "postgresql"]

    public static func handles(_ url: String) -> Bool { url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") }

    public static func localFiles(_ url: String) -> [String] { [] }

    public static func withStores<T>(_ url: String, access: StoreAccess, options: StoreOptions, _ body: (Stores) async throws -> T) async throws -> T {
        let config = try PostgresStoreConfiguration(url: url)
        return try await config.withClient(logger: options.logger) { client in
            let migrator = try PostgresMigrator(schema: config.schema, logger: options.logger)
            switch access {
            case .create:
                try await migrator.migrate(client)
            case .existing, .read:
                if try await migrator.status(client).contains(where: { $0.state == .pending }) {
                    throw EngramError(.schemaMismatch, "the PostgreSQL schema '\(config.schema)' is not migrated: run engram migrate --store URL")
                }
            case .inspect:
                break
            }
            let database = try PostgresDatabase(client: client, schema: config.schema, readOnly: access == .read, logger: options.logger)
            let vectors = PostgresVectorStore(database: database, options: config.storeOptions)
            let memories = PostgresMemoryStore(database: database, retention: options.retention)
            return try await body(Stores(kind: vectors.descriptor.kind, vectors: vectors, memories: memories, runs: PostgresRunStore(database: database), keys: PostgresAPIKeyStore(database: database), generations: vectors,
                                         backupSource: vectors, restoreTarget: vectors, doctor: vectors))
        }
    }

    public static func withMigrations<T>(_ url: String, options: StoreOptions, _ body: (any SchemaMigrations) async throws -> T) async throws -> T {
        let config = try PostgresStoreConfiguration(url: url)
        return try await config.withClient(logger: options.logger) { client in
            try await body(Migrations(client: client, migrator: try PostgresMigrator(schema: config.schema, logger: options.logger)))
        }
    }

    struct Migrations: SchemaMigrations {
        let client: PostgresClient
        let migrator: PostgresMigrator

        func status() async throws -> [MigrationState] {
            try await migrator.status(client).map { MigrationState(version: $0.version, name: $0.name, applied: $0.state == .applied) }
        }

        func migrate(grantTo role: String?) async throws -> [Int] {
            try await migrator.migrate(client, grantTo: role)
        }
    }
}
