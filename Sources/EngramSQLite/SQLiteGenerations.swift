import EngramCore
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SQLiteVectorStore: GenerationalStore {
    /// The lock is an exclusive `flock` on a file beside the store, one per collection: the kernel drops it
    /// when the holding process exits, however it exits. The file stays (removing it would race with a
    /// process opening it).
    public func withReindexLock<T: Sendable>(_ ref: CollectionRef, _ body: @Sendable () async throws -> T) async throws -> T {
        let c = try await wrap { try await reader.read { db in try Self.requireCollection(db, ref) } }
        let lockPath = "\(path)-reindex-\(c.id).lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw EngramError(.storageFailure, "cannot open the reindex lock file \(lockPath): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            if errno == EWOULDBLOCK { throw EngramError.reindexRunning(ref) }
            throw EngramError(.storageFailure, "cannot lock \(lockPath): \(String(cString: strerror(errno)))")
        }
        return try await body()
    }

    public func pendingGeneration(_ ref: CollectionRef) async throws -> PendingGeneration? {
        try await wrap { try await reader.read { db in try Self.requireCollection(db, ref).pending } }
    }

    public func beginGeneration(_ ref: CollectionRef, identity: EmbeddingIdentity) async throws -> PendingGeneration {
        try await wrap {
            try await writer().write { db in
                let c = try Self.requireCollection(db, ref)
                if let pending = c.pending {
                    guard pending.identity == identity else { throw EngramError.otherGenerationPending(ref, pending: pending.identity, requested: identity) }
                    return pending
                }
                guard identity != c.info.identity else { throw EngramError.alreadyEmbedded(ref, identity: identity) }
                let pending = PendingGeneration(generation: c.info.generation + 1, identity: identity)
                try db.execute(literal: "DELETE FROM chunks WHERE collection_id = \(c.id) AND generation = \(pending.generation)")
                try db.execute(literal: "UPDATE collections SET pending_generation = \(pending.generation), pending_identity = \(try MemoryRules.storedJSON(identity)) WHERE id = \(c.id)")
                return pending
            }
        }
    }

    static func pendingCollection(_ db: Database, _ ref: CollectionRef, generation: Int) throws -> (CollectionRow, PendingGeneration) {
        let c = try requireCollection(db, ref)
        guard let pending = c.pending, pending.generation == generation else {
            throw EngramError(.notFound, "collection '\(ref.name)' has no pending generation \(generation)")
        }
        return (c, pending)
    }

    /// The condition that an active chunk `a` has a copy in `generation` (same id, same text).
    static func hasCopy(in generation: Int) -> SQL {
        "EXISTS (SELECT 1 FROM chunks p WHERE p.collection_id = a.collection_id AND p.generation = \(generation) AND p.id = a.id AND p.sha256 = a.sha256)"
    }

    public func chunksToEmbed(_ ref: CollectionRef, generation: Int, after: String?, limit: Int) async throws -> [ChunkToEmbed] {
        try await wrap {
            try await reader.read { db in
                let (c, _) = try Self.pendingCollection(db, ref, generation: generation)
                let cursor: SQL = after.map { "AND a.id > \($0)" } ?? ""
                return try db.rows("""
                    SELECT a.id, a.sha256, a.text FROM chunks a
                    WHERE a.collection_id = \(c.id) AND a.generation = \(c.info.generation) AND NOT \(Self.hasCopy(in: generation)) \(cursor)
                    ORDER BY a.id LIMIT \(max(0, limit))
                    """).map { ChunkToEmbed(id: $0["id"], sha256: $0["sha256"], text: $0["text"]) }
            }
        }
    }

    public func writeGeneration(_ ref: CollectionRef, generation: Int, vectors: [GenerationVector]) async throws -> Int {
        try await wrap {
            try await writer().write { db in
                let (c, pending) = try Self.pendingCollection(db, ref, generation: generation)
                for v in vectors { try pending.identity.validate(vector: v.embedding, context: "chunk \(v.chunkID)") }
                // The search caches read the active generation only: no data_version change.
                // Prepared once per connection and run per vector with bound arguments.
                let copy = try db.cachedStatement(literal: """
                    INSERT OR REPLACE INTO chunks (collection_id, id, tenant_id, document_id, generation, ordinal, text, char_start, char_end,
                                                   section, token_count, sha256, metadata, embedding)
                    SELECT collection_id, id, tenant_id, document_id, ?, ordinal, text, char_start, char_end, section, token_count, sha256, metadata, ?
                    FROM chunks WHERE collection_id = ? AND generation = ? AND id = ? AND sha256 = ?
                    """)
                var written = 0
                for v in vectors {
                    try copy.execute(arguments: [generation, Self.blob(v.embedding), c.id, c.info.generation, v.chunkID, v.sha256])
                    written += db.changesCount
                }
                return written
            }
        }
    }

    public func generationProgress(_ ref: CollectionRef, generation: Int) async throws -> GenerationProgress {
        try await wrap {
            try await reader.read { db in
                let (c, _) = try Self.pendingCollection(db, ref, generation: generation)
                return try Self.progress(db, c, generation: generation)
            }
        }
    }

    /// Active chunks of `c`, and how many have a copy in `generation`.
    static func progress(_ db: Database, _ c: CollectionRow, generation: Int) throws -> GenerationProgress {
        let row = try db.row("""
            SELECT count(*) AS n, coalesce(sum(\(hasCopy(in: generation))), 0) AS copied FROM chunks a WHERE a.collection_id = \(c.id) AND a.generation = \(c.info.generation)
            """)!
        return GenerationProgress(chunks: row["n"], copied: row["copied"])
    }

    /// SQLite has no vector index (searches rank exactly); the keyword index is moved to the new
    /// generation's rows in the switching transaction.
    public func activateGeneration(_ ref: CollectionRef, generation: Int) async throws -> Bool {
        try await wrap {
            try await writer().write { db in
                let (c, pending) = try Self.pendingCollection(db, ref, generation: generation)
                let missing = try db.count("SELECT count(*) FROM chunks a WHERE a.collection_id = \(c.id) AND a.generation = \(c.info.generation) AND NOT \(Self.hasCopy(in: generation))")
                guard missing == 0 else { return false }
                let fts = SQLiteSchema.ftsTable(c.id)
                try db.execute(literal: "INSERT INTO \(fts) (\(fts)) VALUES ('delete-all')")
                try db.execute(literal: "INSERT INTO \(fts) (rowid, text) SELECT rowid, text FROM chunks WHERE collection_id = \(c.id) AND generation = \(generation)")
                let identity = pending.identity
                try db.execute(literal: """
                    UPDATE collections SET model = \(identity.model), revision = \(identity.revision), dimension = \(identity.dimension),
                        distance = \(identity.distance.rawValue), normalized = \(identity.normalized), active_generation = \(generation),
                        pending_generation = NULL, pending_identity = NULL, data_version = data_version + 1
                    WHERE id = \(c.id)
                    """)
                return true
            }
        }
    }

    public func dropInactiveGenerations(_ ref: CollectionRef) async throws -> Int {
        try await wrap {
            try await writer().write { db in
                let c = try Self.requireCollection(db, ref)
                try db.execute(literal: "DELETE FROM chunks WHERE collection_id = \(c.id) AND generation NOT IN \([c.info.generation, c.pending?.generation ?? c.info.generation])")
                return db.changesCount
            }
        }
    }

    public func abandonGeneration(_ ref: CollectionRef) async throws -> Bool {
        try await wrap {
            try await writer().write { db in
                let c = try Self.requireCollection(db, ref)
                guard let pending = c.pending else { return false }
                try db.execute(literal: "DELETE FROM chunks WHERE collection_id = \(c.id) AND generation = \(pending.generation)")
                try db.execute(literal: "UPDATE collections SET pending_generation = NULL, pending_identity = NULL WHERE id = \(c.id)")
                return true
            }
        }
    }
}
