import EngramCore
import Logging
import PostgresNIO

/// A statement refused because the server had already closed its connection (see
/// ``PostgresConnection/checkedQuery(_:logger:)``); the transaction was rolled back.
struct ConnectionClosedByServer: Error, Sendable {}

extension PostgresConnection {
    /// Runs a statement and reads its whole result. A query's error can arrive after its first rows, so
    /// a result that is not read could hide the error until the next statement of the transaction
    /// ("current transaction is aborted").
    func execute(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await checkedQuery(query, logger: logger) {}
    }

    /// `query`, refusing a connection the server has already closed. postgres-nio 1.33 never answers a
    /// query written to a closed channel (the write fails with no one to tell), so a connection lost
    /// between two statements of a transaction would otherwise hang the caller forever.
    func checkedQuery(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        guard !isClosed else { throw ConnectionClosedByServer() }
        return try await self.query(query, logger: logger)
    }
}

extension PostgresClient {
    /// Runs a statement on a pooled connection and reads its whole result.
    func execute(_ query: PostgresQuery) async throws {
        let rows = try await self.query(query)
        for try await _ in rows {}
    }
}

extension PostgresClient {
    /// `withTransaction`, with every statement (BEGIN, COMMIT, ROLLBACK included) refused on a connection
    /// the server has closed instead of hanging (see ``PostgresConnection/checkedQuery(_:logger:)``).
    /// Errors of `body` are rethrown as they are.
    func withCheckedTransaction<T: Sendable>(logger: Logger, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await connection.execute("BEGIN", logger: logger)
            let value: T
            do {
                value = try await body(connection)
            } catch {
                if !connection.isClosed { try? await connection.execute("ROLLBACK", logger: logger) }
                throw error
            }
            try await connection.execute("COMMIT", logger: logger)
            return value
        }
    }
}
