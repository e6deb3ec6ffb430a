import EngramCore
import Foundation

/// Where a command or the server gets its embedders: ``EmbedderSpec`` loads one each time it is asked
/// (a command asks once); a server keeps them (``CachedEmbedders``), since loading MiniLM takes a while.
public protocol EmbedderSource: Sendable {
    /// The embedder a spec (`minilm`, `hash:384`, …) names.
    func embedder(spec: String) async throws -> any Embedder
    /// The embedder that computes vectors of `identity` (a collection's).
    func embedder(for identity: EmbeddingIdentity) async throws -> any Embedder
}

/// Loads every embedder afresh.
public struct LoadingEmbedders: EmbedderSource {
    public init() {}
    public func embedder(spec: String) async throws -> any Embedder { try await EmbedderSpec.parse(spec) }
    public func embedder(for identity: EmbeddingIdentity) async throws -> any Embedder { try await EmbedderSpec.embedder(for: identity) }
}

/// Loads each embedder once and keeps it; concurrent first requests share one load.
public actor CachedEmbedders: EmbedderSource {
    let inner: any EmbedderSource
    var loaded: [String: Task<any Embedder, any Error>] = [:]

    public init(loading inner: any EmbedderSource = LoadingEmbedders()) { self.inner = inner }

    public func embedder(spec: String) async throws -> any Embedder {
        try await cached("spec:" + spec) { [inner] in try await inner.embedder(spec: spec) }
    }

    public func embedder(for identity: EmbeddingIdentity) async throws -> any Embedder {
        try await cached("identity:\(identity)") { [inner] in try await inner.embedder(for: identity) }
    }

    func cached(_ key: String, _ load: @escaping @Sendable () async throws -> any Embedder) async throws -> any Embedder {
        if let task = loaded[key] { return try await task.value }
        let task = Task { try await load() }
        loaded[key] = task
        do {
            return try await task.value
        } catch {
            loaded[key] = nil
            throw error
        }
    }
}

extension Ingestor {
    /// The embedder to ingest into `ref` with: the collection's own, or, when the collection does not
    /// exist, one made from `spec` (else `defaultSpec`, else ``EmbedderSpec/defaultSpec(environment:)``)
    /// with which the collection is created. A `spec` that does not match an existing collection's
    /// identity is `embedding_mismatch`.
    public static func collectionEmbedder(store: any VectorStore, ref: CollectionRef, spec: String?, defaultSpec: String? = nil,
                                          embedders: any EmbedderSource = LoadingEmbedders())
        async throws -> (embedder: any Embedder, created: Bool) {
        if let info = try await store.collection(ref) {
            let embedder = try await embedders.embedder(for: info.identity)
            if let spec {
                try info.identity.requireCompatible(try await embedders.embedder(spec: spec).identity, context: "embedder \(spec)")
            }
            return (embedder, false)
        }
        try ref.validate()
        let embedder = try await embedders.embedder(spec: spec ?? defaultSpec ?? EmbedderSpec.defaultSpec())
        _ = try await store.createCollection(ref, identity: embedder.identity)
        return (embedder, true)
    }
}

extension Retriever {
    /// The mode of a search that names none: vector for a vector alone, keyword for a collection of
    /// external vectors searched by text, hybrid otherwise.
    public static func defaultMode(identity: EmbeddingIdentity, text: Bool, vector: Bool) -> SearchMode {
        vector ? (text ? .hybrid : .vector) : (identity.isExternal ? .keyword : .hybrid)
    }

    /// Whether a search needs an embedder for its text.
    public static func needsEmbedder(identity: EmbeddingIdentity, mode: SearchMode, text: Bool, vector: Bool) -> Bool {
        !identity.isExternal && text && !vector && mode != .keyword
    }
}

extension LoadedDocument {
    /// A document given as text (an API request, a library caller): normalized like a loaded file, its
    /// change fingerprint computed from the text and the metadata.
    public static func text(_ text: String, sourceURI: String, metadata: Metadata = [:]) throws -> LoadedDocument {
        guard !text.unicodeScalars.contains("\u{0}") else { throw EngramError(.invalidInput, "\(sourceURI): the text holds a NUL character") }
        try UpsertValidation.validateMetadata(metadata, context: sourceURI)
        let source = JSONValue.object([("text", .string(text)), ("metadata", .string(metadata.canonicalJSON))]).serialized(sortedKeys: true)
        return LoadedDocument(sourceURI: sourceURI, text: TextNormalizer.normalize(text: text), mime: "text/plain", metadata: metadata,
                              sourceBytesSHA256: SHA256Hex.hash(source), size: text.utf8.count)
    }
}
