import Logging
import PostgresNIO

extension PostgresConnection {
    /// Runs a statement and reads its whole result. A query's error can arrive after its first rows, so
    /// a result that is not read could hide the error until the next statement of the transaction
    /// ("current transaction is aborted").
    func execute(_ query: PostgresQuery, logger: Logger) async throws {
        let rows = try await self.query(query, logger: logger)
        for try await _ in rows {}
    }
}

extension PostgresClient {
    /// Runs a statement on a pooled connection and reads its whole result.
    func execute(_ query: PostgresQuery) async throws {
        let rows = try await self.query(query)
        for try await _ in rows {}
    }
}
