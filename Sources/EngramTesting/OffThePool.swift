import Foundation

/// Runs blocking `work` (waiting for a child process, reading a pipe to its end) on a thread of its own
/// and resumes with its outcome.
///
/// Swift's concurrency pool has one thread per core, two on a small machine: a test that blocks one of
/// them stalls every other suite of the process, down to PostgreSQL connects that then time out.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
