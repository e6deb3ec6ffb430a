/// A deterministic feature-hashing embedder: word unigrams and bigrams hashed with 64-bit FNV-1a into a
/// signed vector, then L2-normalized.
///
/// The same text gives the same vector on every machine and in every process (it never uses `Hasher`,
/// whose seed is random per process). Texts sharing words get similar vectors, which is enough for tests
/// and for keyword-like retrieval when no model is installed.
public struct HashEmbedder: Embedder {
    public static let modelName = "hash-fnv1a-unigram-bigram"
    public static let revision = "1"

    public let identity: EmbeddingIdentity

    /// - Parameter dimension: vector length (default 384, the size of MiniLM vectors).
    public init(dimension: Int = 384) {
        precondition(dimension > 0, "dimension must be positive")
        identity = EmbeddingIdentity(model: HashEmbedder.modelName, revision: HashEmbedder.revision, dimension: dimension, distance: .cosine, normalized: true)
    }

    public var preferredBatchSize: Int { 1024 }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map(vector(for:))
    }

    /// The vector of one text (synchronous).
    public func vector(for text: String) -> [Float] {
        let dim = identity.dimension
        var v = [Float](repeating: 0, count: dim)
        var previous: UInt64? = nil
        KeywordTokenizer.forEachToken(text) { word in
            let h = HashEmbedder.fnv1a(word)
            HashEmbedder.add(h, weight: 1, to: &v)
            if let p = previous {
                // Bigram feature: combine the two word hashes, then mix.
                HashEmbedder.add(HashEmbedder.mix(p &* 0x9E37_79B9_7F4A_7C15 ^ h), weight: 0.5, to: &v)
            }
            previous = h
        }
        let n = VectorMath.norm(v)
        if n > 0 {
            for i in 0..<dim { v[i] /= n }
        }
        return v
    }

    static func add(_ h: UInt64, weight: Float, to v: inout [Float]) {
        let index = Int(h % UInt64(v.count))
        let sign: Float = (h >> 63) == 0 ? 1 : -1
        v[index] += sign * weight
    }

    /// 64-bit FNV-1a.
    public static func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
