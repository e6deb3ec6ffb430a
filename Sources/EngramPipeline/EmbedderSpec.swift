import EngramCore
import EngramEmbeddings
import Foundation

/// Names an embedder on the command line and rebuilds one from a collection's identity.
///
/// Specs:
/// - `minilm` — all-MiniLM-L6-v2 computed natively (384 dimensions, cosine); `minilm:DIR` loads the model
///   files from DIR instead of the installed package;
/// - `openai:URL` — an OpenAI-compatible `/embeddings` endpoint; the URL's query names the model and may
///   fix the dimension: `openai:http://127.0.0.1:11434/v1?model=nomic-embed-text`,
///   `openai:https://api.openai.com/v1?model=text-embedding-3-small&dimensions=512`
///   (`dimensions` is sent to the server, `dim` is only checked). The model may also come from
///   `ENGRAM_OPENAI_MODEL`; the key from `ENGRAM_OPENAI_API_KEY` or `OPENAI_API_KEY`;
/// - `hash` (384 dimensions) or `hash:DIM` — the deterministic feature-hashing embedder;
/// - `external:DIM` or `external:DIM:DISTANCE` (`cosine`, `l2`, `ip`) for vectors computed elsewhere.
public enum EmbedderSpec {
    /// `minilm` when the model is installed, else `hash`.
    public static func defaultSpec(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        MiniLMEmbedder.locateModel(environment: environment) != nil ? "minilm" : "hash"
    }

    /// Said once when the default falls back to `hash`.
    public static let hashFallbackNotice = "the MiniLM model is not installed, so this collection uses the hash embedder (keyword-like vectors, not semantic); run \(MiniLMEmbedder.installCommand) and use --embedder minilm for semantic search"

    public static func parse(_ spec: String, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> any Embedder {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let kind = parts[0].lowercased()
        let rest = parts.count == 2 ? parts[1] : nil
        switch kind {
        case "minilm":
            if let dir = rest, !dir.isEmpty { return try MiniLMEmbedder(directory: URL(fileURLWithPath: dir)) }
            return try MiniLMEmbedder(environment: environment)
        case "openai":
            return try await OpenAICompatibleEmbedder.connect(try openAIConfiguration(spec: spec, url: rest ?? "", environment: environment))
        case "hash":
            let dim = rest.map { Int($0) } ?? 384
            guard let dim, (1...16_000).contains(dim) else {
                throw EngramError(.invalidInput, "embedder '\(spec)': dimension must be a number from 1 to 16000")
            }
            return HashEmbedder(dimension: dim)
        case "external":
            let fields = (rest ?? "").split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard rest != nil, fields.count <= 2, let dim = Int(fields[0]), (1...16_000).contains(dim) else {
                throw EngramError(.invalidInput, "embedder '\(spec)': use external:DIMENSION or external:DIMENSION:DISTANCE")
            }
            var distance = Distance.cosine
            if fields.count == 2 {
                guard let d = Distance(rawValue: fields[1].lowercased()) else {
                    throw EngramError(.invalidInput, "embedder '\(spec)': distance must be cosine, l2 or ip")
                }
                distance = d
            }
            return ExternalEmbedder(identity: .external(dimension: dim, distance: distance))
        default:
            break
        }
        throw EngramError(.invalidInput, "unknown embedder '\(spec)' (available: minilm, minilm:DIR, openai:URL?model=NAME, hash, hash:DIM, external:DIM[:cosine|l2|ip])")
    }

    /// The OpenAI-compatible API key: `ENGRAM_OPENAI_API_KEY`, else `OPENAI_API_KEY`.
    static func apiKey(_ environment: [String: String]) -> String? {
        environment["ENGRAM_OPENAI_API_KEY"] ?? environment["OPENAI_API_KEY"]
    }

    static func openAIConfiguration(spec: String, url: String, environment: [String: String]) throws -> OpenAICompatibleEmbedder.Configuration {
        guard var components = URLComponents(string: url), components.scheme != nil, components.host != nil else {
            throw EngramError(.invalidInput, "embedder '\(spec)': use openai:URL?model=NAME, e.g. openai:http://127.0.0.1:11434/v1?model=nomic-embed-text")
        }
        var model = environment["ENGRAM_OPENAI_MODEL"]
        var dimension: Int?
        var requestDimensions = false
        for item in components.queryItems ?? [] {
            switch item.name {
            case "model": model = item.value
            case "dim", "dimensions":
                guard let value = item.value.flatMap(Int.init), (1...16_000).contains(value) else {
                    throw EngramError(.invalidInput, "embedder '\(spec)': \(item.name) must be a number from 1 to 16000")
                }
                dimension = value
                requestDimensions = item.name == "dimensions"
            default:
                throw EngramError(.invalidInput, "embedder '\(spec)': unknown parameter '\(item.name)' (use model, dim or dimensions)")
            }
        }
        guard let model, !model.isEmpty else {
            throw EngramError(.invalidInput, "embedder '\(spec)': name the model, as in openai:URL?model=NAME (or set ENGRAM_OPENAI_MODEL)")
        }
        components.queryItems = nil
        var configuration = OpenAICompatibleEmbedder.Configuration(baseURL: components.string ?? url, model: model, dimension: dimension,
                                                                   apiKey: apiKey(environment))
        configuration.requestDimensions = requestDimensions
        return configuration
    }

    /// The embedder that produces vectors of `identity`.
    /// - Throws: `invalid_configuration` when the model is not available here or its weights differ.
    public static func embedder(for identity: EmbeddingIdentity, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> any Embedder {
        if identity.isExternal { return ExternalEmbedder(identity: identity) }
        if identity.model == HashEmbedder.modelName, identity.revision == HashEmbedder.revision {
            let e = HashEmbedder(dimension: identity.dimension)
            if e.identity == identity { return e }
        }
        if identity.model == MiniLMEmbedder.modelName {
            let e = try MiniLMEmbedder(environment: environment, maxTokens: MiniLMEmbedder.maxTokens(of: identity))
            guard e.identity == identity else {
                throw EngramError(.invalidConfiguration, "the collection was embedded with \(identity), but the installed model is \(e.identity) (other weights); install the weights the collection was built with, or reindex it")
            }
            return e
        }
        if identity.model.hasPrefix(OpenAICompatibleEmbedder.modelPrefix) {
            let model = String(identity.model.dropFirst(OpenAICompatibleEmbedder.modelPrefix.count))
            let configuration = OpenAICompatibleEmbedder.Configuration(baseURL: identity.revision, model: model, dimension: identity.dimension,
                                                                       apiKey: apiKey(environment))
            return try OpenAICompatibleEmbedder(configuration, dimension: identity.dimension)
        }
        throw EngramError(.invalidConfiguration, "the collection's embedding model \(identity) is not available here")
    }
}
