import EngramCore

/// Builds documents for tests without the pipeline: each paragraph (split on blank lines) is a chunk,
/// embedded with a ``HashEmbedder``.
public struct Fixtures: Sendable {
    public let embedder: HashEmbedder
    public let ref: CollectionRef

    public init(ref: CollectionRef = CollectionRef(tenant: "t1", name: "docs"), dimension: Int = 64) {
        self.embedder = HashEmbedder(dimension: dimension)
        self.ref = ref
    }

    public var identity: EmbeddingIdentity { embedder.identity }

    /// A document and its chunks, ready for `upsert`.
    public func document(_ source: String, _ text: String, metadata: Metadata = [:], in ref: CollectionRef? = nil, fingerprint: String? = nil) -> (DocumentRecord, [ChunkRecord]) {
        let ref = ref ?? self.ref
        let id = DocumentRecord.makeID(ref: ref, sourceURI: source)
        let doc = DocumentRecord(id: id, sourceURI: source, sha256: SHA256Hex.hash(text), fingerprint: fingerprint ?? SHA256Hex.hash(text), mime: "text/plain", size: text.utf8.count, metadata: metadata, text: text)
        let scalars = Array(text.unicodeScalars)
        var chunks: [ChunkRecord] = []
        var start = 0
        var i = 0
        func emit(_ a: Int, _ b: Int) {
            var s = a, e = b
            while s < e, scalars[s].properties.isWhitespace { s += 1 }
            while e > s, scalars[e - 1].properties.isWhitespace { e -= 1 }
            guard s < e else { return }
            var v = String.UnicodeScalarView()
            v.append(contentsOf: scalars[s..<e])
            let t = String(v)
            chunks.append(ChunkRecord(id: ChunkRecord.makeID(documentID: id, ordinal: chunks.count), ordinal: chunks.count, text: t, charStart: s, charEnd: e, section: [], tokenCount: KeywordTokenizer.tokens(t).count, sha256: SHA256Hex.hash(t), metadata: [:], embedding: embedder.vector(for: t)))
        }
        while i < scalars.count {
            if i + 1 < scalars.count, scalars[i] == "\n", scalars[i + 1] == "\n" {
                emit(start, i)
                start = i + 2
                i += 2
                continue
            }
            i += 1
        }
        emit(start, scalars.count)
        return (doc, chunks)
    }

    /// Creates the fixture collection and upserts documents.
    public func load(_ store: any VectorStore, _ docs: [(String, String, Metadata)], in ref: CollectionRef? = nil) async throws {
        let ref = ref ?? self.ref
        _ = try await store.createCollection(ref, identity: identity)
        for (source, text, metadata) in docs {
            let (d, c) = document(source, text, metadata: metadata, in: ref)
            _ = try await store.upsert(document: d, chunks: c, identity: identity, in: ref)
        }
    }

    public func query(_ text: String) -> [Float] { embedder.vector(for: text) }
}
