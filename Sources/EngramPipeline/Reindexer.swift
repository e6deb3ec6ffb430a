import EngramCore
import Foundation
import Logging

/// Where a reindex is.
public struct ReindexProgress: Sendable {
    public enum Phase: String, Sendable { case embedding, switching, dropping }
    public var phase: Phase
    /// Active chunks, and how many the new generation has a copy of.
    public var chunks: Int
    public var copied: Int
}

/// What a reindex did.
public struct ReindexReport: Sendable {
    public var collection: CollectionRef
    /// The identity before and after. Equal when an earlier run had switched already.
    public var from: EmbeddingIdentity
    public var to: EmbeddingIdentity
    /// The generation that is now active.
    public var generation: Int
    /// True when this run continued a generation an earlier, interrupted run had started.
    public var resumed: Bool
    /// Chunks an earlier run had already copied into the generation (not embedded again).
    public var alreadyCopied: Int
    /// Chunks this run embedded.
    public var embedded: Int
    /// Extra passes over chunks that writers changed while the generation was filled.
    public var catchUpPasses: Int
    /// Rows of the old generation (or of older, interrupted runs) deleted.
    public var droppedRows: Int
    /// False when the collection already had the embedder's identity when this run started.
    public var switched: Bool
}

/// Moves a collection to another embedder without downtime (DESIGN.md, "Reindex"): fills the next
/// generation with a copy of every chunk embedded by the new embedder, batch by batch, while searches keep
/// reading the active generation; builds its index; switches the collection to it in one transaction; and
/// drops the old generation.
///
/// A run holds the collection's reindex lock (a second one is refused). Killed at any point, a run leaves
/// the active generation serving and a rerun with the same embedder continues: chunks already copied are
/// not embedded again, and a switch that happened is not undone.
public struct Reindexer: Sendable {
    public var store: any GenerationalStore
    public var embedder: any Embedder
    /// Chunks per embedding call and per write.
    public var batchSize: Int
    /// Told when a run starts (resumed or not), switches and drops the old generation.
    public var logger: Logger

    public init(store: any GenerationalStore, embedder: any Embedder, batchSize: Int? = nil,
                logger: Logger = Logger(label: "engram.reindex", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.store = store
        self.embedder = embedder
        self.batchSize = max(1, batchSize ?? embedder.preferredBatchSize)
        self.logger = logger
    }

    public func run(_ ref: CollectionRef, progress: (@Sendable (ReindexProgress) -> Void)? = nil) async throws -> ReindexReport {
        let target = embedder.identity
        guard !target.isExternal else {
            throw EngramError(.unsupported, "cannot reindex to \(target): vectors of an external embedder are computed outside Engram")
        }
        let store = self.store, embedder = self.embedder, batchSize = self.batchSize, logger = self.logger
        return try await store.withReindexLock(ref) {
            let info = try await store.requireCollection(ref)
            let earlier = try await store.pendingGeneration(ref)
            if earlier == nil, info.identity == target {
                // Nothing pending and already switched: an earlier run may have died before dropping the old rows.
                progress?(ReindexProgress(phase: .dropping, chunks: 0, copied: 0))
                let dropped = try await store.dropInactiveGenerations(ref)
                return ReindexReport(collection: ref, from: target, to: target, generation: info.generation, resumed: dropped > 0,
                                     alreadyCopied: 0, embedded: 0, catchUpPasses: 0, droppedRows: dropped, switched: false)
            }
            let pending = try await store.beginGeneration(ref, identity: target)
            var dropped = try await store.dropInactiveGenerations(ref)
            let start = try await store.generationProgress(ref, generation: pending.generation)
            var copied = start.copied, chunks = start.chunks
            logger.info("reindexing", metadata: ["collection": "\(ref)", "generation": "\(pending.generation)", "to": "\(target)",
                                                 "already_copied": "\(start.copied)", "chunks": "\(start.chunks)"])
            progress?(ReindexProgress(phase: .embedding, chunks: chunks, copied: copied))
            var embedded = 0, passes = 0
            while true {
                var after: String?
                while true {
                    let batch = try await store.chunksToEmbed(ref, generation: pending.generation, after: after, limit: batchSize)
                    guard let last = batch.last else { break }
                    let vectors = try await embedder.embed(batch.map(\.text))
                    guard vectors.count == batch.count else {
                        throw EngramError(.storageFailure, "the embedder returned \(vectors.count) vectors for \(batch.count) texts")
                    }
                    let written = try await store.writeGeneration(
                        ref, generation: pending.generation,
                        vectors: zip(batch, vectors).map { GenerationVector(chunkID: $0.id, sha256: $0.sha256, embedding: $1) })
                    embedded += batch.count
                    copied += written
                    progress?(ReindexProgress(phase: .embedding, chunks: max(chunks, copied), copied: copied))
                    FaultPoint.reached("reindex.batch-written")
                    after = last.id
                    if batch.count < batchSize { break }
                }
                FaultPoint.reached("reindex.before-switch")
                progress?(ReindexProgress(phase: .switching, chunks: max(chunks, copied), copied: copied))
                if try await store.activateGeneration(ref, generation: pending.generation) { break }
                // Writers changed documents while the generation was filled: embed their new chunks too.
                passes += 1
                let now = try await store.generationProgress(ref, generation: pending.generation)
                copied = now.copied
                chunks = now.chunks
            }
            FaultPoint.reached("reindex.switched")
            logger.info("switched to the new generation", metadata: ["collection": "\(ref)", "generation": "\(pending.generation)", "embedded": "\(embedded)", "catch_up_passes": "\(passes)"])
            progress?(ReindexProgress(phase: .dropping, chunks: chunks, copied: chunks))
            dropped += try await store.dropInactiveGenerations(ref)
            return ReindexReport(collection: ref, from: info.identity, to: target, generation: pending.generation, resumed: earlier != nil,
                                 alreadyCopied: start.copied, embedded: embedded, catchUpPasses: passes, droppedRows: dropped, switched: true)
        }
    }
}
