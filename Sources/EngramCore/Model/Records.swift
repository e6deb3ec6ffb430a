import Foundation

/// Names a collection: a tenant and the collection's name.
public struct CollectionRef: Sendable, Hashable, Codable, CustomStringConvertible {
    public var tenant: String
    public var name: String

    public init(tenant: String = "default", name: String = "default") {
        self.tenant = tenant
        self.name = name
    }

    public var description: String { "\(tenant)/\(name)" }

    /// Tenant ids: 1–128 ASCII letters, digits and `_ - . :`. Collection names: 1–128 letters (any
    /// script), digits and `_ - . :`.
    public func validate() throws {
        try CollectionRef.validateTenant(tenant)
        try CollectionRef.validateName(name, what: "collection name")
    }

    /// Tenant ids are ASCII only: a tenant is a security boundary, and two ids that look the same
    /// (`alice` and `аlice` with a Cyrillic а, or full-width `ａｌｉｃｅ`) must not be two tenants that a
    /// person cannot tell apart.
    public static func validateTenant(_ tenant: String) throws {
        try validateName(tenant, what: "tenant id")
        guard tenant.utf8.allSatisfy({ $0 < 0x80 }) else {
            throw EngramError(.invalidInput, "tenant id '\(TerminalText.escaped(tenant))' must be ASCII (letters a-z, A-Z, digits and _ - . :), so that no two tenant ids look alike")
        }
    }

    /// Checks a collection about to be created: its names and its identity's dimension.
    public func validateNew(identity: EmbeddingIdentity) throws {
        try validate()
        guard identity.dimension > 0, identity.dimension <= 16_000 else {
            throw EngramError(.invalidInput, "dimension must be between 1 and 16000, got \(identity.dimension)")
        }
    }

    static func validateName(_ s: String, what: String) throws {
        guard !s.isEmpty, s.count <= 128 else {
            throw EngramError(.invalidInput, "\(what) must be 1 to 128 characters, got \(s.count)")
        }
        guard s.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.:".unicodeScalars.contains($0) }) else {
            throw EngramError(.invalidInput, "\(what) '\(TerminalText.escaped(s))' may contain only letters, digits and _ - . :")
        }
    }
}

/// A collection: one embedding space inside a tenant.
public struct CollectionInfo: Sendable, Hashable, Codable {
    public var ref: CollectionRef
    public var identity: EmbeddingIdentity
    public var generation: Int
    public var createdAt: Date

    public init(ref: CollectionRef, identity: EmbeddingIdentity, generation: Int = 1, createdAt: Date) {
        self.ref = ref
        self.identity = identity
        self.generation = generation
        self.createdAt = createdAt
    }
}

/// A document to store: its normalized text and where it came from.
public struct DocumentRecord: Sendable, Hashable {
    /// Stable id, derived from tenant, collection and source URI (see ``DocumentRecord/makeID(ref:sourceURI:)``).
    public var id: String
    public var sourceURI: String
    /// SHA-256 (hex) of the normalized text.
    public var sha256: String
    /// Fingerprint of the source and pipeline settings; equal fingerprints mean "unchanged".
    public var fingerprint: String
    public var mime: String
    /// Size of the source in bytes.
    public var size: Int
    public var metadata: Metadata
    /// The normalized text; chunk offsets index into it (in Unicode scalars).
    public var text: String

    public init(id: String, sourceURI: String, sha256: String, fingerprint: String, mime: String, size: Int, metadata: Metadata, text: String) {
        self.id = id
        self.sourceURI = sourceURI
        self.sha256 = sha256
        self.fingerprint = fingerprint
        self.mime = mime
        self.size = size
        self.metadata = metadata
        self.text = text
    }

    /// The id of the document at `sourceURI` in a collection.
    public static func makeID(ref: CollectionRef, sourceURI: String) -> String {
        "doc_" + SHA256Hex.hash("\(ref.tenant)\u{0}\(ref.name)\u{0}\(sourceURI)").prefix(24)
    }
}

/// A chunk to store: a range of its document's normalized text.
public struct ChunkRecord: Sendable, Hashable {
    public var id: String
    public var ordinal: Int
    public var text: String
    /// Start offset (Unicode scalars) into the document's normalized text.
    public var charStart: Int
    /// End offset (exclusive).
    public var charEnd: Int
    /// Heading path, outermost first.
    public var section: [String]
    public var tokenCount: Int
    /// SHA-256 (hex) of ``text``.
    public var sha256: String
    /// Chunk-level metadata (document metadata is merged in by the store; chunk keys win).
    public var metadata: Metadata
    public var embedding: [Float]?

    public init(id: String, ordinal: Int, text: String, charStart: Int, charEnd: Int, section: [String], tokenCount: Int, sha256: String, metadata: Metadata = [:], embedding: [Float]? = nil) {
        self.id = id
        self.ordinal = ordinal
        self.text = text
        self.charStart = charStart
        self.charEnd = charEnd
        self.section = section
        self.tokenCount = tokenCount
        self.sha256 = sha256
        self.metadata = metadata
        self.embedding = embedding
    }

    /// The id of chunk `ordinal` of a document: stable across re-ingestion, so that a manifest can tell a
    /// changed chunk from a missing one.
    public static func makeID(documentID: String, ordinal: Int) -> String {
        "chk_" + SHA256Hex.hash("\(documentID)#\(ordinal)").prefix(24)
    }
}

/// A stored document's summary (no text).
public struct DocumentInfo: Sendable, Hashable, Codable {
    public var id: String
    public var sourceURI: String
    public var sha256: String
    public var fingerprint: String
    public var version: Int
    public var mime: String
    public var size: Int
    public var chunkCount: Int
    public var metadata: Metadata
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, sourceURI: String, sha256: String, fingerprint: String, version: Int, mime: String, size: Int, chunkCount: Int, metadata: Metadata, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.sourceURI = sourceURI
        self.sha256 = sha256
        self.fingerprint = fingerprint
        self.version = version
        self.mime = mime
        self.size = size
        self.chunkCount = chunkCount
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A chunk as read back from a store, with its document's identifying fields.
public struct StoredChunk: Sendable, Hashable, Codable {
    public var id: String
    public var documentID: String
    public var sourceURI: String
    public var documentSHA256: String
    public var ordinal: Int
    public var text: String
    public var charStart: Int
    public var charEnd: Int
    public var section: [String]
    public var tokenCount: Int
    public var sha256: String
    /// Document metadata merged with chunk metadata.
    public var metadata: Metadata
    public var generation: Int

    public init(id: String, documentID: String, sourceURI: String, documentSHA256: String, ordinal: Int, text: String, charStart: Int, charEnd: Int, section: [String], tokenCount: Int, sha256: String, metadata: Metadata, generation: Int) {
        self.id = id
        self.documentID = documentID
        self.sourceURI = sourceURI
        self.documentSHA256 = documentSHA256
        self.ordinal = ordinal
        self.text = text
        self.charStart = charStart
        self.charEnd = charEnd
        self.section = section
        self.tokenCount = tokenCount
        self.sha256 = sha256
        self.metadata = metadata
        self.generation = generation
    }
}

/// What an upsert did.
public enum UpsertOutcome: String, Sendable, Codable {
    case added, updated, unchanged
}

/// Counts for a collection.
public struct CollectionStats: Sendable, Hashable, Codable {
    public var documents: Int
    public var chunks: Int
    public var embeddedChunks: Int
    public var textBytes: Int

    public init(documents: Int, chunks: Int, embeddedChunks: Int, textBytes: Int) {
        self.documents = documents
        self.chunks = chunks
        self.embeddedChunks = embeddedChunks
        self.textBytes = textBytes
    }
}

/// A chunk's section path as the SQL stores keep it: a JSON array of strings.
public enum SectionJSON {
    public static func encode(_ section: [String]) -> String {
        JSONValue.array(section.map { .string($0) }).serialized()
    }

    /// The stored text back to the path (entries that are not strings are left out).
    public static func decode(_ json: String) throws -> [String] {
        guard case .array(let items) = try JSONValue.parse(json) else { return [] }
        return items.compactMap { if case .string(let s) = $0 { s } else { nil } }
    }
}
