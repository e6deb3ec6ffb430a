import EngramCore
import Foundation

/// `.json` (one object, or an array of objects) and `.jsonl` (one object per line): each object is a
/// document. The text comes from ``Options/textField``; a record id from ``Options/idField`` names the
/// document (`FILE#ID`, else `FILE#L<line>` or `FILE#<index>`); an ``Options/embeddingField`` array is a
/// precomputed vector; every other field becomes metadata (nested objects flatten to `a.b` keys; values
/// that are not metadata values are kept as their JSON text).
public enum JSONRecordLoader {
    public struct Options: Sendable, Hashable {
        public var textField: String
        public var idField: String
        public var embeddingField: String

        public init(textField: String = "text", idField: String = "id", embeddingField: String = "embedding") {
            self.textField = textField
            self.idField = idField
            self.embeddingField = embeddingField
        }
    }

    /// Loads the records of one file; a bad record is reported in `failures` and does not stop the others.
    public static func load(text: String, fileURI: String, jsonLines: Bool, options: Options) -> (documents: [LoadedDocument], failures: [(source: String, error: EngramError)]) {
        var records: [(label: String, json: JSONValue?, raw: String, error: EngramError?)] = []
        if jsonLines {
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let raw = String(line)
                if raw.allSatisfy(\.isWhitespace) { continue }
                do {
                    records.append(("L\(n + 1)", try JSONValue.parse(raw), raw, nil))
                } catch let e as EngramError {
                    records.append(("L\(n + 1)", nil, raw, e))
                } catch {
                    records.append(("L\(n + 1)", nil, raw, EngramError(.loadFailed, "\(error)")))
                }
            }
        } else {
            do {
                switch try JSONValue.parse(text) {
                case .array(let items):
                    for (i, item) in items.enumerated() { records.append(("\(i)", item, item.serialized(sortedKeys: true), nil)) }
                case let value:
                    records.append(("0", value, value.serialized(sortedKeys: true), nil))
                }
            } catch let e as EngramError {
                return ([], [(fileURI, EngramError(.loadFailed, "\(fileURI): \(e.message)"))])
            } catch {
                return ([], [(fileURI, EngramError(.loadFailed, "\(fileURI): \(error)"))])
            }
        }
        var documents: [LoadedDocument] = []
        var failures: [(source: String, error: EngramError)] = []
        var seen = Set<String>()
        for r in records {
            var uri = "\(fileURI)#\(r.label)"
            if let e = r.error {
                failures.append((uri, EngramError(.loadFailed, "\(uri): \(e.message)")))
                continue
            }
            do {
                guard case .object(let members) = r.json! else {
                    throw EngramError(.loadFailed, "record is a JSON \(r.json!.typeName), expected an object")
                }
                let json = r.json!
                if let id = json[options.idField] {
                    switch id {
                    case .string(let s) where !s.isEmpty: uri = "\(fileURI)#\(s)"
                    case .int(let i): uri = "\(fileURI)#\(i)"
                    default: throw EngramError(.loadFailed, "field '\(options.idField)' must be a non-empty string or an integer")
                    }
                }
                guard seen.insert(uri).inserted else {
                    throw EngramError(.loadFailed, "duplicate record id (an earlier record has the same '\(options.idField)')")
                }
                guard case .string(let rawText) = json[options.textField] ?? .null else {
                    throw EngramError(.loadFailed, "record has no string field '\(options.textField)' (set the text field with --text-field)")
                }
                guard !rawText.unicodeScalars.contains("\u{0}") else {
                    throw EngramError(.loadFailed, "field '\(options.textField)' holds a NUL character")
                }
                var embedding: [Float]? = nil
                if let e = json[options.embeddingField] {
                    guard case .array(let items) = e, !items.isEmpty else {
                        throw EngramError(.loadFailed, "field '\(options.embeddingField)' must be a non-empty array of numbers")
                    }
                    embedding = try items.enumerated().map { i, v in
                        let f: Float
                        switch v {
                        case .int(let x): f = Float(x)
                        case .double(let x): f = Float(x)
                        default: throw EngramError(.loadFailed, "'\(options.embeddingField)'[\(i)] is a \(v.typeName), not a number")
                        }
                        guard f.isFinite else { throw EngramError(.loadFailed, "'\(options.embeddingField)'[\(i)] does not fit in float32") }
                        return f
                    }
                }
                var metadata: Metadata = [:]
                for (k, v) in members where k != options.textField && k != options.embeddingField {
                    flatten(key: k, value: v, into: &metadata)
                }
                documents.append(LoadedDocument(
                    sourceURI: uri, text: TextNormalizer.normalize(text: rawText), mime: "application/json",
                    metadata: metadata, embedding: embedding, sourceBytesSHA256: SHA256Hex.hash(r.raw), size: r.raw.utf8.count))
            } catch let e as EngramError {
                failures.append((uri, EngramError(e.code, "\(uri): \(e.message)")))
            } catch {
                failures.append((uri, EngramError(.loadFailed, "\(uri): \(error)")))
            }
        }
        return (documents, failures)
    }

    static func flatten(key: String, value: JSONValue, into metadata: inout Metadata) {
        if case .object(let members) = value, !(members.count == 1 && members[0].0 == "$date") {
            for (k, v) in members { flatten(key: "\(key).\(k)", value: v, into: &metadata) }
            return
        }
        if (try? Filter.validateKey(key)) == nil { return }
        if let m = try? MetadataValue(json: value, key: key) {
            metadata[key] = m
        } else {
            metadata[key] = .string(value.serialized(sortedKeys: true))
        }
    }
}
