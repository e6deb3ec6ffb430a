import EngramCore
import Foundation

/// A request body of the HTTP API. Unknown keys are refused (`invalid_input` naming the key), so a typo
/// such as `"filters"` is an error instead of a search without its filter.
public protocol WireRequest: Decodable, Sendable {
    /// The keys the body may hold.
    static var fields: [String] { get }
    /// Keys whose value is an array of (or one) nested request object, checked the same way.
    static var nested: [String: any WireRequest.Type] { get }
}

extension WireRequest {
    public static var nested: [String: any WireRequest.Type] { [:] }

    static func checkKeys(_ value: JSONValue, at path: String) throws {
        guard case .object(let members) = value else {
            throw EngramError(.invalidInput, "\(path.isEmpty ? "the body" : path) must be a JSON object, not \(value.typeName)")
        }
        let known = Set(fields)
        for (key, member) in members {
            let here = path.isEmpty ? key : "\(path).\(key)"
            guard known.contains(key) else {
                throw EngramError(.invalidInput, "unknown field '\(TerminalText.escaped(here))' (expected \(fields.joined(separator: ", ")))")
            }
            guard let inner = nested[key] else { continue }
            if case .array(let items) = member {
                for (i, item) in items.enumerated() { try inner.checkKeys(item, at: "\(here)[\(i)]") }
            } else if member != .null {
                try inner.checkKeys(member, at: here)
            }
        }
    }
}

extension Wire {
    /// A request body: parsed (depth and syntax checked), its keys checked, then decoded.
    public static func request<T: WireRequest>(_ type: T.Type, from data: Data) throws -> T {
        let value = try JSONValue.parse(data)
        try T.checkKeys(value, at: "")
        do {
            return try JSONValueDecoder().decode(type, from: value)
        } catch let error as DecodingError {
            throw EngramError(.invalidInput, "the body does not fit: \(Wire.describe(error))")
        }
    }

    /// Metadata given as a JSON object (dates as `{"$date": …}`).
    public static func metadata(_ value: JSONValue?, what: String = "metadata") throws -> Metadata {
        guard let value, value != .null else { return [:] }
        return try Metadata.parse(json: value, what: what)
    }

    /// A filter given in its JSON form (or as a string in either form).
    public static func filter(_ value: JSONValue?) throws -> Filter? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return try Filter.parseAny(text)
        case let json?: return try Filter.parse(json: json)
        }
    }

    /// `POST /v1/collections`.
    public struct CreateCollectionRequest: WireRequest {
        public var name: String
        /// An embedder spec (`minilm`, `hash:384`, …); the server's default when absent.
        public var embedder: String?
        public static let fields = ["name", "embedder"]
        public init(name: String, embedder: String? = nil) {
            self.name = name
            self.embedder = embedder
        }
    }

    /// One document of an ingest request.
    public struct DocumentInput: WireRequest {
        /// The caller's id: the document's source URI is `api:ID` unless `source_uri` is given.
        public var id: String?
        public var text: String
        public var metadata: JSONValue?
        public var sourceURI: String?
        enum CodingKeys: String, CodingKey {
            case id, text, metadata
            case sourceURI = "source_uri"
        }
        public static let fields = ["id", "text", "metadata", "source_uri"]
        public init(id: String? = nil, text: String, metadata: JSONValue? = nil, sourceURI: String? = nil) {
            self.id = id
            self.text = text
            self.metadata = metadata
            self.sourceURI = sourceURI
        }
    }

    /// `POST /v1/collections/{collection}/documents`.
    public struct IngestRequest: WireRequest {
        public var documents: [DocumentInput]
        /// The embedder of a collection this request creates (the server's default when absent).
        public var embedder: String?
        public static let fields = ["documents", "embedder"]
        public static var nested: [String: any WireRequest.Type] { ["documents": DocumentInput.self] }
        public init(documents: [DocumentInput], embedder: String? = nil) {
            self.documents = documents
            self.embedder = embedder
        }
    }

    /// `POST /v1/collections/{collection}/search`.
    public struct SearchRequest: WireRequest {
        public var query: String?
        public var vector: [Float]?
        public var k: Int?
        public var filter: JSONValue?
        /// `vector`, `keyword` or `hybrid`.
        public var mode: String?
        public static let fields = ["query", "vector", "k", "filter", "mode"]
        public init(query: String? = nil, vector: [Float]? = nil, k: Int? = nil, filter: JSONValue? = nil, mode: String? = nil) {
            self.query = query
            self.vector = vector
            self.k = k
            self.filter = filter
            self.mode = mode
        }
    }

    /// `POST /v1/memories`.
    public struct RememberRequest: WireRequest {
        public var content: String
        public var subject: String
        public var namespace: String?
        public var kind: String?
        public var importance: Double?
        public var retention: String?
        public var metadata: JSONValue?
        public static let fields = ["content", "subject", "namespace", "kind", "importance", "retention", "metadata"]
        public init(content: String, subject: String, namespace: String? = nil, kind: String? = nil, importance: Double? = nil, retention: String? = nil, metadata: JSONValue? = nil) {
            self.content = content
            self.subject = subject
            self.namespace = namespace
            self.kind = kind
            self.importance = importance
            self.retention = retention
            self.metadata = metadata
        }
    }

    /// `POST /v1/memories/recall`.
    public struct RecallRequest: WireRequest {
        public var query: String
        public var subject: String?
        public var namespace: String?
        public var k: Int?
        public var filter: JSONValue?
        public static let fields = ["query", "subject", "namespace", "k", "filter"]
        public init(query: String, subject: String? = nil, namespace: String? = nil, k: Int? = nil, filter: JSONValue? = nil) {
            self.query = query
            self.subject = subject
            self.namespace = namespace
            self.k = k
            self.filter = filter
        }
    }

    /// `POST /v1/memories/forget`: exactly one of `ids`, `subject` (with `filter`: its matching memories)
    /// or `filter`.
    public struct ForgetRequest: WireRequest {
        public var ids: [String]?
        public var subject: String?
        public var namespace: String?
        public var filter: JSONValue?
        public var reason: String
        public var actor: String?
        public static let fields = ["ids", "subject", "namespace", "filter", "reason", "actor"]
        public init(ids: [String]? = nil, subject: String? = nil, namespace: String? = nil, filter: JSONValue? = nil, reason: String, actor: String? = nil) {
            self.ids = ids
            self.subject = subject
            self.namespace = namespace
            self.filter = filter
            self.reason = reason
            self.actor = actor
        }
    }

    /// `POST /v1/memories/{id}/hold`.
    public struct HoldRequest: WireRequest {
        /// False clears the hold.
        public var held: Bool?
        public var reason: String
        public var actor: String?
        public static let fields = ["held", "reason", "actor"]
        public init(held: Bool? = nil, reason: String, actor: String? = nil) {
            self.held = held
            self.reason = reason
            self.actor = actor
        }
    }

    /// `POST /v1/keys` (admin): a new key of the caller's tenant.
    public struct CreateKeyRequest: WireRequest {
        public var name: String
        public var scopes: [String]?
        public static let fields = ["name", "scopes"]
        public init(name: String, scopes: [String]? = nil) {
            self.name = name
            self.scopes = scopes
        }
    }

    /// An API key as listed: never its secret.
    public struct Key: Codable, Sendable, Hashable {
        public var id: String
        public var tenant: String
        public var name: String
        public var scopes: [String]
        public var createdAt: Date
        public var revokedAt: Date?
        enum CodingKeys: String, CodingKey {
            case id, tenant, name, scopes
            case createdAt = "created_at"
            case revokedAt = "revoked_at"
        }
        public init(_ k: APIKey) {
            id = k.id
            tenant = k.tenant
            name = k.name
            scopes = k.sortedScopes.map(\.rawValue)
            createdAt = k.createdAt
            revokedAt = k.revokedAt
        }
    }

    /// `keys create`: the key and its text, shown this once.
    public struct CreatedKey: Codable, Sendable, Hashable {
        public var key: Key
        /// The bearer token. Engram keeps only its hash: store it now.
        public var secret: String
        public init(_ k: APIKey, secret: String) {
            key = Key(k)
            self.secret = secret
        }
    }
}

extension Wire {
    /// `GET /healthz`, `GET /readyz`.
    public struct Health: Codable, Sendable, Hashable {
        public var status: String
        public init(status: String) { self.status = status }
    }
}
