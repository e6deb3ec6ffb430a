import EngramCore

/// Markdown: the text is kept as written; ATX headings (`#` to `######`, outside fenced code) give the
/// section structure, and the first level-1 heading becomes the `title` metadata.
public enum MarkdownLoader {
    public static func headings(in text: String) -> [Heading] {
        var headings: [Heading] = []
        var offset = 0
        var inFence: String? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let lineLength = line.unicodeScalars.count
            defer { offset += lineLength + 1 }
            let trimmed = line.drop(while: { $0 == " " })
            if line.count - trimmed.count > 3 { continue }
            if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                let fence = String(trimmed.prefix(3))
                if inFence == nil { inFence = fence } else if inFence == fence { inFence = nil }
                continue
            }
            if inFence != nil { continue }
            let hashes = trimmed.prefix(while: { $0 == "#" }).count
            guard (1...6).contains(hashes) else { continue }
            let rest = trimmed.dropFirst(hashes)
            guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { continue }
            var title = rest.trimmingCharacters(in: .whitespaces)
            // Closing hashes are not part of the title.
            while title.hasSuffix("#") { title.removeLast() }
            title = title.trimmingCharacters(in: .whitespaces)
            guard !title.isEmpty else { continue }
            headings.append(Heading(offset: offset, level: hashes, title: title))
        }
        return headings
    }

    public static func load(text: String, sourceURI: String, sourceHash: String, size: Int) -> LoadedDocument {
        let hs = headings(in: text)
        var metadata: Metadata = [:]
        if let title = hs.first(where: { $0.level == 1 })?.title { metadata["title"] = .string(title) }
        return LoadedDocument(sourceURI: sourceURI, text: text, mime: "text/markdown", metadata: metadata, headings: hs, sourceBytesSHA256: sourceHash, size: size)
    }
}

import Foundation
