import Foundation

// The rows of a backup, the same for every backend: a collection, a document, a chunk of the active
// generation. Each is one line of JSON in the archive (see `BackupArchive` in EngramPipeline).

public struct BackupCollection: Sendable, Hashable {
    public var ref: CollectionRef
    public var identity: EmbeddingIdentity
    public var createdAt: Date

    public init(ref: CollectionRef, identity: EmbeddingIdentity, createdAt: Date) {
        self.ref = ref
        self.identity = identity
        self.createdAt = createdAt
    }
}

public struct BackupDocument: Sendable, Hashable {
    public var collection: CollectionRef
    public var info: DocumentInfo
    public var text: String

    public init(collection: CollectionRef, info: DocumentInfo, text: String) {
        self.collection = collection
        self.info = info
        self.text = text
    }
}

public struct BackupChunk: Sendable, Hashable {
    public var collection: CollectionRef
    /// Its metadata is the stored one (the document's merged with the chunk's own).
    public var chunk: StoredChunk
    /// Nil when the chunk has none, or when the backup leaves vectors out.
    public var embedding: [Float]?

    public init(collection: CollectionRef, chunk: StoredChunk, embedding: [Float]?) {
        self.collection = collection
        self.chunk = chunk
        self.embedding = embedding
    }
}

public enum BackupRow: Sendable, Hashable {
    case collection(BackupCollection)
    case document(BackupDocument)
    case chunk(BackupChunk)
    case memory(Memory)
    case memoryEvent(MemoryEvent)
}

/// Receives the rows of an export, in order.
public protocol BackupSink: Sendable {
    func write(_ row: BackupRow) throws
}

/// A store that can export its rows for a backup.
public protocol BackupSource: VectorStore {
    /// Writes every collection of `tenants` (nil: all tenants the store can list) to `sink` from one
    /// consistent snapshot: collections ordered by tenant and name, each followed by its documents
    /// (ordered by id) and then its active generation's chunks (ordered by document id and ordinal).
    /// Vectors are left out unless `vectors`. With `memories`, a store whose long-term memory tables live
    /// in the same database writes each tenant's memories and audit events too, from the same snapshot,
    /// and returns those tenants; a store without them returns nil.
    func exportRows(tenants: [String]?, vectors: Bool, memories: Bool, to sink: any BackupSink) async throws -> [String]?
}

// MARK: JSON lines

extension BackupRow {
    /// The row as one line of JSON (no newline).
    public var jsonLine: String {
        switch self {
        case .collection(let c):
            return JSONValue.object([
                ("tenant", .string(c.ref.tenant)), ("name", .string(c.ref.name)), ("model", .string(c.identity.model)),
                ("revision", .string(c.identity.revision)), ("dimension", .int(Int64(c.identity.dimension))),
                ("distance", .string(c.identity.distance.rawValue)), ("normalized", .bool(c.identity.normalized)),
                ("created_at", .string(MetadataValue.canonicalDateString(c.createdAt))),
            ]).serialized()
        case .document(let d):
            let i = d.info
            return Self.line(JSONValue.object([
                ("tenant", .string(d.collection.tenant)), ("collection", .string(d.collection.name)), ("id", .string(i.id)),
                ("source_uri", .string(i.sourceURI)), ("sha256", .string(i.sha256)), ("fingerprint", .string(i.fingerprint)),
                ("version", .int(Int64(i.version))), ("mime", .string(i.mime)), ("size", .int(Int64(i.size))),
                ("chunk_count", .int(Int64(i.chunkCount))), ("text", .string(d.text)),
                ("created_at", .string(MetadataValue.canonicalDateString(i.createdAt))),
                ("updated_at", .string(MetadataValue.canonicalDateString(i.updatedAt))),
            ]), raw: [("metadata", i.metadata.canonicalJSON)])
        case .chunk(let b):
            let c = b.chunk
            return Self.line(JSONValue.object([
                ("tenant", .string(b.collection.tenant)), ("collection", .string(b.collection.name)), ("id", .string(c.id)),
                ("document_id", .string(c.documentID)), ("ordinal", .int(Int64(c.ordinal))), ("char_start", .int(Int64(c.charStart))),
                ("char_end", .int(Int64(c.charEnd))), ("section", .array(c.section.map { .string($0) })),
                ("token_count", .int(Int64(c.tokenCount))), ("sha256", .string(c.sha256)), ("text", .string(c.text)),
            ]), raw: [("metadata", c.metadata.canonicalJSON), ("embedding", b.embedding.map { "\"" + Self.base64(of: $0) + "\"" } ?? "null")])
        case .memory(let m):
            return JSONValue.object([
                ("id", .string(m.id)), ("tenant", .string(m.tenant)), ("subject", .string(m.subject)), ("namespace", .string(m.namespace)),
                ("kind", .string(m.kind.rawValue)), ("content", .string(m.content)), ("content_sha256", .string(m.contentSHA256)),
                ("metadata", Self.metadataJSON(m.metadata)), ("importance", .double(m.importance)),
                ("provenance", (try? JSONValue.parse(MemoryRules.storedJSON(m.provenance))) ?? .null),
                ("created_at", Self.dateJSON(m.createdAt)), ("updated_at", Self.dateJSON(m.updatedAt)), ("last_accessed_at", Self.dateJSON(m.lastAccessedAt)),
                ("access_count", .int(Int64(m.accessCount))), ("expires_at", Self.dateJSON(m.expiresAt)), ("retention", .string(m.retention)),
                ("legal_hold", .bool(m.legalHold)), ("supersedes", m.supersedes.map { .string($0) } ?? .null),
                ("embedding_identity", m.embeddingIdentity.flatMap { try? JSONValue.parse(MemoryRules.storedJSON($0)) } ?? .null),
                ("embedding", m.embedding.map { .string(Self.base64(of: $0)) } ?? .null),
            ]).serialized()
        case .memoryEvent(let e):
            return JSONValue.object([
                ("tenant", .string(e.tenant)), ("memory_id", .string(e.memoryID)), ("event", .string(e.kind.rawValue)), ("actor", .string(e.actor)),
                ("reason", .string(e.reason)), ("content_sha256", .string(e.contentSHA256)), ("at", Self.dateJSON(e.at)),
                ("origin", e.origin.map { .string($0) } ?? .null),
            ]).serialized()
        }
    }

    /// An object's JSON with members appended whose values are already JSON text (canonical metadata, a
    /// quoted base64 vector): they are not parsed and escaped again.
    static func line(_ object: JSONValue, raw: [(String, String)]) -> String {
        var text = object.serialized()
        text.removeLast()
        for (key, value) in raw { text += ",\"\(key)\":\(value)" }
        return text + "}"
    }

    static func dateJSON(_ d: Date?) -> JSONValue { d.map { .string(MetadataValue.canonicalDateString($0)) } ?? .null }

    static func metadataJSON(_ m: Metadata) -> JSONValue {
        (try? JSONValue.parse(m.canonicalJSON)) ?? .object([])
    }

    /// A vector as base64 of its little-endian float32 bytes: exact, and a third the size of decimal text.
    public static func base64(of vector: [Float]) -> String {
        #if _endian(little)
        return vector.withUnsafeBytes { Data($0).base64EncodedString() }
        #else
        return Data(vector.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }).base64EncodedString()
        #endif
    }

    public static func vector(base64 text: String) -> [Float]? {
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else { return nil }
        var vector = [Float](repeating: 0, count: data.count / 4)
        _ = vector.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        #if !_endian(little)
        vector = vector.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
        return vector
    }

    /// Parses one line of a part (`collections`, `documents` or `chunks`).
    /// - Throws: `invalid_input` naming the field that is missing or malformed.
    public static func parse(line: some Collection<UInt8>, part: String) throws -> BackupRow {
        let v = try JSONValue.parse(line)
        func string(_ key: String) throws -> String {
            guard case .string(let s)? = v[key] else { throw EngramError(.invalidInput, "\(part): field '\(key)' is missing or not a string") }
            return s
        }
        func int(_ key: String) throws -> Int {
            guard case .int(let i)? = v[key] else { throw EngramError(.invalidInput, "\(part): field '\(key)' is missing or not an integer") }
            return Int(i)
        }
        func date(_ key: String) throws -> Date {
            guard let d = MetadataValue.parseDate(try string(key)) else { throw EngramError(.invalidInput, "\(part): field '\(key)' is not a date") }
            return d
        }
        func optionalDate(_ key: String) throws -> Date? {
            if case .null? = v[key] { return nil }
            return try date(key)
        }
        func optionalString(_ key: String) throws -> String? {
            switch v[key] {
            case nil, .null?: return nil
            default: return try string(key)
            }
        }
        func vectorField() throws -> [Float]? {
            switch v["embedding"] {
            case .string(let text)?:
                guard let vector = vector(base64: text) else { throw EngramError(.invalidInput, "\(part): field 'embedding' is not base64 float32") }
                return vector
            case .null?, nil: return nil
            default: throw EngramError(.invalidInput, "\(part): field 'embedding' is neither base64 nor null")
            }
        }
        func metadata() throws -> Metadata {
            guard let m = v["metadata"] else { throw EngramError(.invalidInput, "\(part): field 'metadata' is missing") }
            return try Metadata.parse(json: m.serialized())
        }
        switch part {
        case "collections":
            guard case .bool(let normalized)? = v["normalized"] else { throw EngramError(.invalidInput, "\(part): field 'normalized' is missing") }
            guard let distance = Distance(rawValue: try string("distance")) else { throw EngramError(.invalidInput, "\(part): unknown distance") }
            return .collection(BackupCollection(
                ref: CollectionRef(tenant: try string("tenant"), name: try string("name")),
                identity: EmbeddingIdentity(model: try string("model"), revision: try string("revision"), dimension: try int("dimension"), distance: distance, normalized: normalized),
                createdAt: try date("created_at")))
        case "documents":
            return .document(BackupDocument(
                collection: CollectionRef(tenant: try string("tenant"), name: try string("collection")),
                info: DocumentInfo(id: try string("id"), sourceURI: try string("source_uri"), sha256: try string("sha256"), fingerprint: try string("fingerprint"),
                                   version: try int("version"), mime: try string("mime"), size: try int("size"), chunkCount: try int("chunk_count"),
                                   metadata: try metadata(), createdAt: try date("created_at"), updatedAt: try date("updated_at")),
                text: try string("text")))
        case "chunks":
            guard case .array(let sectionValues)? = v["section"] else { throw EngramError(.invalidInput, "\(part): field 'section' is missing") }
            let section = try sectionValues.map { value -> String in
                guard case .string(let s) = value else { throw EngramError(.invalidInput, "\(part): a section entry is not a string") }
                return s
            }
            let embedding = try vectorField()
            let chunk = StoredChunk(id: try string("id"), documentID: try string("document_id"), sourceURI: "", documentSHA256: "", ordinal: try int("ordinal"),
                                    text: try string("text"), charStart: try int("char_start"), charEnd: try int("char_end"), section: section,
                                    tokenCount: try int("token_count"), sha256: try string("sha256"), metadata: try metadata(), generation: 1)
            return .chunk(BackupChunk(collection: CollectionRef(tenant: try string("tenant"), name: try string("collection")), chunk: chunk, embedding: embedding))
        case "memories":
            let importance: Double
            switch v["importance"] {
            case .double(let d)?: importance = d
            case .int(let i)?: importance = Double(i)
            default: throw EngramError(.invalidInput, "\(part): field 'importance' is missing or not a number")
            }
            guard case .bool(let hold)? = v["legal_hold"], let provenance = v["provenance"] else {
                throw EngramError(.invalidInput, "\(part): legal_hold or provenance is missing")
            }
            var identity: EmbeddingIdentity?
            if let i = v["embedding_identity"], i != .null { identity = try MemoryRules.fromStoredJSON(EmbeddingIdentity.self, i.serialized(), code: .invalidInput) }
            let content = try string("content")
            guard SHA256Hex.hash(content) == (try string("content_sha256")) else {
                throw EngramError(.invalidInput, "\(part): content_sha256 does not match the content")
            }
            return .memory(Memory(
                id: try string("id"), tenant: try string("tenant"), subject: try string("subject"), namespace: try string("namespace"),
                kind: MemoryKind(rawValue: try string("kind")), content: content, metadata: try metadata(), importance: importance,
                provenance: try MemoryRules.fromStoredJSON(MemoryProvenance.self, provenance.serialized(), code: .invalidInput), createdAt: try date("created_at"),
                updatedAt: try date("updated_at"), lastAccessedAt: try optionalDate("last_accessed_at"), accessCount: try int("access_count"),
                expiresAt: try optionalDate("expires_at"), retention: try string("retention"), legalHold: hold, supersedes: try optionalString("supersedes"),
                embedding: try vectorField(), embeddingIdentity: identity))
        case "memory_events":
            guard let kind = MemoryEvent.Kind(rawValue: try string("event")) else { throw EngramError(.invalidInput, "\(part): unknown event") }
            return .memoryEvent(MemoryEvent(sequence: 0, tenant: try string("tenant"), memoryID: try string("memory_id"), kind: kind, actor: try string("actor"),
                                            reason: try string("reason"), contentSHA256: try string("content_sha256"), at: try date("at"), origin: try optionalString("origin")))
        default:
            throw EngramError(.invalidInput, "unknown backup part '\(part)'")
        }
    }

    /// The part (file) a row belongs in.
    public var part: String {
        switch self {
        case .collection: "collections"
        case .document: "documents"
        case .chunk: "chunks"
        case .memory: "memories"
        case .memoryEvent: "memory_events"
        }
    }
}
