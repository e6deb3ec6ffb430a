import EngramCore

/// A heading found by a loader: where it starts in the normalized text, its level (1 = top) and title.
public struct Heading: Sendable, Hashable {
    public var offset: Int
    public var level: Int
    public var title: String

    public init(offset: Int, level: Int, title: String) {
        self.offset = offset
        self.level = level
        self.title = title
    }
}

/// What a loader makes of a source: normalized text, headings and metadata, ready for chunking.
public struct LoadedDocument: Sendable, Hashable {
    public var sourceURI: String
    public var text: String
    public var mime: String
    public var metadata: Metadata
    public var headings: [Heading]
    /// A precomputed embedding for the whole text (JSON records with an `embedding` field); such a document
    /// becomes exactly one chunk.
    public var embedding: [Float]?
    /// The bytes this document came from (the file, or one JSON record), for the change fingerprint.
    public var sourceBytesSHA256: String
    public var size: Int

    public init(sourceURI: String, text: String, mime: String, metadata: Metadata = [:], headings: [Heading] = [], embedding: [Float]? = nil, sourceBytesSHA256: String, size: Int) {
        self.sourceURI = sourceURI
        self.text = text
        self.mime = mime
        self.metadata = metadata
        self.headings = headings
        self.embedding = embedding
        self.sourceBytesSHA256 = sourceBytesSHA256
        self.size = size
    }
}
