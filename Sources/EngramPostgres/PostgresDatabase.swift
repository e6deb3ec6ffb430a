import EngramCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The owner of one Engram schema in a PostgreSQL database, shared by the stores of that schema
/// (``PostgresVectorStore``, ``PostgresMemoryStore``): the client, tenant-scoped transactions, read retries,
/// error classification and statement helpers.
///
/// Every transaction first sets `engram.tenant_id` (`set_config(…, true)`, scoped to the transaction, so
/// pooled connections never leak a tenant); row-level security, forced on every table, then limits each
/// statement to that tenant's rows.
public final class PostgresDatabase: Sendable {
    public let client: PostgresClient
    /// The migrated schema (see ``PostgresMigrator``): validated, the only name spliced into SQL text.
    public let schema: String
    /// The schema as a name that SQL statements splice (validated once, here).
    let schemaName: SQLIdentifier
    let logger: Logger
    /// True when the stores were opened for reading (``StoreAccess/read``): every transaction is read-only,
    /// so the server refuses any write.
    public let readOnly: Bool
    let cachedTypes = Mutex<PGVectorTypes?>(nil)

    /// - Parameters:
    ///   - client: a client whose `run()` the application schedules.
    ///   - readOnly: every transaction is read-only (a store opened for reading).
    ///   - logger: told of retried reads and of indexes a role may not build.
    public init(client: PostgresClient, schema: String = "engram", readOnly: Bool = false,
                logger: Logger = Logger(label: "engram.postgres", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        schemaName = try SQLIdentifier(schema, what: "schema")
        self.client = client
        self.schema = schema
        self.readOnly = readOnly
        self.logger = logger
    }

    /// The OIDs of `vector` and `vector[]`, looked up once.
    func vectorTypes() async throws -> PGVectorTypes {
        if let t = cachedTypes.withLock({ $0 }) { return t }
        do {
            let r = try await client.withConnection { connection in
                try await rows(connection, "SELECT oid::int8 AS oid, typarray::int8 AS arr FROM pg_type WHERE oid = 'vector'::regtype")
            }
            guard let row = r.first else { throw EngramError(.storageFailure, "the pgvector type 'vector' is missing") }
            let t = PGVectorTypes(vector: PostgresDataType(UInt32(try row["oid"].decode(Int64.self))), array: PostgresDataType(UInt32(try row["arr"].decode(Int64.self))))
            cachedTypes.withLock { $0 = t }
            return t
        } catch {
            throw PostgresStoreConfiguration.describe(error)
        }
    }

    /// Runs `body` in a transaction scoped to `tenant`.
    func inTenant<T: Sendable>(_ tenant: String, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await transaction(tenant, body)
        } catch {
            throw PostgresStoreConfiguration.describe(error)
        }
    }

    /// A transaction whose first statement sets `engram.tenant_id` and any `settings` (all transaction-local).
    func transaction<T: Sendable>(_ tenant: String, settings: [(String, String)] = [], readOnly: Bool = false, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        var calls: [PostgresSQL] = ["set_config('engram.tenant_id', \(tenant), true)"]
        for (name, value) in settings { calls.append("set_config(\(name), \(value), true)") }
        // A transaction may always become read-only; the server then refuses its writes (25006).
        if self.readOnly { calls.append("set_config('transaction_read_only', 'on', true)") }
        return try await client.withCheckedTransaction(logger: logger, setup: ("SELECT " + PostgresSQL.joined(calls, separator: ", ")).query,
                                                       awaitCommit: !readOnly, body)
    }

    /// One statement in the implicit transaction the server gives a statement sent on its own: for a
    /// function that sets `engram.tenant_id` itself, first (`run_advance`). One round trip and one
    /// statement for the server, where `BEGIN`, the setting and `COMMIT` around it would be four. Errors
    /// are the driver's, undescribed, for the caller to tell apart.
    func standalone(_ sql: PostgresSQL) async throws -> [PostgresRandomAccessRow] {
        try await client.withConnection { c in try await self.rows(c, sql) }
    }

    /// Delays before the second and third attempt of a read.
    static let readRetryDelays: [Duration] = [.milliseconds(100), .milliseconds(400)]

    /// A read-only ``inTenant(_:_:)`` that is tried again (twice, after a short pause) when it fails for a
    /// reason that a new attempt can fix: the connection was lost or the server terminated the session,
    /// a serialization failure or deadlock, or the server is starting up or shutting down. Writes are
    /// never retried here: the caller decides.
    func reading<T: Sendable>(_ tenant: String, settings: [(String, String)] = [], _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await transaction(tenant, settings: settings, readOnly: true, body)
            } catch {
                guard attempt < Self.readRetryDelays.count, Self.isTransient(error) else {
                    throw PostgresStoreConfiguration.describe(error)
                }
                logger.info("retrying a read after a transient failure", metadata: ["error": "\(PostgresStoreConfiguration.describe(error).message)"])
                try await Task.sleep(for: Self.readRetryDelays[attempt])
                attempt += 1
            }
        }
    }

    static func isTransient(_ error: any Error) -> Bool {
        if unwrapped(error) is ConnectionClosedByServer { return true }
        if let state = sqlState(error) {
            // serialization failure, deadlock, admin/crash shutdown, cannot connect now, connection exceptions
            return ["40001", "40P01", "57P01", "57P02", "57P03"].contains(state) || state.hasPrefix("08")
        }
        guard let e = unwrapped(error) as? PSQLError else { return false }
        return [.serverClosedConnection, .connectionError, .uncleanShutdown].contains(e.code)
    }

    /// The driver's error inside Engram's and postgres-nio's wrappers.
    static func unwrapped(_ error: any Error) -> any Error {
        if let e = error as? EngramError, let inner = e.underlying { return unwrapped(inner) }
        if let t = error as? PostgresTransactionError, let inner = t.closureError ?? t.beginError ?? t.commitError { return unwrapped(inner) }
        return error
    }

    /// The server's SQLSTATE for an error, if the server sent one.
    static func sqlState(_ error: any Error) -> String? {
        (unwrapped(error) as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Runs a statement and returns all its rows. They are collected on the connection's event loop and
    /// handed over once: reading them as an async sequence costs a second wait per statement.
    func rows(_ connection: PostgresConnection, _ sql: PostgresSQL) async throws -> [PostgresRandomAccessRow] {
        try await connection.enqueue(sql.query, logger: logger).get().rows.map { $0.makeRandomAccess() }
    }


    /// Runs a write transaction again when it lost a race with another writer of the same documents: the
    /// other one inserted a document this one had seen missing (unique violation) or the two locked
    /// documents in opposite orders (deadlock). The transaction rolled back whole, and the next attempt
    /// reads the documents afresh, so it replaces what the other one wrote.
    func retryingConflicts<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch where attempt < 4 && ["23505", "40P01"].contains(Self.sqlState(error)) {
                attempt += 1
                try await Task.sleep(for: .milliseconds(5 * attempt))
            }
        }
    }
}

/// The vector store's statements go through its database.
extension PostgresVectorStore {
    func vectorTypes() async throws -> PGVectorTypes { try await database.vectorTypes() }

    func inTenant<T: Sendable>(_ tenant: String, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await database.inTenant(tenant, body)
    }

    func reading<T: Sendable>(_ tenant: String, settings: [(String, String)] = [], _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await database.reading(tenant, settings: settings, body)
    }

    func rows(_ connection: PostgresConnection, _ sql: PostgresSQL) async throws -> [PostgresRandomAccessRow] {
        try await database.rows(connection, sql)
    }

    func retryingConflicts<T: Sendable>(_ body: () async throws -> T) async throws -> T { try await database.retryingConflicts(body) }

    static func sqlState(_ error: any Error) -> String? { PostgresDatabase.sqlState(error) }
}
