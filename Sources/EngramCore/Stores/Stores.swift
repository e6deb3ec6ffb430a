import Logging

/// How a store is opened.
public enum StoreAccess: Sendable, Hashable {
    /// Create the store when it does not exist, and bring its schema up to date.
    case create
    /// The store must exist (`not_found` otherwise). A PostgreSQL schema must be up to date
    /// (`schema_mismatch` otherwise: run `engram migrate`); a SQLite file is migrated by its first writer.
    case existing
    /// The store must exist and is only read: its schema is never migrated (a store that needs migrating is
    /// refused with `schema_mismatch`: run `engram migrate`) and any write is refused. The one write a read
    /// may make is finishing a SQLite erasure a reader held back (a checkpoint; it changes no row).
    case read
    /// The store must exist; its schema is taken as it is, neither migrated nor refused (to report on it:
    /// `doctor`).
    case inspect
}

/// Settings every backend takes when it opens its stores.
public struct StoreOptions: Sendable {
    /// Retention policies of the memory store.
    public var retention: RetentionPolicies
    /// Receives the stores' and drivers' messages; by default they are dropped.
    public var logger: Logger

    public init(retention: RetentionPolicies = .standard, logger: Logger = Logger(label: "engram", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.retention = retention
        self.logger = logger
    }
}

/// Everything a store URL names, opened: the stores, and the optional capabilities of its backend. A
/// capability is present exactly when the backend implements it, which the backend states when it builds
/// this value (the compiler checks the conformance); callers never cast.
public struct Stores: Sendable {
    /// The backend's kind (`sqlite`, `postgres`, `memory`), as in ``StoreDescriptor/kind``.
    public let kind: String
    public let vectors: any VectorStore
    public let memories: any MemoryStore
    /// Run state for agents.
    public let runs: any RunStore
    /// API keys of the store's tenants (`engram keys`, `engram serve`).
    public let keys: any APIKeyStore
    /// Reindexing into a new generation (``GenerationalStore``).
    public let generations: (any GenerationalStore)?
    /// Reading every row for a backup archive.
    public let backupSource: (any BackupSource)?
    /// Writing a whole restore in one transaction; without it a restore goes through the stores' operations.
    public let restoreTarget: (any RestoreTarget)?
    /// Checking the store's own consistency (`engram doctor`).
    public let doctor: (any StoreDoctor)?

    public init(kind: String, vectors: any VectorStore, memories: any MemoryStore, runs: any RunStore, keys: any APIKeyStore, generations: (any GenerationalStore)? = nil,
                backupSource: (any BackupSource)? = nil, restoreTarget: (any RestoreTarget)? = nil, doctor: (any StoreDoctor)? = nil) {
        self.kind = kind
        self.vectors = vectors
        self.memories = memories
        self.runs = runs
        self.keys = keys
        self.generations = generations
        self.backupSource = backupSource
        self.restoreTarget = restoreTarget
        self.doctor = doctor
    }

    /// The capability, or `unsupported` naming what this backend cannot do.
    public func require<T>(_ capability: KeyPath<Stores, T?>, _ what: String) throws -> T {
        guard let value = self[keyPath: capability] else {
            throw EngramError(.unsupported, "a \(kind) store cannot \(what)")
        }
        return value
    }
}

/// One migration of a store's schema and whether it has been applied.
public struct MigrationState: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let applied: Bool

    public init(version: Int, name: String, applied: Bool) {
        self.version = version
        self.name = name
        self.applied = applied
    }
}

/// A store's schema migrations (`engram migrate`).
public protocol SchemaMigrations: Sendable {
    /// Every migration this build knows, oldest first, and whether the store has it.
    func status() async throws -> [MigrationState]
    /// Applies the pending migrations (creating the store when missing) and returns the versions applied now.
    /// - Parameter role: PostgreSQL: a role to grant what an application needs; other backends refuse one.
    func migrate(grantTo role: String?) async throws -> [Int]
}

/// A backend: the URLs it opens and how. One type per backend module; the entry point (`EngramKit`) lists
/// them, so adding a backend is one module and one line there.
public protocol StoreBackend: Sendable {
    /// URL schemes this backend opens (`sqlite`, `postgres`, …), named in error messages.
    static var schemes: [String] { get }
    /// Whether `url` names a store of this backend.
    static func handles(_ url: String) -> Bool
    /// Local files of the store (existing or not) that no output of a command may replace; none for a server.
    static func localFiles(_ url: String) -> [String]
    /// Opens the stores `url` names for the duration of `body`, then closes them.
    static func withStores<T>(_ url: String, access: StoreAccess, options: StoreOptions, _ body: (Stores) async throws -> T) async throws -> T
    /// The schema migrations of the store at `url`, without opening it for use.
    static func withMigrations<T>(_ url: String, options: StoreOptions, _ body: (any SchemaMigrations) async throws -> T) async throws -> T
}

/// `memory:` — the in-memory reference stores, empty at every open and gone when `body` returns (tests,
/// examples, a library user's scratch space).
public enum InMemoryBackend: StoreBackend {
    public static let schemes = ["memory"]

    public static func handles(_ url: String) -> Bool { url.hasPrefix("memory:") }

    public static func localFiles(_ url: String) -> [String] { [] }

    public static func withStores<T>(_ url: String, access: StoreAccess, options: StoreOptions, _ body: (Stores) async throws -> T) async throws -> T {
        guard access == .create else {
            throw EngramError(.notFound, "an in-memory store is empty when opened: nothing exists to \(access == .inspect ? "inspect" : "open") (open it with create)")
        }
        let vectors = InMemoryVectorStore()
        return try await body(Stores(kind: vectors.descriptor.kind, vectors: vectors, memories: InMemoryMemoryStore(retention: options.retention),
                                     runs: InMemoryRunStore(), keys: InMemoryAPIKeyStore(), generations: vectors, backupSource: vectors))
    }

    public static func withMigrations<T>(_ url: String, options: StoreOptions, _ body: (any SchemaMigrations) async throws -> T) async throws -> T {
        try await body(NoMigrations())
    }

    /// A store without a schema.
    struct NoMigrations: SchemaMigrations {
        func status() async throws -> [MigrationState] { [] }
        func migrate(grantTo role: String?) async throws -> [Int] {
            if role != nil { throw EngramError(.invalidInput, "an in-memory store has no roles to grant to (grant-to is for PostgreSQL)") }
            return []
        }
    }
}
