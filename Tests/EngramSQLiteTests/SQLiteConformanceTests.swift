import EngramCore
import EngramSQLite
import EngramTesting
import Foundation
import Testing

func temporaryStorePath() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent("store.sqlite").path
}

@Suite("SQLite store conformance")
struct SQLiteConformanceTests {
    @Test(arguments: VectorStoreConformance.cases)
    func conformance(_ check: ConformanceCase) async throws {
        try await check.run(on: SQLiteVectorStore(path: temporaryStorePath()))
    }
}
