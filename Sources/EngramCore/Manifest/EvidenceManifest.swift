import Foundation

/// A record of one retrieval: the request, the embedding identity, the store and search path, and for
/// every hit exactly which characters of which document version were returned, with hashes.
///
/// Its JSON is canonical (sorted keys, compact) and ``id`` is the SHA-256 of that JSON without the `id`
/// member, so a manifest that was edited no longer matches its id. Verify it later against a store with
/// ``ManifestVerifier``.
public struct EvidenceManifest: Sendable, Hashable {
    public static let formatVersion = 1

    public struct Request: Sendable, Hashable {
        public var query: String?
        /// SHA-256 of the query vector's float32 little-endian bytes, when a vector was given directly.
        public var queryVectorSHA256: String?
        public var filter: Filter?
        public var k: Int
        public var mode: SearchMode
        public var tenant: String
        public var collection: String
    }

    public struct Store: Sendable, Hashable {
        public var kind: String
        public var schemaVersion: Int
        public var indexParameters: [String: String]
        public var searchPath: String
        public var exhaustive: Bool
        public var matched: Int
    }

    public struct Hit: Sendable, Hashable {
        public var rank: Int
        public var score: Double
        public var chunkID: String
        public var documentID: String
        public var sourceURI: String
        public var documentSHA256: String
        public var chunkSHA256: String
        public var charStart: Int
        public var charEnd: Int
        public var section: [String]
    }

    public var createdAt: Date
    public var request: Request
    public var embedding: EmbeddingIdentity
    public var store: Store
    public var hits: [Hit]

    public init(createdAt: Date, request: Request, embedding: EmbeddingIdentity, store: Store, hits: [Hit]) {
        self.createdAt = createdAt
        self.request = request
        self.embedding = embedding
        self.store = store
        self.hits = hits
    }

    /// Builds the manifest of a search.
    public init(request: SearchRequest, collection: CollectionInfo, descriptor: StoreDescriptor, response: SearchResponse, createdAt: Date = Date()) {
        var vectorHash: String? = nil
        if request.mode != .keyword, request.text == nil, let v = request.vector {
            vectorHash = EvidenceManifest.vectorSHA256(v)
        }
        self.init(
            createdAt: createdAt,
            request: Request(query: request.text, queryVectorSHA256: vectorHash, filter: request.filter, k: request.k, mode: request.mode, tenant: collection.ref.tenant, collection: collection.ref.name),
            embedding: collection.identity,
            store: Store(kind: descriptor.kind, schemaVersion: descriptor.schemaVersion, indexParameters: descriptor.indexParameters, searchPath: response.path.description, exhaustive: response.exhaustive, matched: response.matched),
            hits: response.hits.map { h in
                Hit(rank: h.rank, score: h.score, chunkID: h.chunk.id, documentID: h.chunk.documentID, sourceURI: h.chunk.sourceURI,
                    documentSHA256: h.chunk.documentSHA256, chunkSHA256: h.chunk.sha256, charStart: h.chunk.charStart, charEnd: h.chunk.charEnd, section: h.chunk.section)
            })
    }

    static func vectorSHA256(_ v: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(v.count * 4)
        for f in v { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return SHA256Hex.hash(bytes: bytes)
    }

    /// The body (everything but the id) as a JSON value.
    public var body: JSONValue {
        var request: [(String, JSONValue)] = [
            ("k", .int(Int64(self.request.k))),
            ("mode", .string(self.request.mode.rawValue)),
            ("tenant", .string(self.request.tenant)),
            ("collection", .string(self.request.collection)),
            ("query", self.request.query.map { .string($0) } ?? .null),
            ("filter", self.request.filter?.json ?? .null),
        ]
        if let h = self.request.queryVectorSHA256 { request.append(("query_vector_sha256", .string(h))) }
        return .object([
            ("manifest_version", .int(Int64(EvidenceManifest.formatVersion))),
            ("created_at", .string(MetadataValue.canonicalDateString(createdAt))),
            ("request", .object(request)),
            ("embedding", .object([
                ("model", .string(embedding.model)), ("revision", .string(embedding.revision)),
                ("dimension", .int(Int64(embedding.dimension))), ("distance", .string(embedding.distance.rawValue)),
                ("normalized", .bool(embedding.normalized)),
            ])),
            ("store", .object([
                ("kind", .string(store.kind)), ("schema_version", .int(Int64(store.schemaVersion))),
                ("index_parameters", .object(store.indexParameters.map { ($0.key, .string($0.value)) })),
                ("search_path", .string(store.searchPath)), ("exhaustive", .bool(store.exhaustive)),
                ("matched", .int(Int64(store.matched))),
            ])),
            ("hits", .array(hits.map { h in
                .object([
                    ("rank", .int(Int64(h.rank))), ("score", .double(h.score)), ("chunk_id", .string(h.chunkID)),
                    ("document_id", .string(h.documentID)), ("source_uri", .string(h.sourceURI)),
                    ("document_sha256", .string(h.documentSHA256)), ("chunk_sha256", .string(h.chunkSHA256)),
                    ("char_start", .int(Int64(h.charStart))), ("char_end", .int(Int64(h.charEnd))),
                    ("section", .array(h.section.map { .string($0) })),
                ])
            })),
        ])
    }

    /// SHA-256 of the canonical body.
    public var id: String { SHA256Hex.hash(body.serialized(sortedKeys: true)) }

    /// The canonical JSON: the body plus `id`, keys sorted, compact.
    public var canonicalJSON: String {
        guard case .object(var members) = body else { return "" }
        members.append(("id", .string(id)))
        return JSONValue.object(members).serialized(sortedKeys: true)
    }

    /// The largest manifest read (k is at most 10,000 hits of about half a kilobyte each).
    public static let maxBytes = 64 << 20

    /// Reads a manifest and checks that its id matches its content.
    /// - Throws: `invalid_manifest` naming the missing or malformed field, or an id mismatch.
    public static func parse(_ text: String) throws -> EvidenceManifest {
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch let e as EngramError {
            throw EngramError(.invalidManifest, "manifest is not valid JSON: \(e.message)")
        }
        let r = ManifestReader(json: json)
        let version = try r.int("manifest_version")
        guard version == formatVersion else {
            throw EngramError(.invalidManifest, "manifest_version \(version) is not supported (this Engram reads \(formatVersion))")
        }
        let req = try r.object("request"), emb = try r.object("embedding"), st = try r.object("store")
        let rq = ManifestReader(json: req, path: "request")
        let em = ManifestReader(json: emb, path: "embedding")
        let sr = ManifestReader(json: st, path: "store")
        guard let mode = SearchMode(rawValue: try rq.string("mode")) else { throw r.bad("request.mode") }
        guard let distance = Distance(rawValue: try em.string("distance")) else { throw r.bad("embedding.distance") }
        guard let createdAt = MetadataValue.parseDate(try r.string("created_at")) else { throw r.bad("created_at") }
        var filter: Filter? = nil
        if let f = req["filter"], f != .null {
            do { filter = try Filter.fromJSON(f) } catch let e as EngramError {
                throw EngramError(.invalidManifest, "request.filter: \(e.message)")
            }
        }
        var params: [String: String] = [:]
        if case .object(let ps) = st["index_parameters"] ?? .object([]) {
            for (k, v) in ps { if case .string(let s) = v { params[k] = s } }
        }
        guard case .array(let hitValues) = json["hits"] ?? .null else { throw r.bad("hits") }
        var hits: [Hit] = []
        for (i, hv) in hitValues.enumerated() {
            let h = ManifestReader(json: hv, path: "hits[\(i)]")
            guard case .array(let sect) = hv["section"] ?? .null else { throw h.bad("hits[\(i)].section") }
            hits.append(Hit(
                rank: try h.int("rank"), score: try h.double("score"), chunkID: try h.string("chunk_id"),
                documentID: try h.string("document_id"), sourceURI: try h.string("source_uri"),
                documentSHA256: try h.string("document_sha256"), chunkSHA256: try h.string("chunk_sha256"),
                charStart: try h.int("char_start"), charEnd: try h.int("char_end"),
                section: sect.compactMap { if case .string(let s) = $0 { s } else { nil } }))
        }
        let manifest = EvidenceManifest(
            createdAt: createdAt,
            request: Request(query: try rq.optionalString("query"), queryVectorSHA256: try rq.optionalString("query_vector_sha256"), filter: filter, k: try rq.int("k"), mode: mode, tenant: try rq.string("tenant"), collection: try rq.string("collection")),
            embedding: EmbeddingIdentity(model: try em.string("model"), revision: try em.string("revision"), dimension: try em.int("dimension"), distance: distance, normalized: try em.bool("normalized")),
            store: Store(kind: try sr.string("kind"), schemaVersion: try sr.int("schema_version"), indexParameters: params, searchPath: try sr.string("search_path"), exhaustive: try sr.bool("exhaustive"), matched: try sr.int("matched")),
            hits: hits)
        let claimed = try r.string("id")
        guard claimed == manifest.id else {
            throw EngramError(.invalidManifest, "manifest id \(claimed) does not match its content (\(manifest.id)): it was modified after it was written")
        }
        return manifest
    }
}

struct ManifestReader {
    let json: JSONValue
    var path: String = ""

    func bad(_ field: String) -> EngramError {
        EngramError(.invalidManifest, "manifest field '\(field)' is missing or malformed")
    }

    func name(_ k: String) -> String { path.isEmpty ? k : "\(path).\(k)" }

    func string(_ k: String) throws -> String {
        guard case .string(let s) = json[k] ?? .null else { throw bad(name(k)) }
        return s
    }

    func optionalString(_ k: String) throws -> String? {
        switch json[k] ?? .null {
        case .null: return nil
        case .string(let s): return s
        default: throw bad(name(k))
        }
    }

    func int(_ k: String) throws -> Int {
        guard case .int(let i) = json[k] ?? .null else { throw bad(name(k)) }
        return Int(i)
    }

    func double(_ k: String) throws -> Double {
        switch json[k] ?? .null {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: throw bad(name(k))
        }
    }

    func bool(_ k: String) throws -> Bool {
        guard case .bool(let b) = json[k] ?? .null else { throw bad(name(k)) }
        return b
    }

    func object(_ k: String) throws -> JSONValue {
        guard case .object = json[k] ?? .null else { throw bad(name(k)) }
        return json[k]!
    }
}

/// Re-checks a manifest's hits against a store.
public enum ManifestVerifier {
    public enum Status: String, Sendable, Codable {
        /// The chunk exists with the same hashes and range, and its text is intact.
        case verified
        /// The chunk exists but its text, range or document version differs.
        case changed
        /// The chunk (or its collection) no longer exists.
        case missing
    }

    public struct HitResult: Sendable, Hashable, Codable {
        public var rank: Int
        public var chunkID: String
        public var sourceURI: String
        public var status: Status
        /// Why a hit is not verified.
        public var reason: String?
    }

    public struct Report: Sendable, Hashable, Codable {
        public var manifestID: String
        public var results: [HitResult]
        public var allVerified: Bool { results.allSatisfy { $0.status == .verified } }
        public func count(_ s: Status) -> Int { results.filter { $0.status == s }.count }
    }

    /// Re-reads every cited chunk of `manifest` in the caller's `tenant`.
    ///
    /// The tenant is the caller's, never the manifest's: a manifest is a file anyone can edit, so one that
    /// cites another tenant is refused instead of being checked against that tenant's rows.
    /// - Throws: `invalid_input` when the manifest cites another tenant.
    public static func verify(_ manifest: EvidenceManifest, against store: any VectorStore, tenant: String) async throws -> Report {
        guard manifest.request.tenant == tenant else {
            throw EngramError(.invalidInput, "the manifest cites tenant '\(TerminalText.escaped(manifest.request.tenant))', not '\(tenant)'; verify it as that tenant (--tenant \(TerminalText.escaped(manifest.request.tenant)))")
        }
        let ref = CollectionRef(tenant: tenant, name: manifest.request.collection)
        guard try await store.collection(ref) != nil else {
            return Report(manifestID: manifest.id, results: manifest.hits.map {
                HitResult(rank: $0.rank, chunkID: $0.chunkID, sourceURI: $0.sourceURI, status: .missing, reason: "collection \(ref) does not exist")
            })
        }
        let chunks = try await store.chunks(ids: manifest.hits.map(\.chunkID), in: ref)
        let byID = Dictionary(chunks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var documentTexts: [String: String] = [:]
        var results: [HitResult] = []
        for h in manifest.hits {
            guard let c = byID[h.chunkID] else {
                results.append(HitResult(rank: h.rank, chunkID: h.chunkID, sourceURI: h.sourceURI, status: .missing, reason: "chunk no longer exists"))
                continue
            }
            var reasons: [String] = []
            if c.sha256 != h.chunkSHA256 { reasons.append("chunk sha256 is \(c.sha256.prefix(12))…, manifest has \(h.chunkSHA256.prefix(12))…") }
            if SHA256Hex.hash(c.text) != c.sha256 { reasons.append("stored chunk text does not match its stored hash") }
            if c.documentSHA256 != h.documentSHA256 { reasons.append("document changed (sha256 \(c.documentSHA256.prefix(12))…)") }
            if c.charStart != h.charStart || c.charEnd != h.charEnd { reasons.append("range is \(c.charStart)..<\(c.charEnd), manifest has \(h.charStart)..<\(h.charEnd)") }
            if documentTexts[c.documentID] == nil, let d = try await store.document(id: c.documentID, in: ref) {
                documentTexts[c.documentID] = d.text
            }
            if let text = documentTexts[c.documentID] {
                let scalars = ScalarText(text)
                if h.charStart >= 0, h.charEnd <= scalars.count, h.charStart < h.charEnd {
                    if SHA256Hex.hash(utf8: scalars.bytes(h.charStart, h.charEnd)) != h.chunkSHA256 {
                        reasons.append("document text at \(h.charStart)..<\(h.charEnd) no longer hashes to the cited chunk")
                    }
                } else {
                    reasons.append("cited range is outside the stored document")
                }
            }
            results.append(HitResult(rank: h.rank, chunkID: h.chunkID, sourceURI: h.sourceURI, status: reasons.isEmpty ? .verified : .changed, reason: reasons.isEmpty ? nil : reasons.joined(separator: "; ")))
        }
        return Report(manifestID: manifest.id, results: results)
    }
}
