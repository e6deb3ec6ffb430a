import Foundation

// A collection's chunks belong to a generation. Searches read the active one. A reindex (an embedding
// model change) fills the next generation with copies of the active chunks carrying vectors of the new
// identity, while the active one keeps serving; then it switches the collection to the new generation in
// one transaction and drops the old rows. Every step is idempotent, so a reindex killed anywhere is
// finished by running it again (see `Reindexer` in EngramPipeline).

/// The generation a reindex is filling.
public struct PendingGeneration: Sendable, Hashable, Codable {
    public var generation: Int
    /// The identity of the vectors the generation holds.
    public var identity: EmbeddingIdentity

    public init(generation: Int, identity: EmbeddingIdentity) {
        self.generation = generation
        self.identity = identity
    }
}

/// An active chunk that the pending generation has no copy of yet.
public struct ChunkToEmbed: Sendable, Hashable {
    public var id: String
    /// The chunk's text hash: its copy is written only if the chunk still has this text.
    public var sha256: String
    public var text: String

    public init(id: String, sha256: String, text: String) {
        self.id = id
        self.sha256 = sha256
        self.text = text
    }
}

/// A chunk's vector for the pending generation.
public struct GenerationVector: Sendable, Hashable {
    public var chunkID: String
    /// The text hash the vector was computed from (see ``ChunkToEmbed/sha256``).
    public var sha256: String
    public var embedding: [Float]

    public init(chunkID: String, sha256: String, embedding: [Float]) {
        self.chunkID = chunkID
        self.sha256 = sha256
        self.embedding = embedding
    }
}

/// How far the pending generation is: active chunks, and how many of them it has a copy of.
public struct GenerationProgress: Sendable, Hashable {
    public var chunks: Int
    public var copied: Int

    public init(chunks: Int, copied: Int) {
        self.chunks = chunks
        self.copied = copied
    }
}

/// The generation steps of a store, used by the reindexer. Each is idempotent.
public protocol GenerationalStore: VectorStore {
    /// Runs `body` while holding the collection's reindex lock, which the holder's process loses when it
    /// dies (a lock file or a database session), so a killed reindex never blocks the next one.
    /// - Throws: `conflict` when another reindex of the collection holds it; `collection_not_found`.
    func withReindexLock<T: Sendable>(_ ref: CollectionRef, _ body: @Sendable () async throws -> T) async throws -> T
    /// The generation being filled, if any.
    func pendingGeneration(_ ref: CollectionRef) async throws -> PendingGeneration?
    /// Starts the generation after the active one for `identity`, or returns the pending one when it has
    /// that identity.
    /// - Throws: `conflict` when a generation for another identity is pending; `invalid_input` when the
    ///   collection already has `identity` and nothing is pending.
    func beginGeneration(_ ref: CollectionRef, identity: EmbeddingIdentity) async throws -> PendingGeneration
    /// Up to `limit` active chunks without a copy in `generation` whose id sorts after `after`, in the
    /// store's id order.
    func chunksToEmbed(_ ref: CollectionRef, generation: Int, after: String?, limit: Int) async throws -> [ChunkToEmbed]
    /// Writes copies of active chunks into `generation` with the given vectors, in one transaction. A
    /// chunk deleted or changed (another text hash) since it was read is skipped: a later
    /// ``chunksToEmbed(_:generation:after:limit:)`` returns its new version. Returns how many were written.
    /// - Throws: `embedding_mismatch` for a vector that does not fit the generation's identity.
    func writeGeneration(_ ref: CollectionRef, generation: Int, vectors: [GenerationVector]) async throws -> Int
    func generationProgress(_ ref: CollectionRef, generation: Int) async throws -> GenerationProgress
    /// Builds `generation`'s search index, then, in one transaction, makes it the active generation with
    /// its identity, if it has a copy of every active chunk. Returns false, changing nothing, when some
    /// chunk has none (a writer changed documents meanwhile: embed those and call again).
    func activateGeneration(_ ref: CollectionRef, generation: Int) async throws -> Bool
    /// Deletes the rows (and indexes) of generations that are neither active nor pending. Returns the
    /// number of chunk rows deleted.
    func dropInactiveGenerations(_ ref: CollectionRef) async throws -> Int
    /// Abandons the pending generation and deletes its rows. Returns false when none was pending.
    func abandonGeneration(_ ref: CollectionRef) async throws -> Bool
}

extension EngramError {
    /// `conflict`: a reindex of `ref` is running in another process or task.
    public static func reindexRunning(_ ref: CollectionRef) -> EngramError {
        EngramError(.conflict, "a reindex of collection '\(ref.name)' (tenant '\(ref.tenant)') is already running; wait for it to finish")
    }

    /// `conflict`: a generation for another identity is pending.
    public static func otherGenerationPending(_ ref: CollectionRef, pending: EmbeddingIdentity, requested: EmbeddingIdentity) -> EngramError {
        EngramError(.conflict, "collection '\(ref.name)' has an unfinished reindex to \(pending), not \(requested); finish it by running the reindex with that embedder again, or abandon it (engram reindex --abandon)")
    }

    /// `invalid_input`: the collection already has the identity a reindex asked for.
    public static func alreadyEmbedded(_ ref: CollectionRef, identity: EmbeddingIdentity) -> EngramError {
        EngramError(.invalidInput, "collection '\(ref.name)' is already embedded with \(identity); nothing to reindex")
    }
}
