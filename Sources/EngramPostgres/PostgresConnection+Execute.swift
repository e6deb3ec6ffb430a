import EngramCore
import Logging
import PostgresNIO
import Synchronization

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

/// A statement written ahead (``PostgresConnection/enqueueKept(_:logger:)``): its result is kept as soon as
/// it arrives, so reading it after a later statement's answer costs no wait. (Awaiting an
/// `EventLoopFuture` from a task costs two thread switches even when it has completed: one to the event
/// loop to register the callback, one back.)
final class PendingResult: @unchecked Sendable {
    let future: EventLoopFuture<PostgresQueryResult>
    private let result = Mutex<Result<PostgresQueryResult, any Error>?>(nil)

    init(_ future: EventLoopFuture<PostgresQueryResult>) {
        self.future = future
        future.whenComplete { r in self.result.withLock { $0 = r } }
    }

    func get() async throws -> PostgresQueryResult {
        if let r = result.withLock({ $0 }) { return try r.get() }
        return try await future.get()
    }
}

extension PostgresConnection {
    /// ``enqueue(_:logger:)``, keeping the result for a later ``PendingResult/get()``.
    func enqueueKept(_ query: PostgresQuery, logger: Logger) -> PendingResult {
        PendingResult(enqueue(query, logger: logger))
    }

    /// Writes a statement without waiting for its answer. A connection runs its statements one after the
    /// other: whatever is written next queues behind this one on the event loop and goes to the server as
    /// soon as this one is answered, without a round trip through the calling task in between.
    func enqueue(_ query: PostgresQuery, logger: Logger) -> EventLoopFuture<PostgresQueryResult> {
        guard !isClosed else { return eventLoop.makeFailedFuture(ConnectionClosedByServer()) }
        return self.query(query, logger: logger)
    }
}

extension PostgresClient {
    /// `withTransaction`, with every statement (BEGIN, COMMIT, ROLLBACK included) refused on a connection
    /// the server has closed instead of hanging (see ``PostgresConnection/checkedQuery(_:logger:)``).
    ///
    /// `BEGIN` and `setup` are written at once and the body's first statement queues behind them, so the
    /// three cost the caller one wait instead of three. When `BEGIN` or `setup` fails, every statement
    /// after it fails too; the first failure is the one reported. Other errors of `body` are rethrown as
    /// they are.
    ///
    /// With `awaitCommit` false (for read-only bodies), `COMMIT` is written but not waited for: the
    /// connection goes back to the pool at once, and whatever its next user sends queues behind the
    /// `COMMIT`. Nothing a read returned depends on how its `COMMIT` ends.
    func withCheckedTransaction<T: Sendable>(logger: Logger, setup: PostgresQuery? = nil, awaitCommit: Bool = true, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            let opening = [connection.enqueueKept("BEGIN", logger: logger)] + (setup.map { [connection.enqueueKept($0, logger: logger)] } ?? [])
            let value: T
            do {
                value = try await body(connection)
                for statement in opening { _ = try await statement.get() }
            } catch {
                var cause = error
                for statement in opening {
                    do { _ = try await statement.get() } catch { cause = error; break }
                }
                if !connection.isClosed { try? await connection.execute("ROLLBACK", logger: logger) }
                throw cause
            }
            if awaitCommit {
                try await connection.execute("COMMIT", logger: logger)
            } else {
                _ = connection.enqueue("COMMIT", logger: logger)
            }
            return value
        }
    }
}
