/// How vectors in a collection are compared.
public enum Distance: String, Sendable, Codable, Hashable, CaseIterable {
    /// Cosine similarity; the score is the cosine (higher is closer).
    case cosine
    /// Euclidean distance; the score is the negated distance (higher is closer).
    case l2
    /// Inner product; the score is the dot product (higher is closer).
    case innerProduct = "ip"
}

/// What makes two vectors comparable: the same model, revision, dimension, distance and normalization.
///
/// A collection records its identity when it is created; a store refuses vectors or queries whose
/// identity differs instead of mixing embedding spaces silently.
public struct EmbeddingIdentity: Sendable, Codable, Hashable, CustomStringConvertible {
    public var model: String
    public var revision: String
    public var dimension: Int
    public var distance: Distance
    public var normalized: Bool

    public init(model: String, revision: String, dimension: Int, distance: Distance = .cosine, normalized: Bool) {
        self.model = model
        self.revision = revision
        self.dimension = dimension
        self.distance = distance
        self.normalized = normalized
    }

    /// The identity for vectors computed outside Engram ("bring your own vectors").
    public static func external(dimension: Int, distance: Distance = .cosine, model: String = "external") -> EmbeddingIdentity {
        EmbeddingIdentity(model: model, revision: "", dimension: dimension, distance: distance, normalized: false)
    }

    /// True when this identity describes vectors that Engram cannot compute from text.
    public var isExternal: Bool { model == "external" || model.hasPrefix("external:") }

    public var description: String {
        "\(model)\(revision.isEmpty ? "" : "@" + revision) dim=\(dimension) \(distance.rawValue)\(normalized ? " normalized" : "")"
    }

    /// Checks that `identity` may be used against a collection with this identity.
    /// - Throws: `embedding_mismatch` saying which part differs.
    public func requireCompatible(_ other: EmbeddingIdentity, context: String) throws {
        guard self != other else { return }
        throw EngramError(.embeddingMismatch, "\(context): embedding identity \(other) does not match the collection's \(self); use the collection's model, or move the collection to \(other.model) with `engram reindex --collection NAME --embedder SPEC` (Reindexer in the library)")
    }

    /// The largest Euclidean norm a vector may have: with both vectors at most this long, no score of any
    /// distance can overflow float32 (the squared L2 distance stays below (2 × 10^18)^2 = 4 × 10^36).
    public static let maxNorm: Double = 1e18

    /// Checks a vector's length and values against this identity.
    ///
    /// Every component must be finite and the norm at most ``maxNorm``. A zero vector has no direction,
    /// so under cosine it is refused as a query (`isQuery`) and as a vector supplied from outside
    /// (external identities); an embedder may still produce one for a text without words.
    /// - Throws: `embedding_mismatch` for a wrong dimension, `invalid_input` for NaN, infinity, a norm
    ///   that is too large, or a zero vector where it has no meaning.
    public func validate(vector: [Float], context: String, isQuery: Bool = false) throws {
        guard vector.count == dimension else {
            throw EngramError(.embeddingMismatch, "\(context): vector has dimension \(vector.count), the collection expects \(dimension)")
        }
        if let i = vector.firstIndex(where: { !$0.isFinite }) {
            throw EngramError(.invalidInput, "\(context): vector component \(i) is \(vector[i]) (NaN and infinity are not allowed)")
        }
        var squares: Double = 0
        for v in vector { squares += Double(v) * Double(v) }
        guard squares <= Self.maxNorm * Self.maxNorm else {
            throw EngramError(.invalidInput, "\(context): vector norm \(String(format: "%.3g", squares.squareRoot())) is over the limit of 1e18 (scores would overflow float32)")
        }
        if squares == 0, distance == .cosine, isQuery || isExternal {
            throw EngramError(.invalidInput, "\(context): the zero vector has no direction, so it has no cosine similarity to anything")
        }
    }
}
