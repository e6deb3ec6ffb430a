import EngramCore
import Logging
import PostgresNIO

/// Applies ``PostgresSchema/migrations`` to a database.
///
/// All pending migrations run in one transaction that first takes a transaction-scoped advisory lock,
/// so two processes migrating at once are safe: the second waits, then finds nothing to do. Applied
/// migrations are recorded in `SCHEMA.schema_migrations` with their checksum; a recorded checksum that
/// differs from this build's (an edited migration) or a version this build does not know (a newer
/// database) is refused with `schema_mismatch` before anything is changed.
public struct PostgresMigrator: Sendable {
    public enum State: String, Sendable, Codable {
        case applied, pending
    }

    public struct Status: Sendable, Hashable, Codable {
        public var version: Int
        public var name: String
        public var state: State
    }

    /// Advisory lock key shared by every Engram migrator ("engram-migrations" in spirit).
    public static let lockKey: Int64 = 0x656E_6772_616D_0001

    public let schema: String
    /// The schema as statements splice it.
    let schemaName: SQLIdentifier
    public let migrations: [PostgresMigration]
    let logger: Logger

    public init(schema: String = "engram", migrations: [PostgresMigration] = PostgresSchema.migrations, logger: Logger = Logger(label: "engram.migrate", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        schemaName = try SQLIdentifier(schema, what: "schema")
        let versions = migrations.map(\.version)
        precondition(versions == Array(1...max(1, versions.count)).prefix(versions.count).map { $0 }, "migrations must be numbered 1, 2, 3, … in order")
        self.schema = schema
        self.migrations = migrations
        self.logger = logger
    }

    struct Recorded {
        var version: Int
        var name: String
        var checksum: String
    }

    func recorded(_ connection: PostgresConnection) async throws -> [Recorded]? {
        let exists = try await connection.checkedQuery("SELECT to_regclass(\(schema + ".schema_migrations")) IS NOT NULL", logger: logger)
        var found = false
        for try await (flag) in exists.decode(Bool.self) { found = flag }
        guard found else { return nil }
        let rows = try await connection.checkedQuery(("SELECT version, name, checksum FROM \(schemaName).schema_migrations ORDER BY version" as PostgresSQL).query, logger: logger)
        var out: [Recorded] = []
        for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
            out.append(Recorded(version: version, name: name, checksum: checksum))
        }
        return out
    }

    /// Refuses a database that this build must not touch.
    func check(_ recorded: [Recorded]) throws {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for r in recorded {
            guard let m = known[r.version] else {
                throw EngramError(.schemaMismatch, "the database schema has migration \(r.version) (\(r.name)), which this build does not know: it was migrated by a newer Engram")
            }
            guard m.checksum == r.checksum else {
                throw EngramError(.schemaMismatch, "migration \(r.version) (\(r.name)) was changed after it was applied: checksum \(r.checksum.prefix(12))… in the database, \(m.checksum.prefix(12))… in this build; shipped migrations must never be edited — add a new one")
            }
        }
    }

    /// Applied and pending migrations.
    /// - Throws: `schema_mismatch` for a newer or edited schema.
    public func status(_ client: PostgresClient) async throws -> [Status] {
        let recorded: [Recorded]
        do {
            recorded = try await client.withConnection { try await self.recorded($0) } ?? []
        } catch {
            throw PostgresStoreConfiguration.describe(error)
        }
        try check(recorded)
        let applied = Set(recorded.map(\.version))
        return migrations.map { Status(version: $0.version, name: $0.name, state: applied.contains($0.version) ? .applied : .pending) }
    }

    /// Applies pending migrations; returns the versions it applied (empty when up to date).
    /// - Parameter grantTo: a role given the privileges an application needs (schema usage, table DML).
    /// - Throws: `schema_mismatch` (nothing is changed), or `storage_failure` with the server's message.
    @discardableResult
    public func migrate(_ client: PostgresClient, grantTo role: String? = nil) async throws -> [Int] {
        let grantee = try role.map { try SQLIdentifier($0, what: "role") }
        do {
            return try await apply(client, migrations: migrations, grantee: grantee, logger: logger)
        } catch {
            throw PostgresStoreConfiguration.describe(error)
        }
    }

    func apply(_ client: PostgresClient, migrations: [PostgresMigration], grantee: SQLIdentifier?, logger: Logger) async throws -> [Int] {
        let schema = self.schema, name = schemaName
        return try await client.withCheckedTransaction(logger: logger) { connection in
            try await connection.execute("SELECT pg_advisory_xact_lock(\(PostgresMigrator.lockKey))", logger: logger)
            try await connection.execute(("CREATE SCHEMA IF NOT EXISTS \(name)" as PostgresSQL).query, logger: logger)
            try await connection.execute(("""
                CREATE TABLE IF NOT EXISTS \(name).schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """ as PostgresSQL).query, logger: logger)
            let recorded = try await self.recorded(connection) ?? []
            try self.check(recorded)
            let applied = Set(recorded.map(\.version))
            var done: [Int] = []
            for m in migrations where !applied.contains(m.version) {
                logger.info("applying migration", metadata: ["version": "\(m.version)", "name": "\(m.name)"])
                // Shipped migrations are frozen text.
                for statement in m.sql(schema: schema) {
                    try await connection.execute(PostgresSQL(unsafeRaw: statement).query, logger: logger)
                }
                try await connection.execute(("INSERT INTO \(name).schema_migrations (version, name, checksum) VALUES (\(SQLValue(m.version)), \(m.name), \(m.checksum))" as PostgresSQL).query,
                                             logger: logger)
                done.append(m.version)
            }
            if let role = grantee {
                let statements: [PostgresSQL] = [
                    "GRANT USAGE ON SCHEMA \(name) TO \(role)",
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \(name) TO \(role)",
                    "REVOKE INSERT, UPDATE, DELETE ON \(name).schema_migrations FROM \(role)",
                    """
                    DO $$ BEGIN
                        IF to_regclass('\(name).memory_events') IS NOT NULL THEN
                            REVOKE UPDATE, DELETE, TRUNCATE ON \(name).memory_events FROM \(role);
                        END IF;
                    END $$
                    """,
                    """
                    DO $$ BEGIN
                        IF to_regclass('\(name).run_audit') IS NOT NULL THEN
                            REVOKE UPDATE, DELETE, TRUNCATE ON \(name).run_audit FROM \(role);
                        END IF;
                    END $$
                    """,
                ]
                for statement in statements {
                    try await connection.execute(statement.query, logger: logger)
                }
            }
            return done
        }
    }
}
