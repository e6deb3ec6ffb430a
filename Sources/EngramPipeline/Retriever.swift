import EngramCore
import Foundation
import Logging

/// Answers queries against a collection and records each answer in an ``EvidenceManifest``.
public struct Retriever: Sendable {
    public let store: any VectorStore
    /// Embeds query text; nil when only vectors or keywords are searched.
    public let embedder: (any Embedder)?
    /// Told of every search at debug level: mode, k, hits, the path that answered and whether it was exhaustive.
    public let logger: Logger

    public init(store: any VectorStore, embedder: (any Embedder)?, logger: Logger = Logger(label: "engram.search", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.store = store
        self.embedder = embedder
        self.logger = logger
    }

    public struct Result: Sendable {
        public var response: SearchResponse
        public var manifest: EvidenceManifest
    }

    /// Searches by text (embedded with ``embedder`` for vector and hybrid modes) or by a given vector.
    /// - Throws: `collection_not_found`, `embedding_mismatch`, `invalid_input`, `invalid_filter`.
    public func search(text: String?, vector: [Float]? = nil, mode: SearchMode, filter: Filter?, k: Int, in ref: CollectionRef) async throws -> Result {
        let info = try await store.requireCollection(ref)
        var queryVector = vector
        var identity: EmbeddingIdentity? = vector == nil ? nil : info.identity
        if mode != .keyword, queryVector == nil {
            guard let text, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw EngramError(.invalidInput, "\(mode.rawValue) search needs query text or a query vector")
            }
            guard let embedder else {
                throw EngramError(.unsupported, "no embedder for \(info.identity); pass a query vector or use keyword search")
            }
            try info.identity.requireCompatible(embedder.identity, context: "query")
            queryVector = try await embedder.embed(text)
            identity = embedder.identity
        }
        let request = SearchRequest(mode: mode, text: text, vector: queryVector, vectorIdentity: identity, filter: filter, k: k)
        let response = try await store.search(request, in: ref)
        logger.debug("search", metadata: ["collection": "\(ref)", "mode": "\(mode.rawValue)", "k": "\(k)", "hits": "\(response.hits.count)",
                                          "path": "\(response.path)", "exhaustive": "\(response.exhaustive)"])
        return Result(response: response, manifest: EvidenceManifest(request: request, collection: info, descriptor: store.descriptor, response: response))
    }
}
