import EngramCore
import Foundation

/// Chooses a loader by file extension and turns a file into documents.
public struct SourceLoader: Sendable {
    /// Source-code extensions and their language names.
    public static let codeLanguages: [String: String] = [
        "swift": "swift", "py": "python", "js": "javascript", "mjs": "javascript", "ts": "typescript", "tsx": "typescript",
        "jsx": "javascript", "go": "go", "rs": "rust", "c": "c", "h": "c", "cc": "cpp", "cpp": "cpp", "hpp": "cpp",
        "m": "objective-c", "java": "java", "kt": "kotlin", "rb": "ruby", "php": "php", "cs": "csharp", "sh": "shell",
        "bash": "shell", "sql": "sql", "scala": "scala", "lua": "lua", "pl": "perl", "r": "r", "yaml": "yaml",
        "yml": "yaml", "toml": "toml", "css": "css", "zig": "zig", "hs": "haskell", "ex": "elixir", "exs": "elixir",
    ]
    public static let textExtensions: Set<String> = ["txt", "text", "rst", "adoc", "org", "csv", "tsv", "log"]
    public static let markdownExtensions: Set<String> = ["md", "markdown", "mdx"]
    public static let htmlExtensions: Set<String> = ["html", "htm", "xhtml"]

    /// Whether a folder walk picks up a file with this extension by default.
    public static func isSupported(extension ext: String) -> Bool {
        let e = ext.lowercased()
        return textExtensions.contains(e) || markdownExtensions.contains(e) || htmlExtensions.contains(e)
            || e == "json" || e == "jsonl" || e == "ndjson" || codeLanguages[e] != nil
    }

    public var json: JSONRecordLoader.Options

    public init(json: JSONRecordLoader.Options = .init()) {
        self.json = json
    }

    /// Whether this file maps to exactly one document whose fingerprint depends only on the file bytes
    /// (everything but JSON), which lets the ingestor skip an unchanged file before decoding it.
    public static func isSingleDocument(path: String) -> Bool {
        let e = (path as NSString).pathExtension.lowercased()
        return !(e == "json" || e == "jsonl" || e == "ndjson")
    }

    /// Loads a file's bytes.
    /// - Returns: documents, and records that failed (JSON files only; other failures throw).
    /// - Throws: `load_failed` when the whole file cannot be used.
    public func load(bytes: [UInt8], path: String, sourceURI: String) throws -> (documents: [LoadedDocument], failures: [(source: String, error: EngramError)]) {
        let ext = (path as NSString).pathExtension.lowercased()
        let text = try TextNormalizer.normalize(bytes, source: path)
        let hash = SHA256Hex.hash(bytes: bytes)
        let filename = (path as NSString).lastPathComponent
        var base: Metadata = ["source_path": .string(path), "filename": .string(filename)]
        if !ext.isEmpty { base["extension"] = .string(ext) }
        var docs: [LoadedDocument]
        var failures: [(source: String, error: EngramError)] = []
        switch ext {
        case _ where SourceLoader.markdownExtensions.contains(ext):
            docs = [MarkdownLoader.load(text: text, sourceURI: sourceURI, sourceHash: hash, size: bytes.count)]
        case _ where SourceLoader.htmlExtensions.contains(ext):
            docs = [try HTMLLoader.load(html: text, sourceURI: sourceURI, sourceHash: hash, size: bytes.count)]
        case "json", "jsonl", "ndjson":
            (docs, failures) = JSONRecordLoader.load(text: text, fileURI: sourceURI, jsonLines: ext != "json", options: json)
        default:
            var doc = LoadedDocument(sourceURI: sourceURI, text: text, mime: "text/plain", sourceBytesSHA256: hash, size: bytes.count)
            if let lang = SourceLoader.codeLanguages[ext] {
                doc.mime = "text/x-\(lang)"
                doc.metadata["language"] = .string(lang)
            }
            docs = [doc]
        }
        for i in docs.indices {
            // Fields of the source win over the ones Engram adds.
            docs[i].metadata = base.merging(docs[i].metadata) { _, own in own }
            docs[i].metadata["mime"] = docs[i].metadata["mime"] ?? .string(docs[i].mime)
        }
        return (docs, failures)
    }
}
