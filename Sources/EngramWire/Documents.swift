import EngramCore
import EngramPipeline
import Foundation

extension Wire {
    /// A collection of a tenant (`collections`, `init`).
    public struct Collection: Codable, Sendable, Hashable {
        public var tenant: String
        public var name: String
        public var embedding: Embedding
        /// The active generation (it grows by one with each reindex).
        public var generation: Int
        public var createdAt: Date

        enum CodingKeys: String, CodingKey {
            case tenant, name, embedding, generation
            case createdAt = "created_at"
        }

        public init(_ c: CollectionInfo) {
            tenant = c.ref.tenant
            name = c.ref.name
            embedding = Embedding(c.identity)
            generation = c.generation
            createdAt = c.createdAt
        }
    }

    /// `init`: the collection, and whether this call created it.
    public struct Created: Codable, Sendable, Hashable {
        public var collection: Collection
        public var created: Bool

        public init(_ c: CollectionInfo, created: Bool) {
            collection = Collection(c)
            self.created = created
        }
    }

    /// `stats`.
    public struct Stats: Codable, Sendable, Hashable {
        public var collection: Collection
        /// The kind of store (`sqlite`, `postgres`, `memory`) and its schema version.
        public var store: String
        public var schemaVersion: Int
        public var documents: Int
        public var chunks: Int
        public var embeddedChunks: Int
        public var textBytes: Int

        enum CodingKeys: String, CodingKey {
            case collection, store, documents, chunks
            case schemaVersion = "schema_version"
            case embeddedChunks = "embedded_chunks"
            case textBytes = "text_bytes"
        }

        public init(_ c: CollectionInfo, _ s: CollectionStats, store: StoreDescriptor) {
            collection = Collection(c)
            self.store = store.kind
            schemaVersion = store.schemaVersion
            documents = s.documents
            chunks = s.chunks
            embeddedChunks = s.embeddedChunks
            textBytes = s.textBytes
        }
    }

    /// A chunk as stored: where its text lies in its document, and the hashes a manifest cites.
    public struct Chunk: Codable, Sendable, Hashable {
        public var chunkID: String
        public var documentID: String
        public var sourceURI: String
        /// Its position in the document, from 0.
        public var ordinal: Int
        /// The range of the text in the document's extracted text, in characters.
        public var charStart: Int
        public var charEnd: Int
        /// The headings above the chunk, outermost first.
        public var section: [String]
        public var tokenCount: Int
        public var chunkSHA256: String
        public var documentSHA256: String
        public var metadata: Metadata
        public var text: String

        enum CodingKeys: String, CodingKey {
            case ordinal, section, metadata, text
            case chunkID = "chunk_id"
            case documentID = "document_id"
            case sourceURI = "source_uri"
            case charStart = "char_start"
            case charEnd = "char_end"
            case tokenCount = "token_count"
            case chunkSHA256 = "chunk_sha256"
            case documentSHA256 = "document_sha256"
        }

        public init(_ c: StoredChunk) {
            chunkID = c.id
            documentID = c.documentID
            sourceURI = c.sourceURI
            ordinal = c.ordinal
            charStart = c.charStart
            charEnd = c.charEnd
            section = c.section
            tokenCount = c.tokenCount
            chunkSHA256 = c.sha256
            documentSHA256 = c.documentSHA256
            metadata = c.metadata
            text = c.text
        }
    }

    /// A document and its chunks (`show doc_…`); the chunks' text is left out.
    public struct Document: Codable, Sendable, Hashable {
        public struct ChunkRange: Codable, Sendable, Hashable {
            public var chunkID: String
            public var charStart: Int
            public var charEnd: Int
            public var section: [String]

            enum CodingKeys: String, CodingKey {
                case section
                case chunkID = "chunk_id"
                case charStart = "char_start"
                case charEnd = "char_end"
            }
        }

        public var documentID: String
        public var sourceURI: String
        public var documentSHA256: String
        /// 1 when first ingested, one more each time its content changed.
        public var version: Int
        public var mime: String
        /// The source's size in bytes.
        public var size: Int
        public var metadata: Metadata
        public var createdAt: Date
        public var updatedAt: Date
        public var chunks: [ChunkRange]

        enum CodingKeys: String, CodingKey {
            case version, mime, size, metadata, chunks
            case documentID = "document_id"
            case sourceURI = "source_uri"
            case documentSHA256 = "document_sha256"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        public init(_ d: DocumentInfo, chunks: [StoredChunk]) {
            documentID = d.id
            sourceURI = d.sourceURI
            documentSHA256 = d.sha256
            version = d.version
            mime = d.mime
            size = d.size
            metadata = d.metadata
            createdAt = d.createdAt
            updatedAt = d.updatedAt
            self.chunks = chunks.map { ChunkRange(chunkID: $0.id, charStart: $0.charStart, charEnd: $0.charEnd, section: $0.section) }
        }
    }

    /// One ranked search result: the chunk's fields, its score, and the score and rank of each method that
    /// found it (null for a method that did not run or did not find it). Flat, as one object, so that
    /// `.hits[].text` reads the text.
    public struct Hit: Codable, Sendable, Hashable {
        public var rank: Int
        public var score: Double
        public var vectorScore: Double?
        public var vectorRank: Int?
        public var keywordScore: Double?
        public var keywordRank: Int?
        public var chunk: Chunk

        enum CodingKeys: String, CodingKey {
            case rank, score
            case vectorScore = "vector_score"
            case vectorRank = "vector_rank"
            case keywordScore = "keyword_score"
            case keywordRank = "keyword_rank"
        }

        public init(_ h: SearchHit) {
            rank = h.rank
            score = h.score
            vectorScore = h.vectorScore
            vectorRank = h.vectorRank
            keywordScore = h.keywordScore
            keywordRank = h.keywordRank
            chunk = Chunk(h.chunk)
        }

        public init(from decoder: any Decoder) throws {
            chunk = try Chunk(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            rank = try c.decode(Int.self, forKey: .rank)
            score = try c.decode(Double.self, forKey: .score)
            vectorScore = try c.decodeIfPresent(Double.self, forKey: .vectorScore)
            vectorRank = try c.decodeIfPresent(Int.self, forKey: .vectorRank)
            keywordScore = try c.decodeIfPresent(Double.self, forKey: .keywordScore)
            keywordRank = try c.decodeIfPresent(Int.self, forKey: .keywordRank)
        }

        public func encode(to encoder: any Encoder) throws {
            try chunk.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(rank, forKey: .rank)
            try c.encode(score, forKey: .score)
            try c.encodeIfPresent(vectorScore, forKey: .vectorScore)
            try c.encodeIfPresent(vectorRank, forKey: .vectorRank)
            try c.encodeIfPresent(keywordScore, forKey: .keywordScore)
            try c.encodeIfPresent(keywordRank, forKey: .keywordRank)
        }
    }

    /// `search`: the hits, how they were found, and the evidence manifest that cites them.
    public struct SearchResult: Codable, Sendable, Hashable {
        public var hits: [Hit]
        /// `vector`, `keyword` or `hybrid`.
        public var mode: String
        /// Which path answered, e.g. `exact-scan`, `bm25`, `rrf(exact-scan,bm25)`.
        public var path: String
        /// True when every chunk matching the filter was considered.
        public var exhaustive: Bool
        /// Chunks that matched: exact when exhaustive, a lower bound otherwise.
        public var matched: Int
        public var manifestID: String
        /// The evidence manifest, in its canonical form (what `search --manifest` writes and `verify` reads).
        public var manifest: JSONValue

        enum CodingKeys: String, CodingKey {
            case hits, mode, path, exhaustive, matched, manifest
            case manifestID = "manifest_id"
        }

        public init(_ r: SearchResponse, mode: SearchMode, manifest: EvidenceManifest) throws {
            hits = r.hits.map(Hit.init)
            self.mode = mode.rawValue
            path = r.path.description
            exhaustive = r.exhaustive
            matched = r.matched
            manifestID = manifest.id
            self.manifest = try JSONValue.parse(manifest.canonicalJSON)
        }
    }

    /// `verify`: each cited hit re-checked against the store.
    public struct Verification: Codable, Sendable, Hashable {
        public struct Result: Codable, Sendable, Hashable {
            public var rank: Int
            public var chunkID: String
            public var sourceURI: String
            /// `verified`, `changed` or `missing`.
            public var status: String
            /// Why a hit is not verified; null when it is.
            public var reason: String?

            enum CodingKeys: String, CodingKey {
                case rank, status, reason
                case chunkID = "chunk_id"
                case sourceURI = "source_uri"
            }
        }

        public var manifestID: String
        public var allVerified: Bool
        public var verified: Int
        public var changed: Int
        public var missing: Int
        public var hits: [Result]

        enum CodingKeys: String, CodingKey {
            case verified, changed, missing, hits
            case manifestID = "manifest_id"
            case allVerified = "all_verified"
        }

        public init(_ r: ManifestVerifier.Report) {
            manifestID = r.manifestID
            allVerified = r.allVerified
            verified = r.count(.verified)
            changed = r.count(.changed)
            missing = r.count(.missing)
            hits = r.results.map { Result(rank: $0.rank, chunkID: $0.chunkID, sourceURI: $0.sourceURI, status: $0.status.rawValue, reason: $0.reason) }
        }
    }

    /// `ingest`: what happened to the documents, and every file that failed or was skipped.
    public struct Ingest: Codable, Sendable, Hashable {
        public struct Failure: Codable, Sendable, Hashable {
            public var source: String
            /// One of ``EngramError/Code``'s raw values.
            public var code: String
            public var reason: String
        }

        public struct Skipped: Codable, Sendable, Hashable {
            public var path: String
            /// `symbolic_link`, `already_visited`, `broken_link`, `not_utf8`, `special_file`, …
            public var reason: String
            public var detail: String
        }

        public var added: Int
        public var updated: Int
        public var unchanged: Int
        public var deleted: Int
        public var files: Int
        public var chunksWritten: Int
        public var chunksEmbedded: Int
        public var seconds: Double
        public var failed: [Failure]
        public var skipped: [Skipped]

        enum CodingKeys: String, CodingKey {
            case added, updated, unchanged, deleted, files, seconds, failed, skipped
            case chunksWritten = "chunks_written"
            case chunksEmbedded = "chunks_embedded"
        }

        public init(_ r: IngestReport, seconds: Double) {
            added = r.added
            updated = r.updated
            unchanged = r.unchanged
            deleted = r.deleted
            files = r.files
            chunksWritten = r.chunksWritten
            chunksEmbedded = r.chunksEmbedded
            self.seconds = seconds
            failed = r.failed.map { Failure(source: $0.source, code: $0.code, reason: $0.reason) }
            skipped = r.skipped.map { Skipped(path: $0.path, reason: $0.reason.rawValue, detail: $0.detail) }
        }
    }

    /// `delete`: the documents deleted and those not found (or the collection dropped).
    public struct Deleted: Codable, Sendable, Hashable {
        public var deleted: [String]
        public var notFound: [String]
        /// The collection's name when the whole collection was dropped, else null.
        public var droppedCollection: String?

        enum CodingKeys: String, CodingKey {
            case deleted
            case notFound = "not_found"
            case droppedCollection = "dropped_collection"
        }

        public init(deleted: [String], notFound: [String], droppedCollection: String? = nil) {
            self.deleted = deleted
            self.notFound = notFound
            self.droppedCollection = droppedCollection
        }
    }
}
