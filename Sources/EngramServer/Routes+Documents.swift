import EngramCore
import EngramPipeline
import EngramWire
import Foundation
import Hummingbird

/// Collections, documents, search and verification.
extension EngramServer {
    func addDocumentRoutes(_ v1: Routes) {
        v1.get("collections") { _, c in try await self.listCollections(c) }
        v1.post("collections") { r, c in try await self.createCollection(r, c) }
        v1.get("collections/:collection") { _, c in try await self.collectionStats(c) }
        v1.delete("collections/:collection") { _, c in try await self.dropCollection(c) }
        v1.post("collections/:collection/documents") { r, c in try await self.ingest(r, c) }
        v1.get("collections/:collection/documents/:document") { _, c in try await self.document(c) }
        v1.delete("collections/:collection/documents/:document") { _, c in try await self.deleteDocument(c) }
        v1.get("collections/:collection/chunks/:chunk") { _, c in try await self.chunk(c) }
        v1.post("collections/:collection/search") { r, c in try await self.search(r, c) }
        v1.post("verify") { r, c in try await self.verify(r, c) }
    }

    var vectors: any VectorStore { stores.vectors }

    func ref(_ c: EngramRequestContext, _ scope: APIScope) throws -> CollectionRef {
        let ref = CollectionRef(tenant: try c.tenant(scope), name: try c.path("collection"))
        try ref.validate()
        return ref
    }

    func listCollections(_ c: EngramRequestContext) async throws -> Response {
        try Reply.json(try await vectors.collections(tenant: try c.tenant(.read)).map(Wire.Collection.init))
    }

    func createCollection(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.write)
        let body = try await r.decode(Wire.CreateCollectionRequest.self, limit: configuration.maxBodyBytes)
        let ref = CollectionRef(tenant: tenant, name: body.name)
        try ref.validate()
        let embedder = try await embedders.embedder(spec: body.embedder ?? configuration.embedder ?? EmbedderSpec.defaultSpec())
        let existed = try await vectors.collection(ref) != nil
        let info = try await vectors.createCollection(ref, identity: embedder.identity)
        return try Reply.json(Wire.Created(info, created: !existed), status: existed ? .ok : .created)
    }

    func collectionStats(_ c: EngramRequestContext) async throws -> Response {
        let ref = try ref(c, .read)
        let info = try await vectors.requireCollection(ref)
        return try Reply.json(Wire.Stats(info, try await vectors.stats(ref), store: vectors.descriptor))
    }

    func dropCollection(_ c: EngramRequestContext) async throws -> Response {
        let ref = try ref(c, .write)
        guard try await vectors.deleteCollection(ref) else { throw EngramError.collectionNotFound(ref) }
        return try Reply.json(Wire.Deleted(deleted: [], notFound: [], droppedCollection: ref.name))
    }

    /// The documents of an ingest request as loaded documents: a document's source URI is its
    /// `source_uri`, else `api:ID`, else `api:sha256:HASH` of its text.
    static func documents(_ body: Wire.IngestRequest) throws -> [LoadedDocument] {
        guard !body.documents.isEmpty else { throw EngramError(.invalidInput, "documents is empty") }
        guard body.documents.count <= 10_000 else { throw EngramError(.invalidInput, "at most 10000 documents per request, got \(body.documents.count)") }
        var seen = Set<String>()
        return try body.documents.enumerated().map { i, d in
            if let id = d.id, id.isEmpty || id.count > 1_024 { throw EngramError(.invalidInput, "documents[\(i)].id must be 1 to 1024 characters") }
            if let uri = d.sourceURI, uri.isEmpty || uri.count > 4_096 { throw EngramError(.invalidInput, "documents[\(i)].source_uri must be 1 to 4096 characters") }
            let uri = d.sourceURI ?? d.id.map { "api:" + $0 } ?? "api:sha256:" + SHA256Hex.hash(d.text)
            guard seen.insert(uri).inserted else { throw EngramError(.invalidInput, "documents[\(i)] repeats the source \(uri)") }
            do {
                return try LoadedDocument.text(d.text, sourceURI: uri, metadata: try Wire.metadata(d.metadata, what: "documents[\(i)].metadata"))
            } catch let e as EngramError {
                throw EngramError(e.code, "documents[\(i)]: \(e.message)")
            }
        }
    }

    func ingest(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let ref = try ref(c, .write)
        let body = try await r.decode(Wire.IngestRequest.self, limit: configuration.maxBodyBytes)
        let documents = try Self.documents(body)
        let started = Date()
        let (embedder, _) = try await Ingestor.collectionEmbedder(store: vectors, ref: ref, spec: body.embedder, defaultSpec: configuration.embedder, embedders: embedders)
        let report = try await Ingestor(store: vectors, embedder: embedder, collection: ref, logger: logger).ingest(documents: documents)
        return try Reply.json(Wire.Ingest(report, seconds: Date().timeIntervalSince(started)))
    }

    /// A document named by its id (`doc_…`) or by the id or source URI it was ingested with.
    func documentID(_ c: EngramRequestContext, _ ref: CollectionRef) throws -> String {
        let given = try c.path("document")
        if given.hasPrefix("doc_") { return given }
        return DocumentRecord.makeID(ref: ref, sourceURI: given.contains(":") ? given : "api:" + given)
    }

    func document(_ c: EngramRequestContext) async throws -> Response {
        let ref = try ref(c, .read)
        _ = try await vectors.requireCollection(ref)
        let id = try documentID(c, ref)
        guard let (info, _) = try await vectors.document(id: id, in: ref) else { throw EngramError(.notFound, "no document \(id) in collection \(ref.name)") }
        let chunks = try await vectors.chunks(ids: (0..<info.chunkCount).map { ChunkRecord.makeID(documentID: info.id, ordinal: $0) }, in: ref)
        return try Reply.json(Wire.Document(info, chunks: chunks))
    }

    func deleteDocument(_ c: EngramRequestContext) async throws -> Response {
        let ref = try ref(c, .write)
        _ = try await vectors.requireCollection(ref)
        let id = try documentID(c, ref)
        guard try await vectors.deleteDocument(id: id, in: ref) else { throw EngramError(.notFound, "no document \(id) in collection \(ref.name)") }
        return try Reply.json(Wire.Deleted(deleted: [id], notFound: []))
    }

    func chunk(_ c: EngramRequestContext) async throws -> Response {
        let ref = try ref(c, .read)
        _ = try await vectors.requireCollection(ref)
        let id = try c.path("chunk")
        guard let chunk = try await vectors.chunks(ids: [id], in: ref).first else { throw EngramError(.notFound, "no chunk \(id) in collection \(ref.name)") }
        return try Reply.json(Wire.Chunk(chunk))
    }

    func search(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let ref = try ref(c, .read)
        let body = try await r.decode(Wire.SearchRequest.self, limit: configuration.maxBodyBytes)
        let k = body.k ?? 10
        guard (1...10_000).contains(k) else { throw EngramError(.invalidInput, "k must be between 1 and 10000, got \(k)") }
        guard body.query != nil || body.vector != nil else { throw EngramError(.invalidInput, "give a query, a vector or both") }
        let mode = try body.mode.map { name in
            guard let m = SearchMode(rawValue: name) else { throw EngramError(.invalidInput, "mode must be vector, keyword or hybrid, not '\(TerminalText.escaped(name))'") }
            return m
        }
        let filter = try Wire.filter(body.filter)
        let info = try await vectors.requireCollection(ref)
        let chosen = mode ?? Retriever.defaultMode(identity: info.identity, text: body.query != nil, vector: body.vector != nil)
        let embedder = Retriever.needsEmbedder(identity: info.identity, mode: chosen, text: body.query != nil, vector: body.vector != nil)
            ? try await embedders.embedder(for: info.identity) : nil
        let result = try await Retriever(store: vectors, embedder: embedder, logger: logger).search(text: body.query, vector: body.vector, mode: chosen, filter: filter, k: k, in: ref)
        return try Reply.json(try Wire.SearchResult(result.response, mode: chosen, manifest: result.manifest))
    }

    func verify(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.read)
        let limit = min(configuration.maxBodyBytes, EvidenceManifest.maxBytes)
        let buffer = try await r.bytes(limit: limit)
        let manifest = try EvidenceManifest.parse(String(decoding: buffer.readableBytesView, as: UTF8.self))
        return try Reply.json(Wire.Verification(try await ManifestVerifier.verify(manifest, against: vectors, tenant: tenant)))
    }
}
