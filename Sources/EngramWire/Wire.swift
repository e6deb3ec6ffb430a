import EngramCore
import EngramPipeline
import Foundation

/// The JSON Engram speaks: every `--json` output of the `engram` command, and the bodies of the HTTP API,
/// are these `Codable` types and nothing else. docs/wire.md lists them.
///
/// One convention holds for all of them:
///
/// - keys are snake_case (`chunk_id`, `source_uri`); one fact has one name everywhere (a chunk's hash is
///   `chunk_sha256` in a search hit and in `show`);
/// - every key is always present: a value that does not exist is `null`, never a missing key;
/// - dates are strings, UTC with milliseconds (`2026-12-02T10:00:00.000Z`);
/// - integers are integers and doubles keep a decimal point (`3.0`), so metadata keeps its type;
/// - metadata is an object of the values metadata holds, a date as `{"$date": "…"}`.
///
/// ``Wire/text(_:)`` writes any of them as compact JSON with sorted keys (the same value, the same
/// bytes); ``Wire/decode(_:from:)`` reads them back.
public enum Wire {
    /// Compact JSON text with sorted keys.
    public static func text(_ value: some Encodable) throws -> String {
        try JSONValueEncoder().text(value)
    }

    /// Reads a wire type back from its JSON (a client's side, or a request body), by the same rules.
    /// - Throws: `invalid_input` naming the byte of a syntax error, or the key whose value does not fit.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let value = try JSONValue.parse(data)
        do {
            return try JSONValueDecoder().decode(type, from: value)
        } catch let error as DecodingError {
            throw EngramError(.invalidInput, "JSON does not match \(type): \(Wire.describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ p: [any CodingKey]) -> String { p.isEmpty ? "the top level" : p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let c): return "missing key '\(key.stringValue)' at \(path(c.codingPath))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return "\(c.debugDescription) at \(path(c.codingPath))"
        @unknown default: return "\(error)"
        }
    }

    /// Any failure: `{"error": {"code": "not_found", "message": "…"}}`.
    public struct ErrorBody: Codable, Sendable, Hashable {
        public struct Detail: Codable, Sendable, Hashable {
            /// One of ``EngramError/Code``'s raw values.
            public var code: String
            public var message: String
        }

        public var error: Detail

        public init(_ e: EngramError) {
            error = Detail(code: e.code.rawValue, message: e.message)
        }
    }

    /// How a collection embeds: the model, its revision, the vector's dimension and distance.
    public struct Embedding: Codable, Sendable, Hashable {
        public var model: String
        public var revision: String
        public var dimension: Int
        /// `cosine`, `dot` or `l2`.
        public var distance: String
        public var normalized: Bool

        public init(_ i: EmbeddingIdentity) {
            model = i.model
            revision = i.revision
            dimension = i.dimension
            distance = i.distance.rawValue
            normalized = i.normalized
        }
    }

    /// A file of a backup archive.
    public struct ArchiveFile: Codable, Sendable, Hashable {
        public var name: String
        public var rows: Int
        public var sha256: String

        public init(_ part: BackupManifest.Part) {
            name = part.file
            rows = part.rows
            sha256 = part.sha256
        }
    }
}
