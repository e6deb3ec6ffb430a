import EngramCore
import Foundation
import GRDB

/// Makes a deletion complete on disk.
///
/// The writer runs with `secure_delete`, so a deletion overwrites the freed bytes in the pages it writes.
/// Those pages go to the write-ahead log first; the database file and older log frames keep the deleted
/// text until the log is checkpointed into the file and truncated. A checkpoint cannot pass a reader that
/// still holds a snapshot from before the deletion (another process, a long transaction), so when it is
/// held back the deletion is marked pending in the file (`erasure_pending`), and every later connection
/// that opens the store finishes it as soon as no reader holds it back: a read command then writes the
/// checkpoint, which changes no row.
enum SQLiteErasure {
    /// How long a checkpoint waits for readers before the erasure is left pending.
    static let patience = 200

    /// Checkpoints and truncates the log after content was deleted. Returns false when a reader held it
    /// back: the erasure is then recorded as pending.
    @discardableResult
    static func complete(_ pool: DatabasePool, now: Date) -> Bool {
        do {
            if try checkpoint(pool) {
                if try pool.read({ db in try isPending(db) }) {
                    try pool.write { db in try db.execute(literal: "DELETE FROM erasure_pending") }
                    _ = try checkpoint(pool)
                }
                return true
            }
            try pool.write { db in
                try db.execute(literal: "INSERT OR IGNORE INTO erasure_pending (id, since_ms) VALUES (1, \(MetadataValue.milliseconds(now)))")
            }
            return false
        } catch {
            return false
        }
    }

    /// Finishes a pending erasure if one is recorded (called when a store is opened).
    static func finishPending(_ pool: DatabasePool, now: Date) {
        guard (try? pool.read({ db in try isPending(db) })) == true else { return }
        complete(pool, now: now)
    }

    static func isPending(_ db: Database) throws -> Bool {
        guard try db.tableExists("erasure_pending") else { return false }
        return try db.row("SELECT 1 FROM erasure_pending") != nil
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`, waiting at most ``patience`` milliseconds for readers. True
    /// when every frame was copied into the database file and the log was truncated.
    static func checkpoint(_ pool: DatabasePool) throws -> Bool {
        try pool.writeWithoutTransaction { db in
            // A pragma takes no bound argument: the number goes in as digits.
            try db.execute(literal: "PRAGMA busy_timeout = \(sql: String(patience))")
            defer { try? db.execute(literal: "PRAGMA busy_timeout = 10000") }
            guard let row = try db.row("PRAGMA wal_checkpoint(TRUNCATE)") else { return false }
            let busy: Int = row[0]
            return busy == 0
        }
    }
}
