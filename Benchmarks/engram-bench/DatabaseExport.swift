import Foundation
import GRDB

/// Reads every stored vector as one float32 matrix, for the numpy comparison.
enum DatabaseExport {
    static func vectors(storePath: String) throws -> Data {
        let queue = try DatabaseQueue(path: storePath)
        return try queue.read { db in
            var out = Data()
            let cursor = try Data.fetchCursor(db, sql: "SELECT embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY rowid")
            while let blob = try cursor.next() { out.append(blob) }
            return out
        }
    }
}
