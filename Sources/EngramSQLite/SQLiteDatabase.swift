#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EngramCore
import Foundation
import GRDB
import Logging
import Synchronization

/// The owner of one SQLite file, shared by the stores of that file (``SQLiteVectorStore``,
/// ``SQLiteMemoryStore``): its connections, its migrations, and the erasure it must finish.
///
/// Reads go through one read-only pool, so that reading a store never changes the file; on a read-only
/// file system (where SQLite cannot create the write-ahead log's index) through one connection to the file
/// opened `immutable`. How it opens is the caller's ``StoreAccess``: a writer (`.create`, `.existing`)
/// migrates a file whose schema is behind at once, through the read-write pool; a reader (`.read`) never
/// migrates and never writes — a file that needs migrating is refused (`schema_mismatch`) and every write
/// is refused; `.inspect` (doctor) takes the schema as it is. The read-write pool is otherwise opened at the
/// first write. Reads stay on the read-only pool even then: the writer's
/// connections map the file (`mmap_size`, for the memory store's scans), which a search's reads do not
/// need (measured: 1.12 GB peak instead of 0.86 GB over the linux-doc benchmark).
public final class SQLiteDatabase: Sendable {
    public let path: String
    /// Serves every read.
    let reader: any DatabaseReader
    /// True when the file lives on a read-only file system: it can be read, not written.
    public let readOnlyMedium: Bool
    /// The read-write pool, opened at the first write (GRDB's WAL set-up writes to the file on open).
    private let writerPool = Mutex<DatabasePool?>(nil)
    /// How the caller opened the file: `.read` refuses every write, `.inspect` opens a writer that does not
    /// migrate.
    public let access: StoreAccess
    let now: @Sendable () -> Date
    let logger: Logger

    /// Opens the file at `path`: creates it for `.create` (the default); otherwise it must exist.
    ///
    /// Reads never write to the file; the first write opens the read-write connection. For a writer, a
    /// file whose schema is behind is migrated at once (unless it is on a read-only file system).
    /// - Throws: `not_found` when the file does not exist and `access` is not `.create`;
    ///   `schema_mismatch` when `access` is `.read` and the schema is behind; `invalid_configuration`
    ///   when the path is a folder or a special file; `storage_failure` when it cannot be opened or
    ///   migrated, or was written by a newer Engram.
    /// - Parameter logger: told when the file is read as immutable, migrated, or a pending erasure is finished.
    public init(path: String, access: StoreAccess = .create, now: @escaping @Sendable () -> Date = { Date() },
                logger: Logger = Logger(label: "engram.sqlite", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        self.path = path
        self.access = access
        self.now = now
        self.logger = logger
        try Self.checkPath(path)
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists {
            guard access == .create else {
                throw EngramError(.notFound, "no Engram store at \(FilePaths.display(path)) (ingest or remember something first, or pass --store)")
            }
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }
        do {
            let migrator = SQLiteSchema.migrator
            var opened: (any DatabaseReader)?
            var state: (completed: Bool, superseded: Bool) = (false, false)
            if !exists {
                // GRDB's WAL set-up writes the file: the writer creates it, then the readers open.
                let writer = try Self.openWriter(path)
                writerPool.withLock { $0 = writer }
            }
            var config = Configuration()
            config.readonly = true
            config.busyMode = .timeout(10)
            do {
                let pool = try DatabasePool(path: path, configuration: config)
                state = try pool.read { db in try (migrator.hasCompletedMigrations(db), migrator.hasBeenSuperseded(db)) }
                opened = pool
            } catch where exists && Self.onReadOnlyFileSystem(path) {
                // Nobody can write through a read-only mount, so the file may be read as immutable (no
                // locks, no shared-memory index to create).
                logger.notice("the store is on a read-only file system: reading it as immutable", metadata: ["path": "\(path)"])
                let queue = try DatabaseQueue(path: URL(fileURLWithPath: path).absoluteString + "?immutable=1", configuration: config)
                state = try queue.read { db in try (migrator.hasCompletedMigrations(db), migrator.hasBeenSuperseded(db)) }
                opened = queue
            }
            reader = opened!
            let immutable = opened is DatabaseQueue
            readOnlyMedium = immutable
            if state.superseded {
                throw EngramError(.storageFailure, "the store at \(FilePaths.display(path)) was written by a newer Engram (its schema has migrations this build does not know)")
            }
            if !state.completed, access == .read {
                throw EngramError(.schemaMismatch, "the store at \(FilePaths.display(path)) was made by an older Engram and needs migrating before it can be read: run `engram migrate` (or any command that writes)")
            }
            if !state.completed, access != .inspect {
                guard !immutable else {
                    throw EngramError(.storageFailure, "the store at \(FilePaths.display(path)) needs migrating, but it is on a read-only file system: migrate it where it can be written")
                }
                logger.info("migrating the store", metadata: ["path": "\(path)", "schema_version": "\(SQLiteVectorStore.schemaVersion)"])
                _ = try writer()
            }
            if !immutable, (try? reader.read({ db in try SQLiteErasure.isPending(db) })) == true {
                // Finishing a deletion is the one write a reader makes: a checkpoint, which changes no row.
                let done = SQLiteErasure.complete(access == .read ? try Self.openWriter(path, migrating: false) : try writer(), now: now())
                logger.info(done ? "finished a pending erasure" : "an erasure is still pending: a reader holds an older snapshot", metadata: ["path": "\(path)"])
            }
        } catch let e as EngramError {
            throw e
        } catch {
            throw EngramError(.storageFailure, "cannot open SQLite store at \(FilePaths.display(path)): \(SQLiteVectorStore.engramError(error).message)", underlying: error)
        }
    }

    /// The read-write pool, opened (and the schema migrated) on first use.
    func writer() throws -> DatabasePool {
        if access == .read {
            throw EngramError(.unsupported, "the store at \(FilePaths.display(path)) was opened for reading: nothing may be written to it")
        }
        if readOnlyMedium {
            throw EngramError(.storageFailure, "the store at \(FilePaths.display(path)) is on a read-only file system: it can be read, not changed")
        }
        return try writerPool.withLock { current in
            if let current { return current }
            do {
                let pool = try Self.openWriter(path, migrating: access != .inspect)
                current = pool
                return pool
            } catch {
                throw EngramError(.storageFailure, "cannot open SQLite store at \(FilePaths.display(path)) for writing: \(SQLiteVectorStore.engramError(error).message)", underlying: error)
            }
        }
    }

    /// The migrations applied to the file, oldest first.
    public func appliedMigrations() throws -> [String] {
        do {
            return try reader.read { db in try SQLiteSchema.migrator.appliedMigrations(db) }
        } catch {
            throw SQLiteVectorStore.engramError(error)
        }
    }

    /// Whether the file's folder is on a read-only file system (or cannot be written by this user).
    static func onReadOnlyFileSystem(_ path: String) -> Bool {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var fs = statvfs()
        if statvfs(folder, &fs) == 0, fs.f_flag & UInt(ST_RDONLY) != 0 { return true }
        return Glibc.access(folder, W_OK) != 0
    }

    /// Refuses a store path that names a folder or a special file before SQLite tries it (it would say
    /// "disk I/O error", or block on a FIFO).
    static func checkPath(_ path: String) throws {
        guard !path.isEmpty else { throw EngramError(.invalidConfiguration, "the SQLite store path is empty") }
        var s = stat()
        guard stat(path, &s) == 0 else { return }
        switch FilePaths.kind(s.st_mode) {
        case .regular: return
        case .directory:
            throw EngramError(.invalidConfiguration, "the store path \(FilePaths.display(path)) is a folder; name the store's file (for example sqlite:\(FilePaths.display((path as NSString).appendingPathComponent("engram.sqlite"))))")
        case let kind:
            throw EngramError(.invalidConfiguration, "the store path \(FilePaths.display(path)) is \(kind.article), not a SQLite file")
        }
    }

    /// A read-write pool on the file, migrated unless `migrating` is false (doctor reports a schema, it
    /// does not change it).
    static func openWriter(_ path: String, migrating: Bool = true) throws -> DatabasePool {
        var config = Configuration()
        config.busyMode = .timeout(10)
        // Deleted rows' bytes are overwritten, not left in free pages (forgetting a memory must remove it).
        // Reads of whole tables (recall scans a tenant's memories) come from the page cache without a system call per page.
        config.prepareDatabase { db in try db.execute(literal: "PRAGMA secure_delete = ON; PRAGMA mmap_size = 1073741824") }
        let pool = try DatabasePool(path: path, configuration: config)
        if migrating { try SQLiteSchema.migrator.migrate(pool) }
        return pool
    }
}

extension SQLiteDatabase {
    /// A write transaction of the file's writer, its errors as ``EngramError``s.
    func writing<T>(_ body: (Database) throws -> T) async throws -> T {
        do {
            return try await writer().write(body)
        } catch {
            throw SQLiteVectorStore.engramError(error)
        }
    }

    /// A read on the read-only pool, its errors as ``EngramError``s.
    func reading<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await reader.read(body)
        } catch {
            throw SQLiteVectorStore.engramError(error)
        }
    }
}
