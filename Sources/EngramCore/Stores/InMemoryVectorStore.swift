import Foundation

/// The reference store: everything in memory, exact search. Its behaviour defines Engram's semantics;
/// other stores must match it (the conformance suite checks).
public actor InMemoryVectorStore: VectorStore {
    struct StoredDocument {
        var info: DocumentInfo
        var text: String
        var chunkIDs: [String]
    }

    struct Entry {
        var chunk: StoredChunk
        var embedding: [Float]?
        var norm: Float
        var termFrequencies: [String: Int]
        var length: Int
    }

    struct CollectionState {
        var info: CollectionInfo
        var documents: [String: StoredDocument] = [:]
        var entries: [String: Entry] = [:]
        var documentFrequency: [String: Int] = [:]
        var totalTokens = 0
        /// The generation a reindex is filling, and its vectors by chunk id (with the text hash each was
        /// computed from).
        var pending: PendingGeneration?
        var pendingVectors: [String: (sha256: String, embedding: [Float])] = [:]
    }

    private var collections: [CollectionRef: CollectionState] = [:]
    private var reindexing: Set<CollectionRef> = []
    private let now: @Sendable () -> Date

    public nonisolated let descriptor = StoreDescriptor(kind: "memory", schemaVersion: 1)

    /// - Parameter now: the clock used for timestamps.
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    public func createCollection(_ ref: CollectionRef, identity: EmbeddingIdentity) throws -> CollectionInfo {
        try ref.validateNew(identity: identity)
        if let existing = collections[ref] {
            guard existing.info.identity == identity else {
                throw EngramError.collectionExists(ref, existing: existing.info.identity, requested: identity)
            }
            return existing.info
        }
        let info = CollectionInfo(ref: ref, identity: identity, generation: 1, createdAt: now())
        collections[ref] = CollectionState(info: info)
        return info
    }

    public func collection(_ ref: CollectionRef) -> CollectionInfo? {
        collections[ref]?.info
    }

    public func collections(tenant: String) -> [CollectionInfo] {
        collections.values.filter { $0.info.ref.tenant == tenant }.map(\.info).sorted { $0.ref.name < $1.ref.name }
    }

    public func deleteCollection(_ ref: CollectionRef) -> Bool {
        collections.removeValue(forKey: ref) != nil
    }

    private func state(_ ref: CollectionRef) throws -> CollectionState {
        guard let s = collections[ref] else {
            throw EngramError.collectionNotFound(ref)
        }
        return s
    }

    public func upsert(document: DocumentRecord, chunks: [ChunkRecord], identity: EmbeddingIdentity?, in ref: CollectionRef) throws -> UpsertOutcome {
        var s = try state(ref)
        try UpsertValidation.validate(document: document, chunks: chunks, identity: identity, collection: s.info)
        let previous = s.documents[document.id]
        if let previous, UpsertValidation.isUnchanged(
            stored: .init(sha256: previous.info.sha256, fingerprint: previous.info.fingerprint, metadata: previous.info.metadata),
            new: .init(sha256: document.sha256, fingerprint: document.fingerprint, metadata: document.metadata),
            storedChunks: {
                previous.chunkIDs.map { id in
                    // Every listed chunk has an entry; a missing one compares as changed (its hash is empty).
                    .init(id: id, sha256: s.entries[id]?.chunk.sha256 ?? "", metadata: s.entries[id]?.chunk.metadata ?? [:], embedding: s.entries[id]?.embedding)
                }
            },
            newChunks: { chunks.map { .init(id: $0.id, sha256: $0.sha256, metadata: UpsertValidation.mergedMetadata(document: document.metadata, chunk: $0.metadata), embedding: $0.embedding) } }) {
            return .unchanged
        }
        if let previous { remove(previous, from: &s) }
        let time = now()
        for c in chunks {
            let tokens = KeywordTokenizer.tokens(c.text)
            var tf: [String: Int] = [:]
            for t in tokens { tf[t, default: 0] += 1 }
            for t in tf.keys { s.documentFrequency[t, default: 0] += 1 }
            s.totalTokens += tokens.count
            let stored = StoredChunk(
                id: c.id, documentID: document.id, sourceURI: document.sourceURI, documentSHA256: document.sha256,
                ordinal: c.ordinal, text: c.text, charStart: c.charStart, charEnd: c.charEnd, section: c.section,
                tokenCount: c.tokenCount, sha256: c.sha256,
                metadata: UpsertValidation.mergedMetadata(document: document.metadata, chunk: c.metadata),
                generation: s.info.generation)
            s.entries[c.id] = Entry(chunk: stored, embedding: c.embedding, norm: c.embedding.map(VectorMath.norm) ?? 0, termFrequencies: tf, length: tokens.count)
        }
        let info = DocumentInfo(
            id: document.id, sourceURI: document.sourceURI, sha256: document.sha256, fingerprint: document.fingerprint,
            version: (previous?.info.version ?? 0) + 1, mime: document.mime, size: document.size, chunkCount: chunks.count,
            metadata: document.metadata, createdAt: previous?.info.createdAt ?? time, updatedAt: time)
        s.documents[document.id] = StoredDocument(info: info, text: document.text, chunkIDs: chunks.map(\.id))
        collections[ref] = s
        return previous == nil ? .added : .updated
    }

    private func remove(_ doc: StoredDocument, from s: inout CollectionState) {
        for id in doc.chunkIDs {
            s.pendingVectors[id] = nil
            guard let e = s.entries.removeValue(forKey: id) else { continue }
            for t in e.termFrequencies.keys {
                s.documentFrequency[t]! -= 1
                if s.documentFrequency[t] == 0 { s.documentFrequency[t] = nil }
            }
            s.totalTokens -= e.length
        }
        s.documents[doc.info.id] = nil
    }

    public func deleteDocument(id: String, in ref: CollectionRef) throws -> Bool {
        var s = try state(ref)
        guard let doc = s.documents[id] else { return false }
        remove(doc, from: &s)
        collections[ref] = s
        return true
    }

    public func documents(in ref: CollectionRef) throws -> [DocumentInfo] {
        try state(ref).documents.values.map(\.info).sorted { $0.sourceURI < $1.sourceURI }
    }

    public func document(id: String, in ref: CollectionRef) throws -> (info: DocumentInfo, text: String)? {
        guard let d = try state(ref).documents[id] else { return nil }
        return (d.info, d.text)
    }

    public func chunks(ids: [String], in ref: CollectionRef) throws -> [StoredChunk] {
        let s = try state(ref)
        return ids.compactMap { s.entries[$0]?.chunk }
    }

    public func stats(_ ref: CollectionRef) throws -> CollectionStats {
        let s = try state(ref)
        return CollectionStats(
            documents: s.documents.count, chunks: s.entries.count,
            embeddedChunks: s.entries.values.filter { $0.embedding != nil }.count,
            textBytes: s.entries.values.reduce(0) { $0 + $1.chunk.text.utf8.count })
    }

    public func search(_ request: SearchRequest, in ref: CollectionRef) throws -> SearchResponse {
        let s = try state(ref)
        try request.validate(against: s.info.identity)
        let candidates = s.entries.values.filter { request.filter?.matches($0.chunk.metadata) ?? true }
        let depth = request.mode == .hybrid ? request.effectiveHybridDepth : request.k
        var vectorRanking: [ScoredID]?
        var keywordRanking: [ScoredID]?
        var matched = candidates.count
        if request.mode != .keyword, let q = request.vector {
            let qn = VectorMath.norm(q)
            var scored: [ScoredID] = []
            q.withUnsafeBufferPointer { qp in
                for e in candidates {
                    guard let v = e.embedding else { continue }
                    let score = v.withUnsafeBufferPointer { vp in
                        VectorMath.score(s.info.identity.distance, query: qp.baseAddress!, queryNorm: qn, stored: vp.baseAddress!, storedNorm: e.norm, count: q.count)
                    }
                    scored.append(ScoredID(id: e.chunk.id, score: Double(score)))
                }
            }
            if request.mode != .keyword { matched = scored.count }
            vectorRanking = Array(scored.sorted(by: ScoredID.ranksBefore).prefix(depth))
        }
        if request.mode != .vector, let text = request.text {
            let terms = KeywordTokenizer.queryTerms(text)
            let scorer = BM25Scorer(documentCount: s.entries.count, totalTokens: s.totalTokens)
            var scored: [ScoredID] = []
            for e in candidates {
                let tfs = terms.map { (tf: e.termFrequencies[$0] ?? 0, df: s.documentFrequency[$0] ?? 0) }
                guard tfs.contains(where: { $0.tf > 0 }) else { continue }
                scored.append(ScoredID(id: e.chunk.id, score: scorer.score(termFrequencies: tfs, length: e.length)))
            }
            if request.mode == .keyword { matched = scored.count }
            keywordRanking = Array(scored.sorted(by: ScoredID.ranksBefore).prefix(depth))
        }
        let ranked = SearchAssembly.rank(mode: request.mode, vector: vectorRanking, keyword: keywordRanking, k: request.k, fusionK: request.fusionK)
        let hits = SearchAssembly.hits(ranked, chunks: ranked.compactMap { s.entries[$0.id]?.chunk })
        return SearchResponse(
            hits: hits, path: .of(request.mode, vector: .exactScan, keyword: .bm25),
            exhaustive: true, matched: matched)
    }
}

extension InMemoryVectorStore: GenerationalStore {
    public func withReindexLock<T: Sendable>(_ ref: CollectionRef, _ body: @Sendable () async throws -> T) async throws -> T {
        _ = try state(ref)
        guard reindexing.insert(ref).inserted else { throw EngramError.reindexRunning(ref) }
        defer { reindexing.remove(ref) }
        return try await body()
    }

    public func pendingGeneration(_ ref: CollectionRef) throws -> PendingGeneration? {
        try state(ref).pending
    }

    public func beginGeneration(_ ref: CollectionRef, identity: EmbeddingIdentity) throws -> PendingGeneration {
        var s = try state(ref)
        if let pending = s.pending {
            guard pending.identity == identity else { throw EngramError.otherGenerationPending(ref, pending: pending.identity, requested: identity) }
            return pending
        }
        guard identity != s.info.identity else { throw EngramError.alreadyEmbedded(ref, identity: identity) }
        let pending = PendingGeneration(generation: s.info.generation + 1, identity: identity)
        s.pending = pending
        collections[ref] = s
        return pending
    }

    private func pendingState(_ ref: CollectionRef, _ generation: Int) throws -> (CollectionState, PendingGeneration) {
        let s = try state(ref)
        guard let pending = s.pending, pending.generation == generation else {
            throw EngramError(.notFound, "collection '\(ref.name)' has no pending generation \(generation)")
        }
        return (s, pending)
    }

    public func chunksToEmbed(_ ref: CollectionRef, generation: Int, after: String?, limit: Int) throws -> [ChunkToEmbed] {
        let (s, _) = try pendingState(ref, generation)
        return s.entries.values
            .filter { e in (after.map { e.chunk.id > $0 } ?? true) && s.pendingVectors[e.chunk.id]?.sha256 != e.chunk.sha256 }
            .sorted { $0.chunk.id < $1.chunk.id }
            .prefix(max(0, limit))
            .map { ChunkToEmbed(id: $0.chunk.id, sha256: $0.chunk.sha256, text: $0.chunk.text) }
    }

    public func writeGeneration(_ ref: CollectionRef, generation: Int, vectors: [GenerationVector]) throws -> Int {
        let (current, pending) = try pendingState(ref, generation)
        var s = current
        for v in vectors { try pending.identity.validate(vector: v.embedding, context: "chunk \(v.chunkID)") }
        var written = 0
        for v in vectors where s.entries[v.chunkID]?.chunk.sha256 == v.sha256 {
            s.pendingVectors[v.chunkID] = (v.sha256, v.embedding)
            written += 1
        }
        collections[ref] = s
        return written
    }

    public func generationProgress(_ ref: CollectionRef, generation: Int) throws -> GenerationProgress {
        let (s, _) = try pendingState(ref, generation)
        return GenerationProgress(chunks: s.entries.count, copied: s.entries.values.filter { s.pendingVectors[$0.chunk.id]?.sha256 == $0.chunk.sha256 }.count)
    }

    public func activateGeneration(_ ref: CollectionRef, generation: Int) throws -> Bool {
        let (current, pending) = try pendingState(ref, generation)
        var s = current
        var entries = s.entries
        for (id, var e) in entries {
            guard let v = s.pendingVectors[id], v.sha256 == e.chunk.sha256 else { return false }
            e.embedding = v.embedding
            e.norm = VectorMath.norm(v.embedding)
            e.chunk.generation = pending.generation
            entries[id] = e
        }
        s.entries = entries
        s.info.identity = pending.identity
        s.info.generation = pending.generation
        s.pending = nil
        s.pendingVectors = [:]
        collections[ref] = s
        return true
    }

    public func dropInactiveGenerations(_ ref: CollectionRef) throws -> Int {
        _ = try state(ref)
        return 0
    }

    public func abandonGeneration(_ ref: CollectionRef) throws -> Bool {
        var s = try state(ref)
        guard s.pending != nil else { return false }
        s.pending = nil
        s.pendingVectors = [:]
        collections[ref] = s
        return true
    }
}

extension InMemoryVectorStore: BackupSource {
    /// Memories live in a separate ``InMemoryMemoryStore``: never exported here (nil).
    public func exportRows(tenants: [String]?, vectors: Bool, memories: Bool, to sink: any BackupSink) throws -> [String]? {
        let chosen = collections.values.filter { tenants?.contains($0.info.ref.tenant) ?? true }
            .sorted { ($0.info.ref.tenant, $0.info.ref.name) < ($1.info.ref.tenant, $1.info.ref.name) }
        for s in chosen {
            let ref = s.info.ref
            try sink.write(.collection(BackupCollection(ref: ref, identity: s.info.identity, createdAt: s.info.createdAt)))
            let documents = s.documents.values.sorted { $0.info.id < $1.info.id }
            for d in documents { try sink.write(.document(BackupDocument(collection: ref, info: d.info, text: d.text))) }
            for d in documents {
                for id in d.chunkIDs {
                    guard let e = s.entries[id] else { continue }
                    try sink.write(.chunk(BackupChunk(collection: ref, chunk: e.chunk, embedding: vectors ? e.embedding : nil)))
                }
            }
        }
        return nil
    }
}
