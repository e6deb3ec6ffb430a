/// The one error type Engram throws.
///
/// Clients switch on ``code`` (stable strings, new codes may be added without breaking anyone) and show
/// ``message`` to people. ``underlying`` keeps the original error when one caused this.
public struct EngramError: Error, Sendable, CustomStringConvertible {
    /// A stable, machine-readable error code.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Input that cannot be accepted (bad text, bad vector, bad argument).
        public static let invalidInput = Code(rawValue: "invalid_input")
        /// A filter expression could not be parsed or is not well-typed.
        public static let invalidFilter = Code(rawValue: "invalid_filter")
        /// The named collection does not exist for this tenant.
        public static let collectionNotFound = Code(rawValue: "collection_not_found")
        /// A collection with this name exists already (with a different embedding identity).
        public static let collectionExists = Code(rawValue: "collection_exists")
        /// A document, chunk or other record does not exist.
        public static let notFound = Code(rawValue: "not_found")
        /// A vector's dimension or embedding identity differs from the collection's.
        public static let embeddingMismatch = Code(rawValue: "embedding_mismatch")
        /// A file or document could not be read or loaded.
        public static let loadFailed = Code(rawValue: "load_failed")
        /// The document yields no chunk (for example: it holds only whitespace).
        public static let emptyDocument = Code(rawValue: "empty_document")
        /// A store URL or configuration is invalid.
        public static let invalidConfiguration = Code(rawValue: "invalid_configuration")
        /// The backing store failed (I/O, SQL error, corrupt data).
        public static let storageFailure = Code(rawValue: "storage_failure")
        /// An evidence manifest is malformed.
        public static let invalidManifest = Code(rawValue: "invalid_manifest")
        /// The database schema does not match this build: a newer schema, or a shipped migration whose
        /// checksum changed.
        public static let schemaMismatch = Code(rawValue: "schema_mismatch")
        /// The operation is not supported by this component (for example: embedding text with an
        /// `external` embedder).
        public static let unsupported = Code(rawValue: "unsupported")
        /// The record is under legal hold: it may be neither changed nor deleted until the hold is cleared.
        public static let legalHold = Code(rawValue: "legal_hold")
        /// The change would make a record collide with another (for example: two memories of one subject
        /// and namespace with the same content).
        public static let conflict = Code(rawValue: "conflict")
        /// A run's writer lost its lease, or the run moved on past the checkpoint it wrote from: nothing
        /// was written.
        public static let superseded = Code(rawValue: "superseded")
        /// A request carries no API key, or one that is malformed, unknown or revoked.
        public static let unauthenticated = Code(rawValue: "unauthenticated")
        /// The request's key lacks the scope the operation needs.
        public static let forbidden = Code(rawValue: "forbidden")
        /// A request body is larger than the server accepts.
        public static let tooLarge = Code(rawValue: "too_large")
        /// The server is at its concurrency limit or shutting down: try again later.
        public static let unavailable = Code(rawValue: "unavailable")
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying {
            return "\(message) (\(underlying))"
        }
        return message
    }
}

extension EngramError {
    /// `collection_not_found` for `ref`, worded the same by every store.
    public static func collectionNotFound(_ ref: CollectionRef) -> EngramError {
        EngramError(.collectionNotFound, "collection '\(ref.name)' does not exist for tenant '\(ref.tenant)'")
    }

    /// `collection_exists`: `ref` exists with another embedding identity.
    public static func collectionExists(_ ref: CollectionRef, existing: EmbeddingIdentity, requested: EmbeddingIdentity) -> EngramError {
        EngramError(.collectionExists, "collection '\(ref.name)' exists with embedding identity \(existing), not \(requested)")
    }
}
