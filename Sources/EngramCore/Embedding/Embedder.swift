/// Turns text into vectors.
public protocol Embedder: Sendable {
    /// The identity of the vectors this embedder produces.
    var identity: EmbeddingIdentity { get }
    /// How many texts one ``embed(_:)`` call should carry at most.
    var preferredBatchSize: Int { get }
    /// Embeds texts, one vector per text, in order.
    func embed(_ texts: [String]) async throws -> [[Float]]
}

extension Embedder {
    public var preferredBatchSize: Int { 256 }

    /// Embeds one text.
    public func embed(_ text: String) async throws -> [Float] {
        try await embed([text])[0]
    }
}

/// The embedder for collections whose vectors are computed elsewhere: it records the identity and refuses
/// to embed text.
public struct ExternalEmbedder: Embedder {
    public let identity: EmbeddingIdentity

    public init(identity: EmbeddingIdentity) { self.identity = identity }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        throw EngramError(.unsupported, "collection uses external vectors (\(identity)); pass a query vector (--vector) or give records an 'embedding' field, or use keyword search")
    }
}
