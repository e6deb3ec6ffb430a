import EngramCore

/// Names an embedder on the command line and rebuilds one from a collection's identity.
///
/// Specs: `hash` (384 dimensions), `hash:DIM`, `external:DIM` or `external:DIM:DISTANCE` (`cosine`, `l2`,
/// `ip`) for vectors computed elsewhere.
public enum EmbedderSpec {
    public static func parse(_ spec: String) throws -> any Embedder {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts[0].lowercased() {
        case "hash":
            guard parts.count <= 2 else { break }
            let dim = parts.count == 2 ? Int(parts[1]) : 384
            guard let dim, (1...16_000).contains(dim) else {
                throw EngramError(.invalidInput, "embedder '\(spec)': dimension must be a number from 1 to 16000")
            }
            return HashEmbedder(dimension: dim)
        case "external":
            guard parts.count == 2 || parts.count == 3, let dim = Int(parts[1]), (1...16_000).contains(dim) else {
                throw EngramError(.invalidInput, "embedder '\(spec)': use external:DIMENSION or external:DIMENSION:DISTANCE")
            }
            var distance = Distance.cosine
            if parts.count == 3 {
                guard let d = Distance(rawValue: parts[2].lowercased()) else {
                    throw EngramError(.invalidInput, "embedder '\(spec)': distance must be cosine, l2 or ip")
                }
                distance = d
            }
            return ExternalEmbedder(identity: .external(dimension: dim, distance: distance))
        default:
            break
        }
        throw EngramError(.invalidInput, "unknown embedder '\(spec)' (available: hash, hash:DIM, external:DIM[:cosine|l2|ip])")
    }

    /// The embedder that produces vectors of `identity`.
    /// - Throws: `unsupported` when the model is not available in this build.
    public static func embedder(for identity: EmbeddingIdentity) throws -> any Embedder {
        if identity.isExternal { return ExternalEmbedder(identity: identity) }
        if identity.model == HashEmbedder.modelName, identity.revision == HashEmbedder.revision {
            let e = HashEmbedder(dimension: identity.dimension)
            if e.identity == identity { return e }
        }
        throw EngramError(.unsupported, "the collection's embedding model \(identity) is not available here")
    }
}
